with

source as (

    {{ latest_version(
        source('raw', 'campaign_touches'),
        ['campaign_id', 'source_system', 'source_contact_id', 'touched_at', 'event'],
    ) }}

),

renamed as (

    select
        campaign_id,
        source_system,
        source_contact_id,
        touched_at,
        event,
        is_control,
        _load_id,
        _loaded_at

    from source

    -- as-of replay: touches after the as-of date are ignored
    where touched_at < {{ as_of_end_timestamp() }}

)

select * from renamed
