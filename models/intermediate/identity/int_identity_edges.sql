{#-
    The evidence identity clusters are built from, for audit.
    Grain: one row per (contact_key_l, contact_key_r, match_source).

    match_source:
      - 'manual': a 'same' decision in seeds/identity_overrides.csv;
      - 'deterministic': a shared normalised e-mail, phone or loyalty id
        (match_rule names them);
      - 'splink': a probabilistic pair with match_probability at or above
        var('identity_match_threshold'); evidence lists its comparison levels.
    edge_score orders the evidence for the clustering guards, which cut the
    weakest links first: splink = its probability (< 1), deterministic = 2,
    manual = 3 (crm/identity/clusters.py).
-#}
{%- set threshold = var('identity_match_threshold', 0.995) -%}

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
        cast(2.0 as double) as edge_score

    from links

),

probabilistic as (

    select
        contact_key_l,
        contact_key_r,
        'splink' as match_source,
        'splink' as match_rule,
        match_probability,
        evidence,
        match_probability as edge_score

    from pairs

    where match_probability >= {{ threshold }}

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
