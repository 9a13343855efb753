{#-
    The CLV backtest: the BG/NBD and Gamma-Gamma fits on the calibration
    period (up to as_of - var('clv_backtest_holdout_days')) predict the
    holdout period (calibration end, as_of], compared with what the same
    customers bought. One row per (breakdown, bucket):
    - breakdown 'frequency': customers grouped by calibration frequency
      (0, 1, ..., 6, '7+'), predicted vs actual repeat purchase days and
      revenue per group (the calibration plot of Fader, Hardie & Lee 2005);
    - breakdown 'week': repeat purchase days in each holdout week, all
      backtest customers (the tracking plot).
    Empty when the backtest fit was skipped (too little history).
-#}

with

customers as (

    select * from {{ ref('int_clv_backtest_customers') }}

),

predictions as (

    select * from {{ ref('int_clv_backtest_predictions') }}

),

weekly as (

    select * from {{ ref('int_clv_backtest_weekly') }}

),

purchase_days as (

    select * from {{ ref('int_customer_purchase_days') }}

),

fits as (

    select * from {{ ref('int_clv_fits') }}

),

gamma_gamma as (

    {{ gamma_gamma_params('fits', 'backtest') }}

),

predicted_customers as (

    select
        customers.customer_id,
        customers.frequency,
        customers.actual_purchases,
        customers.actual_revenue,
        predictions.expected_purchases,
        predictions.expected_purchases
        * {{ gamma_gamma_expected_spend('customers.frequency', 'customers.monetary_value', 'gamma_gamma') }}
            as expected_revenue

    from customers

    inner join predictions
        on customers.frequency = predictions.frequency
        and customers.recency_days = predictions.recency_days
        and customers.t_days = predictions.t_days

    left join gamma_gamma
        on gamma_gamma.gg_q > 1

),

by_frequency as (

    select
        'frequency' as breakdown,
        case when frequency >= 7 then '7+' else cast(frequency as {{ dbt.type_string() }}) end as bucket,
        case when frequency >= 7 then 7 else frequency end as bucket_order,
        cast(count(*) as bigint) as n_customers,
        {{ exact_sum('expected_purchases') }} as predicted_purchases,
        cast(sum(actual_purchases) as double) as actual_purchases,
        {{ exact_sum('expected_revenue') }} as predicted_revenue,
        cast(sum(actual_revenue) as double) as actual_revenue

    from predicted_customers

    group by
        case when frequency >= 7 then '7+' else cast(frequency as {{ dbt.type_string() }}) end,
        case when frequency >= 7 then 7 else frequency end

),

actual_weeks as (

    select
        cast(floor(({{ days_between(clv_calibration_end(), 'purchase_days.order_date') }} - 1) / 7) as integer) + 1
            as week_number,
        cast(count(*) as double) as actual_purchases,
        cast(sum(purchase_days.revenue) as double) as actual_revenue

    from purchase_days

    inner join customers
        on purchase_days.customer_id = customers.customer_id

    where purchase_days.order_date > {{ clv_calibration_end() }}
        and purchase_days.order_date <= {{ as_of_date() }}

    group by
        cast(floor(({{ days_between(clv_calibration_end(), 'purchase_days.order_date') }} - 1) / 7) as integer)

),

by_week as (

    select
        'week' as breakdown,
        'week ' || cast(weekly.week_number as {{ dbt.type_string() }}) as bucket,
        weekly.week_number as bucket_order,
        (select cast(count(*) as bigint) from predicted_customers) as n_customers,
        weekly.expected_purchases as predicted_purchases,
        coalesce(actual_weeks.actual_purchases, 0) as actual_purchases,
        cast(null as double) as predicted_revenue,
        actual_weeks.actual_revenue

    from weekly

    left join actual_weeks
        on weekly.week_number = actual_weeks.week_number

),

unioned as (

    select * from by_frequency

    union all

    select * from by_week

),

final as (

    select
        breakdown,
        bucket,
        cast(bucket_order as integer) as bucket_order,
        {{ clv_calibration_end() }} as calibration_end,
        {{ as_of_date() }} as holdout_end,
        n_customers,
        predicted_purchases,
        actual_purchases,
        predicted_purchases - actual_purchases as error,
        case when actual_purchases > 0 then (predicted_purchases - actual_purchases) / actual_purchases end
            as relative_error,
        predicted_revenue,
        actual_revenue

    from unioned

)

select * from final
