{#-
    Golden record per customer. Survivorship (see _customers__models.yml):
    each field takes the non-null value of the customer's most trusted source
    record (seeds/source_trust.csv, lower rank = more trusted), ties broken by
    the most recent updated_at, then the smallest contact_key. The address
    fields survive together, from the best record that has an address, so a
    street never pairs with another record's city. marketing_opt_in is true
    only if the most recently updated stated opt-in is true.
-#}
{%- set per_field = [
    'first_name', 'last_name', 'email_normalized', 'phone_normalized',
    'birth_date', 'loyalty_id_normalized',
] -%}
{%- set address_fields = [
    'address_line1', 'address_line2', 'city', 'postal_code', 'region', 'country',
] -%}

with

contacts as (

    select * from {{ ref('int_contacts_resolved') }}

),

purchase_days as (

    select * from {{ ref('int_customer_purchase_days') }}

),

flagged as (

    select
        *,
        (
            address_line1 is not null
            or postal_code is not null
            or city is not null
        ) as has_address

    from contacts

),

survived as (

    select
        customer_id,
        {%- for field in per_field %}
        first_value({{ field }}) over (
            partition by customer_id
            order by
                case when {{ field }} is null then 1 else 0 end asc,
                trust_rank asc,
                updated_at desc nulls last,
                contact_key asc
        ) as {{ field }},
        {%- endfor %}
        {%- for field in address_fields %}
        first_value({{ field }}) over (
            partition by customer_id
            order by
                case when has_address then 0 else 1 end asc,
                trust_rank asc,
                updated_at desc nulls last,
                contact_key asc
        ) as {{ field }},
        {%- endfor %}
        first_value(marketing_opt_in) over (
            partition by customer_id
            order by
                case when marketing_opt_in is null then 1 else 0 end asc,
                updated_at desc nulls last,
                created_at desc nulls last,
                trust_rank asc,
                contact_key asc
        ) as marketing_opt_in

    from flagged

),

golden as (

    select
        customer_id,
        {%- for field in per_field + address_fields %}
        max({{ field }}) as {{ field }},
        {%- endfor %}
        max(case when marketing_opt_in then 1 else 0 end) = 1 as marketing_opt_in

    from survived

    group by customer_id

),

source_records as (

    select
        customer_id,
        cast(count(*) as bigint) as n_source_records,
        cast(count(distinct source_system) as bigint) as n_source_systems

    from contacts

    group by customer_id

),

customer_systems as (

    select distinct
        customer_id,
        source_system

    from contacts

),

system_lists as (

    select
        customer_id,
        {{ dbt.listagg('source_system', "','", 'order by source_system') }} as source_systems

    from customer_systems

    group by customer_id

),

order_dates as (

    select
        customer_id,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date

    from purchase_days

    group by customer_id

),

final as (

    select
        golden.customer_id,
        golden.first_name,
        golden.last_name,
        golden.email_normalized as email,
        case
            when golden.phone_normalized is not null
                then {{ dbt.concat(["'+'", 'golden.phone_normalized']) }}
        end as phone,
        golden.birth_date,
        golden.address_line1,
        golden.address_line2,
        golden.city,
        golden.postal_code,
        golden.region,
        golden.country,
        golden.loyalty_id_normalized as loyalty_id,
        golden.marketing_opt_in,
        order_dates.first_order_date,
        order_dates.last_order_date,
        source_records.n_source_records,
        source_records.n_source_systems,
        system_lists.source_systems

    from golden

    inner join source_records
        on golden.customer_id = source_records.customer_id

    inner join system_lists
        on golden.customer_id = system_lists.customer_id

    left join order_dates
        on golden.customer_id = order_dates.customer_id

)

select * from final
