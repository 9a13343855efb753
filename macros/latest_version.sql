{#-
    latest_version(relation, key_columns, prefer=[]): the raw store is
    append-only history, so one key may have several rows (a later file
    brings a new version). Returns a SELECT of the relation's rows that keeps
    ONE row per key: the latest version, ordered by the `prefer` expressions
    first (e.g. ['updated_at desc nulls last'] for contacts), then latest
    _loaded_at, then _load_id, then _row_number (all descending).

    Written with a window in a subquery (no QUALIFY) so it runs on Spark too;
    the lineage columns make the order unique.
-#}
{% macro latest_version(relation, key_columns, prefer=[]) -%}
    {%- set order_by = prefer + [
        '_loaded_at desc nulls last',
        '_load_id desc nulls last',
        '_row_number desc nulls last',
    ] -%}
    select versions.*
    from (
        select
            raw_rows.*,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by {{ order_by | join(', ') }}
            ) as _version_rank
        from {{ relation }} as raw_rows
    ) as versions
    where versions._version_rank = 1
{%- endmacro %}
