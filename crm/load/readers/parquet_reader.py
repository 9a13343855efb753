"""Staging a Parquet file: its columns mapped to the contract, every value cast to text
so that the same checks as for CSV apply, row numbers being 1-based row positions."""

from __future__ import annotations

import duckdb

from crm.contract import Entity
from crm.load.discovery import InboxFile
from crm.load.numbering import RowNumbering
from crm.load.readers.headers import map_file_columns
from crm.load.readers.staged import (
    READ_ERRORS,
    StagedFile,
    create_typed_rows,
    raw_row_json_sql,
    scan_failure,
    typed_format_settings,
)
from crm.load.values import typed_rows_sql
from crm.rawstore import quote_ident, quote_literal


def stage_parquet(con: duckdb.DuckDBPyConnection, entity: Entity, f: InboxFile) -> StagedFile:
    """Stage a Parquet file: every column as text, row numbers are 1-based positions."""
    path = quote_literal(str(f.path))
    try:
        names = [
            row[0] for row in con.execute(f"DESCRIBE SELECT * FROM read_parquet({path})").fetchall()
        ]
    except READ_ERRORS as exc:
        raise scan_failure(exc, "Parquet") from exc
    columns, extras = map_file_columns(entity, names, f.source)
    # Values are cast to text so that one code path checks every format.
    casts = ", ".join(f"CAST({quote_ident(n)} AS VARCHAR) AS c{i}" for i, n in enumerate(names))
    try:
        con.execute(
            f"""CREATE TEMP TABLE _ld_scan AS
            SELECT file_row_number + 1 AS k, {casts}
            FROM read_parquet({path}, file_row_number=true)"""
        )
    except READ_ERRORS as exc:
        raise scan_failure(exc, "Parquet") from exc
    n_rows = create_typed_rows(
        con, typed_rows_sql(entity, "_ld_scan", columns, extras, typed_format_settings(f.source))
    )
    con.execute("CREATE TEMP TABLE _ld_rej (rn BIGINT, raw_row VARCHAR, reason VARCHAR)")
    return StagedFile(
        n_rows,
        0,
        [n for n, _ in extras],
        RowNumbering("offset", 0),
        "_ld_scan",
        raw_row_json_sql(names),
        in_file=list(columns),
    )
