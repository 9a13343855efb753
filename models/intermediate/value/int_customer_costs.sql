{#-
    What each customer cost, on or before as_of, in the base currency
    (handling and campaign costs carry no currency in the contract: they are
    taken to be in var('currency')):
    - service_cost: the handling_cost of the customer's interactions;
    - marketing_cost: each campaign's cost shared equally among the distinct
      customers it reached (a touch outside the hold-out group); a campaign
      without cost or without reached customers allocates nothing;
    - returned_value: the value of the customer's returned orders (the cost of
      a return is this times var('clv_return_cost_rate'), in customer_clv).
    One row per customer with any of these; optional inputs absent = no rows.
-#}

with

contacts as (

    select * from {{ ref('int_contacts_resolved') }}

),

interactions as (

    select * from {{ ref('stg_raw__interactions') }}

),

campaigns as (

    select * from {{ ref('stg_raw__campaigns') }}

),

touches as (

    select * from {{ ref('stg_raw__campaign_touches') }}

),

orders as (

    select * from {{ ref('int_orders_costed') }}

),

service as (

    select
        contacts.customer_id,
        cast(count(*) as bigint) as n_interactions,
        cast(sum(coalesce(interactions.handling_cost, 0)) as decimal(18, 4)) as service_cost

    from interactions

    inner join contacts
        on interactions.source_system = contacts.source_system
        and interactions.source_contact_id = contacts.source_contact_id

    group by contacts.customer_id

),

reached as (

    select distinct
        touches.campaign_id,
        contacts.customer_id

    from touches

    inner join contacts
        on touches.source_system = contacts.source_system
        and touches.source_contact_id = contacts.source_contact_id

    where not coalesce(touches.is_control, false)

),

campaign_reach as (

    select
        campaign_id,
        count(*) as n_reached

    from reached

    group by campaign_id

),

marketing as (

    select
        reached.customer_id,
        cast(count(*) as bigint) as n_campaigns,
        cast(sum(campaigns.campaign_cost / campaign_reach.n_reached) as decimal(18, 4))
            as marketing_cost

    from reached

    inner join campaign_reach
        on reached.campaign_id = campaign_reach.campaign_id

    inner join campaigns
        on reached.campaign_id = campaigns.campaign_id

    where campaigns.campaign_cost is not null

    group by reached.customer_id

),

returns as (

    select
        customer_id,
        cast(count(*) as bigint) as n_returned,
        cast(sum(order_total_base) as decimal(18, 4)) as returned_value

    from orders

    where status = 'returned'
        and customer_id is not null

    group by customer_id

),

customers as (

    select customer_id from service
    union
    select customer_id from marketing
    union
    select customer_id from returns

),

final as (

    select
        customers.customer_id,
        coalesce(service.n_interactions, cast(0 as bigint)) as n_interactions,
        coalesce(service.service_cost, cast(0 as decimal(18, 4))) as service_cost,
        coalesce(marketing.n_campaigns, cast(0 as bigint)) as n_campaigns,
        coalesce(marketing.marketing_cost, cast(0 as decimal(18, 4))) as marketing_cost,
        coalesce(returns.n_returned, cast(0 as bigint)) as n_returned,
        coalesce(returns.returned_value, cast(0 as decimal(18, 4))) as returned_value

    from customers

    left join service
        on customers.customer_id = service.customer_id

    left join marketing
        on customers.customer_id = marketing.customer_id

    left join returns
        on customers.customer_id = returns.customer_id

)

select * from final
