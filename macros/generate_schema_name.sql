{#-
    Plain schema names: a model configured with `+schema: marts` lands in
    schema `marts` (not dbt's default `<target schema>_marts`), so the schemas
    of the build file are exactly raw (attached), staging, intermediate,
    seeds and marts. Models without a custom schema use the target's schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
