{#-
    Where each golden-record field of dim_customers comes from.
    Grain: one row per (customer_id, field_name) that has a value.
-#}
{{ config_replacing_changed_keys(['customer_id', 'field_name'], 'customer_id', 'int_changed_identity_customers') }}

-- depends_on: {{ ref('int_changed_identity_customers') }}

with

survivors as (

    select * from {{ ref('int_customer_field_survivors') }}

    where {{ only_changed('customer_id', ref('int_changed_identity_customers')) }}

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
