with

source as (

    {{ latest_version(
        source('raw', 'contacts'),
        ['source_system', 'source_contact_id'],
        prefer=['updated_at desc nulls last'],
    ) }}

),

renamed as (

    select
        source_system,
        source_contact_id,
        first_name,
        last_name,
        email,
        phone,
        birth_date,
        address_line1,
        address_line2,
        city,
        postal_code,
        region,
        country,
        loyalty_id,
        marketing_opt_in,
        created_at,
        updated_at,
        _load_id,
        _loaded_at

    from source

    -- as-of replay: a contact created after the as-of date did not exist yet
    where created_at is null or created_at < {{ as_of_end_timestamp() }}

)

select * from renamed
