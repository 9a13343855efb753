{#-
    unique_combination_of_columns: fails for every combination of the given
    columns that occurs more than once (a composite key's `unique`; written
    here because dbt hub packages such as dbt_utils are not available).
-#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

    select
        {{ combination_of_columns | join(', ') }},
        count(*) as n_rows

    from {{ model }}

    group by {{ combination_of_columns | join(', ') }}

    having count(*) > 1

{% endtest %}
