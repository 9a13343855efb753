{#-
    One row per service interaction opened on or before as_of, seen as of
    as_of: a first response or a resolution stamped after it had not happened
    yet (null, and the interaction is open), and a satisfaction score of an
    interaction resolved after as_of is not known yet either. Durations are
    hours from opened_at; a timestamp before opened_at (inconsistent source
    data) gives a null duration, not a negative one.
-#}

with

interactions as (

    select * from {{ ref('stg_raw__interactions') }}

),

xref as (

    select * from {{ ref('customer_xref') }}

),

as_of_bounded as (

    select
        interactions.interaction_id,
        xref.customer_id,
        interactions.source_system,
        interactions.source_contact_id,
        interactions.channel,
        interactions.interaction_type,
        interactions.interaction_status,
        interactions.opened_at,
        case
            when interactions.first_response_at < {{ as_of_end_timestamp() }}
                then interactions.first_response_at
        end as first_response_at,
        case
            when interactions.resolved_at < {{ as_of_end_timestamp() }}
                then interactions.resolved_at
        end as resolved_at,
        case
            when interactions.resolved_at is null
                or interactions.resolved_at < {{ as_of_end_timestamp() }}
                then interactions.satisfaction_score
        end as satisfaction_score,
        interactions.order_id,
        interactions.handling_cost

    from interactions

    left join xref
        on interactions.source_system = xref.source_system
        and interactions.source_contact_id = xref.source_contact_id

),

measured as (

    select
        *,
        {{ dbt.datediff('opened_at', 'first_response_at', 'second') }}
            as first_response_seconds,
        {{ dbt.datediff('opened_at', 'resolved_at', 'second') }}
            as resolution_seconds

    from as_of_bounded

),

final as (

    select
        interaction_id,
        customer_id,
        source_system,
        source_contact_id,
        channel,
        interaction_type,
        interaction_status,
        opened_at,
        cast(opened_at as date) as opened_date,
        first_response_at,
        resolved_at,
        case
            when first_response_seconds >= 0 then cast(first_response_seconds as double) / 3600
        end as first_response_hours,
        case
            when resolution_seconds >= 0 then cast(resolution_seconds as double) / 3600
        end as resolution_hours,
        coalesce(interaction_type = 'complaint', false) as is_complaint,
        resolved_at is not null as is_resolved,
        resolved_at is null as is_open,
        case
            when resolved_at is null
                then {{ days_between('cast(opened_at as date)', as_of_date()) }}
        end as open_days,
        cast(satisfaction_score as integer) as satisfaction_score,
        order_id,
        cast(handling_cost as decimal(18, 4)) as handling_cost,
        '{{ base_currency() }}' as currency

    from measured

)

select * from final
