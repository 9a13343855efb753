"""The loader (crm.load): inbox files -> raw store, against data contract v1.

Small files written in tmp_path; each test opens the raw store read-only after
``load_inbox`` has closed it, exactly as dbt does.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

import crm.load as load_mod
import crm.load.write as write_mod
from crm.config import Settings
from crm.contract import ENTITIES
from crm.load import LoadReport, ensure_raw_store, load_inbox
from crm.rawstore import BOOKKEEPING_TABLES

ORDERS_HEADER = "order_id,source_system,source_contact_id,ordered_at,order_total,currency,status\n"


def put(settings: Settings, rel: str, content: str | bytes) -> Path:
    """Write a file into the inbox (bytes as given, text as UTF-8)."""
    path = settings.inbox / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    if rel.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def rows(settings: Settings, sql: str) -> list[tuple]:
    con = duckdb.connect(str(settings.raw_store), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def one(settings: Settings, sql: str):
    return rows(settings, sql)[0][0]


def table_counts(settings: Settings) -> dict[str, int]:
    names = list(ENTITIES) + list(BOOKKEEPING_TABLES)
    return {n: one(settings, f"SELECT count(*) FROM main.{n}") for n in names}


def by_file(report: LoadReport) -> dict[str, load_mod.FileResult]:
    return {r.file: r for r in report.files}


def quarantine(settings: Settings, file: str) -> list[tuple[int, str, str]]:
    return rows(
        settings,
        "SELECT row_number, raw_row, reason FROM quarantine "
        f"WHERE file_name = '{file}' ORDER BY row_number",
    )


def assert_reconciles(settings: Settings) -> None:
    """Every loaded file: rows in file = loaded + quarantined + duplicates, also in the tables."""
    ledger = rows(
        settings,
        "SELECT load_id, entity, rows_in_file, rows_loaded, rows_quarantined, rows_duplicate, "
        "n_value_issues FROM load_ledger WHERE status = 'loaded'",
    )
    for load_id, entity, n_in, n_loaded, n_quarantined, n_dup, n_issues in ledger:
        assert n_in == n_loaded + n_quarantined + n_dup
        where = f"WHERE {{}} = '{load_id}'"
        assert (
            one(settings, f"SELECT count(*) FROM {entity} " + where.format("_load_id")) == n_loaded
        )
        for table, expected in (
            ("quarantine", n_quarantined),
            ("duplicates", n_dup),
            ("value_issues", n_issues),
        ):
            assert one(settings, f"SELECT count(*) FROM {table} " + where.format("load_id")) == (
                expected
            )


# ---------------------------------------------------------------- raw store


def test_empty_inbox_creates_every_table_and_ddl_is_idempotent(settings: Settings) -> None:
    report = load_inbox(settings)
    assert report.files == []
    counts = table_counts(settings)
    assert set(counts) == set(ENTITIES) | set(BOOKKEEPING_TABLES)
    assert all(n == 0 for n in counts.values())
    columns = [r[0] for r in rows(settings, "DESCRIBE orders")]
    lineage = ["_load_id", "_file_name", "_row_number", "_row_hash", "_extra", "_loaded_at"]
    assert columns == [*ENTITIES["orders"].column_names, *lineage]
    con = duckdb.connect(str(settings.raw_store))
    try:
        ensure_raw_store(con)
        ensure_raw_store(con)
    finally:
        con.close()
    assert table_counts(settings) == counts
    assert not settings.raw_store.with_suffix(".duckdb.wal").exists()


def test_ensure_raw_store_adds_columns_the_contract_gained(settings: Settings) -> None:
    load_inbox(settings)
    con = duckdb.connect(str(settings.raw_store))
    try:
        con.execute("ALTER TABLE orders DROP COLUMN store_id")
        con.execute("ALTER TABLE load_ledger DROP COLUMN notes")
        ensure_raw_store(con)
        assert "store_id" in [r[0] for r in con.execute("DESCRIBE orders").fetchall()]
        assert "notes" in [r[0] for r in con.execute("DESCRIBE load_ledger").fetchall()]
    finally:
        con.close()


# ---------------------------------------------------------------- good files, every format


def test_csv_loads_with_types_and_utc_timestamps(settings: Settings) -> None:
    put(
        settings,
        "orders/2024-01.csv",
        ORDERS_HEADER
        + "O1,web,C1,2024-01-05T10:00:00+02:00,10.50,EUR,completed\n"
        + "O2,web,C2,2024-01-05T10:00:00Z,3,,Paid\n"
        + " O3 ,store, C3 ,2024-01-05 10:00:00, 7.125 ,usd,  REFUNDED \n",
    )
    report = load_inbox(settings)
    (result,) = report.files
    assert (result.status, result.rows_in_file, result.rows_loaded) == ("loaded", 3, 3)
    got = rows(
        settings,
        "SELECT order_id, source_contact_id, ordered_at, order_total, currency, status, "
        "_row_number, _file_name, typeof(ordered_at), typeof(order_total) FROM orders ORDER BY 1",
    )
    assert got == [
        ("O1", "C1", dt.datetime(2024, 1, 5, 8, 0), Decimal("10.5000"), "EUR", "completed",
         2, "orders/2024-01.csv", "TIMESTAMP", "DECIMAL(18,4)"),
        ("O2", "C2", dt.datetime(2024, 1, 5, 10, 0), Decimal("3.0000"), None, "completed",
         3, "orders/2024-01.csv", "TIMESTAMP", "DECIMAL(18,4)"),
        ("O3", "C3", dt.datetime(2024, 1, 5, 10, 0), Decimal("7.1250"), "usd", "returned",
         4, "orders/2024-01.csv", "TIMESTAMP", "DECIMAL(18,4)"),
    ]  # fmt: skip
    ledger = rows(
        settings,
        "SELECT entity, file_name, status, rows_in_file, rows_loaded, file_format, content_hash, "
        "load_id FROM load_ledger",
    )
    assert ledger == [
        ("orders", "orders/2024-01.csv", "loaded", 3, 3, "csv", result.content_hash, result.load_id)
    ]
    assert one(settings, "SELECT count(DISTINCT _row_hash) FROM orders") == 3
    assert_reconciles(settings)


def _order_records(prefix: str) -> list[dict[str, object]]:
    return [
        {"order_id": f"{prefix}1", "ordered_at": "2024-03-01T12:30:00+02:00", "order_total": 19.99,
         "status": "completed", "source_system": "web", "source_contact_id": "C1"},
        {"order_id": f"{prefix}2", "ordered_at": "2024-03-02T00:15:00", "order_total": 5,
         "status": "cancelled", "source_system": "web", "source_contact_id": "C2"},
    ]  # fmt: skip


def _as_csv(records: list[dict[str, object]]) -> str:
    cols = list(records[0])
    return (
        ",".join(cols) + "\n" + "".join(",".join(str(r[c]) for c in cols) + "\n" for r in records)
    )


def _as_jsonl(records: list[dict[str, object]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def test_every_format_loads_the_same_values(settings: Settings) -> None:
    put(settings, "orders/a.csv", _as_csv(_order_records("CSV")))
    put(settings, "orders/b.csv.gz", _as_csv(_order_records("CGZ")))
    put(settings, "orders/c.jsonl", _as_jsonl(_order_records("JSN")))
    put(settings, "orders/d.jsonl.gz", _as_jsonl(_order_records("JGZ")))
    # Parquet with native types: a TIMESTAMPTZ, a DOUBLE and an integer.
    parquet = settings.inbox / "orders" / "e.parquet"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        f"""COPY (SELECT * FROM (VALUES
            ('PQ1', TIMESTAMPTZ '2024-03-01 10:30:00+00', 19.99::DOUBLE, 'completed', 'web', 'C1'),
            ('PQ2', TIMESTAMPTZ '2024-03-02 00:15:00+00', 5::INTEGER, 'cancelled', 'web', 'C2'))
            t(order_id, ordered_at, order_total, status, source_system, source_contact_id))
        TO '{parquet}' (FORMAT parquet)"""
    )
    con.close()
    report = load_inbox(settings)
    assert [r.status for r in report.files] == ["loaded"] * 5
    assert report.rows_loaded == 10
    got = rows(
        settings,
        "SELECT right(order_id, 1), ordered_at, order_total, status, count(*) FROM orders "
        "GROUP BY ALL ORDER BY 1",
    )
    assert got == [
        ("1", dt.datetime(2024, 3, 1, 10, 30), Decimal("19.9900"), "completed", 5),
        ("2", dt.datetime(2024, 3, 2, 0, 15), Decimal("5.0000"), "cancelled", 5),
    ]
    numbers = rows(
        settings,
        "SELECT _file_name, list(_row_number ORDER BY order_id) FROM orders GROUP BY 1 ORDER BY 1",
    )
    assert numbers == [
        ("orders/a.csv", [2, 3]),
        ("orders/b.csv.gz", [2, 3]),
        ("orders/c.jsonl", [1, 2]),
        ("orders/d.jsonl.gz", [1, 2]),
        ("orders/e.parquet", [1, 2]),
    ]
    assert_reconciles(settings)


def test_header_names_are_normalised_and_booleans_parsed(settings: Settings) -> None:
    put(
        settings,
        "contacts/c.csv",
        "\ufeff Source System ,SOURCE_CONTACT_ID,Marketing Opt In,Birth Date\n"
        "web,1,Yes,1980-02-29\nweb,2,n,\nweb,3,T,\nweb,4,0,\n",
    )
    report = load_inbox(settings)
    assert report.files[0].status == "loaded", report.files[0].error
    got = rows(
        settings, "SELECT source_contact_id, marketing_opt_in, birth_date FROM contacts ORDER BY 1"
    )
    assert got == [
        ("1", True, dt.date(1980, 2, 29)),
        ("2", False, None),
        ("3", True, None),
        ("4", False, None),
    ]


# ---------------------------------------------------------------- loaded once


def test_same_file_twice_changes_nothing(settings: Settings) -> None:
    put(settings, "orders/a.csv", _as_csv(_order_records("O")))
    first = load_inbox(settings)
    before = table_counts(settings)
    second = load_inbox(settings)
    assert first.files[0].status == "loaded"
    assert second.files[0].status == "skipped"
    assert first.files[0].load_id in (second.files[0].note or "")
    assert table_counts(settings) == before


def test_touched_file_is_rehashed_and_still_skipped(settings: Settings) -> None:
    path = put(settings, "orders/a.csv", _as_csv(_order_records("O")))
    load_inbox(settings)
    before = table_counts(settings)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    (result,) = load_inbox(settings).files
    assert result.status == "skipped"
    assert (result.note or "").startswith("same content already loaded as orders/a.csv")
    assert table_counts(settings) == before


def test_odd_file_names_are_safe(settings: Settings) -> None:
    put(settings, "orders/it's $entity & $load_id.csv", _as_csv(_order_records("O")))
    (result,) = load_inbox(settings).files
    assert result.status == "loaded", result.error
    assert rows(settings, "SELECT DISTINCT _file_name FROM orders") == [
        ("orders/it's $entity & $load_id.csv",)
    ]
    assert_reconciles(settings)


def test_same_content_under_another_name_is_a_no_op(settings: Settings) -> None:
    put(settings, "orders/a.csv", _as_csv(_order_records("O")))
    load_inbox(settings)
    before = table_counts(settings)
    put(settings, "orders/sub/copy-of-a.csv", _as_csv(_order_records("O")))
    report = by_file(load_inbox(settings))
    assert report["orders/sub/copy-of-a.csv"].status == "skipped"
    assert "orders/a.csv" in (report["orders/sub/copy-of-a.csv"].note or "")
    assert table_counts(settings) == before


def test_overlapping_extract_loads_only_new_rows(settings: Settings) -> None:
    lines = [f"O{i},web,C{i},2024-01-0{i}T10:00:00Z,{i}.00,EUR,completed\n" for i in range(1, 7)]
    put(settings, "orders/day1.csv", ORDERS_HEADER + "".join(lines[:4]))
    load_inbox(settings)
    # Day 2 repeats O3 and O4 (with other formatting of the same values) and adds O5, O6.
    put(
        settings,
        "orders/day2.csv",
        ORDERS_HEADER
        + "O3,web,C3,2024-01-03T12:00:00+02:00,3,EUR,Completed\n"
        + lines[3]
        + "".join(lines[4:]),
    )
    report = by_file(load_inbox(settings))
    day2 = report["orders/day2.csv"]
    assert (day2.rows_in_file, day2.rows_loaded, day2.rows_duplicate) == (4, 2, 2)
    assert one(settings, "SELECT count(*) FROM orders") == 6
    assert one(settings, "SELECT count(DISTINCT order_id) FROM orders") == 6
    dups = rows(settings, "SELECT row_number, row_key, reason FROM duplicates ORDER BY 1")
    day1_load = one(settings, "SELECT load_id FROM load_ledger WHERE file_name = 'orders/day1.csv'")
    assert dups == [
        (2, "order_id=O3", f"already loaded from orders/day1.csv (load {day1_load})"),
        (3, "order_id=O4", f"already loaded from orders/day1.csv (load {day1_load})"),
    ]
    assert_reconciles(settings)


def test_changed_row_is_appended_as_new_version(settings: Settings) -> None:
    put(settings, "orders/a.csv", ORDERS_HEADER + "O1,web,C1,2024-01-01T10:00:00Z,10,EUR,\n")
    load_inbox(settings)
    put(
        settings, "orders/b.csv", ORDERS_HEADER + "O1,web,C1,2024-01-01T10:00:00Z,10,EUR,returned\n"
    )
    load_inbox(settings)
    # A change back to the first version is a new version again (not a duplicate).
    put(settings, "orders/c.csv", ORDERS_HEADER + "O1,web,C1,2024-01-01T10:00:00Z,10,EUR,\n\n")
    load_inbox(settings)
    history = rows(settings, "SELECT status, _file_name FROM orders ORDER BY _loaded_at")
    assert history == [(None, "orders/a.csv"), ("returned", "orders/b.csv"), (None, "orders/c.csv")]
    latest = rows(
        settings,
        "SELECT _file_name FROM orders "
        "QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY _loaded_at DESC) = 1",
    )
    assert latest == [("orders/c.csv",)]
    assert one(settings, "SELECT count(*) FROM duplicates") == 0


# ---------------------------------------------------------------- row-level problems


def test_malformed_csv_rows_are_quarantined_with_line_numbers(settings: Settings) -> None:
    content = (
        ORDERS_HEADER.encode()
        + b"O1,web,C1,2024-01-01T10:00:00Z,1.5,EUR,completed\n"  # 2 good
        + b",web,C2,2024-01-01T10:00:00Z,2,EUR,completed\n"  # 3 missing order_id
        + b"O3,web,C3,yesterday,3,EUR,completed\n"  # 4 bad timestamp
        + b"O4,web,C4,2024-01-01T10:00:00Z,1.234,56,EUR,completed\n"  # 5 too many columns
        + b"O5,web,C5,2024-01-01T10:00:00Z,12abc,EUR,completed\n"  # 6 bad number
        + b"O6,w\xe9b,C6,2024-01-01T10:00:00Z,6,EUR,completed\n"  # 7 invalid UTF-8
        + b"O7,web,C7,2024-01-01T10:00:00Z,7,EUR\n"  # 8 too few columns
        + b"O8,web,C8,,,EUR,completed\n"  # 9 two reasons
        + b"O9,web,C9,2024-01-01T10:00:00Z,9,EUR,completed\n"  # 10 good
    )
    put(settings, "orders/bad.csv", content)
    (result,) = load_inbox(settings).files
    assert (result.status, result.rows_in_file, result.rows_loaded, result.rows_quarantined) == (
        "loaded", 9, 2, 7,
    )  # fmt: skip
    assert rows(settings, "SELECT order_id, _row_number FROM orders ORDER BY 1") == [
        ("O1", 2),
        ("O9", 10),
    ]
    q = quarantine(settings, "orders/bad.csv")
    assert [r[0] for r in q] == [3, 4, 5, 6, 7, 8, 9]
    reasons = {r[0]: r[2] for r in q}
    assert reasons[3] == "order_id is missing"
    assert reasons[4] == "ordered_at 'yesterday' is not a valid timestamp"
    assert reasons[5].startswith("unreadable line: too many columns")
    assert reasons[6] == "order_total '12abc' is not a valid number"
    assert reasons[7].startswith("unreadable line: invalid encoding")
    assert reasons[8].startswith("unreadable line: missing columns")
    assert reasons[9] == "ordered_at is missing; order_total is missing"
    raw = {r[0]: r[1] for r in q}
    assert raw[5] == "O4,web,C4,2024-01-01T10:00:00Z,1.234,56,EUR,completed"
    assert json.loads(raw[4])["ordered_at"] == "yesterday"
    assert_reconciles(settings)


def test_csv_row_numbers_are_physical_lines(settings: Settings) -> None:
    """Blank lines and quoted values spanning lines do not shift the numbers."""
    put(
        settings,
        "orders/odd.csv",
        ORDERS_HEADER
        + "O1,web,C1,2024-01-01T10:00:00Z,1,EUR,completed\n"  # 2
        + "\n"  # 3 blank
        + 'O2,web,"C2\nsecond line",2024-01-01T10:00:00Z,2,EUR,completed\n'  # 4-5
        + "O3,web,C3,2024-01-01T10:00:00Z,3\n"  # 6 too few columns
        + "O4,web,C4,2024-01-01T10:00:00Z,4,EUR,completed\n"  # 7
        + "\n\n",  # trailing blank lines
    )
    (result,) = load_inbox(settings).files
    assert result.status == "loaded" and result.note is None
    assert rows(settings, "SELECT order_id, _row_number FROM orders ORDER BY 1") == [
        ("O1", 2),
        ("O2", 4),
        ("O4", 7),
    ]
    assert [r[0] for r in quarantine(settings, "orders/odd.csv")] == [6]
    assert_reconciles(settings)


def test_jsonl_bad_lines_are_quarantined_and_the_rest_loads(settings: Settings) -> None:
    good = [json.dumps(r) for r in _order_records("J")]
    content = (
        good[0].encode() + b"\n"  # 1
        + b'{"order_id": "J9", "ordered_at": \n'  # 2 invalid JSON
        + b"\n"  # 3 blank: not a record
        + b"[1, 2]\n"  # 4 not an object
        + b'{"order_id": "J\xff", "ordered_at": "2024-01-01", "order_total": 1}\n'  # 5 bad UTF-8
        + good[1].encode() + b"\n"  # 6
        + b'{"order_id": "J7", "ordered_at": "2024-01-01", "order_total": "n/a"}\n'  # 7
    )  # fmt: skip
    put(settings, "orders/x.jsonl", content)
    (result,) = load_inbox(settings).files
    assert (result.rows_in_file, result.rows_loaded, result.rows_quarantined) == (6, 2, 4)
    assert rows(settings, "SELECT order_id, _row_number FROM orders ORDER BY 1") == [
        ("J1", 1),
        ("J2", 6),
    ]
    q = quarantine(settings, "orders/x.jsonl")
    assert [(r[0], r[2].split(" (")[0]) for r in q] == [
        (2, "invalid JSON"),
        (4, "not a JSON object but array"),
        (5, "unreadable line: invalid encoding"),
        (7, "order_total 'n/a' is not a valid number"),
    ]
    assert q[0][1] == '{"order_id": "J9", "ordered_at": '
    assert_reconciles(settings)


def test_optional_bad_values_keep_the_row(settings: Settings) -> None:
    put(
        settings,
        "contacts/c.csv",
        "source_system,source_contact_id,first_name,birth_date,marketing_opt_in,created_at\n"
        "web,1,Ann,1956-13-45,maybe,2024-02-30T00:00:00\n"
        "web,2,Bob,1960-01-02,yes,2024-01-01T00:00:00+01:00\n",
    )
    put(
        settings,
        "interactions/i.csv",
        "interaction_id,source_system,opened_at,channel,satisfaction_score\n"
        "I1,web,2024-01-01T00:00:00Z,Carrier pigeon,7\nI2,web,2024-01-01T00:00:00Z,PHONE,5\n",
    )
    report = load_inbox(settings)
    assert [(r.rows_loaded, r.n_value_issues) for r in report.files] == [(2, 3), (2, 2)]
    assert rows(settings, "SELECT source_contact_id, birth_date, marketing_opt_in, created_at "
                          "FROM contacts ORDER BY 1") == [
        ("1", None, None, None),
        ("2", dt.date(1960, 1, 2), True, dt.datetime(2023, 12, 31, 23, 0)),
    ]  # fmt: skip
    assert rows(settings, "SELECT channel, satisfaction_score FROM interactions ORDER BY 1") == [
        ("phone", 5),
        (None, None),
    ]
    issues = rows(
        settings,
        "SELECT file_name, row_number, column_name, raw_value, reason FROM value_issues "
        "ORDER BY file_name, row_number, column_name",
    )
    assert issues == [
        ("contacts/c.csv", 2, "birth_date", "1956-13-45",
         "birth_date '1956-13-45' is not a valid date"),
        ("contacts/c.csv", 2, "created_at", "2024-02-30T00:00:00",
         "created_at '2024-02-30T00:00:00' is not a valid timestamp"),
        ("contacts/c.csv", 2, "marketing_opt_in", "maybe",
         "marketing_opt_in 'maybe' is not a valid boolean"),
        ("interactions/i.csv", 2, "channel", "Carrier pigeon",
         "channel 'Carrier pigeon' is not one of: phone, email, web, chat, fax, store"),
        ("interactions/i.csv", 2, "satisfaction_score", "7",
         "satisfaction_score '7' is above the maximum 5"),
    ]  # fmt: skip
    assert_reconciles(settings)


def test_key_conflicts_are_quarantined_and_exact_repeats_counted_once(settings: Settings) -> None:
    put(
        settings,
        "orders/k.csv",
        ORDERS_HEADER
        + "O1,web,C1,2024-01-01T10:00:00Z,10,EUR,completed\n"  # 2 conflict
        + "O2,web,C2,2024-01-01T10:00:00Z,20,EUR,completed\n"  # 3 kept
        + "O1,web,C1,2024-01-01T10:00:00Z,11,EUR,completed\n"  # 4 conflict
        + "O2,web,C2,2024-01-01T10:00:00Z,20.00,EUR,Paid\n"  # 5 repeat of 3 (same values)
        + "O1,web,C1,2024-01-01T10:00:00Z,10,EUR,completed\n",  # 6 conflict
    )
    (result,) = load_inbox(settings).files
    assert (result.rows_loaded, result.rows_quarantined, result.rows_duplicate) == (1, 3, 1)
    assert rows(settings, "SELECT order_id, _row_number FROM orders") == [("O2", 3)]
    q = quarantine(settings, "orders/k.csv")
    assert [r[0] for r in q] == [2, 4, 6]
    assert {r[2] for r in q} == {"key conflict: 3 rows share order_id=O1 with different values"}
    assert rows(settings, "SELECT row_number, row_key, reason FROM duplicates") == [
        (5, "order_id=O2", "exact repeat of row 3 in this file")
    ]
    assert_reconciles(settings)


def test_composite_key_conflict_names_every_key_column(settings: Settings) -> None:
    put(
        settings,
        "contacts/c.csv",
        "source_system,source_contact_id,first_name\nweb,1,Ann\nweb,1,Anne\nstore,1,Ann\n",
    )
    load_inbox(settings)
    assert {r[2] for r in quarantine(settings, "contacts/c.csv")} == {
        "key conflict: 2 rows share source_system=web, source_contact_id=1 with different values"
    }
    assert rows(settings, "SELECT source_system FROM contacts") == [("store",)]


def test_unknown_extra_columns_are_kept(settings: Settings) -> None:
    put(
        settings,
        "orders/x.csv",
        "order_id,ordered_at,order_total,Loyalty Tier,coupon\n"
        "O1,2024-01-01,1,gold,\nO2,2024-01-01,2,,\n",
    )
    record = {"order_id": "O3", "ordered_at": "2024-01-01", "order_total": 3, "Gift Wrap": True}
    put(settings, "orders/y.jsonl", json.dumps(record) + "\n")
    report = by_file(load_inbox(settings))
    assert report["orders/x.csv"].extra_columns == ["loyalty_tier", "coupon"]
    got = rows(settings, "SELECT order_id, _extra FROM orders ORDER BY 1")
    assert [(o, json.loads(e) if e else None) for o, e in got] == [
        ("O1", {"loyalty_tier": "gold", "coupon": None}),
        ("O2", None),
        ("O3", {"gift_wrap": "true"}),
    ]
    assert rows(settings, "SELECT file_name, extra_columns FROM load_ledger ORDER BY 1") == [
        ("orders/x.csv", ["loyalty_tier", "coupon"]),
        ("orders/y.jsonl", ["gift_wrap"]),
    ]


def test_column_profile_counts_present_and_invalid_values(settings: Settings) -> None:
    put(
        settings,
        "contacts/c.jsonl",
        "\n".join(
            json.dumps(r)
            for r in (
                {"source_system": "web", "source_contact_id": "1", "birth_date": "31/12/1960"},
                {"source_system": "web", "source_contact_id": "2", "birth_date": "1961-01-02"},
                {"source_system": "web", "source_contact_id": "3", "birth_date": "02/01/1962"},
                {"source_system": "web", "source_contact_id": "4", "e_mail": "a@b.c"},
            )
        ),
    )
    put(
        settings,
        "orders/o.csv",
        ORDERS_HEADER
        + "O1,web,C1,2024-01-01T10:00:00Z,12,EUR,completed\n"
        + "O2,web,C2,2024-01-01T10:00:00Z,12;50,EUR,completed\n"  # quarantined
        + "O3,web,C3,2024-01-01T10:00:00Z,,EUR,shipped\n",  # missing total, bad status
    )
    load_inbox(settings)
    profile = {
        (entity, column): (in_file, present, invalid, example)
        for entity, column, in_file, present, invalid, example in rows(
            settings,
            "SELECT entity, column_name, in_file, values_present, values_invalid, "
            "example_invalid FROM column_profile",
        )
    }
    assert len(profile) == len(ENTITIES["contacts"].columns) + len(ENTITIES["orders"].columns)
    assert profile["contacts", "birth_date"] == (True, 3, 2, "02/01/1962")
    assert profile["contacts", "email"] == (False, 0, 0, None)  # e_mail is an extra column
    assert profile["contacts", "source_contact_id"] == (True, 4, 0, None)
    assert profile["orders", "order_total"] == (True, 2, 1, "12;50")  # the blank is not present
    assert profile["orders", "status"] == (True, 3, 1, "shipped")
    assert profile["orders", "store_id"] == (False, 0, 0, None)


# ---------------------------------------------------------------- whole-file rejects


def test_unreadable_files_are_rejected_and_the_rest_loads(settings: Settings) -> None:
    put(settings, "orders/1-semicolon.csv", "order_id;ordered_at;order_total\nO1;2024-01-01;1\n")
    put(settings, "orders/2-empty.csv", "")
    put(settings, "orders/3-good.csv", _as_csv(_order_records("G")))
    truncated = settings.inbox / "orders" / "4-truncated.parquet"
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT 'P' || i AS order_id, now() AS ordered_at, i AS order_total "
        f"FROM range(1000) t(i)) TO '{truncated}' (FORMAT parquet)"
    )
    con.close()
    truncated.write_bytes(truncated.read_bytes()[:-100])
    gz = gzip.compress(_as_csv(_order_records("Z")).encode())
    (settings.inbox / "orders" / "5-truncated.csv.gz").write_bytes(gz[: len(gz) // 2])
    put(
        settings, "orders/6-missing-field.jsonl", '{"order_id": "J1", "ordered_at": "2024-01-01"}\n'
    )
    put(settings, "orders/7-header-only.csv", ORDERS_HEADER)

    report = by_file(load_inbox(settings))
    status = {name: r.status for name, r in report.items()}
    assert status == {
        "orders/1-semicolon.csv": "rejected",
        "orders/2-empty.csv": "rejected",
        "orders/3-good.csv": "loaded",
        "orders/4-truncated.parquet": "rejected",
        "orders/5-truncated.csv.gz": "rejected",
        "orders/6-missing-field.jsonl": "rejected",
        "orders/7-header-only.csv": "loaded",
    }
    semicolon = report["orders/1-semicolon.csv"].error or ""
    assert "missing: order_id, ordered_at, order_total" in semicolon
    assert "'order_id;ordered_at;order_total'" in semicolon and "';'" in semicolon
    assert "empty" in (report["orders/2-empty.csv"].error or "")
    assert "Parquet" in (report["orders/4-truncated.parquet"].error or "")
    assert "gzip" in (report["orders/5-truncated.csv.gz"].error or "")
    assert "order_total" in (report["orders/6-missing-field.jsonl"].error or "")
    assert one(settings, "SELECT count(*) FROM orders") == 2
    ledger = dict(
        rows(settings, "SELECT file_name, error FROM load_ledger WHERE status = 'rejected'")
    )
    assert ledger["orders/1-semicolon.csv"] == semicolon
    assert one(settings, "SELECT count(*) FROM quarantine") == 0
    assert report["orders/7-header-only.csv"].rows_in_file == 0

    # Rejected content is not retried; changed content is.
    before = table_counts(settings)
    again = by_file(load_inbox(settings))
    assert again["orders/1-semicolon.csv"].status == "skipped"
    assert table_counts(settings) == before
    put(settings, "orders/1-semicolon.csv", "order_id,ordered_at,order_total\nO1,2024-01-01,1\n")
    fixed = by_file(load_inbox(settings))
    assert fixed["orders/1-semicolon.csv"].status == "loaded"
    assert_reconciles(settings)


def test_unknown_folders_and_suffixes_are_reported_not_loaded(settings: Settings) -> None:
    put(settings, "refunds/r.csv", "a,b\n1,2\n")
    put(settings, "orders/notes.txt", "hello")
    put(settings, "stray.csv", "a\n1\n")
    put(settings, "orders/.partial.csv", "being copied")
    put(settings, "orders/ok.csv", _as_csv(_order_records("O")))
    report = load_inbox(settings)
    assert [(r.file, r.status) for r in report.files] == [
        ("orders/ok.csv", "loaded"),
        ("orders/notes.txt", "ignored"),
        ("refunds", "ignored"),
        ("stray.csv", "ignored"),
    ]
    assert report.files_ignored == 3


# ---------------------------------------------------------------- atomicity


def test_crash_mid_file_leaves_nothing_behind(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(
        settings,
        "orders/a.csv",
        ORDERS_HEADER + ",web,C,2024-01-01,1,EUR,\nO2,web,C,2024-01-01,2,,\n",
    )
    # write_loaded_file looks insert_ledger up in crm.load.write at call time
    real_insert_ledger = write_mod.insert_ledger

    def boom(con: duckdb.DuckDBPyConnection, row: dict[str, object]) -> None:
        assert con.execute("SELECT count(*) FROM orders").fetchone()[0] == 1  # the rows are in
        assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 1
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(write_mod, "insert_ledger", boom)
    with pytest.raises(RuntimeError, match="simulated crash"):
        load_inbox(settings)
    assert all(n == 0 for n in table_counts(settings).values())

    monkeypatch.setattr(write_mod, "insert_ledger", real_insert_ledger)
    (result,) = load_inbox(settings).files
    assert (result.status, result.rows_loaded, result.rows_quarantined) == ("loaded", 1, 1)
    assert_reconciles(settings)


def test_count_mismatch_is_a_bug_and_rolls_back(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(settings, "orders/a.csv", _as_csv(_order_records("O")))
    # _write_staged_rows looks _insert_duplicates up in crm.load.write at call time
    monkeypatch.setattr(write_mod, "_insert_duplicates", lambda *args: 1)
    with pytest.raises(load_mod.LoadIntegrityError):
        load_inbox(settings)
    assert all(n == 0 for n in table_counts(settings).values())


def test_load_waits_for_a_reader_of_the_raw_store_then_says_what_holds_it(tmp_path, monkeypatch):
    """A process reading the raw store blocks writers: the load waits, then fails clearly."""
    import subprocess
    import sys

    from crm.config import Settings
    from crm.load import connect_raw_store

    monkeypatch.setenv("CRM_HOME", str(tmp_path))
    monkeypatch.setenv("CRM_RAW_LOCK_WAIT", "1")
    settings = Settings.from_env()
    connect_raw_store(settings).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(settings.raw_store)!r}, read_only=True);"
            "print('open', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(RuntimeError, match="held by another process"):
            connect_raw_store(settings)
    finally:
        holder.kill()
        holder.wait()
    connect_raw_store(settings).close()  # free again: the load proceeds


def test_a_rejected_file_quotes_its_first_line_only_when_it_looks_like_a_header(
    settings: Settings,
) -> None:
    # An export without its header line: the first person becomes "the header".
    person = "web,W1,Anna,Berg,anna.berg@example.org,+49 171 2345678,1980-02-03,Hauptweg 4"
    put(settings, "contacts/no-header.csv", person + "\n")
    put(settings, "contacts/semicolons.csv", person.replace(",", ";") + "\n")
    put(settings, "contacts/no-header.jsonl", '{"anna.berg@example.org": "W1"}\n')
    put(settings, "contacts/renamed.csv", "Kundennummer,Vorname,E-Mail\nW2,Bo,bo@example.org\n")
    report = by_file(load_inbox(settings))
    assert {r.status for r in report.values()} == {"rejected"}
    for name in ("no-header.csv", "semicolons.csv", "no-header.jsonl"):
        error = report[f"contacts/{name}"].error or ""
        assert "looks like a data row" in error and "missing: " in error, error
        assert "anna" not in error.lower() and "2345678" not in error, error
    assert "8 field(s)" in (report["contacts/no-header.csv"].error or "")
    assert "'Kundennummer', 'Vorname', 'E-Mail'" in (report["contacts/renamed.csv"].error or "")
