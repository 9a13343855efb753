"""Reading ("staging") one inbox file into temporary tables: ``_ld_scan`` (text),
``_ld_rows`` (typed and checked) and ``_ld_rej`` (records the reader could not split).

Every format is first scanned into ``_ld_scan``, a temporary table of text values in
file order; ``_ld_rows`` is then computed from it. Two passes beat one: a window
(row_number) over the reader serialises the whole transformation, whereas the rowid of
a table filled with preserve_insertion_order is the file order for free. ``_ld_scan``
also gives quarantined rows their raw text back.

`stage_file` picks the reader for the file's format: ``csv_reader``, ``parquet_reader``,
``excel_reader`` or ``jsonl_reader``; ``headers`` matches a file's column names to the
contract and ``staged`` holds what every reader shares, including the result,
`StagedFile`.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from crm.contract import Entity
from crm.load.discovery import InboxFile
from crm.load.fingerprint import check_gzip
from crm.load.readers.csv_reader import stage_csv
from crm.load.readers.excel_reader import stage_excel
from crm.load.readers.jsonl_reader import stage_jsonl
from crm.load.readers.parquet_reader import stage_parquet
from crm.load.readers.staged import StagedFile
from crm.load.results import FileRejected

__all__ = ["StagedFile", "stage_file"]


def _stage_by_format(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    f: InboxFile,
    lines: int | None,
    work_dir: Path | None = None,
) -> StagedFile:
    if f.fmt in ("csv", "csv.gz"):
        assert lines is not None
        return stage_csv(con, entity, f, lines, work_dir)
    if f.fmt == "parquet":
        return stage_parquet(con, entity, f)
    if f.fmt == "xlsx":
        return stage_excel(con, entity, f)
    return stage_jsonl(con, entity, f)


def stage_file(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    f: InboxFile,
    size: int,
    lines: int | None,
    work_dir: Path | None = None,
) -> StagedFile:
    """Stage a file into temporary tables; FileRejected if it cannot be read as a whole."""
    if f.fmt is not None and f.fmt.endswith(".gz"):
        _, lines = check_gzip(f.path)
    if size == 0:
        raise FileRejected("empty file (0 bytes)")
    return _stage_by_format(con, entity, f, lines, work_dir)
