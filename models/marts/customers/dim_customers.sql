{#-
    Golden record per customer: each field from the record that survivorship
    chose (int_customer_field_survivors; rules configurable per field with
    var('survivorship'), sources in marts.customer_field_sources). The address
    columns all come from the one record whose address won. household_id
    groups customers whose golden address is the same dwelling (street, house
    number, address line 2, postal code or city): a household is a grouping of
    customers, never a merge of them.

    An incremental build replaces the customers whose records or orders
    changed (int_changed_customers).
-#}
{{ config_replacing_changed_keys('customer_id', 'customer_id', 'int_changed_customers') }}

-- depends_on: {{ ref('int_changed_customers') }}

with

contacts as (

    select * from {{ ref('int_contacts_resolved') }}

    where {{ only_changed('customer_id', ref('int_changed_customers')) }}

),

survivors as (

    select * from {{ ref('int_customer_field_survivors') }}

    where {{ only_changed('customer_id', ref('int_changed_customers')) }}

),

purchase_days as (

    select * from {{ ref('int_customer_purchase_days') }}

    where {{ only_changed('customer_id', ref('int_changed_customers')) }}

),

pivoted as (

    select
        customer_id,
        max(case when field_name = 'first_name' then field_value end) as first_name,
        max(case when field_name = 'last_name' then field_value end) as last_name,
        max(case when field_name = 'email' then field_value end) as email_normalized,
        max(case when field_name = 'phone' then field_value end) as phone_normalized,
        max(case when field_name = 'birth_date' then field_value end) as birth_date_text,
        max(case when field_name = 'loyalty_id' then field_value end) as loyalty_id_normalized,
        max(case when field_name = 'address' then contact_key end) as address_contact_key,
        max(case when field_name = 'marketing_opt_in' then field_value end) as opt_in_text

    from survivors

    group by customer_id

),

customers as (

    select distinct customer_id from contacts

),

golden as (

    select
        customers.customer_id,
        pivoted.first_name,
        pivoted.last_name,
        pivoted.email_normalized,
        pivoted.phone_normalized,
        cast(pivoted.birth_date_text as date) as birth_date,
        pivoted.loyalty_id_normalized,
        address_record.address_line1,
        address_record.address_line2,
        address_record.city,
        address_record.postal_code,
        address_record.region,
        address_record.country,
        case
            when address_record.street_name is not null
                and address_record.house_number is not null
                and coalesce(address_record.postal_code_normalized, address_record.city_normalized)
                is not null
                then {{ dbt.concat([
                    "'H'",
                    "substring(" ~ dbt.hash(dbt.concat([
                        'address_record.street_name', "'|'",
                        'address_record.house_number', "'|'",
                        "coalesce(lower(trim(address_record.address_line2)), '')", "'|'",
                        "coalesce(address_record.postal_code_normalized, address_record.city_normalized)",
                    ])) ~ ", 1, 16)",
                ]) }}
        end as household_id,
        coalesce(pivoted.opt_in_text = 'true', false) as marketing_opt_in

    from customers

    left join pivoted
        on customers.customer_id = pivoted.customer_id

    left join contacts as address_record
        on pivoted.address_contact_key = address_record.contact_key

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
        golden.household_id,
        order_dates.first_order_date,
        order_dates.last_order_date,
        source_records.n_source_records,
        source_records.n_source_systems,
        system_lists.source_systems,
        -- what analysts need of the personal fields, without the identifier
        -- (the analytics file carries those hashed or not at all)
        golden.email_normalized is not null as has_email,
        golden.phone_normalized is not null as has_phone,
        cast(extract(year from golden.birth_date) as integer) as birth_year

    from golden

    inner join source_records
        on golden.customer_id = source_records.customer_id

    inner join system_lists
        on golden.customer_id = system_lists.customer_id

    left join order_dates
        on golden.customer_id = order_dates.customer_id

)

select * from final
