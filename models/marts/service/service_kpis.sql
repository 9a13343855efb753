{#-
    Service KPIs per month of opening (opened_month) x channel x interaction
    type, with the subtotals in the same table (GROUP BY opened_month,
    CUBE(channel, interaction_type): one pass, and medians and distinct
    customers of a subtotal are computed, never summed): breakdown
    'channel_type' (both set), 'channel' (interaction_type = 'all'), 'type'
    (channel = 'all') and 'month' (both 'all'). A missing channel or type is
    'unknown'. Complaint rates use the month's orders (any status, every
    channel) and ordering customers from fct_orders as denominators, so the
    complaints per 1,000 orders of the channels add up to the month's.
-#}

with

interactions as (

    select * from {{ ref('fct_interactions') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

prepared as (

    select
        {{ month_start('opened_at') }} as opened_month,
        coalesce(channel, 'unknown') as channel,
        coalesce(interaction_type, 'unknown') as interaction_type,
        customer_id,
        is_complaint,
        is_resolved,
        first_response_hours,
        resolution_hours,
        satisfaction_score,
        handling_cost,
        case when is_complaint then customer_id end as complaining_customer_id

    from interactions

),

aggregated as (

    select
        opened_month,
        channel,
        interaction_type,
        grouping(channel) as is_all_channels,
        grouping(interaction_type) as is_all_types,
        count(*) as n_interactions,
        count(customer_id) as n_with_customer,
        count(distinct customer_id) as n_customers,
        sum(case when is_complaint then 1 else 0 end) as n_complaints,
        count(distinct complaining_customer_id) as n_complaining_customers,
        sum(case when is_resolved then 0 else 1 end) as n_open,
        sum(case when is_complaint and not is_resolved then 1 else 0 end) as n_open_complaints,
        sum(case when is_resolved then 1 else 0 end) as n_resolved,
        count(first_response_hours) as n_first_responses,
        percentile_cont(0.5) within group (order by first_response_hours)
            as median_first_response_hours,
        {{ exact_avg('first_response_hours') }} as mean_first_response_hours,
        count(resolution_hours) as n_resolution_times,
        percentile_cont(0.5) within group (order by resolution_hours) as median_resolution_hours,
        {{ exact_avg('resolution_hours') }} as mean_resolution_hours,
        count(satisfaction_score) as n_satisfaction_scores,
        sum(satisfaction_score) as satisfaction_sum,
        sum(handling_cost) as handling_cost

    from prepared

    -- each month with every combination of channel and type: 4 grouping sets
    group by opened_month, cube(channel, interaction_type)

),

monthly_orders as (

    select
        {{ month_start('order_date') }} as order_month,
        count(*) as n_orders,
        count(distinct customer_id) as n_ordering_customers

    from orders

    group by {{ month_start('order_date') }}

),

final as (

    select
        aggregated.opened_month,
        case when aggregated.is_all_channels = 1 then 'all' else aggregated.channel end
            as channel,
        case when aggregated.is_all_types = 1 then 'all' else aggregated.interaction_type end
            as interaction_type,
        case
            when aggregated.is_all_channels = 1 and aggregated.is_all_types = 1 then 'month'
            when aggregated.is_all_channels = 1 then 'type'
            when aggregated.is_all_types = 1 then 'channel'
            else 'channel_type'
        end as breakdown,
        {{ month_is_complete('aggregated.opened_month') }} as is_complete_month,
        cast(aggregated.n_interactions as bigint) as n_interactions,
        cast(aggregated.n_with_customer as bigint) as n_with_customer,
        cast(aggregated.n_customers as bigint) as n_customers,
        cast(aggregated.n_complaints as bigint) as n_complaints,
        cast(aggregated.n_complaining_customers as bigint) as n_complaining_customers,
        cast(aggregated.n_open as bigint) as n_open,
        cast(aggregated.n_open_complaints as bigint) as n_open_complaints,
        cast(aggregated.n_resolved as bigint) as n_resolved,
        cast(aggregated.n_resolved as double) / aggregated.n_interactions as share_resolved,
        cast(aggregated.n_first_responses as bigint) as n_first_responses,
        cast(aggregated.median_first_response_hours as double) as median_first_response_hours,
        aggregated.mean_first_response_hours,
        cast(aggregated.n_resolution_times as bigint) as n_resolution_times,
        cast(aggregated.median_resolution_hours as double) as median_resolution_hours,
        aggregated.mean_resolution_hours,
        cast(aggregated.n_satisfaction_scores as bigint) as n_satisfaction_scores,
        case
            when aggregated.n_satisfaction_scores > 0
                then cast(aggregated.satisfaction_sum as double) / aggregated.n_satisfaction_scores
        end as mean_satisfaction,
        cast(aggregated.handling_cost as decimal(18, 4)) as handling_cost,
        cast(coalesce(monthly_orders.n_orders, 0) as bigint) as n_orders,
        cast(coalesce(monthly_orders.n_ordering_customers, 0) as bigint) as n_ordering_customers,
        case
            when monthly_orders.n_orders > 0
                then cast(1000 * aggregated.n_complaints as double) / monthly_orders.n_orders
        end as complaints_per_1000_orders,
        case
            when monthly_orders.n_ordering_customers > 0
                then cast(aggregated.n_complaints as double) / monthly_orders.n_ordering_customers
        end as complaints_per_customer,
        '{{ base_currency() }}' as currency

    from aggregated

    left join monthly_orders
        on aggregated.opened_month = monthly_orders.order_month

)

select * from final
