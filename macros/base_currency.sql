{#-
    base_currency(): the warehouse's base currency from var('currency'),
    upper-cased, as a Jinja string (validated: a 3-letter ISO code). Orders
    without a currency are in it; *_base amounts are converted into it.
-#}
{% macro base_currency() -%}
    {%- set value = (var('currency') | string | trim | upper) -%}
    {%- if not modules.re.match('^[A-Z]{3}$', value) -%}
        {{- exceptions.raise_compiler_error("var('currency') must be a 3-letter ISO code, got '" ~ value ~ "'") -}}
    {%- endif -%}
    {{- return(value) -}}
{%- endmacro %}
