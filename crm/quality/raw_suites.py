"""The raw-entity suites (``expectations/raw__<entity>.json``), written from the contract.

One suite per contract entity checks the files loaded since the last
publication, one batch row per file (the latest load of each file name),
aggregated over every row the file brought (exact, not sampled):

- the reject rate (quarantined / rows in file), for files of at least
  ``MIN_ROWS_FOR_RATE`` rows: critical above ``REJECT_RATE_CRITICAL``, a warning
  above ``REJECT_RATE_WARNING`` (null keys, unparseable required values and
  broken lines all land in the quarantine, so a spike of them shows here);
- schema drift, critical, naming the column: a header without a required
  column (the file is rejected whole: a rename, a wrong delimiter); a contract
  column that every earlier file of the entity carried, missing now while a
  similar unknown column appeared (renamed: Jaro-Winkler similarity of at least
  ``RENAME_SIMILARITY``, or one name contains the other); a column whose present
  values mostly fail to parse (retyped: at least ``RETYPED_MIN_VALUES`` values
  and ``RETYPED_SHARE`` of them). Such a column missing with nothing like it
  in its place is a warning (dropped? a source that never sends it is normal);
- files rejected whole for other reasons (empty, truncated): a warning, the file
  and its reason are in the ledger;
- counts that reconcile: rows in file = loaded + quarantined + duplicates, and
  the rows the ledger says were loaded are in the table;
- what the loader promises about the loaded rows: required values present,
  enumerated values allowed, numbers in range, and no row repeating the
  version of its key it follows (the same file twice, overlapping extracts).

The files are generated so that they follow the contract; a test checks that
the committed files equal the generated ones. Regenerate with
``python -m crm.quality.raw_suites``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from crm.contract import ENTITIES, Entity
from crm.quality.suites import DEFAULT_SUITES_DIR
from crm.rawstore import quote_ident
from crm.rawstore import quote_literal as _lit

REJECT_RATE_CRITICAL = 0.2
REJECT_RATE_WARNING = 0.05
MIN_ROWS_FOR_RATE = 20
RETYPED_MIN_VALUES = 10
RETYPED_SHARE = 0.5
RENAME_SIMILARITY = 0.8


def _between(column: str, low: float, high: float, severity: str) -> dict:
    return {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": column, "min_value": low, "max_value": high},
        "severity": severity,
    }


def _zero(column: str) -> dict:
    return _between(column, 0, 0, "critical")


def _content_checks(entity: Entity) -> dict[str, str]:
    """Batch column -> count-if over the file's loaded rows, for the rules that apply."""
    checks = {}
    required = [quote_ident(c) for c in entity.required]
    if required:
        checks["missing_required"] = " or ".join(f"{c} is null" for c in required)
    allowed = [
        f"{quote_ident(c.name)} not in ({', '.join(map(_lit, c.allowed))})"
        for c in entity.columns
        if c.allowed
    ]
    if allowed:
        checks["not_allowed"] = " or ".join(allowed)
    ranges = []
    for c in entity.columns:
        if c.minimum is not None:
            ranges.append(f"{quote_ident(c.name)} < {c.minimum:g}")
        if c.maximum is not None:
            ranges.append(f"{quote_ident(c.name)} > {c.maximum:g}")
    if ranges:
        checks["out_of_range"] = " or ".join(ranges)
    return checks


def batch_sql(entity: Entity) -> str:
    name = _lit(entity.name)
    table = f"raw.{quote_ident(entity.name)}"
    keys = [quote_ident(k) for k in entity.key]
    on = " and ".join(f"o.{k} = n.{k}" for k in keys)
    checks = _content_checks(entity)
    counts = "".join(f", count(*) filter (where {cond}) as {col}" for col, cond in checks.items())
    picked = "".join(f", coalesce(c.{col}, 0) as {col}" for col in checks)
    # A personal column's invalid value is personal data: the gate's messages end up
    # in the analytics file (meta.quality_results) and the data docs, so name no value.
    personal = [_lit(c.name) for c in entity.columns if c.pii]
    example = "'''' || example_invalid || ''''"
    if personal:
        example = (
            f"case when column_name in ({', '.join(personal)}) "
            f"then 'a personal value, not shown' else {example} end"
        )
    return f"""
with files as (
    select * from raw.load_ledger
    where entity = {name} and started_at > {{since}}
    qualify row_number() over (partition by file_name order by started_at desc) = 1
),
always_before as (
    select p.column_name
    from raw.column_profile p join raw.load_ledger l using (load_id)
    where p.entity = {name} and l.started_at <= {{since}} and l.rows_in_file > 0
    group by p.column_name having bool_and(p.in_file)
),
profile as (
    select p.*, b.column_name is not null and not p.in_file as went_missing,
        list_filter(coalesce(f.extra_columns, []), x ->
            jaro_winkler_similarity(x, p.column_name) >= {RENAME_SIMILARITY}
            or contains(x, p.column_name) or contains(p.column_name, x)) as renamed_to
    from raw.column_profile p
    join files f using (load_id)
    left join always_before b using (column_name)
),
drift as (
    select load_id,
        string_agg(case
            when went_missing and len(renamed_to) > 0
                then 'column ' || column_name || ' is missing and '
                    || array_to_string(renamed_to, ', ')
                    || ' is new (every earlier file had ' || column_name || '): renamed?'
            when values_invalid >= {RETYPED_MIN_VALUES}
                and values_invalid >= {RETYPED_SHARE} * values_present
                then 'column ' || column_name || ': ' || values_invalid || ' of '
                    || values_present || ' values are invalid (e.g. '
                    || {example} || '): retyped?'
            end, '; ' order by column_name) as problem,
        string_agg(case when went_missing and len(renamed_to) = 0
            then column_name end, ', ' order by column_name) as dropped
    from profile
    group by load_id
),
content as (
    select _load_id as load_id, count(*) as rows_in_table{counts}
    from {table} where _load_id in (select load_id from files)
    group by _load_id
),
repeats as (
    select load_id, count(*) filter (where previous_hash = _row_hash) as repeated_versions
    from (
        select n._load_id as load_id, n._row_hash,
               max_by(o._row_hash, o._loaded_at) as previous_hash
        from {table} n join {table} o on {on} and o._loaded_at < n._loaded_at
        where n._load_id in (select load_id from files)
        group by n._load_id, n._row_number, n._row_hash
    )
    group by load_id
)
select
    f.file_name,
    f.status,
    f.rows_in_file,
    case when f.rows_in_file >= {MIN_ROWS_FOR_RATE}
        then cast(f.rows_quarantined as double) / f.rows_in_file end as reject_rate,
    d.problem as schema_problem,
    case when d.dropped is not null then 'column(s) ' || d.dropped
        || ' missing (every earlier file had them): dropped?' end as dropped_columns,
    case when f.status = 'rejected' and coalesce(f.blocks_publication, false) then f.error end
        as rejected_blocking,
    case when f.status = 'rejected' and not coalesce(f.blocks_publication, false) then f.error end
        as rejected_because,
    case when f.status = 'loaded'
        then f.rows_in_file - f.rows_loaded - f.rows_quarantined - f.rows_duplicate
        else 0 end as unreconciled_rows,
    case when f.status = 'loaded' then f.rows_loaded - coalesce(c.rows_in_table, 0) else 0 end
        as rows_missing_from_table{picked},
    coalesce(r.repeated_versions, 0) as repeated_versions
from files f
left join drift d using (load_id)
left join content c using (load_id)
left join repeats r using (load_id)
order by f.file_name
""".strip()


def raw_suite(entity: Entity) -> dict:
    checks = _content_checks(entity)
    expectations = [
        _between("reject_rate", 0, REJECT_RATE_CRITICAL, "critical"),
        _between("reject_rate", 0, REJECT_RATE_WARNING, "warning"),
        {
            "type": "expect_column_values_to_be_null",
            "kwargs": {"column": "schema_problem"},
            "severity": "critical",
        },
        {
            "type": "expect_column_values_to_be_null",
            "kwargs": {"column": "dropped_columns"},
            "severity": "warning",
        },
        {
            "type": "expect_column_values_to_be_null",
            "kwargs": {"column": "rejected_blocking"},
            "severity": "critical",
        },
        {
            "type": "expect_column_values_to_be_null",
            "kwargs": {"column": "rejected_because"},
            "severity": "warning",
        },
        _zero("unreconciled_rows"),
        _zero("rows_missing_from_table"),
        *(_zero(col) for col in checks),
        _zero("repeated_versions"),
    ]
    description = (
        f"The {entity.name} files loaded since the last publication, one row per file, "
        f"exact over their rows: reject rate (critical above {REJECT_RATE_CRITICAL:.0%}, "
        f"a warning above {REJECT_RATE_WARNING:.0%}, files of {MIN_ROWS_FOR_RATE}+ rows), "
        "schema drift of loaded files naming the column (renamed or retyped: critical; "
        "dropped: warning), files rejected whole (a warning; critical where "
        "CRM_REJECTED_FILE_BLOCKS or the source's rejected_file_blocks says so), "
        "counts that reconcile, the contract's rules on the loaded rows, and no repeated "
        "versions (the same file twice, overlapping extracts). Generated from the contract "
        "by crm/quality/raw_suites.py."
    )
    return {
        "name": f"raw.{entity.name}",
        "meta": {
            "crm": {
                "asset": ["raw", entity.name],
                "batch_kind": "aggregate",
                "requires": ["raw"],
                "row_id_columns": ["file_name"],
                "description": description,
                "batch": batch_sql(entity),
            }
        },
        "expectations": expectations,
    }


def render(entity: Entity) -> str:
    return json.dumps(raw_suite(entity), indent=2) + "\n"


def suite_path(entity: Entity, directory: Path = DEFAULT_SUITES_DIR) -> Path:
    return directory / f"raw__{entity.name}.json"


def write_raw_suites(directory: Path = DEFAULT_SUITES_DIR) -> list[Path]:
    paths = []
    for entity in ENTITIES.values():
        path = suite_path(entity, directory)
        path.write_text(render(entity))
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_raw_suites(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SUITES_DIR):
        print(written)
