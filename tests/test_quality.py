"""crm.quality.suites: GX suites run on a DuckDB file, recorded, and the gate's decision."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from crm.quality.suites import (
    DEFAULT_SUITES_DIR,
    blocking_failures,
    load_suites,
    record,
    run_suites,
)


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
    assert severities["volume.orders"] == {"critical"}


def test_stale_orders_warn_without_blocking(tmp_path: Path):
    path = tmp_path / "build.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.customer_value as select date '2025-12-31' as as_of")
        con.execute(
            "create table marts.fct_orders as "
            "select timestamp '2025-12-20 10:00:00' as ordered_at union all "
            "select timestamp '2025-12-01 10:00:00'"
        )
    suite = [s for s in load_suites() if s.name == "freshness.orders"]
    (outcome,) = run_suites(path, suite)
    assert not outcome.success and not outcome.blocks
    assert outcome.outcomes[0].severity == "warning"
    assert outcome.outcomes[0].unexpected_sample == [11]  # days from 2025-12-20 to as_of


def test_a_reject_rate_spike_in_new_loads_blocks(tmp_path: Path):
    from crm.rawstore import ensure_raw_store

    raw = tmp_path / "raw.duckdb"
    with duckdb.connect(str(raw)) as con:
        ensure_raw_store(con)
        for i, (rows, quarantined, started) in enumerate(
            [(1000, 10, "2025-01-01"), (1000, 300, "2025-02-01")]
        ):
            con.execute(
                "insert into load_ledger (load_id, entity, file_name, content_hash, status, "
                "rows_in_file, rows_loaded, rows_quarantined, rows_duplicate, started_at) "
                "values (?, 'orders', ?, ?, 'loaded', ?, ?, ?, 0, ?)",
                [
                    f"l{i}",
                    f"orders/f{i}.csv",
                    f"h{i}",
                    rows,
                    rows - quarantined,
                    quarantined,
                    started,
                ],
            )
    build = tmp_path / "build.duckdb"
    duckdb.connect(str(build)).close()
    suite = [s for s in load_suites() if s.name == "raw.orders"]

    (outcome,) = run_suites(build, suite, raw_store=raw)
    assert outcome.blocks and outcome.batch_rows == 2  # first build: every load is new
    (failure,) = outcome.critical_failures
    assert failure.column == "reject_rate" and failure.unexpected_sample == [0.3]

    # Published after the bad file: only loads since then count, and there are none.
    previous = tmp_path / "previous.duckdb"
    with duckdb.connect(str(previous)) as con:
        con.execute("create schema meta")
        con.execute(
            "create table meta.warehouse_info as select timestamp '2025-03-01' as published_at"
        )
    (outcome,) = run_suites(build, suite, raw_store=raw, previous=previous)
    assert outcome.success and outcome.batch_rows == 0
    assert not run_suites(build, suite)[0].blocks  # no raw store attached: skipped
