{#-
    Households: customers whose golden address is the same dwelling.
    Grain: one row per household_id. A household groups customers; it never
    merges them (two people at one address stay two customers).
-#}
with

customers as (

    select * from {{ ref('dim_customers') }}

),

members as (

    select
        household_id,
        customer_id,
        address_line1,
        address_line2,
        postal_code,
        city,
        country,
        row_number() over (partition by household_id order by customer_id) as member_rank

    from customers

    where household_id is not null

),

final as (

    select
        household_id,
        max(case when member_rank = 1 then address_line1 end) as address_line1,
        max(case when member_rank = 1 then address_line2 end) as address_line2,
        max(case when member_rank = 1 then postal_code end) as postal_code,
        max(case when member_rank = 1 then city end) as city,
        max(case when member_rank = 1 then country end) as country,
        cast(count(*) as bigint) as n_customers

    from members

    group by household_id

)

select * from final
