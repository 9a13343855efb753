{#-
    rfm_scores(partition_by=none): the three RFM quintile columns r_score,
    f_score, m_score (1-5, higher is better) over rows with recency_days,
    frequency, monetary and customer_id, by NTILE(5) with a unique tiebreaker
    so the scores are the same on every run and engine. One definition for
    customer_rfm (as_of) and customer_segment_history (partition_by =
    'snapshot_date': the same rules on every snapshot).
-#}
{% macro rfm_scores(partition_by=none) -%}
    {%- set partition = 'partition by ' ~ partition_by ~ ' ' if partition_by else '' -%}
    {%- set orders = {
        'r_score': 'recency_days desc, frequency asc, monetary asc nulls first, customer_id asc',
        'f_score': 'frequency asc, monetary asc nulls first, recency_days desc, customer_id asc',
        'm_score': 'monetary asc nulls first, frequency asc, customer_id asc',
    } -%}
    {%- for score, order in orders.items() %}
        cast(ntile(5) over ({{ partition }}order by {{ order }}) as integer) as {{ score }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}
