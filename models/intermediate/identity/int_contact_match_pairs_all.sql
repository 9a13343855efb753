{#-
    Every scored candidate pair of the current contacts: the pairs the matcher
    scored this refresh (at least one contact new or changed) plus the pairs of
    two unchanged contacts carried over from the previous restricted output, whose
    scores would come out the same (the model and its term frequencies are
    frozen in a file). Grain: one row per (contact_key_l, contact_key_r).
-#}
{%- set full_relink = var('identity_full_relink') -%}

with

scored as (

    select * from {{ ref('int_contact_match_pairs') }}

),

scope as (

    select * from {{ ref('int_contacts_scope') }}

),

carried as (

    select
        previous_pairs.contact_key_l,
        previous_pairs.contact_key_r,
        previous_pairs.match_probability,
        previous_pairs.match_weight,
        previous_pairs.evidence,
        'carried' as pair_origin

    from (
        {{ previous_rows(
            'intermediate', 'int_contact_match_pairs_all',
            {
                'contact_key_l': dbt.type_string(),
                'contact_key_r': dbt.type_string(),
                'match_probability': 'double',
                'match_weight': 'double',
                'evidence': dbt.type_string(),
            },
            enabled=not full_relink,
        ) }}
    ) as previous_pairs

    inner join scope as scope_l
        on previous_pairs.contact_key_l = scope_l.contact_key

    inner join scope as scope_r
        on previous_pairs.contact_key_r = scope_r.contact_key

    where not scope_l.is_new
        and not scope_r.is_new

),

final as (

    select
        contact_key_l,
        contact_key_r,
        match_probability,
        match_weight,
        evidence,
        'scored' as pair_origin

    from scored

    union all

    select * from carried

)

select * from final
