{#-
    Which contacts the probabilistic matcher must score this refresh.
    Grain: one row per contact (contact_key).

    is_new: the previous restricted output did not resolve this contact, or the values
    scoring reads (its fingerprint: the model version, the contact's block
    signature from int_contact_blocks and the columns scoring compares,
    identity_matched_columns) changed since. Pairs of two contacts that are
    not new were scored before and are taken from the previous restricted output
    (int_contact_match_pairs_all). With var('identity_full_relink') every
    contact is new: a full re-link, which must give the same clusters.

    An incremental build replaces the contacts int_changed_contacts_scope
    lists (changed records and blocks, last build's new contacts, everyone
    after a retrain); the others' fingerprints are the previous build's.
-#}
{%- set full_relink = var('identity_full_relink') -%}
{%- set changed = ref('int_changed_contacts_scope') -%}

{{ config_replacing_changed_keys('contact_key', 'contact_key', 'int_changed_contacts_scope') }}

-- depends_on: {{ ref('int_changed_contacts_scope') }}

with

contacts as (

    select * from {{ ref('int_contacts_normalized') }}

    where {{ only_changed('contact_key', changed) }}

),

previous_scope as (

    {{ previous_rows(
        'intermediate', 'int_contacts_scope',
        {'contact_key': dbt.type_string(), 'fingerprint': dbt.type_string()},
        enabled=not full_relink,
    ) }}

),

identity_model as (

    select * from {{ ref('int_identity_model') }}

),

blocks as (

    select * from {{ ref('int_contact_blocks') }}

),

fingerprinted as (

    select
        contacts.contact_key,
        -- the model version is part of it: a retrained model re-scores every pair;
        -- so is the block signature: a block that crosses its cap re-scores its pairs
        {{ dbt.concat([
            "identity_model.model_version",
            "':'",
            "blocks.block_signature",
            "':'",
            row_fingerprint('contacts', identity_matched_columns()),
        ]) }} as fingerprint

    from contacts

    cross join identity_model

    inner join blocks
        on contacts.contact_key = blocks.contact_key

),

final as (

    select
        fingerprinted.contact_key,
        fingerprinted.fingerprint,
        coalesce(previous_scope.fingerprint <> fingerprinted.fingerprint, true) as is_new

    from fingerprinted

    left join previous_scope
        on fingerprinted.contact_key = previous_scope.contact_key

)

select * from final
