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

edges as (

    select * from {{ ref('int_identity_edges') }}

),

customer_ids as (

    select * from {{ ref('int_customer_ids') }}

),

source_trust as (

    select * from {{ ref('source_trust') }}

),

-- evidence inside the final clusters (links cut by a guard don't count)
cluster_edges as (

    select
        edges.contact_key_l,
        edges.contact_key_r,
        edges.match_source,
        edges.match_rule

    from edges

    inner join clusters as cluster_l
        on edges.contact_key_l = cluster_l.contact_key

    inner join clusters as cluster_r
        on edges.contact_key_r = cluster_r.contact_key

    where cluster_l.cluster_key = cluster_r.cluster_key

),

-- both ends of every link, so each contact sees the evidence that touches it
edge_ends as (

    select
        contact_key_l as contact_key,
        match_source,
        match_rule
    from cluster_edges

    union all

    select
        contact_key_r as contact_key,
        match_source,
        match_rule
    from cluster_edges

),

contact_rules as (

    select
        contact_key,
        max(case when match_rule like '%email%' then 1 else 0 end) = 1 as is_email_matched,
        max(case when match_rule like '%phone%' then 1 else 0 end) = 1 as is_phone_matched,
        max(case when match_rule like '%loyalty_id%' then 1 else 0 end) = 1
            as is_loyalty_id_matched,
        max(case when match_rule like '%name_birth_date%' then 1 else 0 end) = 1
            as is_name_birth_date_matched,
        max(case when match_source = 'splink' then 1 else 0 end) = 1 as is_splink_matched,
        max(case when match_source = 'manual' then 1 else 0 end) = 1 as is_manual_matched

    from edge_ends

    group by contact_key

),

resolved as (

    select
        contacts.contact_key,
        contacts.source_system,
        contacts.source_contact_id,
        customer_ids.customer_id,
        clusters.cluster_key,
        clusters.n_cluster_contacts,
        clusters.guard as cluster_guard,
        coalesce(
            nullif(
                substring(
                    {{ dbt.concat([
                        "case when contact_rules.is_email_matched then '+email' else '' end",
                        "case when contact_rules.is_phone_matched then '+phone' else '' end",
                        "case when contact_rules.is_loyalty_id_matched then '+loyalty_id' else '' end",
                        "case when contact_rules.is_name_birth_date_matched then '+name_birth_date' else '' end",
                        "case when contact_rules.is_splink_matched then '+splink' else '' end",
                        "case when contact_rules.is_manual_matched then '+manual' else '' end",
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
        contacts.street_name,
        contacts.house_number,
        contacts.postal_code_normalized,
        contacts.city_normalized,
        contacts.marketing_opt_in,
        contacts.created_at,
        contacts.updated_at

    from contacts

    inner join clusters
        on contacts.contact_key = clusters.contact_key

    inner join customer_ids
        on clusters.cluster_key = customer_ids.cluster_key

    left join contact_rules
        on contacts.contact_key = contact_rules.contact_key

    left join source_trust
        on contacts.source_system = source_trust.source_system

)

select * from resolved
