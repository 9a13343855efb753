{#-
    The lifecycle stage of every customer on as_of: the as_of snapshot of
    customer_segment_history for the buyers, 'prospect' for the customers of
    dim_customers without a completed purchase on or before as_of.
-#}

with

customers as (

    select * from {{ ref('dim_customers') }}

),

history as (

    select * from {{ ref('customer_segment_history') }}

    where periods_ago = 0

),

segment_ranks as (

    select * from {{ ref('segment_ranks') }}

    where segmentation = 'lifecycle_stage'

),

staged as (

    select
        customers.customer_id,
        coalesce(history.lifecycle_stage, 'prospect') as lifecycle_stage,
        history.previous_snapshot_date,
        history.previous_lifecycle_stage,
        history.lifecycle_movement,
        history.first_order_date,
        history.last_order_date,
        history.last_return_date,
        history.days_since_first_order,
        history.days_since_last_order,
        coalesce(history.n_purchase_days, cast(0 as bigint)) as n_purchase_days,
        coalesce(history.n_orders, cast(0 as bigint)) as n_orders,
        coalesce(history.revenue, cast(0 as decimal(18, 4))) as revenue,
        history.p_alive

    from customers

    left join history
        on customers.customer_id = history.customer_id

),

final as (

    select
        staged.customer_id,
        {{ as_of_date() }} as as_of,
        staged.lifecycle_stage,
        segment_ranks.segment_rank as stage_rank,
        staged.previous_snapshot_date,
        staged.previous_lifecycle_stage,
        staged.lifecycle_movement,
        staged.first_order_date,
        staged.last_order_date,
        staged.last_return_date,
        staged.days_since_first_order,
        staged.days_since_last_order,
        staged.n_purchase_days,
        staged.n_orders,
        staged.revenue,
        staged.p_alive,
        '{{ base_currency() }}' as currency

    from staged

    left join segment_ranks
        on staged.lifecycle_stage = segment_ranks.segment

)

select * from final
