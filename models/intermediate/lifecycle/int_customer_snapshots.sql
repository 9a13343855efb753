{#-
    Each customer's completed purchase history as it stood on each snapshot
    date (int_segment_snapshot_dates): one row per (snapshot, customer) with a
    purchase day on or before the snapshot. One pass: every purchase day joins
    the snapshots on or after it (at most segment_movement_periods + 1), and
    the whole-history and the RFM-window measures are aggregated together.
-#}
{%- set lookback_days = optional_var('rfm_lookback_days') -%}
{%- set has_lookback = lookback_days is not none -%}

with

purchase_days as (

    select * from {{ ref('int_customer_purchase_days') }}

),

snapshots as (

    select * from {{ ref('int_segment_snapshot_dates') }}

),

gaps as (

    select
        customer_id,
        order_date,
        n_orders,
        revenue,
        lag(order_date) over (partition by customer_id order by order_date) as previous_order_date

    from purchase_days

),

-- a purchase day that ends a gap of lifecycle_lapsed_days or more is a
-- return: the customer had lapsed before it (see lifecycle_stage())
flagged as (

    select
        customer_id,
        order_date,
        n_orders,
        revenue,
        case
            when {{ days_between('previous_order_date', 'order_date') }} >= {{ lifecycle_days('lapsed') }}
                then order_date
        end as return_date

    from gaps

),

snapshot_purchase_days as (

    select
        snapshots.periods_ago,
        snapshots.snapshot_date,
        flagged.customer_id,
        flagged.order_date,
        flagged.n_orders,
        flagged.revenue,
        flagged.return_date,
        {%- if has_lookback %}
        -- the RFM window of customer_rfm, ending on the snapshot date
        flagged.order_date > {{ dbt.dateadd('day', -1 * (lookback_days | int), 'snapshots.snapshot_date') }}
            as is_in_rfm_window
        {%- else %}
        true as is_in_rfm_window
        {%- endif %}

    from flagged

    inner join snapshots
        on flagged.order_date <= snapshots.snapshot_date

),

final as (

    select
        periods_ago,
        snapshot_date,
        customer_id,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        max(return_date) as last_return_date,
        cast(count(*) as bigint) as n_purchase_days,
        cast(sum(n_orders) as bigint) as n_orders,
        cast(sum(revenue) as decimal(18, 4)) as revenue,
        max(case when is_in_rfm_window then order_date end) as rfm_last_order_date,
        cast(sum(case when is_in_rfm_window then 1 else 0 end) as bigint) as rfm_n_purchase_days,
        cast(sum(case when is_in_rfm_window then n_orders end) as bigint) as rfm_n_orders,
        cast(sum(case when is_in_rfm_window then revenue end) as decimal(18, 4)) as rfm_revenue

    from snapshot_purchase_days

    group by
        periods_ago,
        snapshot_date,
        customer_id

)

select * from final
