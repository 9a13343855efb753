{#-
    Historical value per customer with at least one completed order on or
    before as_of, in the BTYD conventions of the data contract: frequency =
    repeat purchase days, recency_days = first to last purchase day,
    t_days = first purchase day to as_of.
-#}

with

summary as (

    select * from {{ ref('int_customer_btyd_summary') }}

),

orders as (

    select * from {{ ref('int_orders_costed') }}

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
        summary.customer_id,
        {{ as_of_date() }} as as_of,
        summary.first_order_date,
        summary.last_order_date,
        summary.n_orders,
        summary.n_purchase_days,
        summary.frequency,
        summary.recency_days,
        summary.t_days,
        summary.revenue,
        cast(summary.revenue / summary.n_orders as decimal(18, 4)) as avg_order_value,
        summary.monetary_value,
        cast(coalesce(other_orders.returned_value, 0) as decimal(18, 4)) as returned_value,
        coalesce(other_orders.n_returned, cast(0 as bigint)) as n_returned,
        coalesce(other_orders.n_cancelled, cast(0 as bigint)) as n_cancelled,
        summary.margin,
        summary.n_orders_with_cost,
        '{{ base_currency() }}' as currency

    from summary

    left join other_orders
        on summary.customer_id = other_orders.customer_id

)

select * from final
