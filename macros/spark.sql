{#-
    On Spark (dbt-spark, DECISIONS 79) the project builds plain Parquet
    tables, which cannot hold constraints: dbt-spark adds them to Delta tables
    only and otherwise skips them, so a contract's not_null and check
    constraints would silently stop being enforced. Here they are asserted
    instead: right after a table is built, one query counts the rows breaking
    each constraint, and any count above 0 fails the model, as DuckDB's
    enforced constraints fail its build.
    Delta tables keep dbt-spark's own ALTER TABLE constraints (Delta enforces
    them); every other format, Iceberg included, is asserted.
-#}
{% macro spark__persist_constraints(relation, model) %}
    {%- set contract_config = config.get('contract') -%}
    {%- if not contract_config.enforced -%}
        {{ return('') }}
    {%- endif -%}
    {%- if config.get('file_format', 'delta') == 'delta' -%}
        {% do alter_table_add_constraints(relation, model.constraints) %}
        {% do alter_column_set_constraints(relation, model.columns) %}
    {%- else -%}
        {% do crm_assert_constraints(relation, model) %}
    {%- endif -%}
{% endmacro %}

{#- The constraints of a model as (label, SQL condition a row breaks). -#}
{% macro crm_constraint_violations(model) %}
    {%- set checks = [] -%}
    {%- for column_name, column in model.columns.items() -%}
        {%- for constraint in column.constraints -%}
            {%- if constraint.type == 'not_null' -%}
                {%- do checks.append((column_name ~ ' not_null', column_name ~ ' is null')) -%}
            {%- elif constraint.type == 'check' -%}
                {%- do checks.append((column_name ~ ' check (' ~ constraint.expression ~ ')',
                                      'not coalesce(' ~ constraint.expression ~ ', true)')) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for constraint in model.constraints -%}
        {%- if constraint.type == 'not_null' -%}
            {%- for column_name in constraint.columns -%}
                {%- do checks.append((column_name ~ ' not_null', column_name ~ ' is null')) -%}
            {%- endfor -%}
        {%- elif constraint.type == 'check' -%}
            {%- do checks.append(('check (' ~ constraint.expression ~ ')',
                                  'not coalesce(' ~ constraint.expression ~ ', true)')) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(checks) }}
{% endmacro %}

{% macro crm_assert_constraints(relation, model) %}
    {#- Check expressions are written for DuckDB, which enforces them itself;
        its regexp_matches (a match anywhere) is Spark's regexp_like. -#}
    {%- set checks = [] -%}
    {%- for label, condition in crm_constraint_violations(model) -%}
        {%- do checks.append((label, condition | replace('regexp_matches(', 'regexp_like('))) -%}
    {%- endfor -%}
    {%- if checks | length == 0 -%}
        {{ return('') }}
    {%- endif -%}
    {%- set sql -%}
        select
        {%- for label, condition in checks %}
            sum(case when {{ condition }} then 1 else 0 end) as v{{ loop.index }}
            {{- "," if not loop.last }}
        {%- endfor %}
        from {{ relation }}
    {%- endset -%}
    {%- set row = run_query(sql).rows[0] -%}
    {%- set broken = [] -%}
    {%- for label, condition in checks -%}
        {%- set n = row[loop.index0] or 0 -%}
        {%- if n > 0 -%}
            {%- do broken.append(label ~ ': ' ~ n ~ ' row(s)') -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if broken -%}
        {{ exceptions.raise_compiler_error(
            'Constraints of ' ~ relation ~ ' broken (asserted after the build, as Parquet tables cannot hold them): '
            ~ broken | join('; ')) }}
    {%- endif -%}
{% endmacro %}

{#-
    dbt-spark's listagg drops the order (collect_list has none) and warns;
    Spark 4 has listagg ... within group (order by ...), as DuckDB's ordered
    string_agg, so a listed value reads the same on both engines.
-#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if order_by_clause and not limit_num -%}
        listagg({{ measure }}, {{ delimiter_text }}) within group ({{ order_by_clause }})
    {%- else -%}
        {{ return(dbt.spark__listagg(measure, delimiter_text, order_by_clause, limit_num)) }}
    {%- endif -%}
{%- endmacro %}
