{#-
    Small statistics as portable SQL expressions (DuckDB and Spark have ln,
    sqrt, greatest and least, but no normal quantile function).

    normal_quantile(p): the standard normal quantile (probit) of p in (0, 1),
        by P. J. Acklam's rational approximation (relative error below
        1.15e-9 over the whole range): a rational function of p - 0.5 in the
        centre, of sqrt(-2 ln(tail)) in the tails below 0.02425 / above
        0.97575. Tested against scipy.stats.norm.ppf.
    wilson_lower(x, n, z) / wilson_upper(x, n, z): the Wilson score interval
        of a proportion x / n at normal quantile z; null when n = 0. It stays
        inside [0, 1] and keeps its coverage for rare events and small groups,
        where the Wald interval collapses to a point at x = 0.
    confidence_z(confidence, name): the two-sided normal quantile
        z = probit(1 - (1 - confidence) / 2) of a configured confidence level
        as a SQL expression; a level outside (0, 1) is a compiler error
        naming the variable.
-#}

{% macro normal_quantile(p) -%}
    {%- set a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.3577518672690, -30.66479806614716, 2.506628277459239] -%}
    {%- set b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572] -%}
    {%- set c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783] -%}
    {%- set d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416] -%}
    {%- set pp = 'cast(' ~ p ~ ' as double)' -%}
    {%- set q_low = 'sqrt(-2 * ln(' ~ pp ~ '))' -%}
    {%- set q_high = 'sqrt(-2 * ln(1 - ' ~ pp ~ '))' -%}
    {%- set r = '((' ~ pp ~ ' - 0.5) * (' ~ pp ~ ' - 0.5))' -%}
    case
        when {{ pp }} <= 0 or {{ pp }} >= 1 then null
        when {{ pp }} < 0.02425 then
            {{ _horner(c, q_low) }} / ({{ _horner(d, q_low) }} * {{ q_low }} + 1)
        when {{ pp }} > 0.97575 then
            -1 * {{ _horner(c, q_high) }} / ({{ _horner(d, q_high) }} * {{ q_high }} + 1)
        else
            {{ _horner(a, r) }} * ({{ pp }} - 0.5) / ({{ _horner(b, r) }} * {{ r }} + 1)
    end
{%- endmacro %}

{#- Horner's scheme: coefficients[0] x^(k-1) + ... + coefficients[k-1]. -#}
{% macro _horner(coefficients, x) -%}
    {%- set ns = namespace(expr=coefficients[0] ~ '') -%}
    {%- for coefficient in coefficients[1:] -%}
        {%- set ns.expr = '(' ~ ns.expr ~ ') * ' ~ x ~ ' + (' ~ coefficient ~ ')' -%}
    {%- endfor -%}
    ({{ ns.expr }})
{%- endmacro %}

{% macro wilson_lower(x, n, z) -%}
    case when {{ n }} > 0 then greatest(cast(0 as double),
        ({{ x }} + {{ z }} * {{ z }} / 2) / ({{ n }} + {{ z }} * {{ z }})
        - {{ z }} / ({{ n }} + {{ z }} * {{ z }})
        * sqrt(cast({{ x }} as double) * ({{ n }} - {{ x }}) / {{ n }} + {{ z }} * {{ z }} / 4)
    ) end
{%- endmacro %}

{% macro wilson_upper(x, n, z) -%}
    case when {{ n }} > 0 then least(cast(1 as double),
        ({{ x }} + {{ z }} * {{ z }} / 2) / ({{ n }} + {{ z }} * {{ z }})
        + {{ z }} / ({{ n }} + {{ z }} * {{ z }})
        * sqrt(cast({{ x }} as double) * ({{ n }} - {{ x }}) / {{ n }} + {{ z }} * {{ z }} / 4)
    ) end
{%- endmacro %}

{% macro confidence_z(confidence, name) -%}
    {%- set text = confidence | string | trim -%}
    {%- if not modules.re.match('^(0?[.][0-9]*[1-9][0-9]*)$', text) -%}
        {{- exceptions.raise_compiler_error("var('" ~ name ~ "') must be a confidence level between 0 and 1 (e.g. 0.95), got '" ~ text ~ "'") -}}
    {%- endif -%}
    {{ normal_quantile('1 - (1 - ' ~ text ~ ') / 2') }}
{%- endmacro %}
