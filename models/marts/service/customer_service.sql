{#-
    The service history of each customer with an interaction on or before
    as_of (the service part of the customer 360): counts, open cases and
    complaints as of as_of, the last interaction, the recent window of
    var('service_recent_days') days ending on as_of, satisfaction, response
    and resolution times, handling cost. Interactions whose contact does not
    resolve to a customer are not here (they are in fct_interactions and
    service_kpis).
-#}
{%- set recent_days = var('service_recent_days') | int -%}

with

interactions as (

    select * from {{ ref('fct_interactions') }}

    where customer_id is not null

),

ranked as (

    select
        customer_id,
        opened_at,
        channel,
        interaction_type,
        row_number() over (
            partition by customer_id
            order by opened_at desc, interaction_id desc
        ) as recency_rank

    from interactions

),

last_interaction as (

    select
        customer_id,
        opened_at as last_interaction_at,
        channel as last_channel,
        interaction_type as last_interaction_type

    from ranked

    where recency_rank = 1

),

aggregated as (

    select
        customer_id,
        count(*) as n_interactions,
        sum(case when is_complaint then 1 else 0 end) as n_complaints,
        sum(case when is_resolved then 0 else 1 end) as n_open,
        sum(case when is_complaint and not is_resolved then 1 else 0 end) as n_open_complaints,
        sum(
            case when opened_date > {{ dbt.dateadd('day', -1 * recent_days, as_of_date()) }} then 1 else 0 end
        ) as n_recent_interactions,
        sum(
            case
                when is_complaint and opened_date > {{ dbt.dateadd('day', -1 * recent_days, as_of_date()) }}
                    then 1
                else 0
            end
        ) as n_recent_complaints,
        min(opened_at) as first_interaction_at,
        count(satisfaction_score) as n_satisfaction_scores,
        sum(satisfaction_score) as satisfaction_sum,
        min(satisfaction_score) as min_satisfaction,
        {{ exact_avg('first_response_hours') }} as mean_first_response_hours,
        {{ exact_avg('resolution_hours') }} as mean_resolution_hours,
        sum(handling_cost) as handling_cost

    from interactions

    group by customer_id

),

final as (

    select
        aggregated.customer_id,
        {{ as_of_date() }} as as_of,
        cast(aggregated.n_interactions as bigint) as n_interactions,
        cast(aggregated.n_complaints as bigint) as n_complaints,
        cast(aggregated.n_open as bigint) as n_open,
        cast(aggregated.n_open_complaints as bigint) as n_open_complaints,
        aggregated.n_open_complaints > 0 as has_open_complaint,
        cast(aggregated.n_recent_interactions as bigint) as n_recent_interactions,
        cast(aggregated.n_recent_complaints as bigint) as n_recent_complaints,
        aggregated.first_interaction_at,
        last_interaction.last_interaction_at,
        {{ days_between('cast(last_interaction.last_interaction_at as date)', as_of_date()) }}
            as days_since_last_interaction,
        last_interaction.last_channel,
        last_interaction.last_interaction_type,
        cast(aggregated.n_satisfaction_scores as bigint) as n_satisfaction_scores,
        case
            when aggregated.n_satisfaction_scores > 0
                then cast(aggregated.satisfaction_sum as double) / aggregated.n_satisfaction_scores
        end as mean_satisfaction,
        cast(aggregated.min_satisfaction as integer) as min_satisfaction,
        aggregated.mean_first_response_hours,
        aggregated.mean_resolution_hours,
        cast(aggregated.handling_cost as decimal(18, 4)) as handling_cost,
        '{{ base_currency() }}' as currency

    from aggregated

    inner join last_interaction
        on aggregated.customer_id = last_interaction.customer_id

)

select * from final
