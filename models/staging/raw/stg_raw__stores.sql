with

source as (

    {{ latest_version(source('raw', 'stores'), ['store_id']) }}

),

renamed as (

    select
        store_id,
        name as store_name,
        city,
        region,
        country,
        _load_id,
        _loaded_at

    from source

)

select * from renamed
