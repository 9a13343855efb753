"""DDL of the raw store: the persistent, append-only system of record.

The raw store (``settings.raw_store``) holds every row ever loaded from the
inbox, one table per contract entity, plus the bookkeeping of each load:

``<entity>``
    The contract columns typed by ``Column.raw_type`` followed by
    ``LINEAGE_COLUMNS`` (load id, file, row number, row hash, extra columns,
    load time). Append-only history: a changed row is appended as a new
    version; staging picks the latest (see ``crm.load``).
``load_ledger``
    One row per file the loader looked at and decided on ('loaded' or
    'rejected'), keyed in practice by (entity, content_hash): the same
    content is never loaded twice.
``quarantine``, ``duplicates``, ``value_issues``
    Row-level outcomes that did not (or not fully) make it into the entity
    tables, each with the file and the row number.
``column_profile``
    Per loaded file and contract column: in the header or not, values present,
    values invalid (the quality gate's evidence of a renamed or retyped column).

Everything here is idempotent so that every entry point (loader, dbt source
freshness, tests) can call :func:`ensure_raw_store` without coordination, and
so that an empty inbox still yields every table dbt's sources expect.
"""

from __future__ import annotations

import duckdb

from crm.contract import ENTITIES, LINEAGE_COLUMNS, Entity

LEDGER_COLUMNS: dict[str, str] = {
    "load_id": "VARCHAR NOT NULL",
    "entity": "VARCHAR NOT NULL",
    "file_name": "VARCHAR NOT NULL",  # relative to the inbox, '/' separated
    "content_hash": "VARCHAR NOT NULL",  # sha256 of the file's bytes (as stored, gz included)
    "file_size": "BIGINT",
    "file_mtime_ns": "BIGINT",  # lets an unchanged file be skipped without re-hashing it
    "file_format": "VARCHAR",  # csv | csv.gz | parquet | jsonl | jsonl.gz
    "status": "VARCHAR NOT NULL",  # loaded | rejected
    "rows_in_file": "BIGINT",  # null when rejected (the file could not be read)
    "rows_loaded": "BIGINT",
    "rows_quarantined": "BIGINT",
    "rows_duplicate": "BIGINT",
    "n_value_issues": "BIGINT",
    "extra_columns": "VARCHAR[]",  # normalised names of columns the contract does not know
    "error": "VARCHAR",  # why a file was rejected
    "notes": "VARCHAR",  # warnings about a loaded file (e.g. approximate row numbers)
    # the import settings that read the file (crm/sources.py): name@version, null = contract
    "import_settings": "VARCHAR",
    # a rejected file that holds back publication (CRM_REJECTED_FILE_BLOCKS, per source)
    "blocks_publication": "BOOLEAN",
    "started_at": "TIMESTAMP",  # UTC; strictly increasing over loads, equals _loaded_at
    "finished_at": "TIMESTAMP",  # UTC
}

QUARANTINE_COLUMNS: dict[str, str] = {
    "load_id": "VARCHAR NOT NULL",
    "entity": "VARCHAR NOT NULL",
    "file_name": "VARCHAR NOT NULL",
    "row_number": "BIGINT",
    "raw_row": "VARCHAR",
    "reason": "VARCHAR NOT NULL",
}

DUPLICATES_COLUMNS: dict[str, str] = {
    "load_id": "VARCHAR NOT NULL",
    "entity": "VARCHAR NOT NULL",
    "file_name": "VARCHAR NOT NULL",
    "row_number": "BIGINT",
    "row_key": "VARCHAR",
    "reason": "VARCHAR NOT NULL",
}

VALUE_ISSUES_COLUMNS: dict[str, str] = {
    "load_id": "VARCHAR NOT NULL",
    "entity": "VARCHAR NOT NULL",
    "file_name": "VARCHAR NOT NULL",
    "row_number": "BIGINT",
    "column_name": "VARCHAR NOT NULL",
    "raw_value": "VARCHAR",
    "reason": "VARCHAR NOT NULL",
}

COLUMN_PROFILE_COLUMNS: dict[str, str] = {
    "load_id": "VARCHAR NOT NULL",
    "entity": "VARCHAR NOT NULL",
    "file_name": "VARCHAR NOT NULL",
    "column_name": "VARCHAR NOT NULL",  # a contract column of the entity
    "in_file": "BOOLEAN",  # the file's header (or any JSON line) has it
    "values_present": "BIGINT",  # non-empty values, valid or not
    "values_invalid": "BIGINT",  # non-empty values that do not parse or are not allowed
    "example_invalid": "VARCHAR",
}

BOOKKEEPING_TABLES: dict[str, dict[str, str]] = {
    "load_ledger": LEDGER_COLUMNS,
    "quarantine": QUARANTINE_COLUMNS,
    "column_profile": COLUMN_PROFILE_COLUMNS,
    "duplicates": DUPLICATES_COLUMNS,
    "value_issues": VALUE_ISSUES_COLUMNS,
}


def quote_literal(value: str) -> str:
    """A SQL string literal (for paths, names and values inlined into SQL)."""
    return "'" + value.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB (contract names are safe, extra names may not be)."""
    return '"' + name.replace('"', '""') + '"'


def entity_columns(entity: Entity) -> dict[str, str]:
    """Column name -> DuckDB type of an entity's raw table, in table order."""
    cols = {c.name: c.raw_type for c in entity.columns}
    cols.update(LINEAGE_COLUMNS)
    return cols


def table_columns() -> dict[str, dict[str, str]]:
    """Every raw-store table with its columns, entities first (in contract order)."""
    tables = {name: entity_columns(e) for name, e in ENTITIES.items()}
    tables.update(BOOKKEEPING_TABLES)
    return tables


def create_table_sql(table: str, columns: dict[str, str]) -> str:
    body = ",\n  ".join(f"{quote_ident(c)} {t}" for c, t in columns.items())
    return f"CREATE TABLE IF NOT EXISTS main.{quote_ident(table)} (\n  {body}\n)"


def ensure_raw_store(con: duckdb.DuckDBPyConnection) -> None:
    """Create every raw-store table that is missing and add columns the contract gained.

    Idempotent, and additive only: the contract may be extended (new optional
    columns) but never renamed, so an older raw store is brought up to date by
    ``ADD COLUMN`` (null for the rows loaded before) and nothing is dropped.
    """
    existing: dict[str, set[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema = 'main'"
    ).fetchall():
        existing.setdefault(table, set()).add(column)
    for table, columns in table_columns().items():
        if table not in existing:
            con.execute(create_table_sql(table, columns))
            continue
        for column, type_ in columns.items():
            if column not in existing[table]:
                plain_type = type_.replace(" NOT NULL", "")
                con.execute(
                    f"ALTER TABLE main.{quote_ident(table)} "
                    f"ADD COLUMN {quote_ident(column)} {plain_type}"
                )
