with

source as (

    {{ latest_version(source('raw', 'interactions'), ['interaction_id']) }}

),

renamed as (

    select
        interaction_id,
        source_system,
        source_contact_id,
        channel,
        type as interaction_type,
        opened_at,
        resolved_at,
        first_response_at,
        status as interaction_status,
        satisfaction_score,
        order_id,
        handling_cost,
        _load_id,
        _loaded_at

    from source

    -- as-of replay: interactions opened after the as-of date are ignored
    where opened_at < {{ as_of_end_timestamp() }}

)

select * from renamed
