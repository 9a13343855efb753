with

source as (

    {{ latest_version(source('raw', 'orders'), ['order_id']) }}

),

renamed as (

    select
        order_id,
        source_system,
        source_contact_id,
        ordered_at,
        cast(ordered_at as date) as order_date,
        order_total,
        upper(coalesce(currency, '{{ base_currency() }}')) as currency,
        coalesce(status, 'completed') as status,
        channel,
        store_id,
        _load_id,
        _loaded_at

    from source

    -- as-of replay: orders placed after the as-of date are ignored
    where ordered_at < {{ as_of_end_timestamp() }}

)

select * from renamed
