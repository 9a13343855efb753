{#-
    Manual identity decisions as ordered contact-key pairs.
    Grain: one row per pair (contact_key_l, contact_key_r).

    Two places to decide: seeds/identity_overrides.csv (kept with the project)
    and files in <inbox>/identity_overrides/ (dropped like any export; the
    latest version of a pair wins). For a pair in both, the inbox decides; a
    'revoke' withdraws the pair's decision.
-#}
with

seeded as (

    select * from {{ ref('identity_overrides') }}

),

dropped as (

    select * from {{ ref('stg_raw__identity_overrides') }}

),

decisions as (

    select
        {{ contact_key('source_system_a', 'source_contact_id_a') }} as key_a,
        {{ contact_key('source_system_b', 'source_contact_id_b') }} as key_b,
        lower(trim(decision)) as decision,
        reason,
        'seed' as decided_in,
        1 as precedence

    from seeded

    union all

    select
        {{ contact_key('source_system_a', 'source_contact_id_a') }} as key_a,
        {{ contact_key('source_system_b', 'source_contact_id_b') }} as key_b,
        decision,
        reason,
        'inbox' as decided_in,
        2 as precedence

    from dropped

),

ordered as (

    select
        case when key_a < key_b then key_a else key_b end as contact_key_l,
        case when key_a < key_b then key_b else key_a end as contact_key_r,
        decision,
        reason,
        decided_in,
        row_number() over (
            partition by
                case when key_a < key_b then key_a else key_b end,
                case when key_a < key_b then key_b else key_a end
            order by precedence desc, decision asc
        ) as rank_of_decision

    from decisions

    where key_a <> key_b

),

final as (

    select
        contact_key_l,
        contact_key_r,
        decision,
        reason,
        decided_in

    from ordered

    where rank_of_decision = 1
        and decision in ('same', 'never')

)

select * from final
