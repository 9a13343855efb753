{#-
    How many customers, and how much value, moved between segments from one
    recorded snapshot to the next (customer_segment_snapshots: what each
    refresh published, not restated). Periods: var('segment_migration_period')
    = snapshot (every pair of consecutive snapshot dates), week, month or
    quarter (the last snapshot of each period, paired with the one of the
    period before it that has a snapshot). Only snapshots on or before as_of.
    A customer absent from the earlier snapshot moved from '(new)' (its
    revenue_between is all its revenue to date), absent from the later one to
    '(gone)' (revenue_between null: unknown under that id); a customer
    without a value in a dimension (a prospect has no RFM segment) is
    '(none)'.
-#}
{%- set period = var('segment_migration_period') | string | trim | lower -%}
{%- if period not in ('snapshot', 'week', 'month', 'quarter') -%}
    {{ exceptions.raise_compiler_error("var('segment_migration_period') must be snapshot, week, month or quarter, got '" ~ period ~ "'") }}
{%- endif %}
{%- set dimensions = ['rfm_segment', 'value_tier', 'lifecycle_stage'] %}

with

snapshots as (

    select * from {{ ref('customer_segment_snapshots') }}

    where snapshot_date <= {{ as_of_date() }}

),

snapshot_dates as (

    {%- set period_key = 'snapshot_date' if period == 'snapshot' else dbt.date_trunc(period, 'snapshot_date') %}
    select
        {{ period_key }} as period_key,
        max(snapshot_date) as snapshot_date

    from snapshots

    group by {{ period_key }}

),

snapshot_pairs as (

    select
        lag(snapshot_date) over (order by snapshot_date) as from_snapshot_date,
        snapshot_date as to_snapshot_date

    from snapshot_dates

),

-- the first snapshot has no earlier one to move from
pairs as (

    select * from snapshot_pairs

    where from_snapshot_date is not null

),

-- every customer in either snapshot of a pair, once
members as (

    select
        pairs.from_snapshot_date,
        pairs.to_snapshot_date,
        snapshots.customer_id

    from pairs

    inner join snapshots
        on pairs.from_snapshot_date = snapshots.snapshot_date

    union

    select
        pairs.from_snapshot_date,
        pairs.to_snapshot_date,
        snapshots.customer_id

    from pairs

    inner join snapshots
        on pairs.to_snapshot_date = snapshots.snapshot_date

),

moves as (

    select
        members.from_snapshot_date,
        members.to_snapshot_date,
        members.customer_id,
        {%- for dimension in dimensions %}
        case
            when earlier.customer_id is null then '(new)'
            else coalesce(earlier.{{ dimension }}, '(none)')
        end as from_{{ dimension }},
        case
            when later.customer_id is null then '(gone)'
            else coalesce(later.{{ dimension }}, '(none)')
        end as to_{{ dimension }},
        {%- endfor %}
        earlier.total_value as from_total_value,
        later.total_value as to_total_value,
        earlier.predicted_clv as from_predicted_clv,
        later.predicted_clv as to_predicted_clv,
        -- a gone id's later revenue is unknown (merged, split or deleted): null, not minus its past
        case
            when later.customer_id is not null
                then later.revenue - coalesce(earlier.revenue, 0)
        end as revenue_between

    from members

    left join snapshots as earlier
        on members.from_snapshot_date = earlier.snapshot_date
        and members.customer_id = earlier.customer_id

    left join snapshots as later
        on members.to_snapshot_date = later.snapshot_date
        and members.customer_id = later.customer_id

),

unpivoted as (

    {% for dimension in dimensions -%}
    select
        '{{ dimension }}' as segmentation,
        from_snapshot_date,
        to_snapshot_date,
        from_{{ dimension }} as from_segment,
        to_{{ dimension }} as to_segment,
        from_total_value,
        to_total_value,
        from_predicted_clv,
        to_predicted_clv,
        revenue_between

    from moves
    {%- if not loop.last %}

    union all

    {% endif -%}
    {%- endfor %}

),

final as (

    select
        segmentation,
        from_snapshot_date,
        to_snapshot_date,
        from_segment,
        to_segment,
        count(*) as n_customers,
        cast(sum(from_total_value) as decimal(18, 4)) as from_total_value,
        cast(sum(to_total_value) as decimal(18, 4)) as to_total_value,
        sum(from_predicted_clv) as from_predicted_clv,
        sum(to_predicted_clv) as to_predicted_clv,
        cast(sum(revenue_between) as decimal(18, 4)) as revenue_between,
        '{{ base_currency() }}' as currency

    from unpivoted

    group by
        segmentation,
        from_snapshot_date,
        to_snapshot_date,
        from_segment,
        to_segment

)

select * from final
