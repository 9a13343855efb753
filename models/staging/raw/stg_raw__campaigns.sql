with

source as (

    {{ latest_version(source('raw', 'campaigns'), ['campaign_id']) }}

),

renamed as (

    select
        campaign_id,
        name as campaign_name,
        channel,
        started_at,
        ended_at,
        cost as campaign_cost,
        _load_id,
        _loaded_at

    from source

    -- as-of replay: a campaign started after the as-of date did not exist yet
    where started_at is null or started_at < {{ as_of_end_timestamp() }}

)

select * from renamed
