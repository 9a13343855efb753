{#-
    The life of every customer id ever issued: created, split from another id,
    merged into another id, retired. Grain: one row per (customer_id, event,
    recorded_at). Rows of earlier refreshes are carried over from the previous
    warehouse; this refresh appends its own events (none if nothing changed).
-#}
{%- set previous_history = previous_relation('marts', 'customer_id_history') -%}

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

{% if previous_history is not none %}
earlier as (

    select
        customer_id,
        event,
        related_customer_id,
        as_of,
        recorded_at

    from {{ previous_history }}

),
{% else %}
earlier as (

    select * from this_refresh where 1 = 0

),
{% endif %}

final as (

    select * from earlier

    union all

    select * from this_refresh

)

select * from final
