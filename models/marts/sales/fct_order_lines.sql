with

order_lines as (

    select * from {{ ref('int_order_lines_costed') }}

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
