"""The raw store landed for Spark (crm/spark/landing.py): every load once, whole.

The landed Parquet files are read back with DuckDB here (no Spark needed); that
Spark reads them as the raw source is bench/spark_parity.py's check.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from crm.config import Settings
from crm.load import load_inbox
from crm.rawstore import table_columns
from crm.spark.landing import (
    LEDGER,
    land_raw_store,
    landed_watermark,
    raw_table_ddl,
    spark_type,
)
from tests.test_load import put

ORDERS = "order_id,source_system,source_contact_id,ordered_at,order_total,currency,status\n"
CONTACTS = "source_system,source_contact_id,first_name,last_name,email,updated_at\n"


def _landed(lake: Path, table: str) -> list[tuple]:
    """The table's rows as Spark would read them (instants shown in UTC, zone dropped)."""
    files = sorted((lake / table).glob("*.parquet"))
    if not files:
        return []
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        listed = ", ".join(f"'{p}'" for p in files)
        frame = con.execute(f"select * from read_parquet([{listed}], union_by_name = true)")
        names = [d[0] for d in frame.description]
        types = con.execute(
            f"select column_name, column_type from (describe select * from "
            f"read_parquet([{listed}], union_by_name = true))"
        ).fetchall()
        select = ", ".join(
            f'cast("{n}" as timestamp) as "{n}"' if t == "TIMESTAMP WITH TIME ZONE" else f'"{n}"'
            for n, t in types
        )
        assert [n for n, _ in types] == names
        return sorted(
            con.execute(
                f"select {select} from read_parquet([{listed}], union_by_name = true)"
            ).fetchall(),
            key=repr,
        )


def _raw(settings: Settings, table: str) -> list[tuple]:
    with duckdb.connect(str(settings.raw_store), read_only=True) as con:
        return sorted(con.execute(f"select * from main.{table}").fetchall(), key=repr)


def _assert_lake_equals_raw(settings: Settings, lake: Path) -> None:
    for table in table_columns():
        assert _landed(lake, table) == _raw(settings, table), table


def _drop_day(settings: Settings, day: int) -> None:
    put(
        settings,
        f"orders/day{day}.csv",
        ORDERS
        + "".join(
            f"D{day}-{i},web,W{i},2025-06-{day:02d}T10:0{i}:00+02:00,{i}.50,EUR,completed\n"
            for i in range(4)
        )
        + f"D{day}-X,web,W1,not a date,1.00,EUR,completed\n",  # a value issue, quarantined
    )
    put(
        settings,
        f"contacts/day{day}.csv",
        CONTACTS + f"web,W{day},Ada,Day{day},ada{day}@example.org,2025-06-{day:02d}T08:00:00Z\n",
    )


def test_each_load_lands_once_and_the_lake_equals_the_raw_store(settings: Settings, tmp_path):
    lake = tmp_path / "lake"
    _drop_day(settings, 1)
    load_inbox(settings)
    first = land_raw_store(settings.raw_store, lake)
    assert first.before is None and first.after == landed_watermark(lake)
    assert first.files["orders"] == 4 and first.files["contacts"] == 1
    assert first.files[LEDGER] == 2  # one load per file
    assert first.files["quarantine"] == 1  # the bookkeeping lands too
    _assert_lake_equals_raw(settings, lake)
    # every table has its folder, files or not (Spark declares a table over each)
    assert {p.name for p in lake.iterdir()} == set(table_columns())

    again = land_raw_store(settings.raw_store, lake)
    assert again.files == {} and again.after == first.after  # nothing new, nothing written

    _drop_day(settings, 2)
    load_inbox(settings)
    second = land_raw_store(settings.raw_store, lake)
    assert second.before == first.after and second.after > first.after
    assert second.files["orders"] == 4 and second.files[LEDGER] == 2
    assert len(list((lake / "orders").glob("*.parquet"))) == 2  # one file a landing
    _assert_lake_equals_raw(settings, lake)
    # a UTC instant stays that instant: 10:00+02:00 is 08:00 UTC
    (ordered_at,) = [r for r in _landed(lake, "orders") if r[0] == "D2-0"][0][3:4]
    assert ordered_at == dt.datetime(2025, 6, 2, 8, 0)


def test_a_landing_killed_midway_is_redone_without_doubles(settings: Settings, tmp_path):
    lake = tmp_path / "lake"
    _drop_day(settings, 1)
    load_inbox(settings)
    land_raw_store(settings.raw_store, lake)
    _drop_day(settings, 2)
    load_inbox(settings)
    # What a kill leaves: this landing's orders file written (the ledger's not), and
    # a contacts file still under its hidden name.
    done = land_raw_store(settings.raw_store, tmp_path / "elsewhere")
    newest = sorted((tmp_path / "elsewhere" / "orders").glob("*.parquet"))[-1]
    (lake / "orders" / newest.name).write_bytes(newest.read_bytes())
    (lake / "contacts" / f".{newest.name}.tmp").write_bytes(b"half a file")
    assert landed_watermark(lake) < done.after  # the ledger says: not landed

    redone = land_raw_store(settings.raw_store, lake)
    assert sorted(redone.removed) == [f"contacts/.{newest.name}.tmp", f"orders/{newest.name}"]
    assert redone.after == done.after
    _assert_lake_equals_raw(settings, lake)


def test_the_spark_ddl_declares_every_contract_column(tmp_path):
    ddl = raw_table_ddl(tmp_path / "lake", "crm_raw")
    assert set(ddl) == set(table_columns())
    for table, columns in table_columns().items():
        statement = ddl[table]
        assert statement.startswith(f"create table if not exists `crm_raw`.`{table}` (")
        for column, duckdb_type in columns.items():
            assert f"`{column}` {spark_type(duckdb_type)}" in statement, (table, column)
        assert statement.endswith(f"using parquet location '{tmp_path / 'lake' / table}'")
    assert spark_type("DECIMAL(18,4)") == "decimal(18,4)"
    assert spark_type("VARCHAR NOT NULL") == "string"
    assert spark_type("TIMESTAMP") == "timestamp"  # landed as UTC instants
    with pytest.raises(ValueError, match="no Spark type"):
        spark_type("HUGEINT")
