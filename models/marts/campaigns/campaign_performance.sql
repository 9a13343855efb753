{#-
    One row per campaign known on or before as_of (in campaigns, or only
    named by touches): reach and funnel of the contacted (treatment)
    customers, attributed revenue, and the incremental effect measured
    against the hold-out (control) group of fct_campaign_members.

    Lift = rate(treatment) - rate(control) of the outcome var('campaign_lift_outcome'):
    'conversion' (a 'converted' touch in the attribution window) or
    'purchase' (a completed order in it). Its interval is Newcombe's hybrid
    score interval (method 10, Newcombe 1998) at var('campaign_lift_confidence'):
    the Wilson intervals of the two rates combined, which keeps its coverage
    for rare outcomes and small hold-out groups, where the Wald interval is
    too narrow (and zero-width when a group has no conversions).
    Without a hold-out group (or without contacted customers) every
    incremental figure is null, not 0.
-#}
{%- set outcome = var('campaign_lift_outcome') | string | trim -%}
{%- if outcome not in ('conversion', 'purchase') -%}
    {{- exceptions.raise_compiler_error("var('campaign_lift_outcome') must be 'conversion' or 'purchase', got '" ~ outcome ~ "'") -}}
{%- endif -%}
{#- the counts of the outcome in each group (group_counts), whose rates the lift compares -#}
{%- set treatment_count = 'n_converted' if outcome == 'conversion' else 'n_purchasers' -%}
{%- set control_count = 'n_control_converted' if outcome == 'conversion' else 'n_control_purchasers' -%}

with

campaigns as (

    select * from {{ ref('stg_raw__campaigns') }}

),

touches as (

    select * from {{ ref('stg_raw__campaign_touches') }}

),

xref as (

    select * from {{ ref('customer_xref') }}

),

members as (

    select * from {{ ref('fct_campaign_members') }}

),

lift_settings as (

    select {{ confidence_z(var('campaign_lift_confidence'), 'campaign_lift_confidence') }} as z

),

touch_counts as (

    select
        touches.campaign_id,
        count(*) as n_touches,
        sum(case when xref.customer_id is null then 1 else 0 end) as n_touches_unresolved

    from touches

    left join xref
        on touches.source_system = xref.source_system
        and touches.source_contact_id = xref.source_contact_id

    group by touches.campaign_id

),

group_counts as (

    select
        campaign_id,
        sum(case when is_control then 0 else 1 end) as n_treatment,
        sum(case when is_control then 1 else 0 end) as n_control,
        sum(case when is_in_both_groups then 1 else 0 end) as n_in_both_groups,
        sum(case when not is_control and is_sent then 1 else 0 end) as n_sent,
        sum(case when not is_control and is_opened then 1 else 0 end) as n_opened,
        sum(case when not is_control and is_clicked then 1 else 0 end) as n_clicked,
        sum(case when not is_control and is_converted then 1 else 0 end) as n_converted,
        sum(case when is_control and is_converted then 1 else 0 end) as n_control_converted,
        sum(case when not is_control and is_purchaser then 1 else 0 end) as n_purchasers,
        sum(case when is_control and is_purchaser then 1 else 0 end) as n_control_purchasers,
        sum(case when is_control then 0 else n_orders end) as n_orders,
        sum(case when is_control then 0 else revenue end) as revenue,
        sum(case when is_control then revenue else 0 end) as control_revenue,
        min(case when is_window_complete then 1 else 0 end) as all_windows_complete

    from members

    group by campaign_id

),

campaign_ids as (

    select campaign_id from campaigns
    union
    select campaign_id from touch_counts

),

counted as (

    select
        campaign_ids.campaign_id,
        campaigns.campaign_name,
        campaigns.channel,
        campaigns.started_at,
        campaigns.ended_at,
        campaigns.campaign_id is not null as has_campaign_record,
        campaigns.campaign_cost,
        coalesce(touch_counts.n_touches, 0) as n_touches,
        coalesce(touch_counts.n_touches_unresolved, 0) as n_touches_unresolved,
        coalesce(group_counts.n_treatment, 0) as n_treatment,
        coalesce(group_counts.n_control, 0) as n_control,
        coalesce(group_counts.n_in_both_groups, 0) as n_in_both_groups,
        coalesce(group_counts.n_sent, 0) as n_sent,
        coalesce(group_counts.n_opened, 0) as n_opened,
        coalesce(group_counts.n_clicked, 0) as n_clicked,
        coalesce(group_counts.n_converted, 0) as n_converted,
        coalesce(group_counts.n_control_converted, 0) as n_control_converted,
        coalesce(group_counts.n_purchasers, 0) as n_purchasers,
        coalesce(group_counts.n_control_purchasers, 0) as n_control_purchasers,
        coalesce(group_counts.{{ treatment_count }}, 0) as x_treatment,
        coalesce(group_counts.{{ control_count }}, 0) as x_control,
        coalesce(group_counts.n_orders, 0) as n_orders,
        coalesce(group_counts.revenue, 0) as revenue,
        coalesce(group_counts.control_revenue, 0) as control_revenue,
        coalesce(group_counts.all_windows_complete, 1) = 1 as is_window_complete

    from campaign_ids

    left join campaigns
        on campaign_ids.campaign_id = campaigns.campaign_id

    left join touch_counts
        on campaign_ids.campaign_id = touch_counts.campaign_id

    left join group_counts
        on campaign_ids.campaign_id = group_counts.campaign_id

),

rates as (

    select
        counted.*,
        lift_settings.z,
        case when counted.n_treatment > 0 and counted.n_control > 0 then 1 else 0 end as has_lift,
        case
            when counted.n_treatment > 0 then cast(counted.x_treatment as double) / counted.n_treatment
        end as p_treatment,
        case
            when counted.n_control > 0 then cast(counted.x_control as double) / counted.n_control
        end as p_control,
        {{ wilson_lower('counted.x_treatment', 'counted.n_treatment', 'lift_settings.z') }} as l_treatment,
        {{ wilson_upper('counted.x_treatment', 'counted.n_treatment', 'lift_settings.z') }} as u_treatment,
        {{ wilson_lower('counted.x_control', 'counted.n_control', 'lift_settings.z') }} as l_control,
        {{ wilson_upper('counted.x_control', 'counted.n_control', 'lift_settings.z') }} as u_control,
        case
            when counted.n_treatment > 0 then cast(counted.revenue as double) / counted.n_treatment
        end as revenue_per_treated,
        case
            when counted.n_control > 0 then cast(counted.control_revenue as double) / counted.n_control
        end as revenue_per_control

    from counted

    cross join lift_settings

),

lifted as (

    select
        *,
        case when has_lift = 1 then p_treatment - p_control end as lift,
        -- Newcombe: each side combines the Wilson distances on that side
        case
            when has_lift = 1
                then sqrt(power(p_treatment - l_treatment, 2) + power(u_control - p_control, 2))
        end as margin_below,
        case
            when has_lift = 1
                then sqrt(power(u_treatment - p_treatment, 2) + power(p_control - l_control, 2))
        end as margin_above,
        case
            when has_lift = 1 then (revenue_per_treated - revenue_per_control) * n_treatment
        end as incremental_revenue

    from rates

),

final as (

    select
        campaign_id,
        campaign_name,
        channel,
        started_at,
        ended_at,
        has_campaign_record,
        {{ as_of_date() }} as as_of,
        cast({{ var('campaign_attribution_days') | int }} as integer) as attribution_days,
        is_window_complete,
        cast(n_touches as bigint) as n_touches,
        cast(n_touches_unresolved as bigint) as n_touches_unresolved,
        cast(n_treatment as bigint) as n_treatment,
        cast(n_control as bigint) as n_control,
        cast(n_in_both_groups as bigint) as n_in_both_groups,
        cast(n_sent as bigint) as n_sent,
        cast(n_opened as bigint) as n_opened,
        cast(n_clicked as bigint) as n_clicked,
        cast(n_converted as bigint) as n_converted,
        case when n_treatment > 0 then cast(n_opened as double) / n_treatment end as open_rate,
        case when n_treatment > 0 then cast(n_clicked as double) / n_treatment end as click_rate,
        case when n_treatment > 0 then cast(n_converted as double) / n_treatment end
            as conversion_rate,
        case when n_control > 0 then cast(n_control_converted as double) / n_control end
            as control_conversion_rate,
        cast(n_purchasers as bigint) as n_purchasers,
        case when n_treatment > 0 then cast(n_purchasers as double) / n_treatment end
            as purchase_rate,
        case when n_control > 0 then cast(n_control_purchasers as double) / n_control end
            as control_purchase_rate,
        cast(n_orders as bigint) as n_orders_attributed,
        cast(revenue as decimal(18, 4)) as revenue_attributed,
        '{{ outcome }}' as lift_outcome,
        cast({{ var('campaign_lift_confidence') }} as double) as lift_confidence,
        lift,
        lift - margin_below as lift_lower,
        lift + margin_above as lift_upper,
        case when p_control > 0 then lift / p_control end as relative_lift,
        lift * n_treatment as incremental_customers,
        revenue_per_treated,
        revenue_per_control,
        incremental_revenue,
        cast(campaign_cost as decimal(18, 4)) as campaign_cost,
        case
            when lift * n_treatment > 0 then cast(campaign_cost as double) / (lift * n_treatment)
        end as cost_per_incremental_customer,
        case when campaign_cost > 0 then cast(revenue as double) / cast(campaign_cost as double) end
            as roas_attributed,
        case when campaign_cost > 0 then incremental_revenue / cast(campaign_cost as double) end
            as roas_incremental,
        '{{ base_currency() }}' as currency

    from lifted

)

select * from final
