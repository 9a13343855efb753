{#-
    The life of every customer id ever issued: created, split from another id,
    merged into another id, retired. Grain: one row per (customer_id, event,
    recorded_at). Rows of earlier refreshes are carried over from the previous
    warehouse; this refresh appends its own events (none if nothing changed).
-#}

with

events as (

    select * from {{ ref('int_customer_id_events') }}

),

this_refresh as (

    select
        customer_id,
        event,
        related_customer_id,
        {{ as_of_date() }} as as_of,
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }})
            as recorded_at

    from events

),

earlier as (

    {{ previous_rows(
        'marts', 'customer_id_history',
        {
            'customer_id': dbt.type_string(),
            'event': dbt.type_string(),
            'related_customer_id': dbt.type_string(),
            'as_of': 'date',
            'recorded_at': dbt.type_timestamp(),
        },
    ) }}

),

final as (

    select * from earlier

    union all

    select * from this_refresh

)

select * from final
