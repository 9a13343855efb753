with

contacts as (

    select * from {{ ref('int_contacts_resolved') }}

),

final as (

    select
        source_system,
        source_contact_id,
        customer_id,
        match_rule,
        n_cluster_contacts as n_customer_records,
        has_contact_record

    from contacts

)

select * from final
