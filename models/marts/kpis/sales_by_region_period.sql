{#-
    Completed sales by region and by month and season, with the same period a
    year earlier. The region of an order is the region of its store (orders
    with a store_id whose store has a region), else the region of the buyer's
    golden record, else '(unknown)'; '(all)' is every region together.
    Seasons come from var('seasons'). Every region has a row for every month
    and season from its first sale to the as_of month, also without sales, so
    the prior year of a period is known to be zero or known to be before the
    region's first sale (null).
-#}
{%- set levels = {
    'month': 'month_start',
    'season': 'season_start',
} -%}

with

orders as (

    select * from {{ ref('int_orders_costed') }}

),

stores as (

    select * from {{ ref('dim_stores') }}

),

customers as (

    select * from {{ ref('dim_customers') }}

),

month_offsets as (

    {{ month_offsets() }}

),

order_regions as (

    select
        orders.customer_id,
        {{ month_start('orders.order_date') }} as month_start,
        coalesce(stores.region, customers.region, '(unknown)') as region,
        orders.order_total_base

    from orders

    left join stores
        on orders.store_id = stores.store_id

    left join customers
        on orders.customer_id = customers.customer_id

    where orders.is_completed

),

-- one row per (region, month, buyer); anonymous sales share a null buyer
customer_region_months as (

    select
        region,
        month_start,
        customer_id,
        count(*) as n_orders,
        sum(order_total_base) as revenue

    from order_regions

    group by
        region,
        month_start,
        customer_id

),

seasoned as (

    select
        region,
        month_start,
        {{ add_months('-1 * ' ~ season_position('extract(month from month_start)'), 'month_start') }}
            as season_start,
        customer_id,
        n_orders,
        revenue

    from customer_region_months

),

period_stats as (

    {% for period_type, period_column in levels.items() -%}
    {%- for region in ['region', "'(all)'"] -%}
    select
        '{{ period_type }}' as period_type,
        {{ period_column }} as period_start,
        {{ region }} as region,
        sum(n_orders) as n_orders,
        count(distinct customer_id) as n_customers,
        sum(case when customer_id is not null then n_orders else 0 end) as n_customer_orders,
        sum(revenue) as revenue

    from seasoned

    group by
        {{ period_column }}{% if region == 'region' %},
        region{% endif %}

    {% if not loop.last %}union all

    {% endif -%}
    {%- endfor -%}
    {%- if not loop.last %}union all

    {% endif -%}
    {%- endfor %}

),

-- every region x every month (and the seasons of those months) from its
-- first sale to the as_of month
region_starts as (

    select
        region,
        min(period_start) as first_month

    from period_stats

    where period_type = 'month'

    group by region

),

month_grid as (

    select
        region_starts.region,
        {{ add_months('month_offsets.month_offset', 'region_starts.first_month') }} as month_start

    from region_starts

    inner join month_offsets
        on month_offsets.month_offset
        <= {{ months_between('region_starts.first_month', month_start(as_of_date())) }}

),

period_grid as (

    select
        'month' as period_type,
        month_start as period_start,
        region

    from month_grid

    union all

    select distinct
        'season' as period_type,
        {{ add_months('-1 * ' ~ season_position('extract(month from month_start)'), 'month_start') }}
            as period_start,
        region

    from month_grid

),

filled as (

    select
        period_grid.period_type,
        period_grid.period_start,
        period_grid.region,
        coalesce(period_stats.n_orders, 0) as n_orders,
        coalesce(period_stats.n_customers, 0) as n_customers,
        coalesce(period_stats.n_customer_orders, 0) as n_customer_orders,
        coalesce(period_stats.revenue, 0) as revenue

    from period_grid

    left join period_stats
        on period_grid.period_type = period_stats.period_type
        and period_grid.period_start = period_stats.period_start
        and period_grid.region = period_stats.region

),

measured as (

    select
        period_type,
        period_start,
        region,
        n_orders,
        n_customers,
        n_customer_orders,
        case when n_customers > 0 then cast(n_customer_orders as double) / n_customers end
            as orders_per_customer,
        revenue

    from filled

),

with_prior as (

    select
        current_period.*,
        prior_period.n_orders as prior_year_n_orders,
        prior_period.n_customers as prior_year_n_customers,
        prior_period.orders_per_customer as prior_year_orders_per_customer,
        prior_period.revenue as prior_year_revenue

    from measured as current_period

    inner join region_starts
        on current_period.region = region_starts.region

    -- a prior period that began before the region's first sale (the first
    -- season can) is not a full year-earlier figure: no comparison
    left join measured as prior_period
        on current_period.period_type = prior_period.period_type
        and current_period.region = prior_period.region
        and {{ add_months(-12, 'current_period.period_start') }} = prior_period.period_start
        and region_starts.first_month <= prior_period.period_start

),

calendar as (

    select
        *,
        case when period_type = 'month' then 1 else {{ season_length('extract(month from period_start)') }} end
            as n_months,
        {{ season_of_month('extract(month from period_start)') }} as season,
        -- the season's last month names its year (December 2023 is in winter 2024)
        cast(extract(year from {{ add_months(
            season_length('extract(month from period_start)')
            ~ ' - 1 - ' ~ season_position('extract(month from period_start)'),
            'period_start',
        ) }}) as integer) as season_year

    from with_prior

),

final as (

    select
        period_type,
        period_start,
        cast({{ dbt.dateadd('day', -1, add_months('n_months', 'period_start')) }} as date) as period_end,
        case
            when period_type = 'month' then {{ month_label('period_start') }}
            else {{ dbt.concat(['season', "' '", dbt.cast('season_year', dbt.type_string())]) }}
        end as period_label,
        season,
        season_year,
        case when period_type = 'month' then cast(extract(month from period_start) as integer) end as month_of_year,
        region,
        {{ month_is_complete(add_months('n_months - 1', 'period_start')) }} as is_complete_period,
        cast(n_orders as bigint) as n_orders,
        cast(n_customers as bigint) as n_customers,
        cast(n_customer_orders as bigint) as n_customer_orders,
        orders_per_customer,
        cast(revenue as decimal(18, 4)) as revenue,
        case when n_orders > 0 then cast(revenue / n_orders as decimal(18, 4)) end as avg_order_value,
        cast(prior_year_n_orders as bigint) as prior_year_n_orders,
        cast(prior_year_n_customers as bigint) as prior_year_n_customers,
        prior_year_orders_per_customer,
        cast(prior_year_revenue as decimal(18, 4)) as prior_year_revenue,
        case
            when prior_year_n_orders > 0 then cast(n_orders as double) / prior_year_n_orders - 1
        end as n_orders_yoy_change,
        case
            when prior_year_n_customers > 0 then cast(n_customers as double) / prior_year_n_customers - 1
        end as n_customers_yoy_change,
        case
            when prior_year_orders_per_customer > 0
                then orders_per_customer / prior_year_orders_per_customer - 1
        end as orders_per_customer_yoy_change,
        case
            when prior_year_revenue > 0 then cast(revenue as double) / cast(prior_year_revenue as double) - 1
        end as revenue_yoy_change,
        '{{ base_currency() }}' as currency,
        {{ as_of_date() }} as as_of

    from calendar

)

select * from final
