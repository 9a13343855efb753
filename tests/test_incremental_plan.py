"""When a refresh may be incremental, and the comparison that proves it equals a full one."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import tempfile
from pathlib import Path

import duckdb
import pytest

from crm.config import Settings
from crm.incremental import (
    FULL,
    INCREMENTAL,
    build_fingerprint,
    compare_warehouses,
    copy_file,
    incremental_relations,
    keep_only,
    plan_build,
)

LOADED = dt.datetime(2025, 12, 20, 6, 0, 0)
VARS = {"as_of": "2025-12-21", "currency": "EUR", "clv_discount_rate": 0.1}


@pytest.fixture
def home(tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("CRM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CRM_AS_OF", "2025-12-21")
    settings = Settings.from_env()
    settings.home.mkdir(parents=True)
    with duckdb.connect(str(settings.raw_store)) as con:
        con.execute("create table load_ledger (file_name varchar, started_at timestamp)")
        con.execute(
            "insert into load_ledger values ('a.csv', ?), ('b.csv', ?)",
            [LOADED - dt.timedelta(hours=1), LOADED],
        )
    return settings


def _publish(settings: Settings, **info) -> None:
    """A restricted output whose meta.warehouse_info says `info`."""
    settings.restricted.parent.mkdir(parents=True, exist_ok=True)
    values = {
        "run_id": "r1",
        "as_of": dt.date(2025, 12, 20),
        "raw_watermark": LOADED,
        "build_fingerprint": build_fingerprint(VARS),
        **info,
    }
    with duckdb.connect(str(settings.restricted)) as con:
        con.execute("create schema if not exists meta")
        con.execute("drop table if exists meta.warehouse_info")
        columns = ", ".join(f"? as {k}" for k in values)
        con.execute(f"create table meta.warehouse_info as select {columns}", list(values.values()))


def test_incremental_only_from_a_publication_that_matches(home: Settings):
    plan = plan_build(home, VARS)
    assert plan.mode == FULL and "no earlier publication" in plan.reason
    assert plan.raw_watermark == LOADED and plan.previous is None

    _publish(home)
    plan = plan_build(home, VARS)
    assert plan.mode == INCREMENTAL, plan.reason
    assert plan.previous.raw_watermark == LOADED and plan.previous.as_of == dt.date(2025, 12, 20)
    # as_of is the one var that may move (forward)
    assert plan_build(home, {**VARS, "as_of": "2026-01-05"}).mode == INCREMENTAL

    cases = {
        "a full refresh was asked": (dataclasses.replace(home, full_refresh=True), VARS),
        "identity is re-linked": (dataclasses.replace(home, identity_full_relink=True), VARS),
        "identity is retrained": (dataclasses.replace(home, identity_retrain=True), VARS),
        "a var changed": (home, {**VARS, "clv_discount_rate": 0.08}),
        "as_of moved back": (dataclasses.replace(home, as_of=dt.date(2025, 12, 19)), VARS),
    }
    for why, (settings, dbt_vars) in cases.items():
        assert plan_build(settings, dbt_vars).mode == FULL, why

    # The identity model's folder counts by its place in the home, which may move.
    inside = {**VARS, "identity_model_dir": str(home.home / "identity" / "model")}
    _publish(home, build_fingerprint=plan_build(home, inside).fingerprint)
    moved = home.home.with_name("moved")
    shutil.copytree(home.home, moved)
    moved_home = dataclasses.replace(
        home, home=moved, restricted_path=moved / home.restricted.relative_to(home.home)
    )
    moved_vars = {**inside, "identity_model_dir": str(moved / "identity" / "model")}
    assert plan_build(moved_home, moved_vars).mode == INCREMENTAL
    elsewhere = {**inside, "identity_model_dir": str(moved.with_name("other") / "model")}
    assert plan_build(home, elsewhere).mode == FULL  # another model folder, another build

    _publish(home, raw_watermark=None)
    assert "does not record" in plan_build(home, VARS).reason
    _publish(home, build_fingerprint="another")
    assert "changed since" in plan_build(home, VARS).reason
    # a raw store that never had the load the publication read up to (restored, replaced)
    _publish(home, raw_watermark=LOADED + dt.timedelta(seconds=1))
    assert "raw store" in plan_build(home, VARS).reason


def test_fingerprint_follows_sources_and_vars_but_not_as_of(tmp_path: Path):
    for name in ("models", "macros", "crm"):
        (tmp_path / name).mkdir()
    (tmp_path / "models" / "m.sql").write_text("select 1")
    (tmp_path / "crm" / "x.py").write_text("A = 1")
    (tmp_path / "dbt_project.yml").write_text("name: crm")
    package = tmp_path / "crm"

    def fingerprint(dbt_vars) -> str:
        return build_fingerprint(dbt_vars, tmp_path, package)

    first = fingerprint(VARS)
    assert fingerprint({**VARS, "as_of": "2030-01-01"}) == first
    assert fingerprint({**VARS, "currency": "USD"}) != first
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "x.pyc").write_bytes(b"compiled")
    assert fingerprint(VARS) == first  # bytecode is not source
    (package / "x.py").write_text("A = 2")
    second = fingerprint(VARS)
    assert second != first
    (tmp_path / "models" / "m.sql").write_text("select 2")
    assert fingerprint(VARS) != second


def _warehouse(path: Path, rows: list[tuple]) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.t (id varchar, n bigint, value double, fit_seconds double)")
        con.executemany("insert into marts.t values (?, ?, ?, ?)", rows)
        con.execute("create schema intermediate")
        con.execute("create table intermediate.int_changed_orders as select 'x' as order_id")
    return path


def test_comparison_finds_real_differences_and_ignores_float_noise(tmp_path: Path):
    base = [("a", 1, 1234.5678901234, 0.5), ("b", 2, 1e-12, 1.0), ("c", 3, None, 0.1)]
    a = _warehouse(tmp_path / "a.duckdb", base)
    same = [
        ("a", 1, 1234.5678901234 * (1 + 1e-15), 9.0),  # the last bits; how long it took
        ("b", 2, 1e-12 * (1 - 1e-15), 2.0),
        ("c", 3, None, 0.3),
    ]
    assert compare_warehouses(a, _warehouse(tmp_path / "same.duckdb", same)) == []

    other = [("a", 1, 1234.5678901234, 0.5), ("b", 3, 1e-12, 1.0), ("c", 3, 7.0, 0.1)]
    problems = compare_warehouses(a, _warehouse(tmp_path / "other.duckdb", other))
    assert "marts.t: 2 rows only in a" in problems
    assert "marts.t: 2 rows only in b" in problems
    assert any(p.startswith("marts.t.value: sums") for p in problems)

    # a float that differs below the rounding, but adds up differently
    close = [("a", 1, 1234.5678901234 + 1e-5, 0.5), *base[1:]]
    problems = compare_warehouses(a, _warehouse(tmp_path / "close.duckdb", close))
    assert problems and all(p.startswith("marts.t.value: sums") for p in problems)

    missing = tmp_path / "missing.duckdb"
    with duckdb.connect(str(missing)) as con:
        con.execute("create schema marts")
    assert compare_warehouses(a, missing) == ["marts.t: only in one file"]


def test_a_copy_is_byte_for_byte(tmp_path: Path):
    source = _warehouse(tmp_path / "a.duckdb", [("a", 1, 1.0, 0.0)])
    copy_file(source, tmp_path / "copy.duckdb")
    assert (tmp_path / "copy.duckdb").read_bytes() == source.read_bytes()
    # onto another file system (the kernel copy refuses: a plain copy instead)
    shm = Path("/dev/shm")
    if shm.is_dir() and shm.stat().st_dev != tmp_path.stat().st_dev:
        other = Path(tempfile.mkdtemp(dir=shm))
        try:
            copy_file(source, other / "copy.duckdb")
            assert (other / "copy.duckdb").read_bytes() == source.read_bytes()
        finally:
            shutil.rmtree(other)
    (tmp_path / "b.duckdb.wal").write_text("")
    with pytest.raises(RuntimeError, match="not checkpointed"):
        copy_file(tmp_path / "b.duckdb", tmp_path / "x.duckdb")


def test_a_state_copy_keeps_only_the_incremental_tables(tmp_path: Path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "nodes": {
                    "model.crm.fct_orders": {
                        "resource_type": "model",
                        "schema": "marts",
                        "alias": "fct_orders",
                        "config": {"materialized": "incremental"},
                    },
                    "model.crm.dim_customers": {
                        "resource_type": "model",
                        "schema": "marts",
                        "alias": "dim_customers",
                        "config": {"materialized": "table"},
                    },
                    "test.crm.unique_x": {"resource_type": "test", "config": {}},
                }
            }
        )
    )
    keep = incremental_relations(manifest)
    assert keep == {("marts", "fct_orders")}
    build = tmp_path / "build.duckdb"
    with duckdb.connect(str(build)) as con:
        con.execute("create schema marts; create schema staging; create schema meta")
        con.execute("create table marts.fct_orders as select 1 as order_id")
        con.execute("create table marts.dim_customers as select 1 as customer_id")
        con.execute("create view staging.v as select * from marts.dim_customers")
        con.execute("create table meta.warehouse_info as select 'r1' as run_id")
    assert keep_only(build, keep) == 2
    with duckdb.connect(str(build), read_only=True) as con:
        left = con.execute(
            "select schema_name || '.' || table_name from duckdb_tables() "
            "union all select schema_name || '.' || view_name from duckdb_views() "
            "where not internal order by 1"
        ).fetchall()
        assert left == [("marts.fct_orders",), ("meta.warehouse_info",)]
        assert con.execute("select order_id from marts.fct_orders").fetchall() == [(1,)]
