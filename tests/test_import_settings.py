"""Exports that are not contract-shaped, read through import settings (sources.yml):
each shape must load exactly the rows that the contract-shaped file of the same
records loads, and bad rows keep their physical line numbers."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from crm.config import Settings
from crm.contract import ENTITIES, LINEAGE_COLUMNS
from crm.load import load_inbox
from crm.sources import SourcesError
from tests.conftest import Env, make_settings

BERLIN = ZoneInfo("Europe/Berlin")
UTC = ZoneInfo("UTC")

# Orders as contract v1 has them (UTC timestamps): winter and summer time in Berlin,
# thousands, cents and a sub-unit total.
ORDERS = [
    ("B-1", "C1", "2024-01-05T09:00:00Z", "1234.50", "EUR", "completed"),
    ("B-2", "C2", "2024-07-05T08:30:00Z", "12.5", "EUR", "completed"),
    ("B-3", "C1", "2024-03-31T00:30:00Z", "0.99", "EUR", "returned"),  # 01:30 CET, before DST
    ("B-4", "C3", "2024-10-27T02:15:00Z", "1000000", "CHF", "cancelled"),  # 03:15 CET, after
]
CONTACTS = [
    ("C1", "Jürgen", "Müller", "j.mueller@example.de", "1961-02-03", "Hauptstraße", "12", "Köln"),
    ("C2", "Zoë", "Weiß", "zoe@example.de", "1990-12-24", "Am Bach", "3a", "Düsseldorf"),
    ("C3", "Ole", "Nørgaard", "", "", "Øster Allé", "1", "København"),
]


def _settings(root: Path) -> Settings:
    return make_settings(root, threads=1, memory_limit="1GB")


def _put(settings: Settings, rel: str, data: bytes) -> None:
    path = settings.inbox / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _csv(rows: list[list[str]], delimiter: str = ",") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _berlin(utc_iso: str, fmt: str) -> str:
    from datetime import datetime

    return datetime.fromisoformat(utc_iso).astimezone(BERLIN).strftime(fmt)


def _german_amount(text: str) -> str:
    whole, _, cents = f"{float(text):,.2f}".partition(".")
    return whole.replace(",", ".") + "," + cents


def _contract_files(settings: Settings) -> None:
    header = [
        "order_id",
        "source_system",
        "source_contact_id",
        "ordered_at",
        "order_total",
        "currency",
        "status",
    ]
    rows = [[o, "shop", c, t, total, cur, st] for o, c, t, total, cur, st in ORDERS]
    _put(settings, "orders/orders.csv", _csv([header, *rows]).encode())
    header = [
        "source_system",
        "source_contact_id",
        "first_name",
        "last_name",
        "email",
        "birth_date",
        "address_line1",
        "address_line2",
        "city",
        "country",
    ]
    rows = [
        [
            "crm",
            c,
            f,
            last,
            e,
            b,
            f"{street} {no}",
            "Hinterhaus\n2. OG" if c == "C1" else "",
            city,
            "DE",
        ]
        for c, f, last, e, b, street, no, city in CONTACTS
    ]
    _put(settings, "contacts/contacts.csv", _csv([header, *rows]).encode())
    rows = [["product_id", "name", "unit_cost"], *PRODUCTS]
    _put(settings, "products/products.csv", _csv(rows).encode())


# Product names with a line break and the delimiter inside quotes.
PRODUCTS = [["P1", "Grüner Tee\nlose, 100 g", "3.10"], ["P2", "Becher | groß", "1.5"]]

GERMAN_COLUMNS = (
    "{Bestellnummer: order_id, Kundennummer: source_contact_id, Bestelldatum: ordered_at, "
    "Betrag: order_total, Währung: currency, Status: status}"
)
SOURCES = """\
sources:
  shop_bestellungen:            # a German shop: ; decimal comma, local time, a BOM
    entity: orders
    files: orders/Bestellungen*.csv
    source_system: shop
    delimiter: ";"
    decimal: ","
    thousands: .
    timestamp_format: "%d.%m.%Y %H:%M"
    timezone: Europe/Berlin
    columns: {GERMAN_COLUMNS}
  lager:                        # pipe-separated, every field quoted
    entity: products
    files: products/artikel.psv
    format: csv
    delimiter: "|"
  crm_kunden:                   # tab-separated Latin-1 under a title line
    entity: contacts
    files: contacts/kunden-*.txt
    format: csv
    delimiter: \\t
    encoding: latin-1
    header_line: 2
    date_format: "%d.%m.%Y"
    source_system: crm
    constants:
      country: DE
    derived:
      address_line1: "{Strasse} {Nr}"
    columns:
      Nummer: source_contact_id
      Vorname: first_name
      Name: last_name
      E-Mail: email
      Geburtsdatum: birth_date
      Zusatz: address_line2
      Ort: city
""".replace("{GERMAN_COLUMNS}", GERMAN_COLUMNS)


def _shaped_files(settings: Settings) -> None:
    header = ["Bestellnummer", "Kundennummer", "Bestelldatum", "Betrag", "Währung", "Status"]
    rows = [
        [o, c, _berlin(t, "%d.%m.%Y %H:%M"), _german_amount(total), cur, st]
        for o, c, t, total, cur, st in ORDERS
    ]
    text = _csv([header, *rows], delimiter=";")
    _put(settings, "orders/Bestellungen_2024.csv", b"\xef\xbb\xbf" + text.encode())
    header = [
        "Nummer",
        "Vorname",
        "Name",
        "E-Mail",
        "Geburtsdatum",
        "Strasse",
        "Nr",
        "Zusatz",
        "Ort",
    ]
    rows = [
        [
            c,
            f,
            last,
            e,
            "" if not b else "{2}.{1}.{0}".format(*b.split("-")),
            street,
            no,
            "Hinterhaus\n2. OG" if c == "C1" else "",
            city,
        ]
        for c, f, last, e, b, street, no, city in CONTACTS
    ]
    # Ø and ø are Latin-1 too; the title line comes before the header.
    text = "Kundenliste Stand 31.12.2024\n" + _csv([header, *rows], delimiter="\t")
    _put(settings, "contacts/kunden-2024.txt", text.encode("latin-1"))
    out = io.StringIO()
    writer = csv.writer(out, delimiter="|", quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerows([["product_id", "name", "unit_cost"], *PRODUCTS])
    _put(settings, "products/artikel.psv", out.getvalue().encode())


def _entity_rows(settings: Settings, entity: str) -> list[tuple]:
    with duckdb.connect(str(settings.raw_store), read_only=True) as con:
        lineage = ", ".join(LINEAGE_COLUMNS)
        return con.execute(f"SELECT * EXCLUDE ({lineage}) FROM {entity} ORDER BY ALL").fetchall()


def test_shaped_exports_load_the_same_rows_as_contract_files(tmp_path: Path):
    reference, shaped = _settings(tmp_path / "ref"), _settings(tmp_path / "shaped")
    _contract_files(reference)
    load_inbox(reference)
    shaped.home.mkdir(parents=True)
    shaped.sources_path.write_text(SOURCES)
    _shaped_files(shaped)
    report = load_inbox(shaped)
    assert {r.file: r.status for r in report.files} == {
        "contacts/kunden-2024.txt": "loaded",
        "orders/Bestellungen_2024.csv": "loaded",
        "products/artikel.psv": "loaded",
    }, [r.error for r in report.files]
    for entity, records in (("orders", ORDERS), ("contacts", CONTACTS), ("products", PRODUCTS)):
        expected = _entity_rows(reference, entity)
        assert len(expected) == len(records)
        assert _entity_rows(shaped, entity) == expected, entity
    with duckdb.connect(str(shaped.raw_store), read_only=True) as con:
        ledger = dict(con.execute("select file_name, import_settings from load_ledger").fetchall())
        n_bad = con.execute("select count(*) from quarantine").fetchone()[0]
    assert ledger["orders/Bestellungen_2024.csv"].startswith("shop_bestellungen@")
    assert ledger["contacts/kunden-2024.txt"].startswith("crm_kunden@") and n_bad == 0


def test_bad_rows_in_a_shaped_file_keep_their_physical_line(tmp_path: Path):
    settings = _settings(tmp_path)
    settings.home.mkdir(parents=True)
    settings.sources_path.write_text(SOURCES)
    header = "Bestellnummer;Kundennummer;Bestelldatum;Betrag;Währung;Status\n"
    lines = [
        "B-1;C1;05.01.2024 10:00;1.234,50;EUR;completed",  # line 2
        'B-2;"C2\nx";05.07.2024 10:30;12,50;EUR;completed',  # lines 3-4: a quoted newline
        "B-3;C1;31.02.2024 10:00;1,00;EUR;completed",  # line 5: no 31 February
        "B-4;C1;05.01.2024 10:00;zwölf;EUR;completed",  # line 6: not a number
        "B-5;C1;05.01.2024 10:00;3,00;EUR",  # line 7: a field short
    ]
    _put(settings, "orders/Bestellungen_x.csv", (header + "\n".join(lines) + "\n").encode())
    (result,) = load_inbox(settings).files
    assert result.status == "loaded" and result.rows_loaded == 2, result
    with duckdb.connect(str(settings.raw_store), read_only=True) as con:
        bad = con.execute("select row_number, reason from quarantine order by 1").fetchall()
    assert [n for n, _ in bad] == [5, 6, 7], bad
    assert "'31.02.2024 10:00' is not a valid timestamp" in bad[0][1]
    assert "'zwölf' is not a valid number" in bad[1][1]


def test_a_file_rejected_before_its_settings_existed_is_tried_again(tmp_path: Path):
    settings = _settings(tmp_path)
    _shaped_files(settings)
    first = {r.file: r for r in load_inbox(settings).files}
    assert first["contacts/kunden-2024.txt"].status == "ignored"  # .txt: a format unknown
    assert first["orders/Bestellungen_2024.csv"].status == "rejected"
    assert (
        "missing: order_id, ordered_at, order_total" in first["orders/Bestellungen_2024.csv"].error
    )
    again = load_inbox(settings)  # nothing changed: the rejection stands
    assert {r.status for r in again.files} == {"skipped", "ignored"}
    settings.sources_path.write_text(SOURCES)
    loaded = load_inbox(settings)
    assert {r.status for r in loaded.files} == {"loaded"}, [r.error for r in loaded.files]
    # A changed setting does not load a loaded file again (it applies to later files).
    settings.sources_path.write_text(SOURCES.replace("Europe/Berlin", "Europe/Vienna"))
    assert {r.status for r in load_inbox(settings).files} == {"skipped"}


def test_a_broken_settings_file_stops_the_load_naming_the_line(tmp_path: Path):
    settings = _settings(tmp_path)
    settings.home.mkdir(parents=True)
    settings.sources_path.write_text(SOURCES.replace("thousands: .", "thousand: ."))
    _contract_files(settings)
    with pytest.raises(SourcesError, match="sources.yml: line 8: unknown setting 'thousand'"):
        load_inbox(settings)
    assert not settings.raw_store.exists() or _entity_rows(settings, "orders") == []


def test_settings_name_the_column_a_derived_value_needs(tmp_path: Path):
    settings = dataclasses.replace(_settings(tmp_path))
    settings.home.mkdir(parents=True)
    settings.sources_path.write_text(SOURCES)
    text = "Titel\nNummer\tVorname\tName\nC9\tAnna\tBerg\n"
    _put(settings, "contacts/kunden-x.txt", text.encode("latin-1"))
    (result,) = load_inbox(settings).files
    assert result.status == "rejected"
    assert "address_line1 is derived from the column 'Strasse'" in result.error
    assert json.dumps(result.error)  # a plain message


EXCEL_SOURCE = """\
sources:
  pos_excel:
    entity: orders
    files: orders/*.xlsx
    sheet: Bestellungen
    header_line: 3
    source_system: shop
    decimal: ","
    timestamp_format: "%d.%m.%Y %H:%M"
    timezone: Europe/Berlin
    columns: {GERMAN_COLUMNS}
""".replace("{GERMAN_COLUMNS}", GERMAN_COLUMNS)


def _excel_orders(path: Path, bad_row: bool = False) -> None:
    """A workbook as a point-of-sale system writes it: a cover sheet first, a title and
    an empty row above the header, typed dates and amounts, one amount typed as text."""
    from datetime import datetime

    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet("Deckblatt").write(0, 0, "Export vom 31.12.2024")
    sheet = book.add_worksheet("Bestellungen")
    stamp = book.add_format({"num_format": "dd.mm.yyyy hh:mm"})
    sheet.write(0, 0, "Bestellungen 2024")
    sheet.write_row(
        2, 0, ["Bestellnummer", "Kundennummer", "Bestelldatum", "Betrag", "Währung", "Status"]
    )
    for i, (order, contact, at, total, currency, status) in enumerate(ORDERS):
        row = 3 + i
        local = datetime.fromisoformat(at).astimezone(BERLIN).replace(tzinfo=None)
        sheet.write_row(row, 0, [order, contact])
        sheet.write_datetime(row, 2, local, stamp)
        if i == 0:
            sheet.write_string(row, 3, _german_amount(total).replace(".", ""))  # text: 1234,50
        else:
            sheet.write_number(row, 3, float(total))
        sheet.write_row(row, 4, [currency, status])
    if bad_row:
        sheet.write_row(3 + len(ORDERS) + 1, 0, ["B-9", "C1", "gestern", 5, "EUR", "completed"])
    book.close()


def test_an_excel_workbook_loads_the_same_rows_as_a_contract_file(tmp_path: Path):
    reference, shaped = _settings(tmp_path / "ref"), _settings(tmp_path / "xlsx")
    _contract_files(reference)
    (reference.inbox / "contacts" / "contacts.csv").unlink()
    load_inbox(reference)
    shaped.home.mkdir(parents=True)
    shaped.sources_path.write_text(EXCEL_SOURCE)
    (shaped.inbox / "orders").mkdir(parents=True)
    _excel_orders(shaped.inbox / "orders" / "kasse.xlsx", bad_row=True)
    (result,) = load_inbox(shaped).files
    assert result.status == "loaded", result.error
    assert (result.rows_in_file, result.rows_loaded) == (len(ORDERS) + 1, len(ORDERS))
    assert _entity_rows(shaped, "orders") == _entity_rows(reference, "orders")
    with duckdb.connect(str(shaped.raw_store), read_only=True) as con:
        ((row, reason),) = con.execute("select row_number, reason from quarantine").fetchall()
    # the sheet's own row: title, empty row, header, four orders, an empty row, then it
    assert row == 9 and "ordered_at 'gestern' is not a valid timestamp" in reason


def test_an_excel_file_without_settings_reads_its_first_sheet(tmp_path: Path):
    import xlsxwriter

    settings = _settings(tmp_path)
    (settings.inbox / "orders").mkdir(parents=True)
    book = xlsxwriter.Workbook(str(settings.inbox / "orders" / "plain.xlsx"))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["order_id", "ordered_at", "order_total", "source_contact_id"])
    sheet.write_row(1, 0, ["X-1", "2024-05-01T10:00:00Z", 10.5, 4711])
    book.close()
    (result,) = load_inbox(settings).files
    assert result.status == "loaded" and result.rows_loaded == 1, result.error
    with duckdb.connect(str(settings.raw_store), read_only=True) as con:
        row = con.execute(
            "select order_id, ordered_at, order_total, source_contact_id from orders"
        ).fetchone()
    assert row[0] == "X-1" and str(row[1]) == "2024-05-01 10:00:00"
    assert float(row[2]) == 10.5 and row[3] == "4711"  # a whole number stays an id
    (settings.inbox / "orders" / "broken.xlsx").write_bytes(b"PK\x03\x04 not a workbook")
    results = {r.file: r for r in load_inbox(settings).files}
    assert results["orders/broken.xlsx"].status == "rejected"
    assert "cannot read the file as Excel" in results["orders/broken.xlsx"].error


@pytest.mark.e2e
def test_every_export_shape_builds_the_same_warehouse(tmp_path: Path):
    """The same generated world, once contract-shaped and once as real exports (German
    CSV, tab-separated Latin-1, pipe-quoted, Excel, renamed columns: `--dialect mixed`
    with the import settings it writes), through `crm refresh`: every mart is equal."""

    worlds = {"contract": Env(tmp_path / "contract"), "mixed": Env(tmp_path / "mixed")}
    for dialect, env in worlds.items():
        env.crm(
            "generate", "--customers", "150", "--seed", "19", "--format", "csv",
            "--dialect", dialect, "--truth", str(env.truth),
        )  # fmt: skip
        env.crm("refresh", CRM_PII_KEY=SHARED_KEY)  # the same hashes in both
    shapes = {p.suffix for p in worlds["mixed"].inbox.rglob("*.*")}
    assert shapes == {".csv", ".txt", ".xlsx"}
    with duckdb.connect(str(worlds["mixed"].home / "raw.duckdb"), read_only=True) as con:
        read_by = con.execute(
            "select count(*) filter (import_settings is not null), count(*), "
            "count(*) filter (status <> 'loaded') from load_ledger"
        ).fetchone()
    assert read_by == (12, 12, 0)
    marts = {}
    for name, env in worlds.items():
        with duckdb.connect(str(env.warehouse), read_only=True) as con:
            tables = [t for (t,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts' order by 1"
            ).fetchall()]  # fmt: skip
            marts[name] = {t: _mart_rows(con, t) for t in tables}
    assert marts["mixed"].keys() == marts["contract"].keys() and len(marts["contract"]) > 20
    differ = [t for t in marts["contract"] if marts["mixed"][t] != marts["contract"][t]]
    assert not differ, differ


# Where a row came from (file names differ between the shapes: .txt, .xlsx), and when
# a refresh ran (clock time, not data)
FILE_LINEAGE = {"_file_name", "file_name", "_load_id", "load_id", "_loaded_at"}
RUN_TIME = {"recorded_at", "fit_seconds"}
SHARED_KEY = "a-key-both-worlds-hash-with-0123456789"


def _mart_rows(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    columns = [
        c
        for (c,) in con.execute(
            "select column_name from duckdb_columns() where schema_name = 'marts' "
            "and table_name = ? order by column_index",
            [table],
        ).fetchall()
        if c not in FILE_LINEAGE | RUN_TIME
    ]
    listed = ", ".join(f'"{c}"' for c in columns)
    return con.execute(f"select {listed} from marts.{table} order by all").fetchall()


@pytest.mark.parametrize("dialect", ["german", "latin1-tab", "pipe", "excel", "renamed"])
def test_each_entity_loads_the_same_rows_in_every_export_shape(tmp_path: Path, dialect: str):
    """Every entity of a generated world, reshaped as one kind of export (with the
    settings `reshape` writes): the raw tables equal the contract-shaped load's, bad
    rows included (quarantined at the same lines)."""
    from crm.generate import generate
    from crm.generate.dialects import reshape

    reference, shaped = _settings(tmp_path / "ref"), _settings(tmp_path / dialect)
    generate(reference.inbox, tmp_path / "truth", customers=60, seed=3, file_format="csv",
             bad_row_rate=0.02)  # fmt: skip
    shaped.home.mkdir(parents=True)
    shaped.sources_path.write_text(reshape(reference.inbox, shaped.inbox, dialect))
    for settings in (reference, shaped):
        report = load_inbox(settings)
        assert {r.status for r in report.files} == {"loaded"}, [r.error for r in report.files]
    for entity in ENTITIES:
        if entity == "identity_overrides":
            continue
        assert _entity_rows(shaped, entity) == _entity_rows(reference, entity), entity
    quarantined = []
    for settings in (reference, shaped):
        with duckdb.connect(str(settings.raw_store), read_only=True) as con:
            quarantined.append(
                con.execute(
                    "select entity, row_number, reason from quarantine order by all"
                ).fetchall()
            )
    assert quarantined[0] and len(quarantined[1]) == len(quarantined[0])
    if dialect in ("pipe", "renamed"):  # same lines, same values: the same reasons
        assert quarantined[1] == quarantined[0]


def test_a_source_says_whether_its_rejected_files_block(tmp_path: Path):
    settings = _settings(tmp_path)
    settings.home.mkdir(parents=True)
    settings.sources_path.write_text(
        "sources:\n"
        "  strict:\n    entity: orders\n    files: orders/strict-*.csv\n"
        "    rejected_file_blocks: true\n"
        "  lenient:\n    entity: orders\n    files: orders/lenient-*.csv\n"
        "    rejected_file_blocks: no\n"
    )
    for name in ("strict-1.csv", "lenient-1.csv", "other-1.csv"):
        _put(settings, f"orders/{name}", b"id,total\n1,2\n")  # no required column
    load_inbox(dataclasses.replace(settings, rejected_file_blocks=True))
    with duckdb.connect(str(settings.raw_store), read_only=True) as con:
        blocks = dict(
            con.execute("select file_name, blocks_publication from load_ledger").fetchall()
        )
    assert blocks == {
        "orders/strict-1.csv": True,
        "orders/lenient-1.csv": False,  # the source's own setting wins
        "orders/other-1.csv": True,  # no source: CRM_REJECTED_FILE_BLOCKS
    }


def test_the_decoded_copy_of_an_export_does_not_outlive_its_load(tmp_path: Path):
    settings = _settings(tmp_path)
    settings.temp_dir.mkdir(parents=True)
    stale = settings.temp_dir / "load-4242-kunden.txt.utf8.csv"  # left by a killed load
    stale.write_text("Nummer\tName\nC1\tMüller\n")
    settings.sources_path.write_text(SOURCES)
    _shaped_files(settings)
    assert {r.status for r in load_inbox(settings).files} == {"loaded"}
    assert list(settings.temp_dir.glob("load-*")) == []  # personal data: not kept
