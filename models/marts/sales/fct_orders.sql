{{ config_replacing_changed_keys('order_id', 'order_id', 'int_changed_orders') }}

-- depends_on: {{ ref('int_changed_orders') }}

with

orders as (

    select * from {{ ref('int_orders_costed') }}

    where {{ only_changed('order_id', ref('int_changed_orders')) }}

),

final as (

    select
        order_id,
        customer_id,
        source_system,
        source_contact_id,
        ordered_at,
        order_date,
        order_total,
        currency,
        order_total_base,
        status,
        is_completed,
        channel,
        store_id,
        n_lines,
        order_cost,
        order_margin

    from orders

)

select * from final
