{#-
    String functions whose spelling differs between engines (DuckDB now,
    Spark later), each dispatched so models stay portable.
-#}

{#- strip_accents(expr): 'Müller' -> 'Muller', 'José' -> 'Jose'. -#}
{% macro strip_accents(expr) -%}
    {{ return(adapter.dispatch('strip_accents', 'crm')(expr)) }}
{%- endmacro %}

{% macro default__strip_accents(expr) -%}
    translate(
        {{ expr }},
        'ÀÁÂÃÄÅàáâãäåÇçÈÉÊËèéêëÌÍÎÏìíîïÑñÒÓÔÕÖØòóôõöøÙÚÛÜùúûüÝýÿŠšŽžČčĆćŁłŃńŚśŹźŻżŘřĚěŮůŐőŰű',
        'AAAAAAaaaaaaCcEEEEeeeeIIIIiiiiNnOOOOOOooooooUUUUuuuuYyySsZzCcCcLlNnSsZzZzRrEeUuOoUu'
    )
{%- endmacro %}

{% macro duckdb__strip_accents(expr) -%}
    strip_accents({{ expr }})
{%- endmacro %}

{#- regexp_replace_all(expr, pattern, replacement): replace EVERY match
    (DuckDB replaces only the first one unless given the 'g' flag). -#}
{% macro regexp_replace_all(expr, pattern, replacement) -%}
    {{ return(adapter.dispatch('regexp_replace_all', 'crm')(expr, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regexp_replace_all(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, '{{ pattern }}', '{{ replacement }}')
{%- endmacro %}

{% macro duckdb__regexp_replace_all(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}

{#- regexp_like(expr, pattern): true when the pattern matches anywhere in expr
    (anchor with ^...$ for a full match). -#}
{% macro regexp_like(expr, pattern) -%}
    {{ return(adapter.dispatch('regexp_like', 'crm')(expr, pattern)) }}
{%- endmacro %}

{% macro default__regexp_like(expr, pattern) -%}
    ({{ expr }} rlike '{{ pattern }}')
{%- endmacro %}

{% macro duckdb__regexp_like(expr, pattern) -%}
    regexp_matches({{ expr }}, '{{ pattern }}')
{%- endmacro %}

{#- normalize_name(expr): lower case, accents stripped, inner whitespace
    collapsed, trimmed; empty -> null. For names, cities and streets. -#}
{% macro normalize_name(expr) -%}
    nullif(trim({{ regexp_replace_all('lower(' ~ strip_accents(expr) ~ ')', ' +', ' ') }}), '')
{%- endmacro %}
