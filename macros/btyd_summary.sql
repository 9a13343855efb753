{#-
    btyd_summary(purchase_days, end_date): one row per customer with a
    purchase day on or before end_date (a SQL date expression), in the BTYD
    conventions of the data contract, from int_customer_purchase_days rows:
    frequency = repeat purchase days, recency_days = first to last purchase
    day, t_days = first purchase day to end_date, monetary_value = mean revenue
    of the repeat purchase days (the first excluded; null without a repeat).
    Used for the current summary (end = as_of) and the backtest's calibration
    period (end = clv_calibration_end()), so both follow one definition.
-#}
{% macro btyd_summary(purchase_days, end_date) -%}
    select
        customer_id,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        cast(sum(n_orders) as bigint) as n_orders,
        cast(count(*) as bigint) as n_purchase_days,
        cast(count(*) - 1 as integer) as frequency,
        {{ days_between('min(order_date)', 'max(order_date)') }} as recency_days,
        {{ days_between('min(order_date)', end_date) }} as t_days,
        cast(sum(revenue) as decimal(18, 4)) as revenue,
        cast(sum(margin) as decimal(18, 4)) as margin,
        cast(sum(revenue_with_cost) as decimal(18, 4)) as revenue_with_cost,
        cast(sum(n_orders_with_cost) as bigint) as n_orders_with_cost,
        case
            when count(*) > 1
                then cast(
                    sum(case when purchase_day_number > 1 then revenue else 0 end) / (count(*) - 1)
                    as decimal(18, 4)
                )
        end as monetary_value

    from (
        select
            customer_id,
            order_date,
            n_orders,
            revenue,
            margin,
            revenue_with_cost,
            n_orders_with_cost,
            row_number() over (partition by customer_id order by order_date) as purchase_day_number

        from {{ purchase_days }}

        where order_date <= {{ end_date }}
    ) as numbered_days

    group by customer_id
{%- endmacro %}

{#-
    clv_calibration_end(): the end of the backtest's calibration period as a
    SQL date literal: as_of minus var('clv_backtest_holdout_days').
-#}
{% macro clv_calibration_end() -%}
    {%- set day = modules.datetime.datetime.strptime(as_of_date_string(), '%Y-%m-%d') -%}
    {%- set holdout = var('clv_backtest_holdout_days') | int -%}
    {%- if holdout < 7 -%}
        {{- exceptions.raise_compiler_error("var('clv_backtest_holdout_days') must be >= 7, got " ~ holdout) -}}
    {%- endif -%}
    {%- set end = day - modules.datetime.timedelta(days=holdout) -%}
    cast('{{ end.strftime("%Y-%m-%d") }}' as date)
{%- endmacro %}
