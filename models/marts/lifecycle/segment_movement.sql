{#-
    The movement matrix: per period between two snapshots and segmentation,
    how many customers went from each segment to each other one, and what
    they bought in the period. Built from customer_segment_history: one row
    per customer and snapshot already carries both ends of its move.
-#}
{%- set n_periods = segment_movement_periods() -%}

with

history as (

    select * from {{ ref('customer_segment_history') }}

    where periods_ago < {{ n_periods }}

),

segment_ranks as (

    select * from {{ ref('segment_ranks') }}

),

moves as (

    select
        'lifecycle_stage' as segmentation,
        periods_ago,
        previous_snapshot_date,
        snapshot_date,
        previous_lifecycle_stage as from_segment,
        lifecycle_stage as to_segment,
        lifecycle_movement as movement,
        n_purchase_days_in_period,
        revenue_in_period

    from history

    union all

    select
        'rfm_segment' as segmentation,
        periods_ago,
        previous_snapshot_date,
        snapshot_date,
        previous_rfm_segment as from_segment,
        rfm_segment as to_segment,
        rfm_movement as movement,
        n_purchase_days_in_period,
        revenue_in_period

    from history

    where rfm_movement is not null

),

counted as (

    select
        segmentation,
        periods_ago,
        previous_snapshot_date,
        snapshot_date,
        from_segment,
        to_segment,
        movement,
        cast(count(*) as bigint) as n_customers,
        cast(sum(case when n_purchase_days_in_period > 0 then 1 else 0 end) as bigint) as n_buyers_in_period,
        cast(sum(n_purchase_days_in_period) as bigint) as n_purchase_days_in_period,
        cast(sum(revenue_in_period) as decimal(18, 4)) as revenue_in_period

    from moves

    group by
        segmentation,
        periods_ago,
        previous_snapshot_date,
        snapshot_date,
        from_segment,
        to_segment,
        movement

),

shared as (

    select
        *,
        -- the customers in from_segment at the period's start (null = new in
        -- the segmentation): the base of share_of_from
        sum(n_customers) over (
            partition by segmentation, periods_ago, from_segment
        ) as n_customers_from

    from counted

),

final as (

    select
        shared.segmentation,
        shared.periods_ago,
        shared.previous_snapshot_date as period_start,
        shared.snapshot_date as period_end,
        shared.from_segment,
        shared.to_segment,
        shared.movement,
        from_rank.segment_rank as from_rank,
        to_rank.segment_rank as to_rank,
        shared.n_customers,
        cast(shared.n_customers_from as bigint) as n_customers_from,
        cast(shared.n_customers as double) / shared.n_customers_from as share_of_from,
        shared.n_buyers_in_period,
        shared.n_purchase_days_in_period,
        shared.revenue_in_period,
        '{{ base_currency() }}' as currency

    from shared

    left join segment_ranks as from_rank
        on shared.segmentation = from_rank.segmentation
        and shared.from_segment = from_rank.segment

    left join segment_ranks as to_rank
        on shared.segmentation = to_rank.segmentation
        and shared.to_segment = to_rank.segment

)

select * from final
