with

orders as (

    select * from {{ ref('int_orders_costed') }}

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
