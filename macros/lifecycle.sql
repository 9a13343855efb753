{#-
    Lifecycle stages and segment snapshots (models/intermediate/lifecycle,
    models/marts/lifecycle). The settings are dbt vars (dbt_project.yml,
    "Lifecycle and segment movement"), read and checked here so every model
    applies the same rules.
-#}

{#- lifecycle_days(name): var('lifecycle_<name>_days') as a positive int; every
    lifecycle_*_days var is checked, and new <= active <= lapsed. -#}
{% macro lifecycle_days(name) -%}
    {#- the defaults are dbt_project.yml's, declared there once -#}
    {%- set days = {} -%}
    {%- for key in ['new', 'active', 'lapsed', 'reactivated'] -%}
        {%- do days.update({key: whole_number_var('lifecycle_' ~ key ~ '_days', none)}) -%}
    {%- endfor -%}
    {%- if not (days['new'] <= days['active'] <= days['lapsed']) -%}
        {{- exceptions.raise_compiler_error(
            "lifecycle vars must satisfy lifecycle_new_days <= lifecycle_active_days <= lifecycle_lapsed_days, got "
            ~ days['new'] ~ ", " ~ days['active'] ~ ", " ~ days['lapsed']) -}}
    {%- endif -%}
    {{- return(days[name]) -}}
{%- endmacro %}

{#-
    lifecycle_p_alive(name): var('lifecycle_<name>_p_alive') for name in
    at_risk, lapsed as a float in (0, 1], or none (that rule is off);
    lapsed's threshold must not exceed at_risk's when both are set.
-#}
{% macro lifecycle_p_alive(name) -%}
    {%- set thresholds = {} -%}
    {%- for key in ['at_risk', 'lapsed'] -%}
        {%- set var_name = 'lifecycle_' ~ key ~ '_p_alive' -%}
        {%- set value = optional_var(var_name) -%}
        {%- if value is not none -%}
            {%- set number = value | float(-1) -%}
            {%- if number <= 0 or number > 1 -%}
                {{- exceptions.raise_compiler_error("var('" ~ var_name ~ "') must be in (0, 1] or null, got '" ~ value ~ "'") -}}
            {%- endif -%}
            {%- do thresholds.update({key: number}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if 'at_risk' in thresholds and 'lapsed' in thresholds and thresholds['lapsed'] > thresholds['at_risk'] -%}
        {{- exceptions.raise_compiler_error(
            "var('lifecycle_lapsed_p_alive') must not exceed var('lifecycle_at_risk_p_alive'), got "
            ~ thresholds['lapsed'] ~ " > " ~ thresholds['at_risk']) -}}
    {%- endif -%}
    {{- return(thresholds.get(name)) -}}
{%- endmacro %}

{#-
    lifecycle_stage(evaluated_on, first_order_date, last_order_date,
    last_return_date, p_alive): the stage of a customer on the date
    `evaluated_on`, from the customer's completed purchase days on or before
    it (SQL expressions). The first rule that holds wins:
      prospect     no purchase day (last_order_date is null);
      new          first purchase fewer than lifecycle_new_days days ago;
      lapsed       last purchase lifecycle_lapsed_days or more days ago, or
                   p_alive below lifecycle_lapsed_p_alive;
      at_risk      last purchase lifecycle_active_days or more days ago, or
                   p_alive below lifecycle_at_risk_p_alive
                   (each P(alive) rule only when its var is set; a null
                   p_alive, i.e. no usable fit, never triggers one);
      reactivated  a return (a purchase day lifecycle_lapsed_days or more
                   after the one before it) fewer than
                   lifecycle_reactivated_days days ago;
      active       otherwise.
-#}
{% macro lifecycle_stage(evaluated_on, first_order_date, last_order_date, last_return_date, p_alive) -%}
    {%- set at_risk_p_alive = lifecycle_p_alive('at_risk') -%}
    {%- set lapsed_p_alive = lifecycle_p_alive('lapsed') -%}
    case
        when {{ last_order_date }} is null then 'prospect'
        when {{ days_between(first_order_date, evaluated_on) }} < {{ lifecycle_days('new') }} then 'new'
        when {{ days_between(last_order_date, evaluated_on) }} >= {{ lifecycle_days('lapsed') }} then 'lapsed'
        {%- if lapsed_p_alive is not none %}
        when {{ p_alive }} < {{ lapsed_p_alive }} then 'lapsed'
        {%- endif %}
        when {{ days_between(last_order_date, evaluated_on) }} >= {{ lifecycle_days('active') }} then 'at_risk'
        {%- if at_risk_p_alive is not none %}
        when {{ p_alive }} < {{ at_risk_p_alive }} then 'at_risk'
        {%- endif %}
        when {{ days_between(last_return_date, evaluated_on) }} < {{ lifecycle_days('reactivated') }}
            then 'reactivated'
        else 'active'
    end
{%- endmacro %}

{#-
    segment_movement_period(): the step of var('segment_movement_period') as
    (unit, count): week = ('day', 7), month = ('month', 1), quarter =
    ('month', 3), year = ('month', 12).
-#}
{% macro segment_movement_period() -%}
    {%- set value = var('segment_movement_period') | string | trim | lower -%}
    {%- set steps = {'week': ('day', 7), 'month': ('month', 1), 'quarter': ('month', 3), 'year': ('month', 12)} -%}
    {%- if value not in steps -%}
        {{- exceptions.raise_compiler_error("var('segment_movement_period') must be week, month, quarter or year, got '" ~ value ~ "'") -}}
    {%- endif -%}
    {{- return(steps[value]) -}}
{%- endmacro %}

{#-
    segment_snapshot_dates(): the snapshot dates as 'YYYY-MM-DD' strings,
    newest first: as_of, then as_of minus 1..segment_movement_periods() steps,
    each counted from as_of. Months go back to the same day of the month,
    the month's last day when it has fewer days (05-31 minus 3 months is
    02-29), and a month-end as_of gives month ends (06-30 minus 3 months is
    03-31), so month-end and quarter-end snapshots stay on period ends.
    Computed here rather than in SQL, where engines disagree on month
    arithmetic at month ends.
-#}
{% macro segment_snapshot_dates() -%}
    {%- set datetime = modules.datetime -%}
    {%- set as_of = datetime.datetime.strptime(as_of_date_string(), '%Y-%m-%d').date() -%}
    {%- set unit, step = segment_movement_period() -%}
    {%- set dates = [] -%}
    {%- for k in range(segment_movement_periods() + 1) -%}
        {%- if unit == 'day' -%}
            {%- do dates.append((as_of - datetime.timedelta(days=step * k)).isoformat()) -%}
        {%- else -%}
            {%- set months = as_of.year * 12 + as_of.month - 1 - step * k -%}
            {%- set year = months // 12 -%}
            {%- set month = months % 12 + 1 -%}
            {%- set last_day = month_last_day(year, month) -%}
            {%- set is_month_end = as_of.day == month_last_day(as_of.year, as_of.month) -%}
            {%- set day = last_day if is_month_end else [as_of.day, last_day] | min -%}
            {%- do dates.append(datetime.date(year, month, day).isoformat()) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return(dates) -}}
{%- endmacro %}

{#- month_last_day(year, month): the number of days of the month (an int). -#}
{% macro month_last_day(year, month) -%}
    {%- set datetime = modules.datetime -%}
    {%- set next_first = datetime.date(year + 1, 1, 1) if month == 12 else datetime.date(year, month + 1, 1) -%}
    {{- return((next_first - datetime.timedelta(days=1)).day) -}}
{%- endmacro %}

{#- segment_movement_periods(): var('segment_movement_periods') as an int in 1..60. -#}
{% macro segment_movement_periods() -%}
    {{- return(whole_number_var('segment_movement_periods', none, maximum=60)) -}}
{%- endmacro %}

{#-
    segment_movement(previous_segment, segment, previous_rank, rank,
    periods_ago, n_periods): how a customer moved between two snapshots in a
    segmentation (ranks from seeds/segment_ranks.csv, 1 = best):
    'entered' (in no segment before: a new buyer, or back in the RFM window),
    'left' (in none now: out of the RFM window), 'same', 'up' (a better
    rank), 'down' (a worse one), 'lateral' (another segment of equal rank);
    null on the oldest snapshot (nothing before it to compare) and when the
    customer is in neither.
-#}
{% macro segment_movement(previous_segment, segment, previous_rank, rank, periods_ago, n_periods) -%}
    case
        when {{ periods_ago }} >= {{ n_periods }} then null
        when {{ previous_segment }} is null and {{ segment }} is null then null
        when {{ previous_segment }} is null then 'entered'
        when {{ segment }} is null then 'left'
        when {{ previous_segment }} = {{ segment }} then 'same'
        when {{ rank }} < {{ previous_rank }} then 'up'
        when {{ rank }} > {{ previous_rank }} then 'down'
        else 'lateral'
    end
{%- endmacro %}
