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
{%- set before_columns = {'contact_key': dbt.type_string()} -%}
{%- for column in key_columns | sort -%}
    {%- do before_columns.update({column: 'date' if column == 'birth_date' else dbt.type_string()}) -%}
{%- endfor %}

with

changed as (

    select contact_key from {{ ref('int_changed_normalized_contacts') }}

),

now as (

    select * from {{ ref('int_contacts_normalized') }}

),

before as (

    {{ previous_rows('intermediate', 'int_contacts_normalized', before_columns) }}

),

{% for name, columns, cap in rules %}
{%- set i = loop.index0 %}
-- rule {{ i }} ({{ name }}): the keys of the changed records, now and before
touched_{{ i }} as (
    {%- for side in ['now', 'before'] %}
    {{ 'union' if not loop.first }}
    select {{ side ~ '.' ~ columns | join(', ' ~ side ~ '.') }}
    from {{ side }}
    where {{ side }}.contact_key in (select changed.contact_key from changed)
        and {{ all_filled(side, columns) }}
    {%- endfor %}

),

-- those within the cap in one build and not in the other
crossed_{{ i }} as (

    select {{ 'touched.' ~ columns | join(', touched.') }}

    from touched_{{ i }} as touched

    {%- for side in ['now', 'before'] %}

    left join (
        select {{ side ~ '.' ~ columns | join(', ' ~ side ~ '.') }}, count(*) as n_contacts
        from {{ side }}
        inner join touched_{{ i }} as touched
            on {{ same_columns(side, 'touched', columns) }}
        group by {{ side ~ '.' ~ columns | join(', ' ~ side ~ '.') }}
    ) as count_{{ side }}
        on {{ same_columns('touched', 'count_' ~ side, columns) }}
    {%- endfor %}

    where (coalesce(count_now.n_contacts, 0) <= {{ cap }})
        <> (coalesce(count_before.n_contacts, 0) <= {{ cap }})

),

{% endfor %}
listed as (

    select contact_key from changed

    {%- for name, columns, cap in rules %}

    union all

    select now.contact_key
    from now
    inner join crossed_{{ loop.index0 }} as crossed
        on {{ same_columns('now', 'crossed', columns) }}
    {%- endfor %}

)

select distinct contact_key from listed

{%- endif %}
