{#- A row of several columns as one value, for count(distinct ...). -#}
{% macro row_value(columns) -%}
    {{ return(adapter.dispatch('row_value')(columns)) }}
{%- endmacro %}

{% macro default__row_value(columns) -%}
    struct({{ columns | join(', ') }})
{%- endmacro %}

{% macro duckdb__row_value(columns) -%}
    row({{ columns | join(', ') }})
{%- endmacro %}
