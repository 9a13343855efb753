{#-
    Stable customer ids. Grain: one row per identity cluster (cluster_key).

    Rules, against the previous restricted output's assignments (int_contacts_resolved):
      - a cluster whose records all had one id keeps it (unrelated arrivals
        change nothing);
      - merge: a cluster holding records of several previous ids keeps the id
        with the most of its records (ties: the smallest id); the others are
        recorded as merged into it (customer_id_history);
      - split: a previous id goes to the part holding most of its records
        (ties: the part with the smallest cluster_key); the other parts get
        new ids, recorded as split from it;
      - a cluster with no previously resolved record gets a new id.
    A new id is 'C' + md5(cluster_key)[:16], so a first build is a function of
    the records alone; should that id have been issued before (a split part
    whose smallest key named the old cluster), it is derived from
    'split:' || cluster_key instead.
-#}

with

clusters as (

    select * from {{ ref('int_contact_clusters') }}

),

previous_ids as (

    {{ previous_customer_ids() }}

),

-- every id issued before: a new id must not reuse one
issued_ids as (

    {{ previous_rows('marts', 'customer_id_history', {'customer_id': dbt.type_string()}) }}

    union

    select previous_customer_id from previous_ids

),

cluster_members as (

    select
        clusters.cluster_key,
        previous_ids.previous_customer_id,
        count(*) as n_records

    from clusters

    inner join previous_ids
        on clusters.contact_key = previous_ids.contact_key

    group by
        clusters.cluster_key,
        previous_ids.previous_customer_id

),

-- each previous id goes to the cluster holding most of its records
id_winners as (

    select
        cluster_key,
        previous_customer_id,
        n_records,
        row_number() over (
            partition by previous_customer_id
            order by n_records desc, cluster_key asc
        ) as rank_for_id

    from cluster_members

),

-- each cluster keeps, of the ids it won, the one with most records
cluster_choice as (

    select
        cluster_key,
        previous_customer_id,
        row_number() over (
            partition by cluster_key
            order by n_records desc, previous_customer_id asc
        ) as rank_for_cluster

    from id_winners

    where rank_for_id = 1

),

kept as (

    select
        cluster_key,
        previous_customer_id as customer_id

    from cluster_choice

    where rank_for_cluster = 1

),

all_clusters as (

    select distinct cluster_key from clusters

),

candidates as (

    select
        all_clusters.cluster_key,
        kept.customer_id as kept_customer_id,
        {{ customer_id_from_key('all_clusters.cluster_key') }} as fresh_id,
        {{ customer_id_from_key(dbt.concat(["'split:'", 'all_clusters.cluster_key'])) }}
            as fresh_split_id

    from all_clusters

    left join kept
        on all_clusters.cluster_key = kept.cluster_key

),

final as (

    select
        candidates.cluster_key,
        case
            when candidates.kept_customer_id is not null then candidates.kept_customer_id
            when issued.customer_id is null then candidates.fresh_id
            else candidates.fresh_split_id
        end as customer_id,
        candidates.kept_customer_id is not null as is_existing_id

    from candidates

    -- an equality alone: with `kept_customer_id is null` in the ON clause as well,
    -- DuckDB planned a nested-loop join (19 s at 250k clusters, quadratic). The
    -- CASE above looks at issued only for clusters without a kept id; issued_ids is
    -- distinct, so this join never adds rows.
    left join issued_ids as issued
        on candidates.fresh_id = issued.customer_id

)

select * from final
