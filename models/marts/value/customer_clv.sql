{#-
    Customer lifetime value: what each customer brought, cost and will bring.
    One row per customer with an order (any status) on or before as_of.
    Historical value from the orders; costs from int_customer_costs; the
    future from the BG/NBD (P(alive), expected repeat purchase days over
    var('clv_horizon_days')) and Gamma-Gamma (expected spend per purchase day)
    fits; value tiers from total_value (see the YAML for the rules).
-#}
{%- set tiers = var('clv_value_tiers') -%}
{%- set negative_tier = var('clv_negative_tier') -%}

with

orders as (

    select * from {{ ref('int_orders_costed') }}

),

summary as (

    select * from {{ ref('int_customer_btyd_summary') }}

),

predictions as (

    select * from {{ ref('int_clv_tuple_predictions') }}

    where horizon_days = {{ var('clv_horizon_days') | int }}

),

fits as (

    select * from {{ ref('int_clv_fits') }}

),

margin as (

    select * from {{ ref('int_clv_margin_rate') }}

),

costs as (

    select * from {{ ref('int_customer_costs') }}

),

customers as (

    select distinct customer_id

    from orders

    where customer_id is not null

),

gamma_gamma as (

    {{ gamma_gamma_params('fits', 'current') }}

),

spend as (

    select
        summary.customer_id,
        {{ gamma_gamma_expected_spend('summary.frequency', 'summary.monetary_value', 'gamma_gamma') }}
            as expected_spend

    from summary

    cross join gamma_gamma

    where gamma_gamma.gg_q > 1

),

valued as (

    select
        customers.customer_id,
        summary.first_order_date,
        summary.last_order_date,
        coalesce(summary.n_orders, cast(0 as bigint)) as n_orders,
        summary.frequency,
        summary.recency_days,
        summary.t_days,
        cast(coalesce(summary.revenue, 0) as decimal(18, 4)) as historical_revenue,
        cast(
            coalesce(summary.margin, 0)
            + (coalesce(summary.revenue, 0) - coalesce(summary.revenue_with_cost, 0)) * margin.margin_rate
            as decimal(18, 4)
        ) as historical_margin,
        cast(coalesce(costs.returned_value, 0) * {{ var('clv_return_cost_rate') | float }} as decimal(18, 4))
            as returns_cost,
        coalesce(costs.service_cost, cast(0 as decimal(18, 4))) as service_cost,
        coalesce(costs.marketing_cost, cast(0 as decimal(18, 4))) as marketing_cost,
        predictions.p_alive,
        predictions.expected_purchases,
        spend.expected_spend,
        predictions.expected_purchases * spend.expected_spend as expected_revenue,
        predictions.discounted_purchases * spend.expected_spend * margin.margin_rate as predicted_clv

    from customers

    cross join margin

    left join summary
        on customers.customer_id = summary.customer_id

    left join predictions
        on summary.frequency = predictions.frequency
        and summary.recency_days = predictions.recency_days
        and summary.t_days = predictions.t_days

    left join spend
        on customers.customer_id = spend.customer_id

    left join costs
        on customers.customer_id = costs.customer_id

),

netted as (

    select
        *,
        cast(historical_margin - returns_cost - service_cost - marketing_cost as decimal(18, 4))
            as net_historical_value

    from valued

),

totals as (

    select
        *,
        cast(net_historical_value + coalesce(cast(predicted_clv as decimal(18, 4)), 0) as decimal(18, 4))
            as total_value

    from netted

),

ranked as (

    select
        *,
        case
            when total_value >= 0
                then row_number() over (
                        partition by case when total_value >= 0 then 1 else 0 end
                        order by total_value desc, customer_id asc
                    )
        end as value_rank,
        sum(case when total_value >= 0 then 1 else 0 end) over () as n_valued

    from totals

),

final as (

    select
        customer_id,
        {{ as_of_date() }} as as_of,
        first_order_date,
        last_order_date,
        n_orders,
        frequency,
        recency_days,
        t_days,
        historical_revenue,
        historical_margin,
        returns_cost,
        service_cost,
        marketing_cost,
        net_historical_value,
        p_alive,
        {{ var('clv_horizon_days') | int }} as horizon_days,
        expected_purchases,
        expected_spend,
        expected_revenue,
        predicted_clv,
        total_value,
        cast(value_rank as bigint) as value_rank,
        case
            when total_value < 0 then '{{ negative_tier }}'
            {%- for tier in tiers %}
            {%- if not loop.last %}
            when value_rank <= {{ tier['top_share'] | float }} * n_valued then '{{ tier['tier'] }}'
            {%- else %}
            else '{{ tier['tier'] }}'
            {%- endif %}
            {%- endfor %}
        end as value_tier,
        '{{ base_currency() }}' as currency

    from ranked

)

select * from final
