{#-
    Calendar months and seasons for the period marts (cohort_retention,
    crm_kpis_monthly, sales_by_region_period), on top of dbt's cross-database
    date macros so the same SQL runs on DuckDB and Spark.

    month_start(expr): the first day of expr's month, a date.
    add_months(n, expr): the date expr plus n months (n may be an expression).
    months_between(start, end): whole calendar months from start to end.
    month_index(expr): months since year 0 (year * 12 + month - 1): a month
        as an integer, so windows can use RANGE offsets and events +/- n.
    month_of_index(expr): back from a month_index to the month's first day.
    month_label(expr): 'YYYY-MM' of a date (no engine-specific date format).
    month_offsets(): one column month_offset = 0 .. 1199: the month grid of a
        period mart is a start month plus these offsets, so a grid covers at
        most 100 years before as_of (dbt.generate_series: no table function).
-#}
{% macro month_start(expr) -%}
    cast({{ dbt.date_trunc('month', expr) }} as date)
{%- endmacro %}

{% macro add_months(n, expr) -%}
    cast({{ dbt.dateadd('month', '(' ~ n ~ ')', expr) }} as date)
{%- endmacro %}

{% macro months_between(start_date, end_date) -%}
    cast({{ dbt.datediff(start_date, end_date, 'month') }} as integer)
{%- endmacro %}

{% macro month_index(expr) -%}
    cast(extract(year from {{ expr }}) * 12 + extract(month from {{ expr }}) - 1 as integer)
{%- endmacro %}

{% macro month_of_index(expr) -%}
    {{ add_months('(' ~ expr ~ ') - ' ~ (2000 * 12), "cast('2000-01-01' as date)") }}
{%- endmacro %}

{% macro month_label(expr) -%}
    {{ dbt.concat([
        dbt.cast('extract(year from ' ~ expr ~ ')', dbt.type_string()),
        "'-'",
        "lpad(" ~ dbt.cast('extract(month from ' ~ expr ~ ')', dbt.type_string()) ~ ", 2, '0')",
    ]) }}
{%- endmacro %}

{% macro month_offsets() -%}
    select cast(generated_number - 1 as integer) as month_offset

    from ({{ dbt.generate_series(1200) }}) as series
{%- endmacro %}

{#-
    Seasons from var('seasons'): {season: [its months in calendar order from
    its first month]}. Every month 1-12 must belong to exactly one season.
    season_months(): {month: (season, position in the season from 0, length)}.
    season_of_month(expr): the season name of a month number 1-12.
    season_position(expr): how many months the month lies after its season's
        first month (December of winter [12, 1, 2] = 0, February = 2).
    season_length(expr): the number of months of the month's season.
-#}
{% macro season_months() -%}
    {%- set seasons = var('seasons') -%}
    {%- set by_month = {} -%}
    {%- for season, months in seasons.items() -%}
        {%- for month in months -%}
            {%- set m = month | int -%}
            {%- if m < 1 or m > 12 or m in by_month -%}
                {{- exceptions.raise_compiler_error("var('seasons'): month " ~ month ~ " of '" ~ season ~ "' is not a month 1-12 or belongs to two seasons") -}}
            {%- endif -%}
            {%- if not loop.first and m != (months[loop.index0 - 1] | int) % 12 + 1 -%}
                {{- exceptions.raise_compiler_error("var('seasons'): the months of '" ~ season ~ "' must be consecutive, in calendar order from its first month") -}}
            {%- endif -%}
            {%- do by_month.update({m: (season, loop.index0, months | length)}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if by_month | length != 12 -%}
        {{- exceptions.raise_compiler_error("var('seasons') must give every month 1-12 a season, got " ~ (by_month | length) ~ " months") -}}
    {%- endif -%}
    {{- return(by_month) -}}
{%- endmacro %}

{% macro season_of_month(expr) -%}
    {%- set by_month = season_months() -%}
    case {{ expr }}
        {%- for m in range(1, 13) %}
        when {{ m }} then '{{ by_month[m][0] }}'
        {%- endfor %}
    end
{%- endmacro %}

{% macro season_position(expr) -%}
    {%- set by_month = season_months() -%}
    case {{ expr }}
        {%- for m in range(1, 13) %}
        when {{ m }} then {{ by_month[m][1] }}
        {%- endfor %}
    end
{%- endmacro %}

{% macro season_length(expr) -%}
    {%- set by_month = season_months() -%}
    case {{ expr }}
        {%- for m in range(1, 13) %}
        when {{ m }} then {{ by_month[m][2] }}
        {%- endfor %}
    end
{%- endmacro %}

{#-
    month_is_complete(expr): true when the month starting on date expr ended
    on or before as_of (its last day <= as_of); the as_of month itself is
    partial unless as_of is its last day.
-#}
{% macro month_is_complete(expr) -%}
    {{ add_months(1, expr) }} <= cast({{ dbt.dateadd('day', 1, as_of_date()) }} as date)
{%- endmacro %}
