{{ config(meta={'dagster': {'ref': {'name': 'segment_ranks'}}}) }}

{#-
    Every lifecycle stage and every segment of seeds/rfm_segments.csv has a
    rank in seeds/segment_ranks.csv: without one, a move to or from it would
    be 'lateral' whatever it is.
-#}
{%- set stages = ['prospect', 'new', 'active', 'reactivated', 'at_risk', 'lapsed'] -%}

with

lifecycle_stages as (

    {% for stage in stages -%}
    select
        'lifecycle_stage' as segmentation,
        '{{ stage }}' as segment
    {% if not loop.last %}
    union all

    {% endif -%}
    {%- endfor %}

),

rfm_segments as (

    select distinct
        'rfm_segment' as segmentation,
        rfm_segment as segment

    from {{ ref('rfm_segments') }}

),

segments as (

    select * from lifecycle_stages

    union all

    select * from rfm_segments

),

ranks as (

    select * from {{ ref('segment_ranks') }}

)

select segments.*

from segments

left join ranks
    on segments.segmentation = ranks.segmentation
    and segments.segment = ranks.segment

where ranks.segment_rank is null
