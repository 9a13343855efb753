{#-
    Completed purchases of resolved customers per day, on or before as_of:
    the unit of the BTYD conventions (a "purchase" is a day with at least one
    completed order). Anonymous orders (no customer) are left out.
-#}
{{ config_replacing_changed_keys(['customer_id', 'order_date'], 'customer_id', 'int_changed_customers') }}

-- depends_on: {{ ref('int_changed_customers') }}


with

orders as (

    select * from {{ ref('int_orders_costed') }}

    where {{ only_changed('customer_id', ref('int_changed_customers')) }}

),

purchase_days as (

    select
        customer_id,
        order_date,
        cast(count(*) as bigint) as n_orders,
        cast(sum(order_total_base) as decimal(18, 4)) as revenue,
        cast(sum(order_margin) as decimal(18, 4)) as margin,
        cast(sum(case when order_margin is not null then order_total_base end) as decimal(18, 4))
            as revenue_with_cost,
        cast(sum(case when order_margin is not null then 1 else 0 end) as bigint) as n_orders_with_cost

    from orders

    where is_completed
        and customer_id is not null

    group by
        customer_id,
        order_date

)

select * from purchase_days
