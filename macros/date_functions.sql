{#-
    days_between(start_date, end_date): whole days from start_date to
    end_date (end - start) as an integer, via dbt's cross-database datediff
    (date - date means different things on DuckDB and Spark).
-#}
{% macro days_between(start_date, end_date) -%}
    cast({{ dbt.datediff(start_date, end_date, 'day') }} as integer)
{%- endmacro %}
