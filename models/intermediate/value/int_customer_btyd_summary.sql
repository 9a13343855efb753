{#-
    The BTYD summary per customer with a completed purchase on or before
    as_of (macros/btyd_summary.sql): the input of the CLV fit and of
    customer_value.
-#}

with

purchase_days as (

    select * from {{ ref('int_customer_purchase_days') }}

),

summary as (

    {{ btyd_summary('purchase_days', as_of_date()) }}

)

select * from summary
