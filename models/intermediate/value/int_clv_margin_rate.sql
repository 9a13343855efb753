{#-
    The margin rate that turns predicted revenue into predicted value (one
    row): var('clv_margin_rate') when set ('configured'); otherwise the
    observed rate sum(margin) / sum(revenue) over the completed orders whose
    cost is fully known ('observed'); with no cost data at all, 1 ('none':
    predicted value is then revenue, and the docs say so).
-#}

with

orders as (

    select * from {{ ref('int_orders_costed') }}

),

observed as (

    select
        sum(order_margin) as margin,
        sum(case when order_margin is not null then order_total_base end) as revenue,
        cast(sum(case when order_margin is not null then 1 else 0 end) as bigint) as n_orders

    from orders

    where is_completed

),

final as (

    select
        {% if var('clv_margin_rate') is not none -%}
            cast({{ var('clv_margin_rate') | float }} as double) as margin_rate,
            'configured' as margin_source,
        {%- else -%}
        case
            when observed.revenue > 0
                then cast(observed.margin as double) / cast(observed.revenue as double)
            else cast(1 as double)
        end as margin_rate,
        case when observed.revenue > 0 then 'observed' else 'none' end as margin_source,
        {%- endif %}
        coalesce(observed.n_orders, cast(0 as bigint)) as n_costed_orders

    from observed

)

select * from final
