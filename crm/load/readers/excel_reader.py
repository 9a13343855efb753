"""Staging an Excel workbook (.xlsx): one sheet read by fastexcel into Arrow, each typed
column turned into text as a CSV export of the same source would hold it, then the
same checks as for CSV; row numbers are the sheet's rows."""

from __future__ import annotations

import duckdb

from crm.contract import Entity
from crm.load.discovery import InboxFile
from crm.load.numbering import RowNumbering
from crm.load.readers.headers import map_file_columns
from crm.load.readers.staged import StagedFile, create_typed_rows, raw_row_json_sql
from crm.load.results import FileRejected
from crm.load.values import typed_rows_sql
from crm.rawstore import quote_ident, quote_literal


def _excel_column_text_sql(name: str, arrow_type, decimal: str) -> str:
    """SQL turning one typed Excel column into text as a CSV of the same source would
    hold it: numbers with the source's decimal separator (whole numbers without one, so
    ids stay ids), dates and timestamps in ISO (which the date formats fall back to)."""
    import pyarrow as pa

    column = quote_ident(name)
    if pa.types.is_floating(arrow_type) or pa.types.is_integer(arrow_type):
        whole = f"{column} = trunc({column}) AND abs({column}) < 1e15"
        return (
            f"CASE WHEN {whole} THEN CAST(CAST({column} AS BIGINT) AS VARCHAR) "
            f"ELSE replace(CAST({column} AS VARCHAR), '.', {quote_literal(decimal)}) END"
        )
    if pa.types.is_null(arrow_type):
        return "NULL::VARCHAR"
    return f"CAST({column} AS VARCHAR)"


def stage_excel(con: duckdb.DuckDBPyConnection, entity: Entity, f: InboxFile) -> StagedFile:
    """An Excel workbook (.xlsx): the first sheet or the one the import settings name,
    its header on `header_line`. Read by fastexcel (Rust) straight into Arrow, typed
    per column; then text as in a CSV export, and the CSV path's checks. Row numbers
    are the sheet's; empty rows are not records (as blank lines in a CSV)."""
    import fastexcel

    source = f.source
    header_line = source.header_line if source else 1
    try:
        reader = fastexcel.read_excel(str(f.path))
        sheet_names = reader.sheet_names
        sheet: str | int = 0
        if source is not None and source.sheet is not None:
            sheet = int(source.sheet) - 1 if source.sheet.isdigit() else source.sheet
            if isinstance(sheet, str) and sheet not in sheet_names:
                raise FileRejected(
                    f"no sheet {sheet!r} (sheets: {', '.join(sheet_names)}; sheet of source "
                    f"{source.name!r}, sources.yml line {source.line})"
                )
        # a column of mixed cells (numbers and text) comes as text
        batch = reader.load_sheet(sheet, header_row=header_line - 1).to_arrow()
    except FileRejected:
        raise
    except Exception as exc:  # noqa: BLE001 - fastexcel's errors: the file cannot be read
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FileRejected(f"cannot read the file as Excel: {message}") from exc
    import numpy as np
    import pyarrow as pa

    table = pa.Table.from_batches([batch])
    names = [str(n) for n in table.schema.names]
    if not names:
        raise FileRejected(f"no header at row {header_line}: the sheet is empty there")
    decimal = source.decimal if source else "."
    texts = ", ".join(
        f"{_excel_column_text_sql(n, t, decimal)} AS c{i}"
        for i, (n, t) in enumerate(zip(names, table.schema.types, strict=True))
    )
    # k: the row's place under the header, numbered before any row is dropped
    table = table.append_column("_ld_k", pa.array(np.arange(1, table.num_rows + 1)))
    con.register("_ld_excel", table)
    try:
        con.execute(
            f"""CREATE TEMP TABLE _ld_scan AS
            SELECT * FROM (SELECT _ld_k AS k, {texts} FROM _ld_excel)
            WHERE coalesce({", ".join(f"c{i}" for i in range(len(names)))}) IS NOT NULL
            ORDER BY k"""
        )
    finally:
        con.unregister("_ld_excel")
    columns, extras = map_file_columns(entity, names, source)
    n_rows = create_typed_rows(con, typed_rows_sql(entity, "_ld_scan", columns, extras, source))
    con.execute("CREATE TEMP TABLE _ld_rej (rn BIGINT, raw_row VARCHAR, reason VARCHAR)")
    return StagedFile(
        n_rows,
        0,
        [n for n, _ in extras],
        RowNumbering("offset", header_line),
        "_ld_scan",
        raw_row_json_sql(names),
        in_file=list(columns),
    )
