{#-
    Incremental refresh (crm/incremental.py decides; DECISIONS 55).

    An incremental build starts from a copy of the last restricted output, so
    each incremental model's table holds the previous build's rows. The model
    replaces the rows of the keys that may have changed since: a pre-hook
    deletes them (delete_changed_rows), then the model's SQL, restricted to
    those keys (only_changed), appends them again (strategy append). Deleting
    first also removes a key that has no row any more (an order whose new
    version falls after as_of, a customer merged into another). The keys come
    from small int_changed_* tables built in the same run. A full build
    (`crm refresh --full`: dbt --full-refresh into a new file) builds every
    row, and is the reference an incremental one equals.

    What the previous build read is in the previous publication, attached
    read-only as `previous` (macros/identity_state.sql): its
    meta.warehouse_info holds raw_watermark (the newest load it read) and
    as_of. They are read there at run time, not passed as vars: a var that
    changes every refresh makes dbt parse the whole project again.

    An existing table without that state (a plain `dbt build` run twice on one
    file) is rebuilt whole, by deleting every row: never left stale.
-#}

{#- True when this build continues the attached previous publication: dbt runs
    without --full-refresh and `previous` records its raw watermark. -#}
{% macro incremental_build() -%}
    {%- if not execute or flags.FULL_REFRESH -%}
        {{ return(false) }}
    {%- endif -%}
    {#- `crm refresh` says what it planned (crm/incremental.py plan_build) in
        the run var build_incremental, which saves two catalog queries per call
        (~100 calls a build) -#}
    {%- set planned = var('build_incremental', none) | string | lower -%}
    {%- if planned in ['true', 'false'] -%}
        {{ return(planned == 'true') }}
    {%- endif -%}
    {%- set info = previous_relation('meta', 'warehouse_info') -%}
    {%- if info is none -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(info) | map(attribute='name') | list -%}
    {{ return('raw_watermark' in columns) }}
{%- endmacro %}

{#- A condition: the raw row was loaded after the previous build's newest load. -#}
{% macro loaded_since_previous_build() -%}
    _loaded_at > (select previous_info.raw_watermark from previous.meta.warehouse_info as previous_info)
{%- endmacro %}

{#- The previous build's as_of, as a date expression. -#}
{% macro previous_as_of_date() -%}
    (select previous_info.as_of from previous.meta.warehouse_info as previous_info)
{%- endmacro %}

{#- The end (exclusive) of the previous build's as_of day. -#}
{% macro previous_as_of_end_timestamp() -%}
    {{ dbt.dateadd('day', 1, 'cast(' ~ previous_as_of_date() ~ ' as ' ~ dbt.type_timestamp() ~ ')') }}
{%- endmacro %}

{#- A condition: `column` (a timestamp) fell after the previous build's as_of
    and on or before this one's (rows loaded earlier, visible now). -#}
{% macro visible_since_previous_build(column) -%}
    {{ column }} >= {{ previous_as_of_end_timestamp() }}
        and {{ column }} < {{ as_of_end_timestamp() }}
{%- endmacro %}

{#- A select of order_id: the orders with a version loaded since the previous
    build, and those placed after its as_of and on or before this one. -#}
{% macro orders_loaded_or_visible_since_previous_build() -%}
    select order_id from {{ source('raw', 'orders') }}
    where {{ loaded_since_previous_build() }}
    union all
    select order_id from {{ source('raw', 'orders') }}
    where {{ visible_since_previous_build('ordered_at') }}
{%- endmacro %}

{#- The change list of a full build: no keys (nothing reads it then). -#}
{% macro no_changed_keys(column) -%}
    select cast(null as {{ dbt.type_string() }}) as {{ column }} where 1 = 0
{%- endmacro %}

{#- Pre-hook of an incremental model: delete the rows of the changed keys.
    `key`: the model's column; `changed`: a relation with a column of that
    name listing the keys; `columns`: the model's columns to match against
    it instead, a row going when any of them is listed (a pair's two
    contacts). Nothing in a full build; every row of a table without a
    previous build's state. -#}
{% macro delete_changed_rows(key, changed, columns=none) -%}
    {%- if not is_incremental() -%}
        select 1
    {%- elif incremental_build() -%}
        delete from {{ this }}
        where {{ changed_keys_match(key, changed, columns) }}
    {%- else -%}
        delete from {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- A condition: any of `columns` (default: `key`) is listed in `changed`.`key`. -#}
{% macro changed_keys_match(key, changed, columns=none) -%}
    {%- for column in columns or [key] -%}
        {{ ' or ' if not loop.first }}{{ column }} in (select changed_keys.{{ key }} from {{ changed }} as changed_keys)
    {%- endfor -%}
{%- endmacro %}

{#- A condition for an incremental model's SQL: in an incremental build, only
    the changed keys (`column` against `changed`.`key`); true otherwise. -#}
{% macro only_changed(column, changed, key=none) -%}
    {%- if is_incremental() and incremental_build() -%}
        {{ column }} in (select changed_keys.{{ key or column.split('.')[-1] }} from {{ changed }} as changed_keys)
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- The configuration of a model that replaces changed keys: incremental,
    strategy append (dbt-duckdb and dbt-spark both have it), the pre-hook that
    deletes the changed keys first, and a failure if the columns drift.
    `unique_key`: the model's grain (documentation and tests); `key`: the
    column the changed keys are matched on; `changed`: the int_changed_* model
    listing them (declare it with a `-- depends_on:` line as well). The meta
    entry tells publication which keys to replace in the analytics file
    (crm.incremental.replaced_keys). -#}
{% macro config_replacing_changed_keys(unique_key, key, changed, columns=none) -%}
    {%- set spec = {'key': key, 'changed': changed} -%}
    {%- if columns -%}
        {%- do spec.update({'columns': columns}) -%}
    {%- endif -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='append',
        unique_key=unique_key,
        on_schema_change='fail',
        pre_hook="{{ delete_changed_rows('" ~ key ~ "', ref('" ~ changed ~ "'), " ~ (columns or none) ~ ") }}",
        meta={'replaces_changed_keys': spec},
    ) }}
{%- endmacro %}

{#- The tests of a model that replaces changed keys, in an incremental build,
    read only the rows of those keys: the other rows are the previous build's,
    tested when they were written, and a row test or a key test within the
    replaced keys judges the new rows (a replaced key has no old row left
    beside its new ones). dbt's generic tests read their model through
    get_where_subquery (overridden here; it keeps dbt's `where` config).
    Tests across models (relationships) and singular tests read everything. -#}
{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set changed = changed_keys_condition(relation) -%}
    {%- if changed -%}
        {%- do conditions.append(changed) -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ conditions | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#- The condition restricting a test of `relation` to its changed keys, or ''
    (not an incremental build, not such a test, not such a model). -#}
{% macro changed_keys_condition(relation) -%}
    {%- if not execute or model.resource_type != 'test' -%}
        {{ return('') }}
    {%- endif -%}
    {#- tests whose verdict on the replaced keys' rows is their verdict on the table -#}
    {%- set test_name = (model.test_metadata or {}).get('name') -%}
    {%- if test_name not in ['column_checks', 'not_null', 'unique', 'accepted_values'] -%}
        {{ return('') }}
    {%- endif -%}
    {%- for unique_id in model.depends_on.nodes if unique_id.startswith('model.') -%}
        {%- set node = graph.nodes[unique_id] -%}
        {%- set spec = (node.config.meta or {}).get('replaces_changed_keys') -%}
        {%- if spec and node.alias == relation.identifier and node.schema == relation.schema
            and node.config.materialized == 'incremental' and incremental_build() -%}
            {#- not ref(): a test's dependencies are fixed when dbt parses it -#}
            {%- set listed = graph.nodes['model.' ~ project_name ~ '.' ~ spec.changed] -%}
            {%- set changed = api.Relation.create(database=listed.database, schema=listed.schema, identifier=listed.alias) -%}
            {{ return('(' ~ changed_keys_match(spec.key, changed, spec.columns) ~ ')') }}
        {%- endif -%}
    {%- endfor -%}
    {{ return('') }}
{%- endmacro %}
