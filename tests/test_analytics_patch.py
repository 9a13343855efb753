"""Publication of an incremental build: the analytics file as a patched copy of the
last one (crm.publish.analytics_patch, crm.pii.write_analytics) equals the file
written whole, and is used only when it is safe."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from crm.incremental import compare_warehouses
from crm.pii import AnalyticsPatch, Policy, TablePolicy, keyed_hash, write_analytics
from crm.publish import analytics_patch

KEY = "k" * 40
POLICY = Policy(
    {
        ("marts", "customers"): TablePolicy(columns={"email": ("email", "hash")}),
        ("marts", "segments"): TablePolicy(),
        ("marts", "pairs"): TablePolicy(),
        ("marts", "gone_later"): TablePolicy(),
        ("intermediate", "int_changed_customers"): TablePolicy(),
        ("intermediate", "secret"): TablePolicy(exclude=True),
    }
)
CHANGED = '"intermediate"."int_changed_customers"'
REPLACED = {
    ("marts", "customers"): ("customer_id", CHANGED, ("customer_id",)),
    # a row goes when either of its customers is listed (int_contact_links' kind)
    ("marts", "pairs"): ("customer_id", CHANGED, ("customer_a", "customer_b")),
}


def _build(path: Path, run_id: str, based_on: str | None, customers, changed, segments) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts; create schema intermediate; create schema meta")
        con.execute("create table marts.customers (customer_id varchar, email varchar)")
        for row in customers:
            con.execute("insert into marts.customers values (?, ?)", row)
        con.execute("create table intermediate.int_changed_customers (customer_id varchar)")
        for row in changed:
            con.execute("insert into intermediate.int_changed_customers values (?)", row)
        con.execute("create table marts.segments as select * from range(?) t(n)", [segments])
        # every pair of customers (in key order) whose e-mails share a domain
        con.execute(
            "create table marts.pairs as select a.customer_id as customer_a, "
            "b.customer_id as customer_b from marts.customers as a join marts.customers as b "
            "on a.customer_id < b.customer_id and split_part(a.email, '@', 2) = "
            "split_part(b.email, '@', 2)"
        )
        con.execute("create table intermediate.secret as select 'plain' as value")
        if based_on is None:
            con.execute("create table marts.gone_later as select 1 as x")
        con.execute(
            "create table meta.warehouse_info as select ? as run_id, "
            "? as refresh_mode, ? as based_on_run_id",
            [run_id, "full" if based_on is None else "incremental", based_on],
        )
    return path


def _rows(path: Path, sql: str):
    with duckdb.connect(str(path), read_only=True) as con:
        return sorted(con.execute(sql).fetchall())


@pytest.fixture
def day(tmp_path: Path):
    first = _build(
        tmp_path / "b1.duckdb", "r1", None, [("C1", "a@x.de"), ("C2", "b@x.de"), ("C3", None)],
        [], 3,
    )  # fmt: skip
    published = tmp_path / "warehouse.duckdb"
    assert write_analytics(first, published, KEY, POLICY) == "whole"
    # the next build: C2's e-mail changed, C3 merged away, C4 new; segments rebuilt
    second = _build(
        tmp_path / "b2.duckdb", "r2", "r1",
        [("C1", "a@x.de"), ("C2", "new@x.de"), ("C4", "d@x.de")], [("C2",), ("C3",), ("C4",)], 5,
    )  # fmt: skip
    return tmp_path, published, second


def test_patched_copy_equals_the_file_written_whole(day):
    root, published, second = day
    patch = analytics_patch(second, published, KEY, REPLACED)
    assert patch == AnalyticsPatch(previous=published, replaced=REPLACED)
    patched, whole = root / "patched.duckdb", root / "whole.duckdb"
    assert write_analytics(second, patched, KEY, POLICY, patch) == "patched"
    assert write_analytics(second, whole, KEY, POLICY) == "whole"
    assert compare_warehouses(patched, whole) == []
    assert _rows(patched, "select customer_id, email from marts.customers") == [
        ("C1", keyed_hash(KEY, "a@x.de")),
        ("C2", keyed_hash(KEY, "new@x.de")),
        ("C4", keyed_hash(KEY, "d@x.de")),
    ]
    assert _rows(patched, "select count(*) from marts.segments") == [(5,)]
    assert _rows(patched, "select * from marts.pairs") == [("C1", "C2"), ("C1", "C4"), ("C2", "C4")]
    tables = _rows(patched, "select schema_name, table_name from duckdb_tables()")
    assert ("marts", "gone_later") not in tables  # dropped with its model
    assert ("intermediate", "secret") not in tables  # excluded stays out
    assert _rows(patched, "select written from meta.analytics_info") == [("patched",)]
    # the published file itself was not touched
    assert _rows(published, "select count(*) from marts.segments") == [(3,)]


def test_patch_only_when_it_continues_the_published_run_with_the_same_key(day, tmp_path):
    root, published, second = day
    assert analytics_patch(second, published, "other" * 8, REPLACED) is None  # new key
    assert analytics_patch(second, published, KEY, {}) is None  # nothing replaced
    assert analytics_patch(second, root / "missing.duckdb", KEY, REPLACED) is None
    other = _build(tmp_path / "b3.duckdb", "r3", "r0", [], [], 1)  # continues another run
    assert analytics_patch(other, published, KEY, REPLACED) is None
    full = _build(tmp_path / "b4.duckdb", "r4", None, [], [], 1)  # a full build
    assert analytics_patch(full, published, KEY, REPLACED) is None
