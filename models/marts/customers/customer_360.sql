{#-
    The customer 360: one row per resolved customer, joining what each mart
    knows about them (identity, value, RFM, CLV, lifecycle, service,
    campaigns) without any personal column, so it is published in the
    analytics file as is. Counts of a customer without service or campaign
    history are 0, not null; scores of a customer without a completed order
    are null (they have none).
-#}

with

customers as (

    select * from {{ ref('dim_customers') }}

),

customer_value as (

    select * from {{ ref('customer_value') }}

),

rfm as (

    select * from {{ ref('customer_rfm') }}

),

clv as (

    select * from {{ ref('customer_clv') }}

),

lifecycle as (

    select * from {{ ref('customer_lifecycle') }}

),

service as (

    select * from {{ ref('customer_service') }}

),

campaign_members as (

    select * from {{ ref('fct_campaign_members') }}

),

campaigns as (

    select
        customer_id,
        count(*) as n_campaigns,
        cast(sum(case when is_control then 0 else 1 end) as bigint) as n_campaigns_contacted,
        cast(sum(case when is_converted then 1 else 0 end) as bigint) as n_campaign_conversions,
        max(first_touched_at) as last_campaign_touched_at

    from campaign_members

    group by customer_id

),

final as (

    select
        customers.customer_id,
        {{ as_of_date() }} as as_of,
        customers.region,
        customers.country,
        customers.household_id,
        customers.birth_year,
        customers.has_email,
        customers.has_phone,
        coalesce(customers.marketing_opt_in, false) as marketing_opt_in,
        customers.n_source_systems,
        customers.source_systems,
        customers.first_order_date,
        customers.last_order_date,
        coalesce(customer_value.n_orders, 0) as n_orders,
        customer_value.revenue,
        customer_value.avg_order_value,
        customer_value.margin,
        rfm.r_score,
        rfm.f_score,
        rfm.m_score,
        rfm.rfm_segment,
        clv.p_alive,
        clv.expected_purchases,
        clv.predicted_clv,
        clv.total_value,
        clv.value_tier,
        lifecycle.lifecycle_stage,
        lifecycle.lifecycle_movement,
        coalesce(service.n_interactions, 0) as n_interactions,
        coalesce(service.n_complaints, 0) as n_complaints,
        coalesce(service.n_open_complaints, 0) as n_open_complaints,
        coalesce(service.has_open_complaint, false) as has_open_complaint,
        service.last_interaction_at,
        service.mean_satisfaction,
        coalesce(campaigns.n_campaigns, 0) as n_campaigns,
        coalesce(campaigns.n_campaigns_contacted, 0) as n_campaigns_contacted,
        coalesce(campaigns.n_campaign_conversions, 0) as n_campaign_conversions,
        campaigns.last_campaign_touched_at,
        '{{ base_currency() }}' as currency

    from customers

    left join customer_value
        on customers.customer_id = customer_value.customer_id

    left join rfm
        on customers.customer_id = rfm.customer_id

    left join clv
        on customers.customer_id = clv.customer_id

    left join lifecycle
        on customers.customer_id = lifecycle.customer_id

    left join service
        on customers.customer_id = service.customer_id

    left join campaigns
        on customers.customer_id = campaigns.customer_id

)

select * from final
