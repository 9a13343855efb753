{#-
    contact_key(source_system, source_contact_id): the text that names one
    source record, 'web:12345'. Used to order contacts (the smallest key of a
    cluster names the customer) and as the graph node id of identity matching.
-#}
{% macro contact_key(source_system, source_contact_id) -%}
    {{ dbt.concat([source_system, "':'", source_contact_id]) }}
{%- endmacro %}

{#-
    customer_id_from_key(key_expr): the deterministic customer id of a cluster
    from its smallest contact_key: 'C' + the first 16 hex characters of md5.
    Depends only on that key, so a customer keeps its id when unrelated data
    arrives (it changes only if a contact with a smaller key joins the cluster).
-#}
{% macro customer_id_from_key(key_expr) -%}
    {{ dbt.concat(["'C'", "substring(" ~ dbt.hash(key_expr) ~ ", 1, 16)"]) }}
{%- endmacro %}

{#-
    names_say_two_people(a, b, column, swapped_column): true when both records
    have the name in `column` and the two are not one name: not equal, more
    than two edits apart (levenshtein: the same function on DuckDB and Spark),
    and neither equals the other record's `swapped_column` (first and last
    name swapped between fields).
-#}
{% macro names_say_two_people(a, b, column, swapped_column) -%}
    (
        {{ a }}.{{ column }} is not null
        and {{ b }}.{{ column }} is not null
        and {{ a }}.{{ column }} <> {{ b }}.{{ column }}
        and levenshtein({{ a }}.{{ column }}, {{ b }}.{{ column }}) > 2
        and {{ a }}.{{ column }} <> coalesce({{ b }}.{{ swapped_column }}, '')
        and {{ b }}.{{ column }} <> coalesce({{ a }}.{{ swapped_column }}, '')
    )
{%- endmacro %}
