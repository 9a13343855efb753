{#-
    When each customer became known and when they first and second bought.
    first_known_date: the earliest of the created_at of their source records
    (contacts created after as_of are already left out by staging) and their
    first order of any status; first_order_date / second_order_date: their
    first and second purchase days (days with a completed order, the BTYD
    unit); first_channel: the channel of their first completed order (the
    earliest ordered_at, ties by order_id).
-#}

with

contacts as (

    select * from {{ ref('int_contacts_resolved') }}

),

orders as (

    select * from {{ ref('int_orders_costed') }}

),

purchase_days as (

    select * from {{ ref('int_customer_purchase_days') }}

),

created as (

    select
        customer_id,
        cast(min(created_at) as date) as first_created_date

    from contacts

    group by customer_id

),

first_orders_any_status as (

    select
        customer_id,
        min(order_date) as first_any_order_date

    from orders

    where customer_id is not null

    group by customer_id

),

ranked_days as (

    select
        customer_id,
        order_date,
        row_number() over (partition by customer_id order by order_date) as day_rank

    from purchase_days

),

purchase_dates as (

    select
        customer_id,
        min(case when day_rank = 1 then order_date end) as first_order_date,
        min(case when day_rank = 2 then order_date end) as second_order_date

    from ranked_days

    where day_rank <= 2

    group by customer_id

),

-- only the orders of each customer's first purchase day are ranked: a join
-- instead of a window over every order
ranked_orders as (

    select
        orders.customer_id,
        orders.channel,
        row_number() over (
            partition by orders.customer_id
            order by orders.ordered_at, orders.order_id
        ) as order_rank

    from orders

    inner join purchase_dates
        on orders.customer_id = purchase_dates.customer_id
        and orders.order_date = purchase_dates.first_order_date

    where orders.is_completed

),

first_channels as (

    select
        customer_id,
        channel as first_channel

    from ranked_orders

    where order_rank = 1

),

final as (

    select
        created.customer_id,
        case
            when created.first_created_date is null then first_orders_any_status.first_any_order_date
            when first_orders_any_status.first_any_order_date is null then created.first_created_date
            when first_orders_any_status.first_any_order_date < created.first_created_date
                then first_orders_any_status.first_any_order_date
            else created.first_created_date
        end as first_known_date,
        purchase_dates.first_order_date,
        purchase_dates.second_order_date,
        first_channels.first_channel

    from created

    left join first_orders_any_status
        on created.customer_id = first_orders_any_status.customer_id

    left join purchase_dates
        on created.customer_id = purchase_dates.customer_id

    left join first_channels
        on created.customer_id = first_channels.customer_id

)

select * from final
