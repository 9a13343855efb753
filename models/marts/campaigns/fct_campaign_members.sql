{#-
    One row per (campaign, customer) with a touch of the campaign on or before
    as_of, the customer resolved from the touch's source record through
    customer_xref (touches of unknown records are counted in
    campaign_performance, not here).

    Group: a customer is in the hold-out group (is_control) only when every
    touch of theirs is a hold-out touch; one touch outside it means they were
    contacted (treatment), and is_in_both_groups flags such merged records.
    Attribution window: [first touch, first touch + var('campaign_attribution_days'))
    cut at as_of; 'converted' touches and completed orders (fct_orders, base
    currency) count when inside it, the same way for both groups.
-#}
{%- set attribution_days = var('campaign_attribution_days') | int -%}

with

touches as (

    select * from {{ ref('stg_raw__campaign_touches') }}

),

xref as (

    select * from {{ ref('customer_xref') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

resolved_touches as (

    select
        touches.campaign_id,
        xref.customer_id,
        touches.touched_at,
        touches.event,
        coalesce(touches.is_control, false) as is_control

    from touches

    inner join xref
        on touches.source_system = xref.source_system
        and touches.source_contact_id = xref.source_contact_id

),

-- one hash aggregation over the touches (no window sort)
member_touches as (

    select
        campaign_id,
        customer_id,
        min(touched_at) as first_touched_at,
        count(*) as n_touches,
        sum(case when is_control then 0 else 1 end) as n_treatment_touches,
        sum(case when is_control then 1 else 0 end) as n_control_touches,
        max(case when event = 'sent' then 1 else 0 end) as has_sent,
        max(case when event = 'opened' then 1 else 0 end) as has_opened,
        max(case when event = 'clicked' then 1 else 0 end) as has_clicked,
        -- every touch is at or after the first, so the first conversion is in
        -- the attribution window exactly when any conversion is
        min(case when event = 'converted' then touched_at end) as first_converted_touch_at

    from resolved_touches

    group by campaign_id, customer_id

),

members as (

    select
        *,
        -- in hours: dbt-spark's dateadd by 'day' returns a date (drops the time)
        {{ dbt.dateadd('hour', attribution_days * 24, 'first_touched_at') }} as window_end_at

    from member_touches

),

attributed_orders as (

    select
        members.campaign_id,
        members.customer_id,
        count(*) as n_orders,
        sum(orders.order_total_base) as revenue

    from members

    inner join orders
        on members.customer_id = orders.customer_id

    where orders.is_completed
        and orders.ordered_at >= members.first_touched_at
        and orders.ordered_at < members.window_end_at

    group by members.campaign_id, members.customer_id

),

final as (

    select
        members.campaign_id,
        members.customer_id,
        members.n_treatment_touches = 0 as is_control,
        members.n_treatment_touches > 0 and members.n_control_touches > 0 as is_in_both_groups,
        members.first_touched_at,
        members.window_end_at,
        members.window_end_at <= {{ as_of_end_timestamp() }} as is_window_complete,
        cast(members.n_touches as bigint) as n_touches,
        members.has_sent = 1 as is_sent,
        members.has_opened = 1 as is_opened,
        members.has_clicked = 1 as is_clicked,
        coalesce(members.first_converted_touch_at < members.window_end_at, false) as is_converted,
        case
            when members.first_converted_touch_at < members.window_end_at
                then members.first_converted_touch_at
        end as first_converted_at,
        coalesce(attributed_orders.n_orders, 0) > 0 as is_purchaser,
        cast(coalesce(attributed_orders.n_orders, 0) as bigint) as n_orders,
        cast(coalesce(attributed_orders.revenue, 0) as decimal(18, 4)) as revenue,
        '{{ base_currency() }}' as currency

    from members

    left join attributed_orders
        on members.campaign_id = attributed_orders.campaign_id
        and members.customer_id = attributed_orders.customer_id

)

select * from final
