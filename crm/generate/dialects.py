"""The demo inbox in the shapes real exports have (`crm generate --dialect ...`).

The generator writes contract-shaped CSV files; `reshape` rewrites each one as a
system would export it and returns the import settings (sources.yml) that read
it back. Values are the same instants, amounts and dates, so a warehouse built
from a reshaped inbox equals one built from the contract-shaped inbox (the
test of issue 19). Formatting is set-based SQL in DuckDB; only the Excel writer
goes row by row (a sheet holds at most 1,048,576 rows anyway).

Shapes:
- german: `;`, a UTF-8 BOM, German column names, `1.234,50`, `31.12.2024 23:59`
- latin1-tab: tab-separated Latin-1 under a title line, day-first dates
- pipe: `|`-separated, every field quoted, ISO values
- excel: an .xlsx workbook, a title row, typed cells
- renamed: comma CSV with other column names (SourceContactId), mapped by settings
- mixed: the files in turn in each of the shapes above
Timestamps are written as UTC wall time (a local time in the hour the clocks go
back is ambiguous, and the equality test must hold for every instant).
"""

from __future__ import annotations

import codecs
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from crm.contract import ENTITIES, Entity

EXCEL_MAX_ROWS = 1_048_575


@dataclass(frozen=True)
class Shape:
    name: str
    suffix: str = ".csv"
    delimiter: str = ","
    quote_all: bool = False
    encoding: str = "utf-8"
    bom: bool = False
    decimal: str = "."
    thousands: str | None = None
    date_format: str | None = None  # strftime, None = ISO
    timestamp_format: str | None = None
    title: str | None = None  # a line above the header
    names: str = "contract"  # contract | german | title
    extra: dict = field(default_factory=dict)


SHAPES = {
    "german": Shape(
        "german", delimiter=";", bom=True, decimal=",", thousands=".",
        date_format="%d.%m.%Y", timestamp_format="%d.%m.%Y %H:%M:%S", names="german",
    ),
    "latin1-tab": Shape(
        "latin1-tab", suffix=".txt", delimiter="\t", encoding="latin-1",
        date_format="%d/%m/%Y", timestamp_format="%d/%m/%Y %H:%M:%S", title="Export",
    ),
    "pipe": Shape("pipe", delimiter="|", quote_all=True),
    "excel": Shape("excel", suffix=".xlsx", title="Export", names="camel"),
    "renamed": Shape("renamed", names="camel"),
}  # fmt: skip
DIALECTS = ("contract", *SHAPES, "mixed")

GERMAN = {
    "source_system": "Quelle", "source_contact_id": "Kundennummer", "first_name": "Vorname",
    "last_name": "Nachname", "email": "E-Mail", "phone": "Telefon",
    "birth_date": "Geburtsdatum", "address_line1": "Straße", "address_line2": "Adresszusatz",
    "city": "Ort", "postal_code": "PLZ", "region": "Bundesland", "country": "Land",
    "loyalty_id": "Kartennummer", "marketing_opt_in": "Newsletter", "created_at": "Angelegt",
    "updated_at": "Geändert", "order_id": "Bestellnummer", "ordered_at": "Bestelldatum",
    "order_total": "Betrag", "currency": "Währung", "status": "Status", "channel": "Kanal",
    "store_id": "Filiale", "line_number": "Position", "product_id": "Artikelnummer",
    "quantity": "Menge", "unit_price": "Einzelpreis", "discount": "Rabatt", "name": "Bezeichnung",
    "category": "Kategorie", "brand": "Marke", "unit_cost": "Einstandspreis",
}  # fmt: skip


def file_name(shape: Shape, column: str) -> str:
    if shape.names == "german":
        return GERMAN.get(column, column)
    if shape.names == "camel":
        return column.replace("_", " ").title().replace(" ", "")
    return column


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _text_sql(shape: Shape, entity: Entity, column: str) -> str:
    """The contract CSV's text of one column as the shape writes it; a value that does
    not parse (a bad row on purpose) stays as it was."""
    col = next((c for c in entity.columns if c.name == column), None)
    x = f'"{column}"'
    if col is None:
        return x
    if col.type == "timestamp" and shape.timestamp_format:
        utc = f"timezone('UTC', try_cast({x} AS TIMESTAMPTZ))"
        return f"coalesce(strftime({utc}, {_lit(shape.timestamp_format)}), {x})"
    if col.type == "date" and shape.date_format:
        return f"coalesce(strftime(try_cast({x} AS DATE), {_lit(shape.date_format)}), {x})"
    if col.type == "money" and (shape.decimal != "." or shape.thousands):
        whole = f"split_part({x}, '.', 1)"
        separator = _lit(shape.thousands or "")
        grouped = f"replace(format('{{:,}}', try_cast({whole} AS BIGINT)), ',', {separator})"
        frac = f"split_part({x}, '.', 2)"
        text = (
            f"{grouped} || CASE WHEN {frac} <> '' THEN {_lit(shape.decimal)} || {frac} ELSE '' END"
        )
        return f"CASE WHEN regexp_full_match({x}, '-?[0-9]+(\\.[0-9]+)?') THEN {text} ELSE {x} END"
    return x


def _source_yaml(shape: Shape, entity: Entity, rel: str, columns: list[str]) -> str:
    lines = [f"  {rel.split('/')[0]}_{Path(rel).stem.replace('-', '_')}:"]
    lines += [f"    entity: {entity.name}", f'    files: "{rel}"']
    if shape.suffix == ".txt":
        lines.append("    format: csv")
    if shape.suffix == ".xlsx":
        lines.append("    sheet: Export")
    if shape.delimiter != ",":
        lines.append(
            f'    delimiter: "{chr(92) + "t" if shape.delimiter == chr(9) else shape.delimiter}"'
        )
    if shape.encoding != "utf-8":
        lines.append(f"    encoding: {shape.encoding}")
    if shape.title:
        lines.append("    header_line: 2")
    if shape.decimal != ".":
        lines.append(f'    decimal: "{shape.decimal}"')
    if shape.thousands:
        lines.append(f'    thousands: "{shape.thousands}"')
    if shape.date_format:
        lines.append(f'    date_format: "{shape.date_format}"')
    if shape.timestamp_format:
        lines.append(f'    timestamp_format: "{shape.timestamp_format}"')
    mapped = [(file_name(shape, c), c) for c in columns if shape.names != "contract"]
    if mapped:
        lines.append("    columns:")
        lines += [f'      "{name}": {column}' for name, column in mapped if name != column]
    return "\n".join(lines) + "\n"


def _write_excel(con: duckdb.DuckDBPyConnection, sql: str, target: Path, shape: Shape) -> None:
    import xlsxwriter

    relation = con.sql(sql)
    book = xlsxwriter.Workbook(str(target), {"constant_memory": True})
    sheet = book.add_worksheet("Export")
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write(0, 0, shape.title)
    sheet.write_row(1, 0, relation.columns)
    row = 2
    while batch := relation.fetchmany(10_000):
        if row + len(batch) > EXCEL_MAX_ROWS:
            book.close()
            target.unlink(missing_ok=True)
            raise ValueError(f"{target.name}: more rows than an Excel sheet holds")
        for values in batch:
            for i, value in enumerate(values):
                if value is None:
                    continue
                if hasattr(value, "hour"):
                    sheet.write_datetime(row, i, value.replace(tzinfo=None), stamp)
                elif hasattr(value, "year"):
                    sheet.write_datetime(row, i, value, day)
                elif isinstance(value, bool):
                    sheet.write_string(row, i, "true" if value else "false")
                elif isinstance(value, int | float) or type(value).__name__ == "Decimal":
                    sheet.write_number(row, i, float(value))
                else:
                    sheet.write_string(row, i, str(value))
            row += 1
    book.close()


def _excel_sql(
    con: duckdb.DuckDBPyConnection, entity: Entity, path: Path, names: list[str], shape: Shape
) -> str:
    """Typed values for the workbook: a timestamp, date or money column whose every
    value parses is written typed; any other column (and one with a bad value on
    purpose) as the text it was."""
    scan = f"read_csv({_lit(str(path))}, all_varchar=true, header=true)"
    exprs = []
    for name in names:
        col = next((c for c in entity.columns if c.name == name), None)
        x = f'"{name}"'
        typed = {
            "timestamp": f"timezone('UTC', try_cast({x} AS TIMESTAMPTZ))",
            "date": f"try_cast({x} AS DATE)",
            "money": f"try_cast({x} AS DOUBLE)",
        }.get(col.type if col else "string")
        if typed:
            bad = con.execute(
                f"SELECT count(*) FROM {scan} WHERE {x} IS NOT NULL AND {typed} IS NULL"
            ).fetchone()[0]
            x = typed if bad == 0 else x
        exprs.append(f'{x} AS "{file_name(shape, name)}"')
    return f"SELECT {', '.join(exprs)} FROM {scan}"


def reshape(source_inbox: Path, inbox: Path, dialect: str) -> str:
    """Rewrite every contract-shaped CSV under `source_inbox` into `inbox` in `dialect`;
    returns the sources.yml that reads the result."""
    if dialect not in DIALECTS or dialect == "contract":
        raise ValueError(f"dialect must be one of {', '.join(DIALECTS[1:])}, got {dialect!r}")
    files = sorted(p for p in source_inbox.rglob("*.csv"))
    order = list(SHAPES)
    yaml = ["version: 1", "sources:"]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    try:
        for i, path in enumerate(files):
            entity = ENTITIES[path.parent.name]
            shape = SHAPES[order[i % len(order)]] if dialect == "mixed" else SHAPES[dialect]
            rel = f"{entity.name}/{path.stem}{shape.suffix}"
            target = inbox / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            names = [r[0] for r in con.execute(
                f"DESCRIBE SELECT * FROM read_csv({_lit(str(path))}, all_varchar=true, header=true)"
            ).fetchall()]  # fmt: skip
            if shape.suffix == ".xlsx":
                _write_excel(con, _excel_sql(con, entity, path, names, shape), target, shape)
            else:
                select = ", ".join(
                    f'{_text_sql(shape, entity, n)} AS "{file_name(shape, n)}"' for n in names
                )
                plain = target.with_name(f".{target.name}.utf8")
                con.execute(
                    f"COPY (SELECT {select} FROM read_csv({_lit(str(path))}, all_varchar=true, "
                    f"header=true)) TO {_lit(str(plain))} (FORMAT csv, HEADER, "
                    f"DELIMITER {_lit(shape.delimiter)}"
                    + (", FORCE_QUOTE *" if shape.quote_all else "")
                    + ")"
                )
                _finish_text(plain, target, shape)
            yaml.append(_source_yaml(shape, entity, rel, names).rstrip("\n"))
    finally:
        con.close()
    return "\n".join(yaml) + "\n"


def _finish_text(plain: Path, target: Path, shape: Shape) -> None:
    """Title line, BOM and encoding around DuckDB's UTF-8 output, in chunks."""
    with open(plain, encoding="utf-8", newline="") as src, open(target, "wb") as out:
        if shape.bom:
            out.write(codecs.BOM_UTF8)
        if shape.title:
            out.write((shape.title + "\n").encode(shape.encoding))
        while chunk := src.read(1 << 20):
            out.write(chunk.encode(shape.encoding))
    plain.unlink()


def generate_in_dialect(
    inbox: Path, truth: Path, dialect: str, sources_path: Path, overwrite: bool = False, **kwargs
) -> dict:
    """`crm.generate.generate` in a dialect: contract-shaped CSV files are generated
    beside the inbox, reshaped into it, and the import settings that read them are
    written to `sources_path` (an existing file is kept unless `overwrite`)."""
    from crm.generate import generate

    if dialect not in DIALECTS:
        raise ValueError(f"dialect must be one of {', '.join(DIALECTS)}, got {dialect!r}")
    if sources_path.exists() and not overwrite:
        raise FileExistsError(
            f"{sources_path} exists: the generated import settings would replace it"
        )
    staging = inbox.parent / f".{inbox.name}.{dialect}-csv"
    shutil.rmtree(staging, ignore_errors=True)
    kwargs["file_format"] = "csv"
    try:
        summary = generate(staging, truth, overwrite=overwrite, **kwargs)
        yaml = reshape(staging, inbox, dialect)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    sources_path.parent.mkdir(parents=True, exist_ok=True)
    sources_path.write_text(yaml, encoding="utf-8")
    return {**summary, "inbox": str(inbox), "dialect": dialect, "sources": str(sources_path)}
