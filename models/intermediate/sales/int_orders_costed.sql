{#-
    Orders with their line counts, cost and margin. order_cost is known only
    when the order has lines and every line's unit cost is known (a partial
    cost would overstate the margin); order_margin = order_total_base -
    order_cost, both in the base currency.
-#}
{{ config_replacing_changed_keys('order_id', 'order_id', 'int_changed_orders') }}

-- depends_on: {{ ref('int_changed_orders') }}


with

orders as (

    select * from {{ ref('int_orders_converted') }}

    where {{ only_changed('order_id', ref('int_changed_orders')) }}

),

order_lines as (

    select * from {{ ref('int_order_lines_costed') }}

    where {{ only_changed('order_id', ref('int_changed_orders')) }}

),

line_totals as (

    select
        order_id,
        count(*) as n_lines,
        sum(case when unit_cost is null then 1 else 0 end) as n_lines_without_cost,
        sum(line_cost) as order_cost

    from order_lines

    group by order_id

),

costed as (

    select
        orders.order_id,
        orders.customer_id,
        orders.source_system,
        orders.source_contact_id,
        orders.ordered_at,
        orders.order_date,
        orders.order_total,
        orders.currency,
        orders.order_total_base,
        orders.status,
        orders.is_completed,
        orders.channel,
        orders.store_id,
        cast(coalesce(line_totals.n_lines, 0) as bigint) as n_lines,
        case
            when line_totals.n_lines_without_cost = 0
                then cast(line_totals.order_cost as decimal(18, 4))
        end as order_cost,
        case
            when line_totals.n_lines_without_cost = 0
                then cast(orders.order_total_base - line_totals.order_cost as decimal(18, 4))
        end as order_margin

    from orders

    left join line_totals
        on orders.order_id = line_totals.order_id

)

select * from costed
