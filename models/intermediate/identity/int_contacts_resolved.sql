{#-
    Every contact with the customer it resolves to and how it was matched,
    plus the attributes survivorship needs (dim_customers).
-#}

with

contacts as (

    select * from {{ ref('int_contacts_normalized') }}

),

clusters as (

    select * from {{ ref('int_contact_clusters') }}

),

links as (

    select * from {{ ref('int_contact_links') }}

),

source_trust as (

    select * from {{ ref('source_trust') }}

),

-- both ends of every link, so each contact sees the rules that touch it
link_ends as (

    select
        contact_key_a as contact_key,
        is_email_match,
        is_phone_match,
        is_loyalty_id_match

    from links

    union all

    select
        contact_key_b as contact_key,
        is_email_match,
        is_phone_match,
        is_loyalty_id_match

    from links

),

contact_rules as (

    select
        contact_key,
        max(case when is_email_match then 1 else 0 end) = 1 as is_email_matched,
        max(case when is_phone_match then 1 else 0 end) = 1 as is_phone_matched,
        max(case when is_loyalty_id_match then 1 else 0 end) = 1 as is_loyalty_id_matched

    from link_ends

    group by contact_key

),

resolved as (

    select
        contacts.contact_key,
        contacts.source_system,
        contacts.source_contact_id,
        {{ customer_id_from_key('clusters.cluster_key') }} as customer_id,
        clusters.cluster_key,
        clusters.n_cluster_contacts,
        coalesce(
            nullif(
                substring(
                    {{ dbt.concat([
                        "case when contact_rules.is_email_matched then '+email' else '' end",
                        "case when contact_rules.is_phone_matched then '+phone' else '' end",
                        "case when contact_rules.is_loyalty_id_matched then '+loyalty_id' else '' end",
                    ]) }},
                    2
                ),
                ''
            ),
            'singleton'
        ) as match_rule,
        -- unknown source systems are trusted least
        coalesce(source_trust.trust_rank, 999) as trust_rank,
        contacts.has_contact_record,
        contacts.first_name,
        contacts.last_name,
        contacts.email_normalized,
        contacts.phone_normalized,
        contacts.birth_date,
        contacts.address_line1,
        contacts.address_line2,
        contacts.city,
        contacts.postal_code,
        contacts.region,
        contacts.country,
        contacts.country_code,
        contacts.loyalty_id_normalized,
        contacts.marketing_opt_in,
        contacts.created_at,
        contacts.updated_at

    from contacts

    inner join clusters
        on contacts.contact_key = clusters.contact_key

    left join contact_rules
        on contacts.contact_key = contact_rules.contact_key

    left join source_trust
        on contacts.source_system = source_trust.source_system

)

select * from resolved
