{#-
    The CLV models' parameters and the value settings in one table (one row
    per fit, model and parameter): the fitted BG/NBD and Gamma-Gamma
    parameters of the current and the backtest fits with their standard
    errors and fit facts, and model = 'value': the margin rate, discount rate,
    return cost rate and horizon that turn predictions into customer_clv.
-#}

with

fits as (

    select * from {{ ref('int_clv_fits') }}

),

margin as (

    select * from {{ ref('int_clv_margin_rate') }}

),

fitted as (

    select
        fit,
        model,
        parameter,
        value,
        std_error,
        status,
        message,
        log_likelihood,
        n_customers,
        n_tuples,
        iterations,
        fit_seconds,
        is_used,
        case when fit = 'backtest' then {{ clv_calibration_end() }} else {{ as_of_date() }} end
            as data_end_date,
        {{ as_of_date() }} as as_of

    from fits

),

{%- set configured = [
    ('annual_discount_rate', var('clv_discount_rate') | float, 'var clv_discount_rate'),
    ('return_cost_rate', var('clv_return_cost_rate') | float,
        "var clv_return_cost_rate: the share of a returned order''s value it costs"),
    ('horizon_days', var('clv_horizon_days') | int, 'var clv_horizon_days'),
] %}

settings as (

    select
        'margin_rate' as parameter,
        margin.margin_rate as value,
        margin.margin_source as status,
        case margin.margin_source
            when 'configured' then 'var clv_margin_rate'
            when 'observed'
                then 'margin / revenue of the '
                    || cast(margin.n_costed_orders as {{ dbt.type_string() }})
                    || ' completed orders with known cost'
            else 'no cost data: predicted_clv is revenue, not margin'
        end as message

    from margin
    {%- for name, value, message in configured %}

    union all

    select
        '{{ name }}' as parameter,
        cast({{ value }} as double) as value,
        'configured' as status,
        '{{ message }}' as message
    {%- endfor %}

),

final as (

    select * from fitted

    union all

    select
        'current' as fit,
        'value' as model,
        parameter,
        value,
        cast(null as double) as std_error,
        status,
        message,
        cast(null as double) as log_likelihood,
        cast(null as bigint) as n_customers,
        cast(null as bigint) as n_tuples,
        cast(null as bigint) as iterations,
        cast(null as double) as fit_seconds,
        true as is_used,
        {{ as_of_date() }} as data_end_date,
        {{ as_of_date() }} as as_of

    from settings

)

select * from final
