"""Staging a JSON lines file: read as whole text lines, each line parsed on its own
(an invalid line is quarantined with its line number, the others load), the keys of
all lines mapped to the contract; blank lines count for the line numbers but are not
records."""

from __future__ import annotations

from pathlib import Path

import duckdb

from crm.contract import Entity
from crm.load.discovery import InboxFile
from crm.load.numbering import RowNumbering, build_asof_map
from crm.load.readers.headers import (
    apply_column_mapping,
    columns_from_settings,
    names_found_message,
    normalise_name,
)
from crm.load.readers.staged import (
    READ_ERRORS,
    REJECTED_LINES_SQL,
    STORE_REJECTS_OPTIONS,
    StagedFile,
    create_typed_rows,
    scan_failure,
    typed_format_settings,
)
from crm.load.results import FileRejected
from crm.load.values import TRIM_RE, typed_rows_sql
from crm.rawstore import quote_literal

# A delimiter that never occurs in text, to read a file as whole lines.
_LINE_DELIM_SQL = "E'\\x1f\\x1e\\x1d'"


def _whole_lines_reader_sql(path: Path, extra: str = "") -> str:
    """read_csv returning whole lines: one VARCHAR column, no quoting, an absent delimiter."""
    return (
        f"read_csv({quote_literal(str(path))}, header=false, auto_detect=false, "
        "columns={'l': 'VARCHAR'}, "
        f"delim={_LINE_DELIM_SQL}, quote='', escape=''{extra})"
    )


def _json_path_sql(key: str) -> str:
    return quote_literal('$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"')


def stage_jsonl(con: duckdb.DuckDBPyConnection, entity: Entity, f: InboxFile) -> StagedFile:
    """JSONL, read as lines and parsed line by line (set-based).

    DuckDB's read_json with ignore_errors mangles the lines after a broken
    one, so the file is read as text lines (invalid UTF-8 lines are rejected
    by the reader with their line number) and each line is parsed on its own.
    Blank lines count for the line numbers but are not records.
    """
    lines_reader = _whole_lines_reader_sql(f.path, STORE_REJECTS_OPTIONS)
    try:
        con.execute(f"CREATE TEMP TABLE _ld_lines AS SELECT l FROM {lines_reader}")
    except READ_ERRORS as exc:
        raise scan_failure(exc, "JSON lines") from exc
    con.execute(f"CREATE TEMP TABLE _ld_rejl AS {REJECTED_LINES_SQL}")
    numbering = RowNumbering("offset", 0)
    if con.execute("SELECT count(*) FROM _ld_rejl").fetchone()[0]:
        build_asof_map(con, "SELECT line FROM _ld_rejl", 0)
        numbering = RowNumbering("asof", 0)
    lines = numbering.with_rn("SELECT rowid + 1 AS k, l FROM _ld_lines")
    con.execute(
        f"""CREATE TEMP TABLE _ld_scan AS
        SELECT rn AS k, l,
               CASE WHEN NOT json_valid(l) THEN 'invalid JSON'
                    WHEN json_type(l) <> 'OBJECT'
                    THEN 'not a JSON object but ' || lower(json_type(l)) END AS bad
        FROM {lines} WHERE nullif(regexp_replace(l, {TRIM_RE}, '', 'g'), '') IS NOT NULL"""
    )
    con.execute(
        """CREATE TEMP TABLE _ld_rej AS
        SELECT line AS rn, raw_row, reason FROM _ld_rejl
        UNION ALL SELECT k, l, bad FROM _ld_scan WHERE bad IS NOT NULL"""
    )
    con.execute("DROP TABLE _ld_lines")
    n_rej = con.execute("SELECT count(*) FROM _ld_rej").fetchone()[0]
    n_good = con.execute("SELECT count(*) FROM _ld_scan WHERE bad IS NULL").fetchone()[0]
    if n_good == 0:
        if n_rej == 0:
            raise FileRejected("empty file: no JSON lines")
        first = con.execute("SELECT min(rn) FROM _ld_rej").fetchone()[0]
        raise FileRejected(f"no line is a valid JSON object (first bad line: {first})")
    keys = [
        row[0]
        for row in con.execute(
            "SELECT DISTINCT unnest(json_keys(l)) AS key FROM _ld_scan "
            "WHERE bad IS NULL ORDER BY key"
        ).fetchall()
    ]
    # Several raw keys may normalise to one name ("Order ID", "order_id"):
    # coalesce them rather than reject a file that is fine line by line.
    by_name: dict[str, list[str]] = {}
    for i, key in enumerate(apply_column_mapping(keys, f.source)):
        by_name.setdefault(normalise_name(key) or f"column_{i + 1}", []).append(f"_a[{i + 1}]")
    provided = columns_from_settings(f.source, keys, [f"_a[{i + 1}]" for i in range(len(keys))])
    missing = [c for c in entity.required if c not in by_name and c not in provided]
    if missing:
        raise FileRejected(
            f"required field(s) missing: {', '.join(missing)} appear in no line. "
            f"{names_found_message(keys, 'field')}."
        )
    known = set(entity.column_names)
    paths = "[" + ", ".join(_json_path_sql(k) for k in keys) + "]"
    source = f"(SELECT k, json_extract_string(l, {paths}) AS _a FROM _ld_scan WHERE bad IS NULL)"
    columns = {name: exprs for name, exprs in by_name.items() if name in known}
    columns.update(provided)
    extras = [
        (name, f"coalesce({', '.join(exprs)})" if len(exprs) > 1 else exprs[0])
        for name, exprs in by_name.items()
        if name not in known
    ]
    n_rows = create_typed_rows(
        con, typed_rows_sql(entity, source, columns, extras, typed_format_settings(f.source))
    )
    return StagedFile(
        n_rows,
        n_rej,
        [n for n, _ in extras],
        RowNumbering("offset", 0),
        "_ld_scan",
        "l",
        in_file=list(columns),
    )
