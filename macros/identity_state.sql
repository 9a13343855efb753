{#-
    Identity state: the restricted output of the last publication.

    customer_id must stay stable across refreshes, and unchanged contacts need
    not be re-scored. The last publication's restricted output already holds
    the previous assignments, scored pairs and id history, committed
    atomically with it, so it IS the state: the orchestrator passes its path
    in the run var previous_restricted_output and this on-run-start hook
    attaches it read-only as `previous`. Without it (first refresh, plain
    `dbt build`) every model starts fresh and ids are derived from the records
    alone.
-#}
{% macro attach_previous_restricted_output() -%}
    {{ return(adapter.dispatch('attach_previous_restricted_output', 'crm')()) }}
{%- endmacro %}

{% macro default__attach_previous_restricted_output() -%}
    select 1
{%- endmacro %}

{% macro duckdb__attach_previous_restricted_output() -%}
    {#- read only when the hook runs: a run var (orchestration/dbt_runner.py) -#}
    {%- set path = optional_var('previous_restricted_output') if execute else none -%}
    {%- if path -%}
        attach if not exists '{{ path }}' as previous (read_only)
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- The relation `previous.<schema>.<identifier>`, or none when there is no
    previous restricted output or it lacks that table (an older version). -#}
{% macro previous_relation(schema, identifier) -%}
    {%- if not execute or optional_var('previous_restricted_output') is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(adapter.get_relation(database='previous', schema=schema, identifier=identifier)) }}
{%- endmacro %}

{#- A hash of the named columns of `alias`: a record's fingerprint, so a
    record whose columns changed is noticed. -#}
{% macro row_fingerprint(alias, columns) -%}
    {%- set pieces = [] -%}
    {%- for column in columns -%}
        {%- if pieces %}{% do pieces.append("'|'") %}{% endif -%}
        {%- do pieces.append("coalesce(cast(" ~ alias ~ "." ~ column ~ " as " ~ dbt.type_string() ~ "), '~')") -%}
    {%- endfor -%}
    md5({{ dbt.concat(pieces) }})
{%- endmacro %}

{#- A select of `columns` (name -> SQL type) from previous.<schema>.<identifier>,
    or an empty set of the same shape when there is no such relation or
    `enabled` is false (a full re-link ignores earlier state). -#}
{% macro previous_rows(schema, identifier, columns, enabled=true) -%}
    {%- set relation = previous_relation(schema, identifier) if enabled else none -%}
    {%- if relation is not none -%}
        select {{ columns.keys() | join(', ') }} from {{ relation }}
    {%- else -%}
        select
        {%- for name, type in columns.items() %}
            cast(null as {{ type }}) as {{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
        where 1 = 0
    {%- endif -%}
{%- endmacro %}

{#- (contact_key, previous_customer_id): the customer id each contact record had
    in the previous restricted output; empty without one. -#}
{% macro previous_customer_ids() -%}
    select
        contact_key,
        customer_id as previous_customer_id

    from (
        {{ previous_rows(
            'intermediate', 'int_contacts_resolved',
            {'contact_key': dbt.type_string(), 'customer_id': dbt.type_string()},
        ) }}
    ) as previous_resolved
{%- endmacro %}

{#- The changed contacts' rows (int_changed_normalized_contacts) of
    int_contacts_normalized, this build's (`side` 'now') or the previous
    build's ('before'): the `columns` ({name: type}) the change lists of the
    identity models compare. Declare both models with `-- depends_on:`. -#}
{% macro changed_contact_rows(columns, side) -%}
    select contact_rows.*
    from (
        {%- if side == 'now' %}
        select {{ columns.keys() | join(', ') }} from {{ ref('int_contacts_normalized') }}
        {%- else %}
        {{ previous_rows('intermediate', 'int_contacts_normalized', columns) }}
        {%- endif %}
    ) as contact_rows
    where contact_rows.contact_key in (
        select changed.contact_key from {{ ref('int_changed_normalized_contacts') }} as changed
    )
{%- endmacro %}
