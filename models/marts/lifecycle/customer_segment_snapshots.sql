{#-
    The dated snapshots every refresh keeps: each customer's RFM segment, value
    tier and lifecycle stage as published on snapshot_date (= the as_of of the
    refresh that recorded it), with the value they stood for then. Carried
    forward from the previous restricted output (the identity state attached
    as `previous`): every earlier snapshot date is kept as recorded, the rows
    of the current as_of are replaced (a second refresh on one day records
    once; an unchanged row keeps its recorded_at). Snapshots dated after
    as_of (an as-of replay of the past) are kept too, so a replay never
    erases history; segment_migration reads only those
    on or before as_of. Ids are as recorded then: a customer merged or split
    since shows as gone / entered in segment_migration (customer_id_history
    has the events).
    Thinning: snapshots older than var('segment_snapshot_daily_days')
    days before as_of are kept only if they are the last snapshot of their
    calendar month, so the table grows by about 12 snapshots a year after the
    first weeks, however often the warehouse is refreshed; null keeps every
    snapshot.
    An incremental build deletes the dates int_changed_segment_snapshot_dates
    lists and appends as_of's rows: the table grows by a day, not rewritten.
-#}
{#- what a snapshot row records about the customer, in the table's column order -#}
{%- set recorded = {
    'rfm_segment': dbt.type_string(),
    'value_tier': dbt.type_string(),
    'lifecycle_stage': dbt.type_string(),
    'revenue': 'decimal(18, 4)',
    'predicted_clv': 'double',
    'total_value': 'decimal(18, 4)',
} %}
{%- set columns = {'snapshot_date': 'date', 'customer_id': dbt.type_string()} %}
{%- do columns.update(recorded) %}
{%- do columns.update({'recorded_at': dbt.type_timestamp()}) %}
{{ config_replacing_changed_keys(
    ['snapshot_date', 'customer_id'], 'snapshot_date', 'int_changed_segment_snapshot_dates'
) }}

-- depends_on: {{ ref('int_changed_segment_snapshot_dates') }}

with

previous_snapshots as (

    {{ previous_rows('marts', 'customer_segment_snapshots', columns) }}

),

lifecycle as (

    select * from {{ ref('customer_lifecycle') }}

),

rfm as (

    select * from {{ ref('customer_rfm') }}

),

clv as (

    select * from {{ ref('customer_clv') }}

),

current_snapshot as (

    select
        {{ as_of_date() }} as snapshot_date,
        lifecycle.customer_id,
        rfm.rfm_segment,
        clv.value_tier,
        lifecycle.lifecycle_stage,
        lifecycle.revenue,
        clv.predicted_clv,
        clv.total_value

    from lifecycle

    left join rfm
        on lifecycle.customer_id = rfm.customer_id

    left join clv
        on lifecycle.customer_id = clv.customer_id

),

replaced_dates as (

    select snapshot_date from {{ ref('int_changed_segment_snapshot_dates') }}

),

-- every earlier snapshot but those of the dates replaced or thinned away
kept as (

    select previous_snapshots.*

    from previous_snapshots

    left join replaced_dates
        on previous_snapshots.snapshot_date = replaced_dates.snapshot_date

    where replaced_dates.snapshot_date is null

),

-- A rerun on the same as_of keeps a row's recorded_at when its values did not
-- change, so a refresh of the same files changes nothing.
current_recorded as (

    select
        current_snapshot.*,
        coalesce(
            unchanged.recorded_at,
            cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }})
        ) as recorded_at

    from current_snapshot

    left join previous_snapshots as unchanged
        on current_snapshot.snapshot_date = unchanged.snapshot_date
        and unchanged.snapshot_date = {{ as_of_date() }}
        and current_snapshot.customer_id = unchanged.customer_id
        {%- for column in recorded %}
        and current_snapshot.{{ column }} is not distinct from unchanged.{{ column }}
        {%- endfor %}

),

final as (

    {#- an incremental build keeps the table's other dates where they are #}
    {%- if not (is_incremental() and incremental_build()) %}

    select * from kept

    union all
    {%- endif %}

    select * from current_recorded

)

select * from final
