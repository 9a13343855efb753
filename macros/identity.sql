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

{#- The deterministic identifiers of the contacts in `relation` (a CTE name):
    (contact_key, match_rule, match_value), one row per identifier a contact
    holds: its normalised e-mail, phone and loyalty id, and its first and last
    name and birth date with the postal code, and with the city. Unique:
    each branch gives a contact one value and the two name_birth_date
    branches' values differ by their prefix. int_contact_links pairs the
    holders of a value; int_changed_contact_links finds whose pairs changed. -#}
{% macro contact_identifiers(relation) -%}
    {%- for rule in ['email', 'phone', 'loyalty_id'] %}
    {{ 'union all' if not loop.first }}
    select
        {{ relation }}.contact_key,
        '{{ rule }}' as match_rule,
        {{ relation }}.{{ rule }}_normalized as match_value
    from {{ relation }}
    where {{ relation }}.{{ rule }}_normalized is not null
    {%- endfor %}
    {#- the same first and last name, birth date and postal code (or city): one
        person unless a 'never' decision says otherwise (a model's score for
        this falls as the data grows, the evidence does not) -#}
    {%- for place in ['postal_code_normalized', 'city_normalized'] %}
    union all
    select
        {{ relation }}.contact_key,
        'name_birth_date' as match_rule,
        {{ dbt.concat([
            "'" ~ place ~ ":'", relation ~ ".first_name_key", "'|'", relation ~ ".last_name_key", "'|'",
            "cast(" ~ relation ~ ".birth_date as " ~ dbt.type_string() ~ ")", "'|'", relation ~ "." ~ place,
        ]) }} as match_value
    from {{ relation }}
    where {{ relation }}.first_name_key is not null
        and {{ relation }}.last_name_key is not null
        and {{ relation }}.birth_date is not null
        and {{ relation }}.{{ place }} is not null
    {%- endfor %}
{%- endmacro %}
