with

source as (

    {{ latest_version(source('raw', 'orders'), ['order_id']) }}

),

-- a status the loader could not recognise was nulled and recorded there: such
-- an order must not default to 'completed' (it would count as revenue)
unrecognised_status as (

    select distinct
        load_id,
        row_number

    from {{ source('raw', 'value_issues') }}

    where entity = 'orders'
        and column_name = 'status'

),

renamed as (

    select
        source.order_id,
        source.source_system,
        source.source_contact_id,
        source.ordered_at,
        cast(source.ordered_at as date) as order_date,
        source.order_total,
        upper(coalesce(source.currency, '{{ base_currency() }}')) as currency,
        case
            when source.status is not null then source.status
            when unrecognised_status.load_id is not null then 'unknown'
            else 'completed'
        end as status,
        source.channel,
        source.store_id,
        source._load_id,
        source._loaded_at

    from source

    left join unrecognised_status
        on source._load_id = unrecognised_status.load_id
        and source._row_number = unrecognised_status.row_number

    -- as-of replay: orders placed after the as-of date are ignored
    where source.ordered_at < {{ as_of_end_timestamp() }}

)

select * from renamed
