{#-
    The snapshot dates of the segment history (macro segment_snapshot_dates):
    as_of (periods_ago = 0) and as_of minus 1..var('segment_movement_periods')
    periods of var('segment_movement_period'). previous_snapshot_date starts
    the period that ends on snapshot_date; null for the oldest snapshot.
-#}
{%- set dates = segment_snapshot_dates() -%}

with

snapshots as (

    {% for snapshot_date in dates -%}
    select
        {{ loop.index0 }} as periods_ago,
        cast('{{ snapshot_date }}' as date) as snapshot_date,
        {%- if not loop.last %}
        cast('{{ dates[loop.index0 + 1] }}' as date) as previous_snapshot_date
        {%- else %}
        cast(null as date) as previous_snapshot_date
        {%- endif %}
    {% if not loop.last %}
    union all

    {% endif -%}
    {%- endfor %}

),

final as (

    select
        cast(periods_ago as integer) as periods_ago,
        snapshot_date,
        previous_snapshot_date

    from snapshots

)

select * from final
