{#-
    The orders whose rows may differ from the previous build's: the keys the
    incremental order models replace (macros/incremental.sql). A superset is
    harmless (an unchanged order is rebuilt the same); a missing key is not.
    An order may change because:
    - a version of it or of one of its lines was loaded since the previous
      build (new, late-arriving, corrected, returned or cancelled orders);
    - it was placed after the previous as_of and on or before this one
      (loaded earlier, visible now);
    - its buyer's source record now belongs to another customer (a merge, a
      split, a new record) or to none;
    - one of its lines is of a product with a new version (unit cost, category);
    - with var('basket_lookback_days'), its day left the basket window.
    Empty in a full build (nothing reads it then). macros/incremental.sql
    says where the previous build's watermark and as_of come from.
-#}
{%- set lookback_days = optional_var('basket_lookback_days') -%}

-- depends_on: {{ ref('int_contacts_resolved') }}

{%- if not incremental_build() %}

{{ no_changed_keys('order_id') }}

{%- else %}

with

-- a version of the order loaded since, or the order placed inside the new as_of days
new_or_visible as (

    {{ orders_loaded_or_visible_since_previous_build() }}

),

new_lines as (

    select order_id

    from {{ source('raw', 'order_lines') }}

    where {{ loaded_since_previous_build() }}

),

resolved_now as (

    select
        contact_key,
        source_system,
        source_contact_id,
        customer_id

    from {{ ref('int_contacts_resolved') }}

),

resolved_before as (

    {{ previous_rows(
        'intermediate', 'int_contacts_resolved',
        {
            'contact_key': dbt.type_string(),
            'source_system': dbt.type_string(),
            'source_contact_id': dbt.type_string(),
            'customer_id': dbt.type_string(),
        },
    ) }}

),

moved_records as (

    select
        coalesce(resolved_now.source_system, resolved_before.source_system) as source_system,
        coalesce(resolved_now.source_contact_id, resolved_before.source_contact_id)
            as source_contact_id

    from resolved_now

    full outer join resolved_before
        on resolved_now.contact_key = resolved_before.contact_key

    where resolved_now.customer_id is distinct from resolved_before.customer_id
        or resolved_now.source_system is distinct from resolved_before.source_system
        or resolved_now.source_contact_id is distinct from resolved_before.source_contact_id

),

moved_buyers as (

    select orders.order_id

    from {{ source('raw', 'orders') }} as orders

    inner join moved_records
        on orders.source_system = moved_records.source_system
        and orders.source_contact_id = moved_records.source_contact_id

),

changed_products as (

    select product_id

    from {{ source('raw', 'products') }}

    where {{ loaded_since_previous_build() }}

),

lines_of_changed_products as (

    select order_lines.order_id

    from {{ source('raw', 'order_lines') }} as order_lines

    where order_lines.product_id in (select changed_products.product_id from changed_products)

),

{%- if lookback_days is not none %}

left_basket_window as (

    select order_id

    from {{ source('raw', 'orders') }}

    where cast(ordered_at as date)
        > {{ dbt.dateadd('day', -1 * (lookback_days | int), previous_as_of_date()) }}
        and cast(ordered_at as date)
        <= {{ dbt.dateadd('day', -1 * (lookback_days | int), as_of_date()) }}

),

{%- endif %}

changed as (

    select order_id from new_or_visible
    union all
    select order_id from new_lines
    union all
    select order_id from moved_buyers
    union all
    select order_id from lines_of_changed_products
    {%- if lookback_days is not none %}
    union all
    select order_id from left_basket_window
    {%- endif %}

)

select distinct order_id

from changed

where order_id is not null

{%- endif %}
