{#-
    Acquisition cohorts: customers by the month of their first completed
    order, as a whole and split by first channel and by region, followed month
    by month from acquisition to the as_of month. Every cohort gets a row for
    every month since acquisition, also without activity (the grid is cohorts
    x months; customers are aggregated first, never expanded to months).
    Customers fall into exactly one (first_channel, region) cell, so counts of
    the fine cells add up to every roll-up.
-#}
{%- set dimensions = {
    'all': "'(all)'",
    'first_channel': 'first_channel',
    'region': 'region',
} -%}

with

acquisitions as (

    select * from {{ ref('int_customer_acquisitions') }}

),

customer_months as (

    select * from {{ ref('int_customer_purchase_months') }}

),

customers as (

    select * from {{ ref('dim_customers') }}

),

month_offsets as (

    {{ month_offsets() }}

),

members as (

    select
        acquisitions.customer_id,
        {{ month_start('acquisitions.first_order_date') }} as cohort_month,
        {{ month_start('acquisitions.second_order_date') }} as repeat_month,
        coalesce(acquisitions.first_channel, '(unknown)') as first_channel,
        coalesce(customers.region, '(unknown)') as region

    from acquisitions

    left join customers
        on acquisitions.customer_id = customers.customer_id

    where acquisitions.first_order_date is not null

),

-- the finest cells: cohort x first channel x region

cell_sizes as (

    select
        cohort_month,
        first_channel,
        region,
        count(*) as n_customers

    from members

    group by
        cohort_month,
        first_channel,
        region

),

cell_activity as (

    select
        members.cohort_month,
        members.first_channel,
        members.region,
        {{ months_between('members.cohort_month', 'customer_months.month_start') }}
            as months_since_acquisition,
        count(*) as n_active_customers,
        sum(customer_months.n_orders) as n_orders,
        sum(customer_months.revenue) as revenue,
        sum(customer_months.margin) as margin,
        sum(customer_months.revenue_with_cost) as revenue_with_cost

    from members

    inner join customer_months
        on members.customer_id = customer_months.customer_id

    group by
        members.cohort_month,
        members.first_channel,
        members.region,
        {{ months_between('members.cohort_month', 'customer_months.month_start') }}

),

cell_repeats as (

    select
        cohort_month,
        first_channel,
        region,
        {{ months_between('cohort_month', 'repeat_month') }} as months_since_acquisition,
        count(*) as n_new_repeat_customers

    from members

    where repeat_month is not null

    group by
        cohort_month,
        first_channel,
        region,
        {{ months_between('cohort_month', 'repeat_month') }}

),

-- the roll-ups: every dimension of the cohort from the fine cells

cohorts as (

    {% for dimension, value in dimensions.items() -%}
    select
        cohort_month,
        '{{ dimension }}' as cohort_dimension,
        {{ value }} as cohort_value,
        sum(n_customers) as cohort_size

    from cell_sizes

    group by
        cohort_month,
        {{ value }}
    {%- if not loop.last %}

    union all

    {% endif -%}
    {%- endfor %}

),

activity as (

    {% for dimension, value in dimensions.items() -%}
    select
        cohort_month,
        '{{ dimension }}' as cohort_dimension,
        {{ value }} as cohort_value,
        months_since_acquisition,
        sum(n_active_customers) as n_active_customers,
        sum(n_orders) as n_orders,
        sum(revenue) as revenue,
        sum(margin) as margin,
        sum(revenue_with_cost) as revenue_with_cost

    from cell_activity

    group by
        cohort_month,
        {{ value }},
        months_since_acquisition
    {%- if not loop.last %}

    union all

    {% endif -%}
    {%- endfor %}

),

repeats as (

    {% for dimension, value in dimensions.items() -%}
    select
        cohort_month,
        '{{ dimension }}' as cohort_dimension,
        {{ value }} as cohort_value,
        months_since_acquisition,
        sum(n_new_repeat_customers) as n_new_repeat_customers

    from cell_repeats

    group by
        cohort_month,
        {{ value }},
        months_since_acquisition
    {%- if not loop.last %}

    union all

    {% endif -%}
    {%- endfor %}

),

-- every cohort x every month from acquisition to the as_of month

grid as (

    select
        cohorts.cohort_month,
        cohorts.cohort_dimension,
        cohorts.cohort_value,
        cohorts.cohort_size,
        month_offsets.month_offset as months_since_acquisition

    from cohorts

    inner join month_offsets
        on month_offsets.month_offset
        <= {{ months_between('cohorts.cohort_month', month_start(as_of_date())) }}

),

monthly as (

    select
        grid.cohort_month,
        grid.cohort_dimension,
        grid.cohort_value,
        grid.months_since_acquisition,
        grid.cohort_size,
        coalesce(activity.n_active_customers, 0) as n_active_customers,
        coalesce(activity.n_orders, 0) as n_orders,
        coalesce(activity.revenue, 0) as revenue,
        activity.margin,
        coalesce(activity.revenue_with_cost, 0) as revenue_with_cost,
        coalesce(repeats.n_new_repeat_customers, 0) as n_new_repeat_customers

    from grid

    left join activity
        on grid.cohort_month = activity.cohort_month
        and grid.cohort_dimension = activity.cohort_dimension
        and grid.cohort_value = activity.cohort_value
        and grid.months_since_acquisition = activity.months_since_acquisition

    left join repeats
        on grid.cohort_month = repeats.cohort_month
        and grid.cohort_dimension = repeats.cohort_dimension
        and grid.cohort_value = repeats.cohort_value
        and grid.months_since_acquisition = repeats.months_since_acquisition

),

cumulative as (

    select
        *,
        sum(n_new_repeat_customers) over (
            partition by cohort_month, cohort_dimension, cohort_value
            order by months_since_acquisition
            rows between unbounded preceding and current row
        ) as n_repeat_customers,
        sum(revenue) over (
            partition by cohort_month, cohort_dimension, cohort_value
            order by months_since_acquisition
            rows between unbounded preceding and current row
        ) as cumulative_revenue,
        -- null until the cohort has an order with a known cost
        sum(margin) over (
            partition by cohort_month, cohort_dimension, cohort_value
            order by months_since_acquisition
            rows between unbounded preceding and current row
        ) as cumulative_margin,
        sum(revenue_with_cost) over (
            partition by cohort_month, cohort_dimension, cohort_value
            order by months_since_acquisition
            rows between unbounded preceding and current row
        ) as cumulative_revenue_with_cost

    from monthly

),

final as (

    select
        cohort_month,
        cohort_dimension,
        cohort_value,
        months_since_acquisition,
        {{ add_months('months_since_acquisition', 'cohort_month') }} as activity_month,
        {{ month_is_complete(add_months('months_since_acquisition', 'cohort_month')) }} as is_complete_month,
        cast(cohort_size as bigint) as cohort_size,
        cast(n_active_customers as bigint) as n_active_customers,
        cast(n_active_customers as double) / cohort_size as retention_rate,
        cast(n_repeat_customers as bigint) as n_repeat_customers,
        cast(n_repeat_customers as double) / cohort_size as repeat_rate,
        cast(n_orders as bigint) as n_orders,
        cast(revenue as decimal(18, 4)) as revenue,
        cast(cumulative_revenue as decimal(18, 4)) as cumulative_revenue,
        cast(cumulative_revenue / cohort_size as decimal(18, 4)) as cumulative_revenue_per_customer,
        cast(cumulative_margin as decimal(18, 4)) as cumulative_margin,
        cast(cumulative_margin / cohort_size as decimal(18, 4)) as cumulative_margin_per_customer,
        case
            when cumulative_revenue > 0
                then cast(cumulative_revenue_with_cost as double) / cast(cumulative_revenue as double)
        end as margin_coverage,
        '{{ base_currency() }}' as currency,
        {{ as_of_date() }} as as_of

    from cumulative

)

select * from final
