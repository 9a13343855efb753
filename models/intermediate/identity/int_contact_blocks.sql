{#-
    Each contact's block signature: one character per blocking rule
    (identity_blocking_rules, crm/identity/matching.py BLOCKING_RULES in
    order), '1' where the rule pairs the contact with others of its key: the
    key is filled and at most the rule's cap of contacts share it. Scoring
    reads it (int_contact_match_pairs) instead of counting again, and
    int_contacts_scope folds it into the fingerprint, so a block that crosses
    its cap re-scores its contacts' pairs.

    Only the signature is kept, not the block sizes: it changes when a block
    crosses its cap, so an incremental build replaces the contacts
    int_changed_contact_blocks lists (the changed records and the members of
    a block that crossed) and counts only their keys.
-#}
{%- set rules = identity_blocking_rules() -%}
{%- set changed = ref('int_changed_contact_blocks') -%}
{%- set restricted = is_incremental() and incremental_build() -%}

{{ config_replacing_changed_keys('contact_key', 'contact_key', 'int_changed_contact_blocks') }}

-- depends_on: {{ ref('int_changed_contact_blocks') }}

with

contacts as (

    select * from {{ ref('int_contacts_normalized') }}

),

records as (

    select * from contacts

    where {{ only_changed('contacts.contact_key', changed) }}

),

{% for name, columns, cap in rules %}
-- rule {{ loop.index0 }} ({{ name }}): the keys more contacts share than the
-- rule's cap (of the records' keys only, in an incremental build). Only those:
-- the joins below then build a small table instead of one of every key
-- (4.35M contacts: 42 s to 25 s).
block_{{ loop.index0 }} as (

    select
        {%- for column in columns %}
        contacts.{{ column }},
        {%- endfor %}
        count(*) as n_contacts

    from contacts

    {%- if restricted %}

    inner join (
        select distinct {{ columns | join(', ') }}
        from records
        where {{ all_filled('records', columns) }}
    ) as record_keys
        on {{ same_columns('contacts', 'record_keys', columns) }}
    {%- endif %}

    where {{ all_filled('contacts', columns) }}

    group by {{ 'contacts.' ~ columns | join(', contacts.') }}

    having count(*) > {{ cap }}

),

{% endfor %}
final as (

    select
        records.contact_key,
        {{ dbt.concat(block_signature_characters('records', rules)) }} as block_signature

    -- one join per rule (sqlfluff misreads their indentation: noqa)
    from records

    {%- for name, columns, cap in rules %}

    left join block_{{ loop.index0 }}  -- noqa: LT02
        on {{ same_columns('records', 'block_' ~ loop.index0, columns) }}  -- noqa: LT02
    {%- endfor %}

)

select * from final
