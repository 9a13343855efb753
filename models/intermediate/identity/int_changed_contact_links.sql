{#-
    The contacts (contact_key) whose deterministic links (int_contact_links)
    an incremental build replaces: the changed records
    (int_changed_normalized_contacts) and every holder of an identifier
    (contact_identifiers) whose count crossed var('identity_max_contacts_per_value')
    between the builds, in either direction: the value starts or stops
    linking its holders although their records did not change. A pair of two
    other contacts shares only values within the cap in both builds, so it is
    the previous build's. Empty in a full build (nothing reads it then).
-#}
{%- set max_contacts = var('identity_max_contacts_per_value') | int -%}

-- depends_on: {{ ref('int_changed_normalized_contacts') }}, {{ ref('int_contacts_normalized') }}

{%- if not incremental_build() %}

{{ no_changed_keys('contact_key') }}

{%- else %}

{%- set columns_read = {'contact_key': dbt.type_string(), 'birth_date': 'date'} -%}
{%- for column in [
    'email_normalized', 'phone_normalized', 'loyalty_id_normalized', 'first_name_key',
    'last_name_key', 'postal_code_normalized', 'city_normalized',
] -%}
    {%- do columns_read.update({column: dbt.type_string()}) -%}
{%- endfor %}

with

changed as (

    select contact_key from {{ ref('int_changed_normalized_contacts') }}

),

-- the changed records, now and before (they are few: read once)
changed_now as (

    {{ changed_contact_rows(columns_read, 'now') }}

),

changed_before as (

    {{ changed_contact_rows(columns_read, 'before') }}

),

-- the values the changed records hold more or less often than before; the
-- other records' values did not change, so such a value's count before is its
-- count now less that difference
moved as (

    select
        held.match_rule,
        held.match_value,
        sum(held.n_records) as n_moved

    from (
        select changed_now_identifiers.match_rule, changed_now_identifiers.match_value, 1 as n_records
        from ({{ contact_identifiers('changed_now') }}) as changed_now_identifiers

        union all

        select changed_before_identifiers.match_rule, changed_before_identifiers.match_value, -1 as n_records
        from ({{ contact_identifiers('changed_before') }}) as changed_before_identifiers
    ) as held

    group by
        held.match_rule,
        held.match_value

    having sum(held.n_records) <> 0

),

contacts as (

    select * from {{ ref('int_contacts_normalized') }}

),

identifiers as (

    {{ contact_identifiers('contacts') }}

),

-- those within the cap in one build and not in the other
crossed as (

    select
        moved.match_rule,
        moved.match_value

    from moved

    left join (
        select
            identifiers.match_rule,
            identifiers.match_value,
            count(*) as n_now
        from identifiers
        inner join moved as moved_value
            on identifiers.match_rule = moved_value.match_rule
            and identifiers.match_value = moved_value.match_value
        group by
            identifiers.match_rule,
            identifiers.match_value
    ) as counted
        on moved.match_rule = counted.match_rule
        and moved.match_value = counted.match_value

    where (coalesce(counted.n_now, 0) <= {{ max_contacts }})
        <> (coalesce(counted.n_now, 0) - moved.n_moved <= {{ max_contacts }})

),

listed as (

    select contact_key from changed

    union all

    select identifiers.contact_key

    from identifiers

    inner join crossed
        on identifiers.match_rule = crossed.match_rule
        and identifiers.match_value = crossed.match_value

)

select distinct contact_key from listed

{%- endif %}
