with

source as (

    {{ latest_version(
        source('raw', 'identity_overrides'),
        ['source_system_a', 'source_contact_id_a', 'source_system_b', 'source_contact_id_b']
    ) }}

),

renamed as (

    select
        source_system_a,
        source_contact_id_a,
        source_system_b,
        source_contact_id_b,
        decision,
        reason,
        decided_by,
        decided_at,
        _load_id,
        _loaded_at

    from source

)

select * from renamed
