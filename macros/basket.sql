{#-
    basket_pairs(order_items, item): the frequent unordered item pairs of a
    market-basket analysis, as one SELECT (CTEs inside) with columns item_a,
    item_b (item_a < item_b), n_baskets, n_orders_a, n_orders_b, n_orders
    (baskets holding both), support, support_a, support_b,
    confidence_a_to_b, confidence_b_to_a, lift.

    order_items: a relation or CTE with one row per basket item (order_id,
    <item>, ...); rows with a null item do not count as items, but their
    basket still counts in n_baskets. item: the item column (product_id,
    category); several rows of one order and item count once.

    Apriori: an item enters the pair self-join only when it alone reaches the
    minimum (var basket_min_orders baskets and var basket_min_support of all
    baskets): no pair is more frequent than its items, so no frequent pair is
    lost and the join only sees frequent items. Pairs are then held to the
    same minimum.
-#}
{% macro basket_pairs(order_items, item) -%}
    {%- set min_support = var('basket_min_support') | float -%}
    {%- set min_orders = var('basket_min_orders') | int -%}

    with

    baskets as (

        select count(distinct order_id) as n_baskets

        from {{ order_items }}

    ),

    basket_items as (

        select distinct
            order_id,
            {{ item }} as item

        from {{ order_items }}

        where {{ item }} is not null

    ),

    item_counts as (

        select
            item,
            count(*) as n_orders

        from basket_items

        group by item

    ),

    frequent_items as (

        select
            item_counts.item,
            item_counts.n_orders

        from item_counts

        cross join baskets

        where item_counts.n_orders >= {{ min_orders }}
            and item_counts.n_orders >= {{ min_support }} * baskets.n_baskets

    ),

    frequent_basket_items as (

        select
            basket_items.order_id,
            basket_items.item

        from basket_items

        inner join frequent_items
            on basket_items.item = frequent_items.item

    ),

    pair_counts as (

        select
            items_a.item as item_a,
            items_b.item as item_b,
            count(*) as n_orders

        from frequent_basket_items as items_a

        inner join frequent_basket_items as items_b
            on items_a.order_id = items_b.order_id
            and items_a.item < items_b.item

        group by
            items_a.item,
            items_b.item

    ),

    measured as (

        select
            pair_counts.item_a,
            pair_counts.item_b,
            cast(baskets.n_baskets as bigint) as n_baskets,
            cast(items_a.n_orders as bigint) as n_orders_a,
            cast(items_b.n_orders as bigint) as n_orders_b,
            cast(pair_counts.n_orders as bigint) as n_orders,
            cast(pair_counts.n_orders as double) / baskets.n_baskets as support,
            cast(items_a.n_orders as double) / baskets.n_baskets as support_a,
            cast(items_b.n_orders as double) / baskets.n_baskets as support_b,
            cast(pair_counts.n_orders as double) / items_a.n_orders as confidence_a_to_b,
            cast(pair_counts.n_orders as double) / items_b.n_orders as confidence_b_to_a,
            cast(pair_counts.n_orders as double) * baskets.n_baskets
            / (cast(items_a.n_orders as double) * items_b.n_orders) as lift

        from pair_counts

        cross join baskets

        inner join frequent_items as items_a
            on pair_counts.item_a = items_a.item

        inner join frequent_items as items_b
            on pair_counts.item_b = items_b.item

        where pair_counts.n_orders >= {{ min_orders }}
            and pair_counts.n_orders >= {{ min_support }} * baskets.n_baskets

    )

    select * from measured
{%- endmacro %}
