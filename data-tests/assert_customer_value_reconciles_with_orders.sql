{{ config(meta={'dagster': {'ref': {'name': 'customer_value'}}}) }}

-- Reconciliation between layers: the revenue and order count of customer_value
-- add up to the completed, resolved orders of fct_orders.
with

orders as (

    select
        cast(count(*) as bigint) as n_orders,
        coalesce(sum(order_total_base), 0) as revenue

    from {{ ref('fct_orders') }}

    where is_completed
        and customer_id is not null

),

customers as (

    select
        coalesce(sum(n_orders), 0) as n_orders,
        coalesce(sum(revenue), 0) as revenue

    from {{ ref('customer_value') }}

)

select
    orders.n_orders as orders_n_orders,
    customers.n_orders as customers_n_orders,
    orders.revenue as orders_revenue,
    customers.revenue as customers_revenue

from orders

cross join customers

where orders.n_orders != customers.n_orders
    or abs(orders.revenue - customers.revenue) > 0.01
