{#-
    The identity keys of every contact (int_contacts_normalized_base) plus
    the capped match keys: the normalised email, phone and loyalty id where
    at most var('identity_max_contacts_per_value') contacts share the value.
    A value shared by more is a placeholder (as in int_contact_links): no
    evidence either way, so its match key is null.

    An incremental build replaces the records int_changed_normalized_contacts
    lists: the changed records and the other holders of a value whose count
    crossed the cap.
-#}
{%- set max_contacts = var('identity_max_contacts_per_value') | int -%}
{%- set changed = ref('int_changed_normalized_contacts') -%}
{%- set keys = ['email', 'phone', 'loyalty_id'] -%}
{%- set restricted = is_incremental() and incremental_build() -%}

{{ config_replacing_changed_keys('contact_key', 'contact_key', 'int_changed_normalized_contacts') }}

-- depends_on: {{ ref('int_changed_normalized_contacts') }}

with

base as (

    select * from {{ ref('int_contacts_normalized_base') }}

),

records as (

    select * from base

    where {{ only_changed('base.contact_key', changed) }}

),

-- the values within the cap (of the records' values only, in an incremental
-- build): an aggregate joined back costs a third of a window partitioned by
-- the value (BENCHMARKS.md, issue 14)
{% for key in keys %}
{{ key }}_values as (

    select base.{{ key }}_normalized as value

    from base

    where base.{{ key }}_normalized is not null
    {%- if restricted %}
        and base.{{ key }}_normalized in (select records.{{ key }}_normalized from records)
    {%- endif %}

    group by base.{{ key }}_normalized

    having count(*) <= {{ max_contacts }}

),

{% endfor %}
final as (

    select
        records.*,
        email_values.value as email_match_key,
        phone_values.value as phone_match_key,
        loyalty_id_values.value as loyalty_id_match_key

    from records

    left join email_values
        on records.email_normalized = email_values.value

    left join phone_values
        on records.phone_normalized = phone_values.value

    left join loyalty_id_values
        on records.loyalty_id_normalized = loyalty_id_values.value

)

-- the base's columns, then the match keys
select * from final  -- noqa: AM04
