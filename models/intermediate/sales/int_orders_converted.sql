{#-
    Orders (on or before as_of) with their buyer resolved to a customer and
    their total converted to the base currency var('currency') at the rate
    valid on the order date: amount * rate_to_eur(order currency) /
    rate_to_eur(base currency). No rate for the currency -> order_total_base
    is null (a warning test reports it).
-#}
{{ config_replacing_changed_keys('order_id', 'order_id', 'int_changed_orders') }}

{%- set base = base_currency() -%}

-- depends_on: {{ ref('int_changed_orders') }}

with

orders as (

    select * from {{ ref('stg_raw__orders') }}

    where {{ only_changed('order_id', ref('int_changed_orders')) }}

),

contacts as (

    select * from {{ ref('int_contacts_resolved') }}

),

fx_rates as (

    select * from {{ ref('int_fx_rates_ranged') }}

),

with_rates as (

    select
        orders.order_id,
        contacts.customer_id,
        orders.source_system,
        orders.source_contact_id,
        orders.ordered_at,
        orders.order_date,
        orders.order_total,
        orders.currency,
        case
            when orders.currency = '{{ base }}' then cast(1 as double)
            else cast(order_rate.rate_to_eur as double) / cast(base_rate.rate_to_eur as double)
        end as fx_rate_to_base,
        orders.status,
        orders.status = 'completed' as is_completed,
        orders.channel,
        orders.store_id

    from orders

    left join contacts
        on orders.source_system = contacts.source_system
        and orders.source_contact_id = contacts.source_contact_id

    left join fx_rates as order_rate
        on orders.currency = order_rate.currency
        and orders.order_date >= order_rate.valid_from
        and (order_rate.valid_to is null or orders.order_date < order_rate.valid_to)

    left join fx_rates as base_rate
        on base_rate.currency = '{{ base }}'
        and orders.order_date >= base_rate.valid_from
        and (base_rate.valid_to is null or orders.order_date < base_rate.valid_to)

),

converted as (

    select
        order_id,
        customer_id,
        source_system,
        source_contact_id,
        ordered_at,
        order_date,
        order_total,
        currency,
        fx_rate_to_base,
        cast(order_total * fx_rate_to_base as decimal(18, 4)) as order_total_base,
        status,
        is_completed,
        channel,
        store_id

    from with_rates

)

select * from converted
