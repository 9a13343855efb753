{{ config(meta={'dagster': {'ref': {'name': 'customer_segment_history'}}}) }}

{#-
    customer_segment_history repeats the rules of customer_rfm and of the
    BG/NBD P(alive) on every snapshot; on as_of (periods_ago = 0) it must
    give exactly what those marts publish: the same customers in RFM, the
    same scores and segment, and the same P(alive) as customer_clv.
-#}

with

history as (

    select * from {{ ref('customer_segment_history') }}

    where periods_ago = 0

),

rfm as (

    select * from {{ ref('customer_rfm') }}

),

clv as (

    select * from {{ ref('customer_clv') }}

),

history_in_rfm as (

    select * from history

    where rfm_segment is not null

),

rfm_differences as (

    select
        coalesce(history_in_rfm.customer_id, rfm.customer_id) as customer_id,
        'rfm' as difference

    from history_in_rfm

    full outer join rfm
        on history_in_rfm.customer_id = rfm.customer_id

    where history_in_rfm.customer_id is null
        or rfm.customer_id is null
        or history_in_rfm.r_score <> rfm.r_score
        or history_in_rfm.f_score <> rfm.f_score
        or history_in_rfm.m_score <> rfm.m_score
        or history_in_rfm.rfm_segment <> rfm.rfm_segment

),

p_alive_differences as (

    select
        history.customer_id,
        'p_alive' as difference

    from history

    inner join clv
        on history.customer_id = clv.customer_id

    where (history.p_alive is null) <> (clv.p_alive is null)
        or abs(history.p_alive - clv.p_alive) > 1e-9

)

select * from rfm_differences

union all

select * from p_alive_differences
