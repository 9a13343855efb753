{#-
    How this refresh resolved identities: the model and its link threshold, the
    model's own estimate of the precision and recall of the links it kept, and
    the evidence and clusters they made. Grain: one row (this refresh).
-#}
{%- set threshold_var = var('identity_match_threshold') -%}

with

identity_model as (

    select * from {{ ref('int_identity_model') }}

),

pairs as (

    select * from {{ ref('int_contact_match_pairs_all') }}

),

edges as (

    select * from {{ ref('int_identity_edges') }}

),

threshold as (

    select
        model_version,
        -- the same in every refresh that uses the model: whether this refresh
        -- trained it is in intermediate.int_identity_model.model_note
        case when model_origin = 'trained' then 'warehouse' else model_origin end
            as model_origin,
        model_reason,
        trained_at,
        training_contacts,
        training_estimated_precision,
        training_estimated_recall,
        {{ 'link_threshold' if threshold_var is none else threshold_var }} as link_threshold

    from identity_model

),

-- the model's own estimates over the stored pairs (match probability >= 0.5):
-- precision = mean probability of the kept pairs, recall = their share of the
-- expected matches
estimates as (

    select
        count(*) as scored_pairs,
        count(case when pairs.match_probability >= threshold.link_threshold then 1 end)
            as pairs_above_threshold,
        avg(
            case
                when pairs.match_probability >= threshold.link_threshold
                    then pairs.match_probability
            end
        ) as estimated_precision,
        sum(
            case
                when pairs.match_probability >= threshold.link_threshold
                    then pairs.match_probability
                else 0
            end
        ) / nullif(sum(pairs.match_probability), 0) as estimated_recall

    from pairs

    cross join threshold

),

edge_counts as (

    select
        count(case when match_source = 'splink' then 1 end) as probabilistic_links,
        count(case when match_source = 'deterministic' then 1 end) as deterministic_links,
        count(case when match_source = 'manual' then 1 end) as manual_links

    from edges

),

cluster_sizes as (

    select * from {{ ref('identity_cluster_sizes') }}

),

cluster_counts as (

    select
        cast(sum(records) as bigint) as records,
        cast(sum(customers) as bigint) as customers,
        cast(sum(case when customer_records = 1 then customers else 0 end) as bigint)
            as single_record_customers,
        max(customer_records) as largest_customer_records

    from cluster_sizes

),

final as (

    select
        {{ as_of_date() }} as as_of,
        threshold.model_origin,
        threshold.model_version,
        threshold.model_reason,
        threshold.trained_at,
        threshold.training_contacts,
        threshold.link_threshold,
        estimates.estimated_precision,
        estimates.estimated_recall,
        threshold.training_estimated_precision,
        threshold.training_estimated_recall,
        estimates.scored_pairs,
        estimates.pairs_above_threshold,
        edge_counts.probabilistic_links,
        edge_counts.deterministic_links,
        edge_counts.manual_links,
        coalesce(cluster_counts.records, 0) as records,
        coalesce(cluster_counts.customers, 0) as customers,
        coalesce(cluster_counts.single_record_customers, 0) as single_record_customers,
        cluster_counts.largest_customer_records

    from threshold

    cross join estimates

    cross join edge_counts

    cross join cluster_counts

)

select * from final
