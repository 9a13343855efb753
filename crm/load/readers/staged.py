"""What every reader shares: the result of staging a file (`StagedFile`), the DuckDB
errors that mean "this file cannot be read" (`READ_ERRORS`), the reader options and
SQL that collect the lines a CSV reader rejects, the raw row of a record as JSON, and
the step that turns ``_ld_scan`` into ``_ld_rows``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import duckdb

from crm.load.numbering import RowNumbering
from crm.load.results import FileRejected
from crm.rawstore import quote_literal
from crm.sources import Source

# DuckDB errors that mean "this file cannot be read", as opposed to a bug in
# the loader (binder/catalog errors) or a resource problem (out of memory,
# interrupt) that must not mark the file as rejected forever.
READ_ERRORS: tuple[type[Exception], ...] = (
    duckdb.InvalidInputException,
    duckdb.IOException,
    duckdb.ConversionException,
    duckdb.NotImplementedException,
    duckdb.SerializationException,
)


@dataclass
class StagedFile:
    """What staging one file left in the temporary tables, and how to number and show its rows."""

    rows: int  # rows in _ld_rows
    rejected: int  # rows in _ld_rej
    extra_columns: list[str]
    numbering: RowNumbering
    raw_source: str  # subquery: k and the raw columns of every scanned row
    raw_expr: str  # the raw row as text, from raw_source's columns
    notes: list[str] = field(default_factory=list)
    in_file: list[str] = field(default_factory=list)  # contract columns the file has


def scan_failure(exc: Exception, fmt: str) -> FileRejected:
    """The rejection of a file whose scan failed with a read error (its first line)."""
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return FileRejected(f"cannot read the file as {fmt}: {message}")


def raw_row_json_sql(names: list[str]) -> str:
    """The raw row of a CSV/Parquet record: a JSON object of its original header names and text."""
    pairs = ", ".join(f"{quote_literal(n)}, c{i}" for i, n in enumerate(names))
    return "json_object(" + pairs + ")::VARCHAR"


# read_csv options that keep the lines the reader cannot split in ``_ld_rejects``.
STORE_REJECTS_OPTIONS = (
    ", store_rejects=true, ignore_errors=true,"
    " rejects_table='_ld_rejects', rejects_scan='_ld_rejects_scan'"
)

# One row per line the reader rejected (a line can have several errors: the first one is kept).
REJECTED_LINES_SQL = """
    SELECT line::BIGINT AS line,
           ltrim(min_by(csv_line, byte_position), chr(13) || chr(10)) AS raw_row,
           'unreadable line: ' || min_by(lower(error_type::VARCHAR) || ' (' || error_message || ')',
                                         byte_position) AS reason
    FROM _ld_rejects GROUP BY line"""


def create_typed_rows(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    """``_ld_rows`` from a `typed_rows_sql` SELECT; returns its row count."""
    con.execute(f"CREATE TEMP TABLE _ld_rows AS {sql}")
    return con.execute("SELECT count(*) FROM _ld_rows").fetchone()[0]


def typed_format_settings(source: Source | None) -> Source | None:
    """Import settings for Parquet and JSON lines: their numbers and dates have types
    (or ISO text), so only the time zone of naive timestamps applies, not the
    separators and formats of text exports."""
    if source is None:
        return None
    return dataclasses.replace(
        source, decimal=".", thousands=None, date_format=(), timestamp_format=()
    )
