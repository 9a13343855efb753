{#-
    Products bought together: frequent unordered product pairs of the
    completed orders' baskets with support, confidence both ways and lift
    (macros/basket.sql: Apriori pruning, then one self-join per basket).
-#}

with

order_items as (

    select * from {{ ref('int_basket_order_items') }}

),

pairs as (

    {{ basket_pairs('order_items', 'product_id') }}

),

final as (

    select
        item_a as product_id_a,
        item_b as product_id_b,
        n_orders,
        n_orders_a,
        n_orders_b,
        n_baskets,
        support,
        support_a,
        support_b,
        confidence_a_to_b,
        confidence_b_to_a,
        lift,
        {{ as_of_date() }} as as_of

    from pairs

)

select * from final
