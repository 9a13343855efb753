{#-
    gamma_gamma_params(fits, fit): one row with gg_p, gg_q, gg_gamma, the used
    Gamma-Gamma estimates of `fit` ('current' or 'backtest') from the
    int_clv_fits relation or CTE `fits` (nulls when the fit is not used).
-#}
{% macro gamma_gamma_params(fits, fit) -%}
    {{ clv_fit_params(fits, fit, 'gamma_gamma', {'p': 'gg_p', 'q': 'gg_q', 'gamma': 'gg_gamma'}) }}
{%- endmacro %}

{#-
    clv_fit_params(fits, fit, model, columns): one row with the used estimates
    of `model` in `fit` from int_clv_fits (or CTE `fits`), parameter -> output
    column per `columns`; nulls when that fit is not used.
-#}
{% macro clv_fit_params(fits, fit, model, columns) -%}
    select
    {%- for parameter, name in columns.items() %}
        max(case when parameter = '{{ parameter }}' then value end) as {{ name }}{{ ',' if not loop.last }}
    {%- endfor %}

    from {{ fits }}

    where fit = '{{ fit }}'
        and model = '{{ model }}'
        and is_used
{%- endmacro %}

{#-
    bgnbd_p_alive(frequency, recency_days, t_days, params): BG/NBD
    P(alive | x, t_x, T) (Fader, Hardie & Lee 2005, eq. 11), the formula of
    crm.clv.btyd.bgnbd_p_alive: 1 for x = 0, else 1 / (1 + exp(z)) with
    z = ln a - ln(b + x - 1) + (r + x) (ln(alpha + T) - ln(alpha + t_x)).
    `params` names a relation with bg_r, bg_alpha, bg_a, bg_b (bgnbd_params);
    null when they are. exp(z) overflows a double above z ~ 709: such a
    customer's P(alive) is 0 to double precision.
-#}
{% macro bgnbd_p_alive(frequency, recency_days, t_days, params) -%}
    case
        when {{ params }}.bg_r is null then null
        when {{ frequency }} = 0 then 1.0
        when {{ bgnbd_log_odds_dead(frequency, recency_days, t_days, params) }} > 700 then 0.0
        else 1.0 / (1.0 + exp({{ bgnbd_log_odds_dead(frequency, recency_days, t_days, params) }}))
    end
{%- endmacro %}

{% macro bgnbd_log_odds_dead(frequency, recency_days, t_days, params) -%}
    (
        ln({{ params }}.bg_a)
        - ln({{ params }}.bg_b + {{ frequency }} - 1)
        + ({{ params }}.bg_r + {{ frequency }})
        * (ln({{ params }}.bg_alpha + {{ t_days }}) - ln({{ params }}.bg_alpha + {{ recency_days }}))
    )
{%- endmacro %}

{#-
    bgnbd_params(fits, fit): one row with bg_r, bg_alpha, bg_a, bg_b, the used
    BG/NBD estimates of `fit` ('current' or 'backtest') from the int_clv_fits
    relation or CTE `fits` (nulls when the fit is not used).
-#}
{% macro bgnbd_params(fits, fit) -%}
    {{ clv_fit_params(fits, fit, 'bgnbd', {'r': 'bg_r', 'alpha': 'bg_alpha', 'a': 'bg_a', 'b': 'bg_b'}) }}
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
