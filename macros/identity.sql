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
