"""The raw store, landed for Spark: every raw table as a folder of Parquet files.

On Spark (CRM_ENGINE=spark) the DuckDB loader stays the one way into the
warehouse (quarantine, duplicates, ledger and reconciliation as on DuckDB), and
its raw store is the system of record; what the loader committed lands here as
Parquet files that Spark reads as external tables of the raw schema
(`crm_raw.<table>`, DECISIONS 79):

    <lake>/<table>/upto-<watermark>.parquet

One landing writes, for each raw table, one file with the rows of every load
since the last landing, named after the newest load's start (the ledger's
`started_at`, strictly increasing). The load ledger's file is written last, so
the ledger folder says how far landing got: a landing killed midway leaves
files newer than that (and hidden `.tmp` files), which the next landing removes
before it lands the same loads again. Nothing is lost or landed twice.
Files are written under a hidden name and renamed (Spark skips names that start
with a dot), so Spark never reads half a file.

Timestamps are written as UTC instants (Spark's `timestamp`); the raw store's
are UTC without a zone.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from crm.rawstore import BOOKKEEPING_TABLES, quote_ident, quote_literal, table_columns

LEDGER = "load_ledger"
PREFIX, SUFFIX = "upto-", ".parquet"
STAMP = "%Y%m%dT%H%M%S%f"
_NAME = re.compile(rf"^{PREFIX}(\d{{8}}T\d{{12}}){re.escape(SUFFIX)}$")

# The raw store's DuckDB types and the Spark SQL types their Parquet columns read as.
SPARK_TYPES = {
    "VARCHAR": "string",
    "BIGINT": "bigint",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "VARCHAR[]": "array<string>",
}
_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")


def spark_type(duckdb_type: str) -> str:
    """The Spark SQL type of a raw-store column type (NOT NULL is not carried)."""
    plain = duckdb_type.replace(" NOT NULL", "").strip().upper()
    if decimal := _DECIMAL.match(plain):
        return f"decimal({decimal[1]},{decimal[2]})"
    if plain not in SPARK_TYPES:
        raise ValueError(f"no Spark type for the raw-store type {duckdb_type}")
    return SPARK_TYPES[plain]


@dataclass
class Landing:
    """What one landing did: the watermark before and after, files per table."""

    before: dt.datetime | None
    after: dt.datetime | None
    files: dict[str, int] = field(default_factory=dict)  # table -> rows landed
    removed: list[str] = field(default_factory=list)  # leftovers of a killed landing

    @property
    def rows(self) -> int:
        return sum(self.files.values())


def _watermark(name: str) -> dt.datetime | None:
    match = _NAME.match(name)
    return dt.datetime.strptime(match[1], STAMP) if match else None


def landed_watermark(lake: Path) -> dt.datetime | None:
    """The newest load the lake holds whole: the newest file of the ledger's folder."""
    folder = lake / LEDGER
    stamps = [_watermark(p.name) for p in folder.iterdir()] if folder.exists() else []
    return max((s for s in stamps if s is not None), default=None)


def _remove_leftovers(lake: Path, watermark: dt.datetime | None) -> list[str]:
    """Files a killed landing left: hidden ones, and any newer than the ledger's."""
    removed = []
    for table in table_columns():
        folder = lake / table
        if not folder.exists():
            continue
        for path in folder.iterdir():
            stamp = _watermark(path.name)
            newer = stamp is not None and (watermark is None or stamp > watermark)
            if path.name.startswith(".") or newer:
                path.unlink()
                removed.append(f"{table}/{path.name}")
    return removed


def land_raw_store(raw_store: Path, lake: Path, config: dict[str, str] | None = None) -> Landing:
    """Land every load of `raw_store` that `lake` does not hold yet (module docstring)."""
    before = landed_watermark(lake)
    landing = Landing(before=before, after=before, removed=_remove_leftovers(lake, before))
    for table in table_columns():  # every table's folder, files or not: Spark lists it
        (lake / table).mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(raw_store), read_only=True, config=dict(config or {}))
    try:
        con.execute("set TimeZone = 'UTC'")  # a zone-less UTC timestamp is that instant
        newest = con.execute(f"select max(started_at) from main.{LEDGER}").fetchone()[0]
        if newest is None or (before is not None and newest <= before):
            return landing
        con.execute(
            "create temp table new_loads as select load_id from main.load_ledger "
            "where started_at <= ? and (? is null or started_at > ?)",
            [newest, before, before],
        )
        name = f"{PREFIX}{newest.strftime(STAMP)}{SUFFIX}"
        present = {
            table
            for (table,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'main'"
            ).fetchall()
        }
        # the ledger last: its file says the landing is whole
        tables = [t for t in table_columns() if t != LEDGER and t in present] + [LEDGER]
        for table in tables:
            rows = _land_table(con, table, lake / table, name)
            if rows:
                landing.files[table] = rows
        landing.after = newest
    finally:
        con.close()
    return landing


def _land_table(con: duckdb.DuckDBPyConnection, table: str, folder: Path, name: str) -> int:
    columns = con.execute(
        "select column_name, data_type from duckdb_columns() "
        "where schema_name = 'main' and table_name = ? order by column_index",
        [table],
    ).fetchall()
    select = ", ".join(
        f"cast({quote_ident(c)} as timestamptz) as {quote_ident(c)}"
        if t == "TIMESTAMP"
        else quote_ident(c)
        for c, t in columns
    )
    key = "load_id" if table in BOOKKEEPING_TABLES else "_load_id"
    query = (
        f"select {select} from main.{quote_ident(table)} "
        f"where {quote_ident(key)} in (select load_id from new_loads)"
    )
    rows = con.execute(f"select count(*) from ({query})").fetchone()[0]
    if not rows:
        return 0
    folder.mkdir(parents=True, exist_ok=True)
    hidden = folder / f".{name}.tmp"
    con.execute(f"copy ({query}) to {quote_literal(str(hidden))} (format parquet)")
    with hidden.open("rb") as file:
        os.fsync(file.fileno())
    hidden.rename(folder / name)
    return rows


def raw_table_ddl(lake: Path, schema: str) -> dict[str, str]:
    """Spark SQL that declares each raw table over its folder of the lake (an external
    table: dropping it leaves the files). Columns come from the contract, so files
    landed before the contract gained a column read it as null."""
    statements = {}
    for table, columns in table_columns().items():
        body = ", ".join(f"`{c}` {spark_type(t)}" for c, t in columns.items())
        location = quote_literal(str(lake / table))
        statements[table] = (
            f"create table if not exists `{schema}`.`{table}` ({body}) "
            f"using parquet location {location}"
        )
    return statements
