{#-
    The baskets of the market-basket marts: the distinct products of each
    completed order on or before as_of (within var('basket_lookback_days') of
    it when set), with the product's category. Quantity does not matter: a
    product is in a basket or not. Orders with more distinct products than
    var('basket_max_items') are left out whole (they would add up to
    n*(n-1)/2 pairs each), so every basket here is one transaction of the
    analysis.
-#}
{{ config_replacing_changed_keys(['order_id', 'product_id'], 'order_id', 'int_changed_orders') }}

{%- set lookback_days = optional_var('basket_lookback_days') -%}
{%- set max_items = var('basket_max_items') | int -%}
{%- if lookback_days is not none -%}
{%- set in_window = 'orders.order_date > ' ~ dbt.dateadd('day', -1 * (lookback_days | int), as_of_date()) -%}
{%- else -%}
{%- set in_window = 'true' -%}
{%- endif -%}

-- depends_on: {{ ref('int_changed_orders') }}

with

orders as (

    select * from {{ ref('int_orders_costed') }}

),

order_lines as (

    select * from {{ ref('int_order_lines_costed') }}

    where {{ only_changed('order_id', ref('int_changed_orders')) }}

),

products as (

    select * from {{ ref('stg_raw__products') }}

),

completed_products as (

    select distinct
        order_lines.order_id,
        order_lines.product_id

    from order_lines

    inner join orders
        on order_lines.order_id = orders.order_id

    where orders.is_completed
        and {{ in_window }}

),

sized as (

    select
        order_id,
        product_id,
        count(*) over (partition by order_id) as n_products

    from completed_products

),

final as (

    select
        sized.order_id,
        sized.product_id,
        products.category,
        cast(sized.n_products as bigint) as n_products

    from sized

    left join products
        on sized.product_id = products.product_id

    where sized.n_products <= {{ max_items }}

)

select * from final
