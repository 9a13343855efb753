{#-
    Order lines of the orders on or before as_of, priced and costed.
    line_total = quantity * unit_price - discount (the discount is the line's
    amount off, in the order currency). Product unit costs are taken to be in
    the base currency, so cost and margin are in the base currency; they are
    null when the product's unit cost is unknown.
-#}
{{ config_replacing_changed_keys(['order_id', 'line_number'], 'order_id', 'int_changed_orders') }}

-- depends_on: {{ ref('int_changed_orders') }}

with

order_lines as (

    select * from {{ ref('stg_raw__order_lines') }}

    where {{ only_changed('order_id', ref('int_changed_orders')) }}

),

orders as (

    select * from {{ ref('int_orders_converted') }}

),

products as (

    select * from {{ ref('stg_raw__products') }}

),

priced as (

    select
        order_lines.order_id,
        order_lines.line_number,
        order_lines.product_id,
        orders.customer_id,
        orders.order_date,
        orders.currency,
        orders.fx_rate_to_base,
        order_lines.quantity,
        order_lines.unit_price,
        order_lines.discount,
        cast(
            order_lines.quantity * order_lines.unit_price - coalesce(order_lines.discount, 0)
            as decimal(18, 4)
        ) as line_total,
        products.unit_cost

    from order_lines

    -- lines of orders after as_of (or of unknown orders) drop out here
    inner join orders
        on order_lines.order_id = orders.order_id

    left join products
        on order_lines.product_id = products.product_id

),

costed as (

    select
        order_id,
        line_number,
        product_id,
        customer_id,
        order_date,
        currency,
        quantity,
        unit_price,
        discount,
        line_total,
        cast(line_total * fx_rate_to_base as decimal(18, 4)) as line_total_base,
        unit_cost,
        cast(quantity * unit_cost as decimal(18, 4)) as line_cost,
        cast(line_total * fx_rate_to_base - quantity * unit_cost as decimal(18, 4)) as line_margin

    from priced

)

select * from costed
