{#-
    gamma_gamma_params(fits, fit): one row with gg_p, gg_q, gg_gamma, the used
    Gamma-Gamma estimates of `fit` ('current' or 'backtest') from the
    int_clv_fits relation or CTE `fits` (nulls when the fit is not used).
-#}
{% macro gamma_gamma_params(fits, fit) -%}
    select
        max(case when parameter = 'p' then value end) as gg_p,
        max(case when parameter = 'q' then value end) as gg_q,
        max(case when parameter = 'gamma' then value end) as gg_gamma

    from {{ fits }}

    where fit = '{{ fit }}'
        and model = 'gamma_gamma'
        and is_used
{%- endmacro %}

{#-
    gamma_gamma_expected_spend(frequency, monetary_value, params): the
    Gamma-Gamma conditional mean spend per purchase day,
    E[M | x, m_x] = p (gamma + m_x x) / (p x + q - 1), and the population mean
    p gamma / (q - 1) for a customer without a repeat purchase (or with a mean
    spend <= 0, which the fit leaves out). `params` names the relation with
    gg_p, gg_q, gg_gamma (gamma_gamma_params); only meaningful when gg_q > 1.
-#}
{% macro gamma_gamma_expected_spend(frequency, monetary_value, params) -%}
    case
        when {{ frequency }} > 0 and {{ monetary_value }} > 0
            then {{ params }}.gg_p
                * ({{ params }}.gg_gamma + cast({{ monetary_value }} as double) * {{ frequency }})
                / ({{ params }}.gg_p * {{ frequency }} + {{ params }}.gg_q - 1)
        else {{ params }}.gg_p * {{ params }}.gg_gamma / ({{ params }}.gg_q - 1)
    end
{%- endmacro %}

{#-
    exact_sum(expr) / exact_avg(expr): sum / mean of a double expression that is
    the same in every run. A parallel sum of doubles depends on the order rows
    arrive in (the last bits change between runs); summing exact decimals (12
    decimal places) does not, so a refresh without new data changes no mart.
-#}
{% macro exact_sum(expr) -%}
    cast(sum(cast({{ expr }} as decimal(38, 12))) as double)
{%- endmacro %}

{% macro exact_avg(expr) -%}
    cast(sum(cast({{ expr }} as decimal(38, 12))) as double) / count({{ expr }})
{%- endmacro %}
