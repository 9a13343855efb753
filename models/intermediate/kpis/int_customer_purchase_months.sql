{#-
    Completed purchases of resolved customers per calendar month, on or before
    as_of: the unit of the cohort and KPI marts (customers x months in which
    they bought, never customers x all months).
-#}

with

purchase_days as (

    select * from {{ ref('int_customer_purchase_days') }}

),

monthly as (

    select
        customer_id,
        {{ month_start('order_date') }} as month_start,
        cast(count(*) as bigint) as n_purchase_days,
        cast(sum(n_orders) as bigint) as n_orders,
        cast(sum(revenue) as decimal(18, 4)) as revenue,
        cast(sum(margin) as decimal(18, 4)) as margin,
        cast(sum(revenue_with_cost) as decimal(18, 4)) as revenue_with_cost

    from purchase_days

    group by
        customer_id,
        {{ month_start('order_date') }}

),

final as (

    select
        customer_id,
        month_start,
        {{ month_index('month_start') }} as month_index,
        n_purchase_days,
        n_orders,
        revenue,
        margin,
        revenue_with_cost

    from monthly

)

select * from final
