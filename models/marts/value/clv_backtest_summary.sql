{#-
    How far to trust the CLV model on this data: one row with the summary
    error figures of the backtest (see clv_backtest). Per-customer errors
    compare each backtest customer's expected holdout purchases with the
    purchase days they actually had; the baseline is the naive forecast
    "the same rate as in calibration" (frequency / t_days * holdout days).
    No row when the backtest fit was skipped.
-#}

with

customers as (

    select * from {{ ref('int_clv_backtest_customers') }}

),

predictions as (

    select * from {{ ref('int_clv_backtest_predictions') }}

),

backtest as (

    select * from {{ ref('clv_backtest') }}

),

per_customer as (

    select
        customers.customer_id,
        cast(customers.actual_purchases as double) as actual_purchases,
        predictions.expected_purchases,
        case
            when customers.t_days > 0
                then cast(customers.frequency as double) / customers.t_days
                    * {{ var('clv_backtest_holdout_days') | int }}
            else cast(0 as double)
        end as baseline_purchases

    from customers

    inner join predictions
        on customers.frequency = predictions.frequency
        and customers.recency_days = predictions.recency_days
        and customers.t_days = predictions.t_days

),

customer_errors as (

    {#- Exact decimal sums (macros/btyd_summary.sql): the same figures in every run. -#}
    select
        cast(count(*) as bigint) as n_customers,
        cast(sum(case when actual_purchases > 0 then 1 else 0 end) as bigint) as n_active_in_holdout,
        {{ exact_sum('expected_purchases') }} as predicted_purchases,
        {{ exact_sum('actual_purchases') }} as actual_purchases,
        {{ exact_avg('abs(expected_purchases - actual_purchases)') }} as mae_per_customer,
        sqrt({{ exact_avg('(expected_purchases - actual_purchases) * (expected_purchases - actual_purchases)') }})
            as rmse_per_customer,
        {{ exact_avg('abs(baseline_purchases - actual_purchases)') }} as baseline_mae_per_customer,
        {{ exact_sum('expected_purchases * actual_purchases') }} as sum_xy,
        {{ exact_sum('expected_purchases * expected_purchases') }} as sum_xx,
        {{ exact_sum('actual_purchases * actual_purchases') }} as sum_yy

    from per_customer

    having count(*) > 0

),

bucket_errors as (

    select
        {{ exact_avg("case when breakdown = 'week' and actual_purchases > 0
            then abs(predicted_purchases - actual_purchases) / actual_purchases end") }} as weekly_mape,
        {{ exact_avg("case when breakdown = 'frequency' and actual_purchases > 0
            then abs(predicted_purchases - actual_purchases) / actual_purchases end") }} as frequency_mape,
        {{ exact_sum("case when breakdown = 'frequency' then predicted_revenue end") }} as predicted_revenue,
        {{ exact_sum("case when breakdown = 'frequency' then actual_revenue end") }} as actual_revenue

    from backtest

),

final as (

    select
        {{ as_of_date() }} as as_of,
        {{ clv_calibration_end() }} as calibration_end,
        {{ var('clv_backtest_holdout_days') | int }} as holdout_days,
        customer_errors.n_customers,
        customer_errors.n_active_in_holdout,
        customer_errors.predicted_purchases,
        customer_errors.actual_purchases,
        case when customer_errors.actual_purchases > 0
                then (customer_errors.predicted_purchases - customer_errors.actual_purchases)
                    / customer_errors.actual_purchases
        end as total_relative_error,
        customer_errors.mae_per_customer,
        customer_errors.rmse_per_customer,
        customer_errors.baseline_mae_per_customer,
        (
            customer_errors.n_customers * customer_errors.sum_xy
            - customer_errors.predicted_purchases * customer_errors.actual_purchases
        ) / sqrt(
            (
                customer_errors.n_customers * customer_errors.sum_xx
                - customer_errors.predicted_purchases * customer_errors.predicted_purchases
            ) * (
                customer_errors.n_customers * customer_errors.sum_yy
                - customer_errors.actual_purchases * customer_errors.actual_purchases
            )
        ) as correlation,
        bucket_errors.weekly_mape,
        bucket_errors.frequency_mape,
        bucket_errors.predicted_revenue,
        bucket_errors.actual_revenue,
        case when bucket_errors.actual_revenue > 0
                then (bucket_errors.predicted_revenue - bucket_errors.actual_revenue) / bucket_errors.actual_revenue
        end as revenue_relative_error

    from customer_errors

    cross join bucket_errors

)

select * from final
