{#-
    What happened to customer ids in this refresh, against the previous
    warehouse. Grain: one row per (customer_id, event).

    event:
      - 'created': a new id for a cluster without previously resolved records;
      - 'split_from': a new id for part of a previous customer (related = the
        previous id most of its records had);
      - 'merged_into': a previous id whose records now belong to a customer
        that kept another id (related = that id);
      - 'retired': a previous id none of whose records exist any more (e.g. a
        replay at an earlier as-of date).
    Nothing changed, no rows: a repeated refresh records no events.
-#}

with

clusters as (

    select * from {{ ref('int_contact_clusters') }}

),

ids as (

    select * from {{ ref('int_customer_ids') }}

),

previous_ids as (

    {{ previous_customer_ids() }}

),

members as (

    select
        ids.customer_id,
        previous_ids.previous_customer_id,
        count(*) as n_records

    from clusters

    inner join ids
        on clusters.cluster_key = ids.cluster_key

    inner join previous_ids
        on clusters.contact_key = previous_ids.contact_key

    group by
        ids.customer_id,
        previous_ids.previous_customer_id

),

new_ids as (

    select
        ids.customer_id,
        members.previous_customer_id,
        row_number() over (
            partition by ids.customer_id
            order by members.n_records desc, members.previous_customer_id asc
        ) as rank_of_origin

    from ids

    left join members
        on ids.customer_id = members.customer_id

    where not ids.is_existing_id

),

previous_customers as (

    select distinct previous_customer_id from previous_ids

),

-- where the records of each previous id went, most first
destinations as (

    select
        previous_customer_id,
        customer_id,
        row_number() over (
            partition by previous_customer_id
            order by n_records desc, customer_id asc
        ) as rank_of_destination

    from members

),

final as (

    select
        customer_id,
        case when previous_customer_id is null then 'created' else 'split_from' end as event,
        previous_customer_id as related_customer_id

    from new_ids

    where rank_of_origin = 1

    union all

    select
        previous_customers.previous_customer_id as customer_id,
        case when destinations.customer_id is null then 'retired' else 'merged_into' end
            as event,
        destinations.customer_id as related_customer_id

    from previous_customers

    left join destinations
        on previous_customers.previous_customer_id = destinations.previous_customer_id
        and destinations.rank_of_destination = 1

    left join ids
        on previous_customers.previous_customer_id = ids.customer_id

    where ids.customer_id is null

)

select * from final
