{#-
    Each customer's lifecycle stage and RFM segment on every snapshot date,
    and how they moved since the snapshot before. The RFM scores repeat
    customer_rfm's rules on each snapshot date (quintiles within the
    snapshot, the same tiebreakers); P(alive) applies the current BG/NBD fit
    to the history as it stood on the snapshot date.
-#}
{%- set n_periods = segment_movement_periods() -%}

with

snapshots as (

    select * from {{ ref('int_customer_snapshots') }}

),

snapshot_dates as (

    select * from {{ ref('int_segment_snapshot_dates') }}

),

fits as (

    select * from {{ ref('int_clv_fits') }}

),

rfm_segments as (

    select * from {{ ref('rfm_segments') }}

),

segment_ranks as (

    select * from {{ ref('segment_ranks') }}

),

bgnbd as (

    {{ bgnbd_params('fits', 'current') }}

),

measured as (

    select
        snapshots.customer_id,
        snapshots.snapshot_date,
        snapshots.periods_ago,
        snapshots.first_order_date,
        snapshots.last_order_date,
        snapshots.last_return_date,
        snapshots.n_purchase_days,
        snapshots.n_orders,
        snapshots.revenue,
        {{ days_between('snapshots.first_order_date', 'snapshots.snapshot_date') }} as days_since_first_order,
        {{ days_between('snapshots.last_order_date', 'snapshots.snapshot_date') }} as days_since_last_order,
        {{ bgnbd_p_alive(
            'snapshots.n_purchase_days - 1',
            days_between('snapshots.first_order_date', 'snapshots.last_order_date'),
            days_between('snapshots.first_order_date', 'snapshots.snapshot_date'),
            'bgnbd',
        ) }} as p_alive,
        snapshots.rfm_last_order_date,
        snapshots.rfm_n_purchase_days,
        snapshots.rfm_revenue

    from snapshots

    cross join bgnbd

),

staged as (

    select
        customer_id,
        snapshot_date,
        periods_ago,
        first_order_date,
        last_order_date,
        last_return_date,
        n_purchase_days,
        n_orders,
        revenue,
        days_since_first_order,
        days_since_last_order,
        p_alive,
        {{ lifecycle_stage('snapshot_date', 'first_order_date', 'last_order_date', 'last_return_date', 'p_alive') }}
            as lifecycle_stage

    from measured

),

-- customer_rfm on each snapshot date: the customers with a purchase day in
-- the RFM window (var rfm_lookback_days) ending on it
rfm_measured as (

    select
        customer_id,
        snapshot_date,
        {{ days_between('rfm_last_order_date', 'snapshot_date') }} as recency_days,
        cast(rfm_n_purchase_days - 1 as integer) as frequency,
        rfm_revenue as monetary

    from measured

    where rfm_n_purchase_days > 0

),

rfm_scored as (

    select
        customer_id,
        snapshot_date,
        {{ rfm_scores(partition_by='snapshot_date') }}

    from rfm_measured

),

segmented as (

    select
        staged.customer_id,
        staged.snapshot_date,
        staged.periods_ago,
        staged.first_order_date,
        staged.last_order_date,
        staged.last_return_date,
        staged.n_purchase_days,
        staged.n_orders,
        staged.revenue,
        staged.days_since_first_order,
        staged.days_since_last_order,
        staged.p_alive,
        staged.lifecycle_stage,
        rfm_scored.r_score,
        rfm_scored.f_score,
        rfm_scored.m_score,
        rfm_segments.rfm_segment

    from staged

    left join rfm_scored
        on staged.customer_id = rfm_scored.customer_id
        and staged.snapshot_date = rfm_scored.snapshot_date

    left join rfm_segments
        on rfm_scored.r_score = rfm_segments.r_score
        and rfm_scored.f_score = rfm_segments.f_score
        and rfm_scored.m_score = rfm_segments.m_score

),

-- a customer has a row on every snapshot from the first purchase on, so the
-- row before in snapshot order is the previous snapshot
with_previous as (

    select
        *,
        lag(lifecycle_stage) over (
            partition by customer_id order by snapshot_date
        ) as previous_lifecycle_stage,
        lag(rfm_segment) over (
            partition by customer_id order by snapshot_date
        ) as previous_rfm_segment,
        lag(n_purchase_days) over (
            partition by customer_id order by snapshot_date
        ) as previous_n_purchase_days,
        lag(revenue) over (
            partition by customer_id order by snapshot_date
        ) as previous_revenue

    from segmented

),

final as (

    select
        with_previous.customer_id,
        with_previous.snapshot_date,
        with_previous.periods_ago,
        snapshot_dates.previous_snapshot_date,
        with_previous.first_order_date,
        with_previous.last_order_date,
        with_previous.last_return_date,
        with_previous.n_purchase_days,
        with_previous.n_orders,
        with_previous.revenue,
        with_previous.days_since_first_order,
        with_previous.days_since_last_order,
        with_previous.p_alive,
        with_previous.lifecycle_stage,
        with_previous.previous_lifecycle_stage,
        {{ segment_movement(
            'with_previous.previous_lifecycle_stage', 'with_previous.lifecycle_stage',
            'previous_stage_rank.segment_rank', 'stage_rank.segment_rank', 'with_previous.periods_ago', n_periods,
        ) }} as lifecycle_movement,
        with_previous.r_score,
        with_previous.f_score,
        with_previous.m_score,
        with_previous.rfm_segment,
        with_previous.previous_rfm_segment,
        {{ segment_movement(
            'with_previous.previous_rfm_segment', 'with_previous.rfm_segment',
            'previous_rfm_rank.segment_rank', 'rfm_rank.segment_rank', 'with_previous.periods_ago', n_periods,
        ) }} as rfm_movement,
        -- the period (previous_snapshot_date, snapshot_date]; unknown for the oldest snapshot
        case
            when with_previous.periods_ago < {{ n_periods }}
                then with_previous.n_purchase_days - coalesce(with_previous.previous_n_purchase_days, 0)
        end as n_purchase_days_in_period,
        cast(case
            when with_previous.periods_ago < {{ n_periods }}
                then coalesce(with_previous.revenue, 0) - coalesce(with_previous.previous_revenue, 0)
        end as decimal(18, 4)) as revenue_in_period

    from with_previous

    inner join snapshot_dates
        on with_previous.periods_ago = snapshot_dates.periods_ago

    left join segment_ranks as stage_rank
        on stage_rank.segmentation = 'lifecycle_stage'
        and with_previous.lifecycle_stage = stage_rank.segment

    left join segment_ranks as previous_stage_rank
        on previous_stage_rank.segmentation = 'lifecycle_stage'
        and with_previous.previous_lifecycle_stage = previous_stage_rank.segment

    left join segment_ranks as rfm_rank
        on rfm_rank.segmentation = 'rfm_segment'
        and with_previous.rfm_segment = rfm_rank.segment

    left join segment_ranks as previous_rfm_rank
        on previous_rfm_rank.segmentation = 'rfm_segment'
        and with_previous.previous_rfm_segment = previous_rfm_rank.segment

)

select * from final
