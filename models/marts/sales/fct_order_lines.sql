{{ config_replacing_changed_keys(['order_id', 'line_number'], 'order_id', 'int_changed_orders') }}

-- depends_on: {{ ref('int_changed_orders') }}

with

order_lines as (

    select * from {{ ref('int_order_lines_costed') }}

    where {{ only_changed('order_id', ref('int_changed_orders')) }}

),

final as (

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
        line_total_base,
        unit_cost,
        line_cost,
        line_margin

    from order_lines

)

select * from final
