{#-
    The backtest's customers: everyone with a completed purchase on or before
    the calibration end (as_of - var('clv_backtest_holdout_days')), with the
    BTYD summary of the calibration period and what they actually bought in
    the holdout period (calibration end, as_of]: purchase days (all repeat
    purchases by definition) and revenue. Customers acquired in the holdout
    are not part of the backtest: the model predicts existing customers.
-#}

with

purchase_days as (

    select * from {{ ref('int_customer_purchase_days') }}

),

calibration as (

    {{ btyd_summary('purchase_days', clv_calibration_end()) }}

),

holdout as (

    select
        customer_id,
        cast(count(*) as bigint) as actual_purchases,
        cast(sum(revenue) as decimal(18, 4)) as actual_revenue

    from purchase_days

    where order_date > {{ clv_calibration_end() }}
        and order_date <= {{ as_of_date() }}

    group by customer_id

),

final as (

    select
        calibration.customer_id,
        {{ clv_calibration_end() }} as calibration_end,
        calibration.frequency,
        calibration.recency_days,
        calibration.t_days,
        calibration.monetary_value,
        calibration.revenue as calibration_revenue,
        coalesce(holdout.actual_purchases, cast(0 as bigint)) as actual_purchases,
        coalesce(holdout.actual_revenue, cast(0 as decimal(18, 4))) as actual_revenue

    from calibration

    left join holdout
        on calibration.customer_id = holdout.customer_id

)

select * from final
