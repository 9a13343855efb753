{#-
    column_checks: a model's column checks in one query, one dbt node and one
    scan of the model, instead of a node and a scan per check (DECISIONS 61).
    Each kind is the dbt test of the same name:
      not_null: [column, ...]          a row whose column is null fails
      unique: [column or [columns], ...] a value (or combination) on more than
                                       one row fails: as dbt's unique, a single
                                       column's nulls are not compared; as
                                       unique_combination_of_columns, a
                                       combination's are
      accepted_values: {column: [values]} a non-null value not listed fails
      expressions: [sql, ...]          a row where the expression is not true
                                       fails (null fails, as expression_is_true)
    It returns one row per failing check: which check, and how many rows fail
    it (for unique: the rows beyond the first of each repeated value). dbt
    reports the sum of those rows; run the compiled test to see the checks.
-#}
{% test column_checks(model, not_null=[], unique=[], accepted_values={}, expressions=[]) %}
    {{ config(fail_calc='coalesce(sum(failing_rows), 0)') }}
    {%- set checks = [] -%}
    {%- for column in not_null -%}
        {%- do checks.append(('not_null ' ~ column,
            'sum(case when ' ~ column ~ ' is null then 1 else 0 end)')) -%}
    {%- endfor -%}
    {%- for key in unique -%}
        {%- if key is string -%}
            {%- do checks.append(('unique ' ~ key,
                'count(' ~ key ~ ') - count(distinct ' ~ key ~ ')')) -%}
        {%- else -%}
            {%- do checks.append(('unique ' ~ key | join(', '),
                'count(*) - count(distinct ' ~ row_value(key) ~ ')')) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for column, values in accepted_values.items() -%}
        {%- set listed = [] -%}
        {%- for value in values -%}
            {%- do listed.append("'" ~ (value | string | replace("'", "''")) ~ "'") -%}
        {%- endfor -%}
        {%- do checks.append(('accepted_values ' ~ column,
            'sum(case when ' ~ column ~ ' not in (' ~ listed | join(', ') ~ ') then 1 else 0 end)')) -%}
    {%- endfor -%}
    {%- for expression in expressions -%}
        {%- do checks.append(('expression ' ~ expression,
            'sum(case when coalesce(' ~ expression ~ ', false) then 0 else 1 end)')) -%}
    {%- endfor -%}
    {%- if not checks -%}
        {{ exceptions.raise_compiler_error('column_checks on ' ~ model ~ ' names no check') }}
    {%- endif %}

    {#- counted is read once (engines that inline a CTE would scan the model
        once per reference): one row of counts, crossed with the check numbers -#}
    select
        failed_check,
        failing_rows

    from (

        select
            case check_number
            {%- for check in checks %}
                when {{ loop.index }} then '{{ check[0] | replace("'", "''") }}'
            {%- endfor %}
            end as failed_check,
            case check_number
            {%- for check in checks %}
                when {{ loop.index }} then check_{{ loop.index }}
            {%- endfor %}
            end as failing_rows

        from (

            select
            {%- for check in checks %}
                {{ check[1] }} as check_{{ loop.index }}{{ ',' if not loop.last }}
            {%- endfor %}

            from {{ model }}

        ) as counted

        cross join (
            values {% for check in checks %}({{ loop.index }}){{ ', ' if not loop.last }}{% endfor %}
        ) as checks (check_number)

    ) as per_check

    where failing_rows > 0

{% endtest %}
