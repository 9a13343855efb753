{#-
    The records (contact_key) whose int_contacts_normalized row may differ
    from the previous build's: the changed records (int_changed_contacts) and
    every other holder of an email, phone or loyalty id value whose count
    crossed the cap (var('identity_max_contacts_per_value')) between the
    builds, in either direction: their match keys appear or vanish although
    their records did not change. Only values a changed record holds now or
    held before can change their count. Empty in a full build (nothing reads
    it then).
-#}
{%- set max_contacts = var('identity_max_contacts_per_value') | int -%}
{%- set keys = ['email', 'phone', 'loyalty_id'] -%}

-- depends_on: {{ ref('int_changed_contacts') }}, {{ ref('int_contacts_normalized_base') }}

{%- if not incremental_build() %}

{{ no_changed_keys('contact_key') }}

{%- else %}

{%- set before_columns = {'contact_key': dbt.type_string()} -%}
{%- for key in keys %}
    {%- do before_columns.update({key ~ '_normalized': dbt.type_string()}) -%}
{%- endfor %}

with

changed as (

    select contact_key from {{ ref('int_changed_contacts') }}

),

now as (

    select * from {{ ref('int_contacts_normalized_base') }}

),

before as (

    {{ previous_rows('intermediate', 'int_contacts_normalized', before_columns) }}

),

{% for key in keys %}
-- the values of the changed records, now and before
touched_{{ key }} as (
    {%- for side in ['now', 'before'] %}
    {{ 'union' if not loop.first }}
    select {{ side }}.{{ key }}_normalized as value
    from {{ side }}
    where {{ side }}.contact_key in (select changed.contact_key from changed)
        and {{ side }}.{{ key }}_normalized is not null
    {%- endfor %}

),

-- those whose count is within the cap in one build and not in the other
crossed_{{ key }} as (

    select touched.value

    from touched_{{ key }} as touched

    {%- for side in ['now', 'before'] %}

    left join (
        select {{ side }}.{{ key }}_normalized as value, count(*) as n
        from {{ side }}
        where {{ side }}.{{ key }}_normalized in (select touched.value from touched_{{ key }} as touched)
        group by {{ side }}.{{ key }}_normalized
    ) as count_{{ side }}
        on touched.value = count_{{ side }}.value
    {%- endfor %}

    where (coalesce(count_now.n, 0) <= {{ max_contacts }})
        <> (coalesce(count_before.n, 0) <= {{ max_contacts }})

),

{% endfor %}
listed as (

    select contact_key from changed

    {%- for key in keys %}

    union all

    select now.contact_key
    from now
    where now.{{ key }}_normalized in (select crossed.value from crossed_{{ key }} as crossed)
    {%- endfor %}

)

select distinct contact_key from listed

{%- endif %}
