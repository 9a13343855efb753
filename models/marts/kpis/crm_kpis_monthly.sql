{#-
    The CRM KPIs per calendar month up to the as_of month (see the YAML for
    every definition). Active customers, retention and the trailing order
    count are computed from per-customer purchase months as events (+1 when a
    customer's active span starts, -1 after it ends) summed over the month
    grid: linear in the purchase months, never customers x months.
-#}
{%- set window = var('kpi_active_months') | int -%}
{%- set top_share = var('clv_value_tiers')[0]['top_share'] | float -%}
{%- if window < 1 -%}
    {{ exceptions.raise_compiler_error("var('kpi_active_months') must be >= 1, got " ~ window) }}
{%- endif -%}

with

orders as (

    select * from {{ ref('int_orders_costed') }}

),

customer_months as (

    select * from {{ ref('int_customer_purchase_months') }}

),

acquisitions as (

    select * from {{ ref('int_customer_acquisitions') }}

),

month_offsets as (

    {{ month_offsets() }}

),

-- completed orders of everyone, anonymous sales included
order_months as (

    select
        {{ month_index('order_date') }} as month_index,
        count(*) as n_orders,
        sum(order_total_base) as total_purchase_amount

    from orders

    where is_completed

    group by {{ month_index('order_date') }}

),

buyer_months as (

    select
        month_index,
        count(*) as n_buying_customers,
        sum(n_orders) as n_customer_orders,
        sum(revenue) as customer_purchase_amount

    from customer_months

    group by month_index

),

new_members as (

    select
        {{ month_index('first_known_date') }} as month_index,
        count(*) as n_new_members

    from acquisitions

    where first_known_date is not null

    group by {{ month_index('first_known_date') }}

),

new_customers as (

    select
        {{ month_index('first_order_date') }} as month_index,
        count(*) as n_new_customers

    from acquisitions

    where first_order_date is not null

    group by {{ month_index('first_order_date') }}

),

-- month grid: from the first month anyone became known or bought to as_of
bounds as (

    select
        {{ month_index(as_of_date()) }} as last_index,
        -- null without any data: then the grid below is empty
        min(month_index) as first_index

    from (

        select month_index from order_months

        union all

        select month_index from new_members

    ) as event_months

),

months as (

    select bounds.last_index - month_offsets.month_offset as month_index

    from bounds

    inner join month_offsets
        on month_offsets.month_offset <= bounds.last_index - bounds.first_index

),

-- a customer is active from a purchase month p for {{ window }} months, or
-- until their next purchase month q (which starts a span of its own)
purchase_spans as (

    select
        customer_id,
        month_index as purchase_index,
        lead(month_index) over (partition by customer_id order by month_index) as next_purchase_index

    from customer_months

),

active_spans as (

    select
        purchase_index as start_index,
        case
            when next_purchase_index is null or next_purchase_index > purchase_index + {{ window - 1 }}
                then purchase_index + {{ window - 1 }}
            else next_purchase_index - 1
        end as end_index

    from purchase_spans

),

-- retained at month M: active at M - window (a purchase p in
-- (M - 2 window, M - window]) and a purchase in (M - window, M]; for the last
-- purchase p <= M - window and the next one q, that holds exactly for
-- M in [max(p + window, q), min(p + 2 window - 1, q + window - 1)]
retained_spans as (

    select
        case
            when purchase_index + {{ window }} > next_purchase_index then purchase_index + {{ window }}
            else next_purchase_index
        end as start_index,
        case
            when purchase_index + {{ 2 * window - 1 }} < next_purchase_index + {{ window - 1 }}
                then purchase_index + {{ 2 * window - 1 }}
            else next_purchase_index + {{ window - 1 }}
        end as end_index

    from purchase_spans

    where next_purchase_index is not null

),

span_events as (

    select
        start_index as month_index,
        1 as active_delta,
        0 as retained_delta
    from active_spans

    union all

    select
        end_index + 1 as month_index,
        -1 as active_delta,
        0 as retained_delta
    from active_spans

    union all

    select
        start_index as month_index,
        0 as active_delta,
        1 as retained_delta
    from retained_spans
    where start_index <= end_index

    union all

    select
        end_index + 1 as month_index,
        0 as active_delta,
        -1 as retained_delta
    from retained_spans
    where start_index <= end_index

),

month_events as (

    select
        month_index,
        sum(active_delta) as active_delta,
        sum(retained_delta) as retained_delta

    from span_events

    group by month_index

),

-- the top value tier of a month: its buyers ranked by their revenue in the
-- trailing window; the tier takes the top top_share of them (as customer_clv)
trailing_revenue as (

    select
        customer_id,
        month_index,
        coalesce(revenue, 0) as revenue,
        sum(coalesce(revenue, 0)) over (
            partition by customer_id
            order by month_index
            range between {{ window - 1 }} preceding and current row
        ) as trailing_revenue

    from customer_months

),

ranked_buyers as (

    select
        month_index,
        revenue,
        row_number() over (
            partition by month_index
            order by trailing_revenue desc, customer_id asc
        ) as value_rank,
        count(*) over (partition by month_index) as n_buyers

    from trailing_revenue

),

top_tier as (

    select
        month_index,
        sum(case when value_rank <= {{ top_share }} * n_buyers then revenue else 0 end) as top_tier_revenue,
        sum(revenue) as buyer_revenue

    from ranked_buyers

    group by month_index

),

joined as (

    select
        months.month_index,
        coalesce(new_members.n_new_members, 0) as n_new_members,
        coalesce(new_customers.n_new_customers, 0) as n_new_customers,
        coalesce(buyer_months.n_buying_customers, 0) as n_buying_customers,
        coalesce(buyer_months.n_customer_orders, 0) as n_customer_orders,
        coalesce(buyer_months.customer_purchase_amount, 0) as customer_purchase_amount,
        coalesce(order_months.n_orders, 0) as n_orders,
        coalesce(order_months.total_purchase_amount, 0) as total_purchase_amount,
        coalesce(month_events.active_delta, 0) as active_delta,
        coalesce(month_events.retained_delta, 0) as retained_delta,
        top_tier.top_tier_revenue,
        top_tier.buyer_revenue

    from months

    left join new_members
        on months.month_index = new_members.month_index

    left join new_customers
        on months.month_index = new_customers.month_index

    left join buyer_months
        on months.month_index = buyer_months.month_index

    left join order_months
        on months.month_index = order_months.month_index

    left join month_events
        on months.month_index = month_events.month_index

    left join top_tier
        on months.month_index = top_tier.month_index

),

running as (

    select
        *,
        sum(active_delta) over (order by month_index rows between unbounded preceding and current row)
            as n_active_customers,
        sum(retained_delta) over (order by month_index rows between unbounded preceding and current row)
            as n_retained_customers,
        sum(n_customer_orders) over (
            order by month_index rows between {{ window - 1 }} preceding and current row
        ) as n_active_customer_orders

    from joined

),

with_base as (

    select
        *,
        lag(n_active_customers, {{ window }}) over (order by month_index) as n_retention_base

    from running

),

final as (

    select
        {{ month_of_index('month_index') }} as month_start,
        {{ month_label(month_of_index('month_index')) }} as month_label,
        {{ month_is_complete(month_of_index('month_index')) }} as is_complete_month,
        cast(n_new_members as bigint) as n_new_members,
        cast(n_new_customers as bigint) as n_new_customers,
        cast(n_active_customers as bigint) as n_active_customers,
        cast(n_buying_customers as bigint) as n_buying_customers,
        cast(n_orders as bigint) as n_orders,
        cast(total_purchase_amount as decimal(18, 4)) as total_purchase_amount,
        case when n_orders > 0 then cast(total_purchase_amount / n_orders as decimal(18, 4)) end
            as average_order_value,
        cast(n_customer_orders as bigint) as n_customer_orders,
        cast(customer_purchase_amount as decimal(18, 4)) as customer_purchase_amount,
        case
            when n_active_customers > 0 then cast(n_active_customer_orders as double) / n_active_customers
        end as purchase_frequency,
        cast(n_retention_base as bigint) as n_retention_base,
        cast(case when n_retention_base is not null then n_retained_customers end as bigint)
            as n_retained_customers,
        case
            when n_retention_base > 0 then cast(n_retained_customers as double) / n_retention_base
        end as retention_rate,
        case
            when n_retention_base > 0 then 1 - cast(n_retained_customers as double) / n_retention_base
        end as churn_rate,
        case
            when buyer_revenue > 0 then cast(top_tier_revenue as double) / cast(buyer_revenue as double)
        end as top_tier_revenue_share,
        '{{ base_currency() }}' as currency,
        {{ as_of_date() }} as as_of

    from with_base

)

select * from final
