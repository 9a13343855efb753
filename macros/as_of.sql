{#-
    The analysis date of a refresh: var('as_of'), which `crm refresh` sets. A
    run var (orchestration/dbt_runner.py RUN_VARS): read only when models run,
    never while dbt parses, so that a new day does not mean a new parse.

    as_of_date_string(): 'YYYY-MM-DD'. "today", an empty value or null mean the
        run's start date (UTC), so the default needs no configuration. Anything
        that is not a date raises a compiler error at parse/compile time.
    as_of_date(): the date as a SQL literal: cast('2024-06-30' as date).
    as_of_end_timestamp(): the exclusive upper bound of the as-of day as a SQL
        timestamp literal (the next midnight, UTC): a business timestamp is
        "on or before as_of" when it is < this value.
-#}
{% macro as_of_date_string() -%}
    {%- set value = var('as_of') if execute else 'today' -%}
    {%- if value is none or (value | string | trim) in ('', 'today', 'None', 'none') -%}
        {{- return(run_started_at.strftime('%Y-%m-%d')) -}}
    {%- endif -%}
    {%- set text = value | string | trim -%}
    {%- set re = modules.re -%}
    {%- if not re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', text) -%}
        {{- exceptions.raise_compiler_error("var('as_of') must be a date YYYY-MM-DD or 'today', got '" ~ text ~ "'") -}}
    {%- endif -%}
    {#- validates the calendar date too (2024-02-30 fails) -#}
    {%- set parsed = modules.datetime.datetime.strptime(text, '%Y-%m-%d') -%}
    {{- return(parsed.strftime('%Y-%m-%d')) -}}
{%- endmacro %}

{% macro as_of_date() -%}
    cast('{{ as_of_date_string() }}' as date)
{%- endmacro %}

{% macro as_of_end_timestamp() -%}
    {%- set day = modules.datetime.datetime.strptime(as_of_date_string(), '%Y-%m-%d') -%}
    {%- set next_day = day + modules.datetime.timedelta(days=1) -%}
    cast('{{ next_day.strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- optional_var(name, default=none): var(name, default) trimmed, as a string, or
    none when it is null or empty (YAML null, '' and the strings none/None/null
    from the command line). -#}
{% macro optional_var(name, default=none) -%}
    {%- set value = var(name, default) -%}
    {%- if value is none or (value | string | trim) in ('', 'none', 'None', 'null') -%}
        {{- return(none) -}}
    {%- endif -%}
    {{- return(value | string | trim) -}}
{%- endmacro %}

{#- whole_number_var(name, default, minimum=1, maximum=none, optional=false):
    var(name, default) as an int in [minimum, maximum], checked (a compiler
    error names the var); with optional, none when it is null (optional_var). -#}
{% macro whole_number_var(name, default, minimum=1, maximum=none, optional=false) -%}
    {%- set value = optional_var(name, default) -%}
    {%- if value is none and optional -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- if value is none or not value.isdigit() or (value | int) < minimum
        or (maximum is not none and (value | int) > maximum) -%}
        {%- set bounds = ('from ' ~ minimum ~ ' to ' ~ maximum) if maximum is not none else ('>= ' ~ minimum) -%}
        {{- exceptions.raise_compiler_error("var('" ~ name ~ "') must be a whole number " ~ bounds
            ~ (' or null' if optional else '') ~ ", got '" ~ value ~ "'") -}}
    {%- endif -%}
    {{- return(value | int) -}}
{%- endmacro %}
