"""Writing one staged file, inside its transaction: every row that is not loaded is
classified with why (`classify_rows`: contract violations, key conflicts, repeats
within the file, repeats of the current version already loaded), then set-based
``INSERT ... SELECT`` statements fill the entity table, ``quarantine``,
``duplicates``, ``value_issues`` and ``column_profile``; the counts must reconcile,
and the file's ledger row is written last (`write_loaded_file`)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import duckdb

from crm.contract import Entity
from crm.faults import fault_point
from crm.load.numbering import RowNumbering
from crm.load.readers.staged import StagedFile
from crm.load.results import LoadIntegrityError
from crm.load.store import utc_now
from crm.rawstore import quote_ident, quote_literal


@dataclass
class RowCounts:
    """How many rows of a file went where (plus its value issues): the ledger's counts."""

    loaded: int
    quarantined: int
    duplicate: int
    issues: int


def _key_text_sql(entity: Entity, alias: str) -> str:
    """'order_id=O1' (or 'a=x, b=y'): how keys are shown in reasons and duplicates."""
    parts = [
        f"{quote_literal(k + '=')} || coalesce({alias}.{quote_ident(k)}::VARCHAR, 'null')"
        for k in entity.key
    ]
    return " || ', ' || ".join(parts)


def classify_rows(con: duckdb.DuckDBPyConnection, entity: Entity) -> None:
    """``_ld_out``: every row that is not loaded, with why (set-based, by ordinal k).

    Precedence: contract violations, then key conflicts within the file, then
    exact repeats within the file (the first occurrence is kept), then rows
    equal to the current version of their key in the raw table.
    """
    keys = ", ".join(quote_ident(k) for k in entity.key)
    on = " AND ".join(f"r.{quote_ident(k)} = g.{quote_ident(k)}" for k in entity.key)
    con.execute(
        f"""CREATE TEMP TABLE _ld_keys AS
        SELECT {keys}, count(*) AS n, min(_row_hash) <> max(_row_hash) AS conflict,
               min(k) AS first_k
        FROM _ld_rows WHERE _reasons IS NULL GROUP BY {keys} HAVING count(*) > 1"""
    )
    con.execute(
        f"""CREATE TEMP TABLE _ld_out AS
        SELECT k, 'quarantine' AS kind, _reasons AS reason, NULL::BIGINT AS first_k,
               NULL::VARCHAR AS prior_file, NULL::VARCHAR AS prior_load
        FROM _ld_rows WHERE _reasons IS NOT NULL
        UNION ALL
        SELECT r.k,
               CASE WHEN g.conflict THEN 'quarantine' ELSE 'duplicate' END,
               CASE WHEN g.conflict THEN 'key conflict: ' || g.n || ' rows share '
                    || {_key_text_sql(entity, "g")} || ' with different values' END,
               CASE WHEN NOT g.conflict THEN g.first_k END, NULL, NULL
        FROM _ld_rows r JOIN _ld_keys g ON {on}
        WHERE r._reasons IS NULL AND (g.conflict OR r.k <> g.first_k)"""
    )
    table = f"main.{quote_ident(entity.name)}"
    if con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 1)").fetchone()[0]:
        on_t = " AND ".join(f"c.{quote_ident(k)} = t.{quote_ident(k)}" for k in entity.key)
        # A row equal to the *current* version of its key is a repeat of an
        # overlapping extract; one equal to an older version only is a
        # change back, loaded as a new version so staging shows it.
        con.execute(
            f"""CREATE TEMP TABLE _ld_prior AS
            SELECT c.k, 'duplicate' AS kind, NULL::VARCHAR AS reason, NULL::BIGINT AS first_k,
                   max_by(t._file_name, t._loaded_at) AS prior_file,
                   max_by(t._load_id, t._loaded_at) AS prior_load
            FROM (SELECT r.k, {", ".join("r." + quote_ident(k) for k in entity.key)}, r._row_hash
                  FROM _ld_rows r ANTI JOIN _ld_out o ON o.k = r.k WHERE r._reasons IS NULL) c
            JOIN {table} t ON {on_t}
            GROUP BY c.k, c._row_hash
            HAVING max_by(t._row_hash, t._loaded_at) = c._row_hash"""
        )
        con.execute("INSERT INTO _ld_out SELECT * FROM _ld_prior")


def _sql_literal(value: object) -> str:
    """A Python value as a SQL literal.

    The loader inlines its few per-file values instead of binding parameters:
    DuckDB's Python client imports pandas (~1 s) on the first bound parameter.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, list):
        return "[" + ", ".join(_sql_literal(v) for v in value) + "]::VARCHAR[]"
    return quote_literal(str(value))


def _bind_params(sql: str, params: dict[str, object]) -> str:
    """Replace ``$name`` placeholders by literals, in one pass (a value may contain '$')."""
    return re.sub(
        r"\$(\w+)",
        lambda m: _sql_literal(params[m[1]]) if m[1] in params else m[0],
        sql,
    )


def _run_insert(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]) -> int:
    """Execute an INSERT ... SELECT with ``$name`` placeholders; return the rows inserted."""
    return con.execute(_bind_params(sql, params)).fetchone()[0]


def _insert_entity_rows(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    numbering: RowNumbering,
    params: dict[str, object],
) -> int:
    cols = [quote_ident(c) for c in entity.column_names]
    lineage = ["_load_id", "_file_name", "_row_number", "_row_hash", "_extra", "_loaded_at"]
    good = numbering.with_rn(
        "SELECT r.* EXCLUDE (_reasons, _issues, _invalid) FROM _ld_rows r "
        "ANTI JOIN _ld_out o ON o.k = r.k WHERE r._reasons IS NULL"
    )
    return _run_insert(
        con,
        f"""INSERT INTO main.{quote_ident(entity.name)} ({", ".join(cols + lineage)})
        SELECT {", ".join(cols)}, $load_id, $file_name, rn, _row_hash, _extra, $loaded_at
        FROM {good}""",
        params,
    )


def _insert_quarantine(
    con: duckdb.DuckDBPyConnection, staged: StagedFile, params: dict[str, object]
) -> int:
    bad = staged.numbering.with_rn(
        f"SELECT o.k, {staged.raw_expr} AS raw_row, o.reason "
        f"FROM _ld_out o JOIN {staged.raw_source} src ON src.k = o.k WHERE o.kind = 'quarantine'"
    )
    return _run_insert(
        con,
        f"""INSERT INTO main.quarantine
        SELECT $load_id, $entity, $file_name, rn, raw_row, reason FROM (
            SELECT rn, raw_row, reason FROM _ld_rej
            UNION ALL SELECT rn, raw_row, reason FROM {bad}) ORDER BY rn""",
        params,
    )


def _insert_duplicates(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    numbering: RowNumbering,
    params: dict[str, object],
) -> int:
    dups = numbering.with_rn(
        "SELECT o.k, o.first_k, o.prior_file, o.prior_load, "
        f"{_key_text_sql(entity, 'r')} AS row_key "
        "FROM _ld_out o JOIN _ld_rows r ON r.k = o.k WHERE o.kind = 'duplicate'"
    )
    firsts = numbering.with_rn(
        "SELECT DISTINCT first_k AS k FROM _ld_out WHERE kind = 'duplicate' AND first_k IS NOT NULL"
    )
    return _run_insert(
        con,
        f"""INSERT INTO main.duplicates
        SELECT $load_id, $entity, $file_name, d.rn, d.row_key,
               CASE WHEN d.first_k IS NOT NULL
                    THEN 'exact repeat of row ' || f.rn || ' in this file'
                    ELSE 'already loaded from ' || d.prior_file
                         || ' (load ' || d.prior_load || ')' END
        FROM {dups} d LEFT JOIN {firsts} f ON f.k = d.first_k
        ORDER BY d.rn""",
        params,
    )


def _insert_value_issues(
    con: duckdb.DuckDBPyConnection, numbering: RowNumbering, params: dict[str, object]
) -> int:
    issues = numbering.with_rn(
        "SELECT r.k, unnest(r._issues) AS issue FROM _ld_rows r "
        "ANTI JOIN _ld_out o ON o.k = r.k WHERE r._issues IS NOT NULL AND r._reasons IS NULL"
    )
    return _run_insert(
        con,
        f"""INSERT INTO main.value_issues
        SELECT $load_id, $entity, $file_name, rn, struct_extract(issue, 'column_name'),
               struct_extract(issue, 'raw_value'), struct_extract(issue, 'reason')
        FROM {issues} ORDER BY rn, struct_extract(issue, 'column_name')""",
        params,
    )


def _insert_column_profile(
    con: duckdb.DuckDBPyConnection, entity: Entity, staged: StagedFile, params: dict[str, object]
) -> None:
    """One row per contract column: in the file's header, values present, values invalid.

    The quality gate compares it with earlier files: a column the entity's files
    always carried and this one lacks was renamed or dropped; one whose values
    mostly stop parsing was retyped.
    """
    counts = ", ".join(f"count({quote_ident(c.name)})" for c in entity.columns)
    valid = con.execute(f"SELECT {counts} FROM _ld_rows").fetchone()
    invalid = {
        name: (n, example)
        for name, n, example in con.execute(
            "SELECT i.column_name, count(*), min(i.raw_value) FROM "
            "(SELECT unnest(_invalid) AS i FROM _ld_rows WHERE _invalid IS NOT NULL) "
            "GROUP BY ALL"
        ).fetchall()
    }
    rows = []
    for col, n_valid in zip(entity.columns, valid, strict=True):
        n_invalid, example = invalid.get(col.name, (0, None))
        rows.append(
            (
                params["load_id"],
                entity.name,
                params["file_name"],
                col.name,
                col.name in staged.in_file,
                n_valid + n_invalid,
                n_invalid,
                example,
            )
        )
    con.executemany("INSERT INTO main.column_profile VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


def insert_ledger(con: duckdb.DuckDBPyConnection, row: dict[str, object]) -> None:
    """Write the file's ledger row (the last statement of its transaction)."""
    values = ", ".join(_sql_literal(v) for v in row.values())
    con.execute(f"INSERT INTO main.load_ledger ({', '.join(row)}) VALUES ({values})")


def _write_staged_rows(
    con: duckdb.DuckDBPyConnection, entity: Entity, staged: StagedFile, params: dict[str, object]
) -> RowCounts:
    classify_rows(con, entity)
    quarantined = _insert_quarantine(con, staged, params)
    # The raw text was only needed for quarantined rows: free it before the big insert.
    con.execute("DROP TABLE IF EXISTS temp._ld_scan")
    loaded = _insert_entity_rows(con, entity, staged.numbering, params)
    duplicate = _insert_duplicates(con, entity, staged.numbering, params)
    issues = _insert_value_issues(con, staged.numbering, params)
    _insert_column_profile(con, entity, staged, params)
    rows_in_file = staged.rows + staged.rejected
    if loaded + quarantined + duplicate != rows_in_file:
        raise LoadIntegrityError(
            f"{params['file_name']}: rows in file {rows_in_file} != loaded {loaded} + "
            f"quarantined {quarantined} + duplicates {duplicate}"
        )
    return RowCounts(loaded, quarantined, duplicate, issues)


def write_loaded_file(
    con: duckdb.DuckDBPyConnection, entity: Entity, staged: StagedFile, ledger: dict[str, object]
) -> RowCounts:
    """All writes of a loaded file; the ledger row goes last (called inside the transaction)."""
    params: dict[str, object] = {
        "load_id": ledger["load_id"],
        "entity": entity.name,
        "file_name": ledger["file_name"],
        "loaded_at": ledger["started_at"],
    }
    counts = _write_staged_rows(con, entity, staged, params)
    ledger.update(
        rows_in_file=staged.rows + staged.rejected,
        rows_loaded=counts.loaded,
        rows_quarantined=counts.quarantined,
        rows_duplicate=counts.duplicate,
        n_value_issues=counts.issues,
        extra_columns=staged.extra_columns or None,
        notes="; ".join(staged.notes) or None,
        finished_at=utc_now(),
    )
    fault_point("load:before_ledger")
    insert_ledger(con, ledger)
    return counts
