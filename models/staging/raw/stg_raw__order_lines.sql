with

source as (

    {{ latest_version(source('raw', 'order_lines'), ['order_id', 'line_number']) }}

),

renamed as (

    select
        order_id,
        line_number,
        product_id,
        quantity,
        unit_price,
        discount,
        _load_id,
        _loaded_at

    -- lines carry no timestamp: lines of orders after the as-of date drop out
    -- where they are joined to stg_raw__orders
    from source

)

select * from renamed
