{#-
    Categories bought together: frequent unordered pairs of product categories
    in the completed orders' baskets with support, confidence both ways and
    lift (macros/basket.sql). A basket holds a category when it holds any of
    its products; products without a category are no category item.
-#}

with

order_items as (

    select * from {{ ref('int_basket_order_items') }}

),

pairs as (

    {{ basket_pairs('order_items', 'category') }}

),

final as (

    select
        item_a as category_a,
        item_b as category_b,
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
