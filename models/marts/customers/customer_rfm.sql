{#-
    RFM scores per customer with at least one completed order on or before
    as_of (within var('rfm_lookback_days') days of it when set).
    Quintiles by NTILE(5), each with a unique tiebreaker so the scores are the
    same on every run and engine; a higher score is always better.
-#}
{%- set lookback_days = optional_var('rfm_lookback_days') -%}

with

purchase_days as (

    select * from {{ ref('int_customer_purchase_days') }}

),

segments as (

    select * from {{ ref('rfm_segments') }}

),

in_window as (

    select *

    from purchase_days

    {% if lookback_days is not none -%}
    where order_date > {{ dbt.dateadd('day', -1 * (lookback_days | int), as_of_date()) }}
    {%- endif %}

),

customers as (

    select
        customer_id,
        max(order_date) as last_order_date,
        cast(count(*) - 1 as integer) as frequency,
        cast(sum(n_orders) as bigint) as n_orders,
        cast(sum(revenue) as decimal(18, 4)) as monetary

    from in_window

    group by customer_id

),

measured as (

    select
        customer_id,
        last_order_date,
        -- RFM recency: days from the LAST purchase day to as_of (not the
        -- BTYD recency of customer_value, which is first to last)
        {{ days_between('last_order_date', as_of_date()) }} as recency_days,
        frequency,
        n_orders,
        monetary

    from customers

),

scored as (

    select
        customer_id,
        last_order_date,
        recency_days,
        frequency,
        n_orders,
        monetary,
        {{ rfm_scores() }}

    from measured

),

final as (

    select
        scored.customer_id,
        {{ as_of_date() }} as as_of,
        scored.last_order_date,
        scored.recency_days,
        scored.frequency,
        scored.n_orders,
        scored.monetary,
        scored.r_score,
        scored.f_score,
        scored.m_score,
        {{ dbt.concat([
            dbt.cast('scored.r_score', dbt.type_string()),
            dbt.cast('scored.f_score', dbt.type_string()),
            dbt.cast('scored.m_score', dbt.type_string()),
        ]) }} as rfm_cell,
        segments.rfm_segment

    from scored

    left join segments
        on scored.r_score = segments.r_score
        and scored.f_score = segments.f_score
        and scored.m_score = segments.m_score

)

select * from final
