{#-
    The customers (customer_id) an incremental build replaces in the
    per-customer models that add up their orders: the buyers, before and now,
    of every changed order (int_changed_orders), and every customer whose
    source records changed (int_changed_identity_customers: the golden record
    in dim_customers). Before: in the previous build, so a customer whose
    orders moved to another (a merge, a split) is rebuilt too, maybe to
    nothing. Empty in a full build.
-#}
{%- set changed_orders = ref('int_changed_orders') -%}

with

buyers_now as (

    select orders.customer_id

    from {{ ref('int_orders_costed') }} as orders

    where orders.order_id in (select changed.order_id from {{ changed_orders }} as changed)

),

buyers_before as (

    select previous_orders.customer_id

    from (
        {{ previous_rows(
            'intermediate', 'int_orders_costed',
            {'order_id': dbt.type_string(), 'customer_id': dbt.type_string()},
        ) }}
    ) as previous_orders

    where previous_orders.order_id in (select changed.order_id from {{ changed_orders }} as changed)

)

select distinct customer_id

from (
    select customer_id from buyers_now
    union all
    select customer_id from buyers_before
    union all
    select customer_id from {{ ref('int_changed_identity_customers') }}
) as buyers

where customer_id is not null
