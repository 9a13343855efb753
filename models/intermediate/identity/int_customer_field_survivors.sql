{#-
    Survivorship: which source record supplies each golden-record field.
    Grain: one row per (customer_id, field_name) with a non-null value.

    Each field follows a rule, configurable per field with
    var('survivorship') (dbt_project.yml):
      - most_trusted:  the value of the most trusted record that has one
                       (seeds/source_trust.csv, lower rank first), then the
                       most recent updated_at, then the smallest contact_key;
      - most_recent:   the value of the most recently updated record that has
                       one, then created_at, then trust, then contact_key;
      - most_frequent: the value most records agree on, then as most_trusted.
    The address is one field, so a street never pairs with another record's
    city: its value is the record's normalised address, and dim_customers takes
    every address column from the record that won.

    How, at millions of contacts: each record is numbered once per customer in
    the trust order and in the recency order (two windows over the contacts,
    not over every field's candidates); the candidates collapse to one row per
    distinct value (its count and its best-ordered record); the best value per
    field wins, and its record is found again by (customer_id, order number).
    An equi-join per order, so no join fans out.
-#}
{%- set defaults = {
    'first_name': 'most_trusted',
    'last_name': 'most_trusted',
    'email': 'most_trusted',
    'phone': 'most_trusted',
    'birth_date': 'most_trusted',
    'loyalty_id': 'most_trusted',
    'address': 'most_trusted',
    'marketing_opt_in': 'most_recent',
} -%}
{%- set fields = {
    'first_name': 'first_name',
    'last_name': 'last_name',
    'email': 'email_normalized',
    'phone': 'phone_normalized',
    'birth_date': 'cast(birth_date as ' ~ dbt.type_string() ~ ')',
    'loyalty_id': 'loyalty_id_normalized',
    'address': 'case when address_line1 is not null or postal_code is not null or city is not null then '
        ~ dbt.concat([
            "coalesce(street_name, '')", "'|'", "coalesce(house_number, '')", "'|'",
            "coalesce(postal_code_normalized, '')", "'|'", "coalesce(city_normalized, '')",
        ]) ~ ' end',
    'marketing_opt_in': "case when marketing_opt_in then 'true' when not marketing_opt_in then 'false' end",
} -%}
{%- set configured = var('survivorship') or {} -%}

{%- set allowed = ['most_trusted', 'most_recent', 'most_frequent'] -%}
{#- An incremental build replaces the customers whose records changed. #}
{{ config_replacing_changed_keys(['customer_id', 'field_name'], 'customer_id', 'int_changed_identity_customers') }}

-- depends_on: {{ ref('int_changed_identity_customers') }}

with

contacts as (

    select
        *,
        row_number() over (
            partition by customer_id
            order by trust_rank asc, updated_at desc nulls last, contact_key asc
        ) as trusted_order,
        row_number() over (
            partition by customer_id
            order by
                updated_at desc nulls last,
                created_at desc nulls last,
                trust_rank asc,
                contact_key asc
        ) as recent_order

    from {{ ref('int_contacts_resolved') }}

    where {{ only_changed('customer_id', ref('int_changed_identity_customers')) }}

),

candidates as (

    {%- for field, expression in fields.items() %}
    {%- set rule = configured.get(field, defaults[field]) %}
    {%- if rule not in allowed %}
        {{ exceptions.raise_compiler_error("var('survivorship'): rule '" ~ rule ~ "' for " ~ field ~ " is not one of " ~ allowed | join(', ')) }}
    {%- endif %}

    select
        customer_id,
        '{{ field }}' as field_name,
        '{{ rule }}' as survivorship_rule,
        {{ expression }} as field_value,
        {{ 'recent_order' if rule == 'most_recent' else 'trusted_order' }} as rule_order

    from contacts

    where {{ expression }} is not null
    {% if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

agreeing as (

    select
        customer_id,
        field_name,
        survivorship_rule,
        field_value,
        count(*) as n_records_agreeing,
        min(rule_order) as rule_order

    from candidates

    group by customer_id, field_name, survivorship_rule, field_value

),

ranked as (

    select
        *,
        row_number() over (
            partition by customer_id, field_name
            order by
                case when survivorship_rule = 'most_frequent' then n_records_agreeing end
                desc nulls last,
                rule_order asc
        ) as survivor_rank

    from agreeing

),

winners as (

    select * from ranked

    where survivor_rank = 1

),

final as (

    {%- for order_column, recent in [('trusted_order', false), ('recent_order', true)] %}

    select
        winners.customer_id,
        winners.field_name,
        winners.field_value,
        winners.survivorship_rule,
        contacts.contact_key,
        contacts.source_system,
        contacts.source_contact_id,
        contacts.updated_at as source_updated_at,
        winners.n_records_agreeing

    from winners

    inner join contacts
        on
        winners.customer_id = contacts.customer_id
        and winners.rule_order = contacts.{{ order_column }}

    where winners.survivorship_rule {{ '=' if recent else '<>' }} 'most_recent'
    {% if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

)

select * from final
