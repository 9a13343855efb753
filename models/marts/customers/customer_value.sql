{#-
    Historical value per customer with at least one completed order on or
    before as_of, in the BTYD conventions of the data contract: frequency =
    repeat purchase days, recency_days = first to last purchase day,
    t_days = first purchase day to as_of.
-#}

with

purchase_days as (

    select * from {{ ref('int_customer_purchase_days') }}

),

orders as (

    select * from {{ ref('int_orders_costed') }}

),

purchases as (

    select
        customer_id,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        cast(sum(n_orders) as bigint) as n_orders,
        cast(count(*) as bigint) as n_purchase_days,
        cast(sum(revenue) as decimal(18, 4)) as revenue,
        cast(sum(margin) as decimal(18, 4)) as margin,
        cast(sum(n_orders_with_cost) as bigint) as n_orders_with_cost

    from purchase_days

    group by customer_id

),

other_orders as (

    select
        customer_id,
        cast(sum(case when status = 'returned' then 1 else 0 end) as bigint) as n_returned,
        cast(sum(case when status = 'returned' then order_total_base else 0 end) as decimal(18, 4))
            as returned_value,
        cast(sum(case when status = 'cancelled' then 1 else 0 end) as bigint) as n_cancelled

    from orders

    where customer_id is not null
        and not is_completed

    group by customer_id

),

final as (

    select
        purchases.customer_id,
        {{ as_of_date() }} as as_of,
        purchases.first_order_date,
        purchases.last_order_date,
        purchases.n_orders,
        purchases.n_purchase_days,
        cast(purchases.n_purchase_days - 1 as integer) as frequency,
        {{ days_between('purchases.first_order_date', 'purchases.last_order_date') }} as recency_days,
        {{ days_between('purchases.first_order_date', as_of_date()) }} as t_days,
        purchases.revenue,
        cast(purchases.revenue / purchases.n_orders as decimal(18, 4)) as avg_order_value,
        cast(coalesce(other_orders.returned_value, 0) as decimal(18, 4)) as returned_value,
        coalesce(other_orders.n_returned, cast(0 as bigint)) as n_returned,
        coalesce(other_orders.n_cancelled, cast(0 as bigint)) as n_cancelled,
        purchases.margin,
        purchases.n_orders_with_cost,
        '{{ base_currency() }}' as currency

    from purchases

    left join other_orders
        on purchases.customer_id = other_orders.customer_id

)

select * from final
