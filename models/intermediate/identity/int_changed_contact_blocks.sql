{#-
    The contacts (contact_key) whose block signature (int_contact_blocks) may
    differ from the previous build's: the changed records
    (int_changed_normalized_contacts) and every member of a blocking rule's
    key whose count crossed the rule's cap between the builds, in either
    direction. Only keys a changed record holds now or held before can change
    their count (the other records' key columns are the previous build's).
    Empty in a full build (nothing reads it then).
-#}
{%- set rules = identity_blocking_rules() -%}

-- depends_on: {{ ref('int_changed_normalized_contacts') }}, {{ ref('int_contacts_normalized') }}

{%- if not incremental_build() %}

{{ no_changed_keys('contact_key') }}

{%- else %}

{%- set key_columns = [] -%}
{%- for name, columns, cap in rules -%}
    {%- for column in columns if column not in key_columns -%}
        {%- do key_columns.append(column) -%}
    {%- endfor -%}
{%- endfor -%}
{%- set columns_read = {'contact_key': dbt.type_string()} -%}
{%- for column in key_columns | sort -%}
    {%- do columns_read.update({column: 'date' if column == 'birth_date' else dbt.type_string()}) -%}
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

{% for name, columns, cap in rules %}
{%- set i = loop.index0 %}
{%- set key_list = columns | join(', ') %}
-- rule {{ i }} ({{ name }}): the keys the changed records hold more or less
-- often than before; the other records' keys did not change, so such a key's
-- count before is its count now less that difference
moved_{{ i }} as (

    select
        {{ key_list }},
        sum(n_records) as n_moved

    from (
        select {{ key_list }}, 1 as n_records
        from changed_now
        where {{ all_filled('changed_now', columns) }}

        union all

        select {{ key_list }}, -1 as n_records
        from changed_before
        where {{ all_filled('changed_before', columns) }}
    ) as held

    group by {{ key_list }}

    having sum(n_records) <> 0

),

-- those within the cap in one build and not in the other
crossed_{{ i }} as (

    select {{ 'moved.' ~ columns | join(', moved.') }}

    from moved_{{ i }} as moved

    left join (
        select {{ 'contacts.' ~ columns | join(', contacts.') }}, count(*) as n_now
        from {{ ref('int_contacts_normalized') }} as contacts
        inner join moved_{{ i }} as moved_key
            on {{ same_columns('contacts', 'moved_key', columns) }}
        group by {{ 'contacts.' ~ columns | join(', contacts.') }}
    ) as counted
        on {{ same_columns('moved', 'counted', columns) }}

    where (coalesce(counted.n_now, 0) <= {{ cap }})
        <> (coalesce(counted.n_now, 0) - moved.n_moved <= {{ cap }})

),

{% endfor %}
listed as (

    select contact_key from changed

    {%- for name, columns, cap in rules %}

    union all

    select contacts.contact_key
    from {{ ref('int_contacts_normalized') }} as contacts
    inner join crossed_{{ loop.index0 }} as crossed
        on {{ same_columns('contacts', 'crossed', columns) }}
    {%- endfor %}

)

select distinct contact_key from listed

{%- endif %}
