{#-
    Where each golden-record field of dim_customers comes from.
    Grain: one row per (customer_id, field_name) that has a value.
-#}
with

survivors as (

    select * from {{ ref('int_customer_field_survivors') }}

),

final as (

    select
        customer_id,
        field_name,
        survivorship_rule,
        source_system,
        source_contact_id,
        source_updated_at,
        n_records_agreeing

    from survivors

)

select * from final
