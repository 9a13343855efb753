with

source as (

    {{ latest_version(source('raw', 'products'), ['product_id']) }}

),

renamed as (

    select
        product_id,
        name as product_name,
        category,
        brand,
        unit_cost,
        _load_id,
        _loaded_at

    from source

)

select * from renamed
