{#-
    The evidence identity clusters are built from, for audit.
    Grain: one row per (contact_key_l, contact_key_r, match_source).

    match_source:
      - 'manual': a 'same' decision in seeds/identity_overrides.csv;
      - 'deterministic': a shared normalised e-mail, phone or loyalty id
        (match_rule names them);
      - 'splink': a probabilistic pair with match_probability at or above the
        model's link threshold (int_identity_model.link_threshold), or
        var('identity_match_threshold') when set; evidence lists its levels.
    edge_score orders the evidence for the clustering guards, which cut the
    weakest links first: splink = its probability (< 1), deterministic = 2,
    manual = 3 (crm/identity/clusters.py).
-#}
{#- The model's own link threshold (int_identity_model) unless the var is set. -#}
{%- set threshold_var = var('identity_match_threshold') -%}

with

links as (

    select * from {{ ref('int_contact_links') }}

),

pairs as (

    select * from {{ ref('int_contact_match_pairs_all') }}

),

overrides as (

    select * from {{ ref('int_identity_overrides') }}

),

identity_model as (

    select * from {{ ref('int_identity_model') }}

),

deterministic as (

    select
        case when contact_key_a < contact_key_b then contact_key_a else contact_key_b end
            as contact_key_l,
        case when contact_key_a < contact_key_b then contact_key_b else contact_key_a end
            as contact_key_r,
        'deterministic' as match_source,
        match_rule,
        cast(null as double) as match_probability,
        cast(null as {{ dbt.type_string() }}) as evidence,
        -- a shared key outlasts a shared name and birth date in the guards
        case when match_rule = 'name_birth_date' then 1.2 else 2.0 end as edge_score

    from links

),

probabilistic as (

    select
        pairs.contact_key_l,
        pairs.contact_key_r,
        'splink' as match_source,
        'splink' as match_rule,
        pairs.match_probability,
        pairs.evidence,
        pairs.match_probability as edge_score

    from pairs

    cross join identity_model

    where pairs.match_probability >= {{
        'identity_model.link_threshold' if threshold_var is none else threshold_var
    }}

),

manual as (

    select
        contact_key_l,
        contact_key_r,
        'manual' as match_source,
        'manual' as match_rule,
        cast(null as double) as match_probability,
        reason as evidence,
        cast(3.0 as double) as edge_score

    from overrides

    where decision = 'same'

),

final as (

    select * from manual

    union all

    select * from deterministic

    union all

    select * from probabilistic

)

select * from final
