{#-
    The snapshot dates of customer_segment_snapshots this build writes or
    drops: as_of (recorded again), and every earlier date that thinning no
    longer keeps: older than var('segment_snapshot_daily_days') days
    before as_of and not the last snapshot of its calendar month (null keeps
    every snapshot). Unlike the other int_changed_* models it is filled in a
    full build too: the mart keeps the previous snapshots of every other date.
-#}
{%- set daily_days = whole_number_var('segment_snapshot_daily_days', none, optional=true) -%}
{%- set previous_snapshots = previous_relation('marts', 'customer_segment_snapshots') -%}
{%- set thinned = 'false' if daily_days is none else
    '(snapshot_date <= ' ~ dbt.dateadd('day', -1 * daily_days, as_of_date())
    ~ ' and snapshot_date < month_last_snapshot_date)' -%}

with

snapshot_dates as (

    {%- if previous_snapshots is not none %}

    select distinct snapshot_date from {{ previous_snapshots }}

    union
    {%- endif %}

    select {{ as_of_date() }} as snapshot_date

),

dated_snapshots as (

    select
        snapshot_date,
        max(snapshot_date) over (
            partition by {{ dbt.date_trunc('month', 'snapshot_date') }}
        ) as month_last_snapshot_date

    from snapshot_dates

)

select snapshot_date

from dated_snapshots

-- as_of, or older than the daily window and not its month's last (thinned away)
where snapshot_date = {{ as_of_date() }} or {{ thinned }}
