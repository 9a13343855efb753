{{ config(meta={'dagster': {'ref': {'name': 'rfm_segments'}}}) }}

-- The RFM segment map (seeds/rfm_segments.csv) is editable but must give every
-- one of the 125 (r, f, m) cells exactly one segment, and its rfm_cell must
-- spell the scores, or customer_rfm would leave customers without a segment.
with

segments as (

    select * from {{ ref('rfm_segments') }}

),

cells as (

    select
        count(*) as n_rows,
        count(distinct rfm_cell) as n_cells,
        sum(case when r_score between 1 and 5 and f_score between 1 and 5 and m_score between 1 and 5 then 1 else 0 end)
            as n_valid_scores,
        sum(case when rfm_segment is null then 1 else 0 end) as n_without_segment,
        sum(
            case
                when rfm_cell = {{ dbt.concat([
                    dbt.cast('r_score', dbt.type_string()),
                    dbt.cast('f_score', dbt.type_string()),
                    dbt.cast('m_score', dbt.type_string()),
                ]) }} then 0
                else 1
            end
        ) as n_misspelled_cells

    from segments

)

select *

from cells

where n_rows != 125
    or n_cells != 125
    or n_valid_scores != 125
    or n_without_segment != 0
    or n_misspelled_cells != 0
