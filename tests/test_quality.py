"""crm.quality.suites: GX suites run on a DuckDB file, recorded, and the gate's decision."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest

from crm.config import Settings
from crm.quality.suites import (
    DEFAULT_SUITES_DIR,
    blocking_failures,
    load_suites,
    record,
    run_suites,
)

ORDERS_HEADER = "order_id,source_system,source_contact_id,ordered_at,order_total,currency,status\n"


def _suite(directory: Path, name: str, batch: str, expectations: list, **crm) -> None:
    spec = {
        "name": name,
        "meta": {"crm": {"asset": ["marts", "t"], "batch": batch, **crm}},
        "expectations": expectations,
    }
    (directory / f"{name}.json").write_text(json.dumps(spec))


@pytest.fixture
def build(tmp_path: Path) -> Path:
    path = tmp_path / "build.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.t as select i as id, case when i % 10 = 0 then 7 else i % 5 + 1 "
            "end as score, case when i = 3 then null else 'x' end as label "
            "from range(1000) as r(i)"
        )
    return path


def test_failures_block_or_warn_by_severity_and_are_recorded(tmp_path: Path, build: Path):
    suites_dir = tmp_path / "suites"
    suites_dir.mkdir()
    between = {"column": "score", "min_value": 1, "max_value": 5}
    _suite(
        suites_dir,
        "a_critical",
        "select * from marts.t {sample}",
        [{"type": "expect_column_values_to_be_between", "kwargs": between, "severity": "critical"}],
        batch_kind="sample",
        sample_rows=500,
    )
    _suite(
        suites_dir,
        "b_warning",
        "select * from marts.t",
        [
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "label"},
                "severity": "warning",
            }
        ],
    )
    _suite(
        suites_dir,
        "c_needs_previous",
        "select * from previous.marts.t",
        [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}],
        requires=["previous"],
    )
    _suite(
        suites_dir,
        "d_broken_sql",
        "select * from marts.no_such_table",
        [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}],
    )
    _suite(
        suites_dir,
        "e_passes",
        "select count(*) as n, count(distinct id) as n_ids from marts.t",
        [
            {
                "type": "expect_column_pair_values_to_be_equal",
                "kwargs": {"column_A": "n", "column_B": "n_ids"},
                "severity": "critical",
            }
        ],
        batch_kind="aggregate",
    )
    suites = load_suites(suites_dir)
    outcomes = {o.suite.name: o for o in run_suites(build, suites, docs_dir=tmp_path / "docs")}

    critical = outcomes["a_critical"]
    assert critical.blocks and critical.batch_rows == 500  # the sample, not the table
    failure = critical.critical_failures[0]
    assert failure.column == "score" and failure.unexpected_count > 0
    assert set(failure.unexpected_sample) == {7}
    assert "[critical] score: expect_column_values_to_be_between" in critical.summary()

    warning = outcomes["b_warning"]
    assert (
        not warning.success
        and not warning.blocks
        and warning.warning_failures[0].unexpected_count == 1
    )
    assert (
        outcomes["c_needs_previous"].skipped == "no previous"
        and not outcomes["c_needs_previous"].blocks
    )
    assert outcomes["d_broken_sql"].blocks and "no_such_table" in outcomes["d_broken_sql"].error
    assert outcomes["e_passes"].success and not outcomes["e_passes"].blocks
    assert (tmp_path / "docs" / "index.html").exists()

    assert blocking_failures(build, "run-1") is None  # the gate has not run for this build
    record(build, "run-1", list(outcomes.values()))
    messages = blocking_failures(build, "run-1")
    assert len(messages) == 2
    assert any(
        m.startswith("a_critical: expect_column_values_to_be_between(score)") and "e.g. [7" in m
        for m in messages
    )
    assert any("d_broken_sql: the batch failed" in m for m in messages)
    with duckdb.connect(str(build), read_only=True) as con:
        runs = dict(con.execute("select suite, blocks from meta.quality_runs").fetchall())
        assert runs == {
            "a_critical": True,
            "b_warning": False,
            "c_needs_previous": False,
            "d_broken_sql": True,
            "e_passes": False,
        }
        assert (
            con.execute("select count(*) from meta.quality_results where not success").fetchone()[0]
            == 2
        )


def test_the_project_suites_parse_and_name_their_assets():
    suites = load_suites(DEFAULT_SUITES_DIR)
    names = {s.name for s in suites}
    assert {
        "marts.customer_rfm",
        "marts.customer_clv",
        "reconciliation.warehouse",
        "volume.orders",
    } <= names
    for suite in suites:
        assert suite.spec["expectations"] and suite.asset[0] in ("marts", "raw"), suite.name
        assert suite.batch_kind in ("rows", "sample", "aggregate"), suite.name
    severities = {s.name: {e["severity"] for e in s.spec["expectations"]} for s in suites}
    assert severities["freshness.orders"] == {"warning"}  # stale data warns, never blocks
    assert severities["volume.orders"] == {"critical", "warning"}


def stale_orders_build(path: Path) -> Path:
    """A build file whose last order is 11 days before its as_of (a warning)."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.customer_value as select date '2025-12-31' as as_of")
        con.execute(
            "create table marts.fct_orders as "
            "select timestamp '2025-12-20 10:00:00' as ordered_at union all "
            "select timestamp '2025-12-01 10:00:00'"
        )
    return path


def test_stale_orders_warn_without_blocking(tmp_path: Path):
    path = stale_orders_build(tmp_path / "build.duckdb")
    suite = [s for s in load_suites() if s.name == "freshness.orders"]
    (outcome,) = run_suites(path, suite)
    assert not outcome.success and not outcome.blocks
    assert outcome.outcomes[0].severity == "warning"
    assert outcome.outcomes[0].unexpected_sample == [11]  # days from 2025-12-20 to as_of


def _orders_csv(prefix: str, n: int, *, header: str = ORDERS_HEADER, row=None) -> str:
    make = row or (lambda i: f"{prefix}{i},web,C{i},2025-01-01T10:00:00Z,{i}.50,EUR,completed")
    return header + "".join(make(i) + "\n" for i in range(n))


def _publish_marker(path: Path, at: str) -> Path:
    """A stand-in for the previous warehouse: only its publication time matters here."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists meta")
        con.execute(
            f"create or replace table meta.warehouse_info as "
            f"select timestamp '{at}' as published_at"
        )
    return path


def test_raw_suites_name_reject_spikes_and_schema_drift(tmp_path: Path, settings: Settings):
    from crm.load import load_inbox

    inbox = settings.inbox / "orders"
    inbox.mkdir(parents=True)
    build = tmp_path / "build.duckdb"
    duckdb.connect(str(build)).close()
    suites = [s for s in load_suites() if s.name == "raw.orders"]

    (inbox / "1-good.csv").write_text(_orders_csv("G", 30))
    load_inbox(settings)
    (outcome,) = run_suites(build, suites, raw_store=settings.raw_store)
    assert outcome.success and outcome.batch_rows == 1, outcome.summary()

    # Published after that load: nothing is new, and the loads before count as "earlier".
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    previous = _publish_marker(tmp_path / "previous.duckdb", f"{now:%Y-%m-%d %H:%M:%S.%f}")
    (outcome,) = run_suites(build, suites, raw_store=settings.raw_store, previous=previous)
    assert outcome.success and outcome.batch_rows == 0
    (inbox / "1-good.csv").unlink()
    # 10 of 30 orders without a key; a renamed total; a dropped column; a retyped status.
    (inbox / "2-null-keys.csv").write_text(
        _orders_csv("N", 30, row=lambda i: f"{'' if i % 3 == 0 else f'N{i}'},web,C,"
                    "2025-01-01T10:00:00Z,1,EUR,completed")
    )  # fmt: skip
    (inbox / "3-renamed.csv").write_text(
        _orders_csv("R", 30, header=ORDERS_HEADER.replace("order_total", "total_amount"))
    )
    renamed = (
        "order_id,source_system,source_contact_id,ordered_at,order_total,currency_code,status\n"
    )
    (inbox / "4-renamed.csv").write_text(_orders_csv("D", 30, header=renamed))
    no_currency = "order_id,source_system,source_contact_id,ordered_at,order_total,status\n"
    (inbox / "6-dropped.csv").write_text(
        _orders_csv("P", 30, header=no_currency,
                    row=lambda i: f"P{i},web,C{i},2025-01-01T10:00:00Z,1,completed")
    )  # fmt: skip
    (inbox / "5-retyped.csv").write_text(
        _orders_csv("T", 30, row=lambda i: f"T{i},web,C{i},2025-01-01T10:00:00Z,1,EUR,{i % 4}")
    )
    load_inbox(settings)
    (outcome,) = run_suites(build, suites, raw_store=settings.raw_store, previous=previous)
    assert outcome.blocks and outcome.batch_rows == 5
    failed = {o.column: o for o in outcome.critical_failures}
    assert set(failed) == {"reject_rate", "schema_problem"}, outcome.summary()
    assert failed["reject_rate"].unexpected_rows == [
        {"file_name": "orders/2-null-keys.csv", "reject_rate": pytest.approx(10 / 30)}
    ]
    problems = {
        r["file_name"]: r["schema_problem"] for r in failed["schema_problem"].unexpected_rows
    }
    assert set(problems) == {"orders/4-renamed.csv", "orders/5-retyped.csv"}
    # A file rejected whole is reported; by default it does not hold back the others.
    (rejected,) = [o for o in outcome.warning_failures if o.column == "rejected_because"]
    ((file_name, because),) = [tuple(r.values()) for r in rejected.unexpected_rows]
    assert file_name == "orders/3-renamed.csv"
    assert "required column(s) missing: order_total" in because
    assert problems["orders/4-renamed.csv"] == (
        "column currency is missing and currency_code is new "
        "(every earlier file had currency): renamed?"
    )
    (dropped,) = [o for o in outcome.warning_failures if o.column == "dropped_columns"]
    assert dropped.unexpected_rows == [
        {
            "file_name": "orders/6-dropped.csv",
            "dropped_columns": "column(s) currency missing (every earlier file had them): dropped?",
        }
    ]
    assert problems["orders/5-retyped.csv"].startswith(
        "column status: 30 of 30 values are invalid (e.g. '0'): retyped?"
    )
    summary = outcome.summary()
    assert "file_name=orders/2-null-keys.csv" in summary and "order_total" in summary

    # An operator accepts the reject rate for one run: the drift still blocks.
    (outcome,) = run_suites(
        build,
        suites,
        raw_store=settings.raw_store,
        previous=previous,
        accept=[("raw.orders", "reject_rate")],
    )
    assert [o.column for o in outcome.critical_failures] == ["schema_problem"]
    assert [o.column for o in outcome.accepted_failures] == ["reject_rate"]
    # Where the operator says so (CRM_REJECTED_FILE_BLOCKS), a rejected file blocks.
    (inbox / "7-renamed.csv").write_text(
        _orders_csv("S", 30, header=ORDERS_HEADER.replace("order_id", "id"))
    )
    load_inbox(dataclasses.replace(settings, rejected_file_blocks=True))
    (outcome,) = run_suites(build, suites, raw_store=settings.raw_store, previous=previous)
    (blocking,) = [o for o in outcome.critical_failures if o.column == "rejected_blocking"]
    assert [r["file_name"] for r in blocking.unexpected_rows] == ["orders/7-renamed.csv"]
    with pytest.raises(ValueError, match="no suite: raw.order"):
        run_suites(build, suites, raw_store=settings.raw_store, accept=[("raw.order", None)])
    with pytest.raises(ValueError, match="raw.orders checks no column rejectrate"):
        run_suites(
            build, suites, raw_store=settings.raw_store, accept=[("raw.orders", "rejectrate")]
        )


def test_a_retyped_personal_column_is_named_without_quoting_its_values(
    tmp_path: Path, settings: Settings
):
    """The gate's messages reach the analytics file and the data docs: a personal
    column's drift names the column and counts, never an example value."""
    from crm.load import load_inbox

    inbox = settings.inbox / "contacts"
    inbox.mkdir(parents=True)
    build = tmp_path / "build.duckdb"
    duckdb.connect(str(build)).close()
    suites = [s for s in load_suites() if s.name == "raw.contacts"]
    header = "source_system,source_contact_id,last_name,birth_date,city\n"
    (inbox / "1.csv").write_text(
        header + "".join(f"web,A{i},Doe,1980-01-{i + 1:02d},Lyon\n" for i in range(20))
    )
    # Day-first dates: personal values that stop parsing, and a city that does not.
    (inbox / "2.csv").write_text(
        header + "".join(f"web,B{i},Roe,{i + 1:02d}/07/1971,Lyon\n" for i in range(20))
    )
    load_inbox(settings)
    (outcome,) = run_suites(build, suites, raw_store=settings.raw_store)
    (failed,) = [o for o in outcome.critical_failures if o.column == "schema_problem"]
    (row,) = failed.unexpected_rows
    assert row["file_name"] == "contacts/2.csv"
    assert row["schema_problem"] == (
        "column birth_date: 20 of 20 values are invalid (e.g. a personal value, not shown): "
        "retyped?"
    )
    assert "/07/1971" not in outcome.summary()


def test_raw_suites_catch_a_repeated_version_the_loader_should_have_dropped(
    tmp_path: Path, settings: Settings
):
    from crm.load import load_inbox

    (settings.inbox / "orders").mkdir(parents=True)
    (settings.inbox / "orders" / "a.csv").write_text(_orders_csv("A", 3))
    load_inbox(settings)
    build = tmp_path / "build.duckdb"
    duckdb.connect(str(build)).close()
    suites = [s for s in load_suites() if s.name == "raw.orders"]
    assert run_suites(build, suites, raw_store=settings.raw_store)[0].success
    # A loader bug appends an unchanged copy of A1 as a newer version.
    with duckdb.connect(str(settings.raw_store)) as con:
        con.execute(
            "insert into orders select * replace (_loaded_at + interval 1 second as _loaded_at) "
            "from orders where order_id = 'A1'"
        )
    (outcome,) = run_suites(build, suites, raw_store=settings.raw_store)
    # ... and the table no longer agrees with the ledger either.
    assert {o.column: o.unexpected_rows for o in outcome.critical_failures} == {
        "repeated_versions": [{"file_name": "orders/a.csv", "repeated_versions": 1}],
        "rows_missing_from_table": [{"file_name": "orders/a.csv", "rows_missing_from_table": -1}],
    }


def test_raw_suites_are_generated_from_the_contract():
    from crm.contract import ENTITIES
    from crm.quality.raw_suites import render, suite_path

    for entity in ENTITIES.values():
        path = suite_path(entity)
        assert path.exists(), f"run python -m crm.quality.raw_suites ({path} missing)"
        assert path.read_text() == render(entity), (
            f"{path} differs from the contract: run python -m crm.quality.raw_suites"
        )


@pytest.mark.parametrize(
    ("kwargs", "crm", "named"),
    [
        ({"column": "email"}, {}, "email"),
        ({"column_A": "n", "column_B": "phone_normalized"}, {}, "phone_normalized"),
        ({"column": "n"}, {"row_id_columns": ["last_name"]}, "last_name"),
    ],
)
def test_a_suite_may_not_check_or_show_personal_columns(tmp_path: Path, kwargs, crm, named):
    # Failing values are quoted in data docs, run logs and meta.quality_results.
    _suite(
        tmp_path,
        "pii",
        "select 1",
        [{"type": "expect_column_values_to_be_null", "kwargs": kwargs}],
        **crm,
    )
    with pytest.raises(ValueError, match=f"may not check or show personal columns \\({named}\\)"):
        load_suites(tmp_path)
    _suite(
        tmp_path,
        "pii",
        "select 1",
        [{"type": "expect_column_values_to_be_null", "kwargs": {"column": "n_emails"}}],
    )
    assert [s.name for s in load_suites(tmp_path)] == ["pii"]  # an aggregate is fine
