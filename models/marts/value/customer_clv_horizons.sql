{#-
    customer_clv over every horizon of var('clv_horizons_days') (and
    var('clv_horizon_days')): one row per (customer_id, horizon_days) for the
    customers with a completed purchase, when the fits are usable.
-#}

with

clv as (

    select * from {{ ref('customer_clv') }}

),

predictions as (

    select * from {{ ref('int_clv_tuple_predictions') }}

),

margin as (

    select * from {{ ref('int_clv_margin_rate') }}

),

final as (

    select
        clv.customer_id,
        clv.as_of,
        predictions.horizon_days,
        clv.p_alive,
        predictions.expected_purchases,
        predictions.expected_purchases * clv.expected_spend as expected_revenue,
        predictions.discounted_purchases * clv.expected_spend * margin.margin_rate as predicted_clv,
        clv.currency

    from clv

    cross join margin

    inner join predictions
        on clv.frequency = predictions.frequency
        and clv.recency_days = predictions.recency_days
        and clv.t_days = predictions.t_days

)

select * from final
