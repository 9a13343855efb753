with

stores as (

    select * from {{ ref('stg_raw__stores') }}

),

final as (

    select
        store_id,
        store_name,
        city,
        region,
        country

    from stores

)

select * from final
