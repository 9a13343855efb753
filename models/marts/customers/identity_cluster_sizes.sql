{#-
    The customers' sizes in source records: how many customers hold 1, 2, 3,
    ... records. Grain: one row per size.
-#}

with

resolved as (

    select * from {{ ref('int_contacts_resolved') }}

),

customers as (

    select
        customer_id,
        count(*) as n_records

    from resolved

    group by customer_id

),

final as (

    select
        n_records as customer_records,
        count(*) as customers,
        cast(sum(n_records) as bigint) as records

    from customers

    group by n_records

)

select * from final
