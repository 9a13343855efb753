with

products as (

    select * from {{ ref('stg_raw__products') }}

),

final as (

    select
        product_id,
        product_name,
        category,
        brand,
        unit_cost,
        unit_cost is not null as has_unit_cost

    from products

)

select * from final
