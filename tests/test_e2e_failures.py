"""End to end, failures: a refresh that fails, is killed, runs twice at once or is
blocked by the quality gate leaves the published warehouse as it was.

Split from test_e2e.py so that pytest-xdist can run the two files side by side.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pandas as pd
import pytest

from crm.config import Settings
from crm.runs import exclusive_lock, refresh_lock
from tests.conftest import Env, drop_resent_orders
from tests.conftest import read_only as _ro

AS_OF = "2025-12-31"
pytestmark = pytest.mark.e2e


def _published_identity(env: Env) -> tuple:
    with _ro(env.warehouse) as con:
        run_id = con.execute("select run_id from meta.warehouse_info").fetchone()[0]
        n = con.execute("select count(*) from marts.customer_rfm").fetchone()[0]
    return run_id, n, env.warehouse.stat().st_ino


def test_failed_refresh_leaves_previous_warehouse(built_env: Env):
    crm_env = built_env
    before = _published_identity(crm_env)
    # A memory limit DuckDB cannot work in makes the dbt build fail midway.
    hook_file = crm_env.root / "alerts.jsonl"
    result = crm_env.crm(
        "refresh",
        check=False,
        CRM_MEMORY_LIMIT="1MB",
        CRM_ALERT_HOOK="tests.alert_hook:record",
        CRM_TEST_ALERT_FILE=str(hook_file),
        PYTHONPATH=str(Path(__file__).resolve().parents[1]),
    )
    assert result.returncode == 1
    assert "FAILED" in result.stderr and "unchanged" in result.stderr
    assert _published_identity(crm_env) == before
    # The failure reached the alert hook and the alert log.
    (alert,) = [json.loads(line) for line in hook_file.read_text().splitlines()]
    records = sorted((crm_env.home / "runs").glob("*.json"))
    failed_run = json.loads(records[-1].read_text())
    assert alert["kind"] == "refresh_failed" and alert["run_id"] == failed_run["run_id"]
    assert alert["errors"] == failed_run["errors"] and "memory" in " ".join(alert["errors"])
    assert alert["run_id"] in (crm_env.home / "alerts.log").read_text()
    crm_env.crm("refresh")  # and the next refresh succeeds
    assert _published_identity(crm_env)[0] != before[0]


def test_killed_refresh_leaves_previous_warehouse(built_env: Env):
    crm_env = built_env
    before = _published_identity(crm_env)
    (crm_env.inbox / "orders" / "more.csv").write_text(
        "order_id,ordered_at,order_total\nK-1,2025-06-01T00:00:00Z,5.00\n"
    )
    proc = crm_env.popen("refresh")
    builds = crm_env.home / "builds"
    deadline = time.monotonic() + 120
    # dbt builds into builds/build.duckdb (renamed to build-<run id>.duckdb after dbt)
    while time.monotonic() < deadline and not (builds / "build.duckdb").exists():
        time.sleep(0.05)
    assert (builds / "build.duckdb").exists(), "dbt never started"
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _published_identity(crm_env) == before
    crm_env.crm("refresh")
    # the killed run's half-built file was discarded, and this run's renamed away
    assert not (builds / "build.duckdb").exists()
    with _ro(crm_env.warehouse) as con:
        assert (
            con.execute("select count(*) from marts.fct_orders where order_id = 'K-1'").fetchone()[
                0
            ]
            == 1
        )


def test_concurrent_refresh_is_refused(crm_env: Env):
    crm_env.home.mkdir(parents=True)
    settings = Settings(
        home=crm_env.home,
        inbox=crm_env.inbox,
        warehouse=crm_env.warehouse,
        as_of=pd.Timestamp(AS_OF).date(),
        currency="EUR",
        threads=1,
        memory_limit="1GB",
        keep_generations=1,
    )
    with refresh_lock(settings):
        result = crm_env.crm("refresh", check=False)
    assert result.returncode == 3
    assert "another refresh is running" in result.stderr


def test_a_build_already_running_fails_the_refresh_cleanly(crm_env: Env):
    """A run launched from Dagster does not take refresh.lock; if one is building when a
    `crm refresh` reaches dbt, the refresh fails with a clear message instead of sharing
    the build file."""
    crm_env.crm("generate", "--customers", "30", "--seed", "9", "--truth", str(crm_env.truth))
    builds = crm_env.home / "builds"
    with exclusive_lock(builds / "build.lock", "held by the test ({holder})"):
        (builds / "build.duckdb").write_bytes(b"another run's build")
        result = crm_env.crm("refresh", check=False)
        # the other build's file was not touched
        assert (builds / "build.duckdb").read_bytes() == b"another run's build"
    assert result.returncode == 1
    assert "another refresh is building" in result.stderr
    assert not crm_env.warehouse.exists()


def test_a_drop_in_completed_orders_blocks_publication(built_env: Env):
    crm_env = built_env
    before = _published_identity(crm_env)
    drop_resent_orders(crm_env)  # 30% of the orders again, as cancelled
    result = crm_env.crm("refresh", check=False)
    assert result.returncode == 1
    assert "quality gate" in result.stderr and "volume.orders" in result.stderr
    assert "ratio_to_previous" in result.stderr
    assert _published_identity(crm_env) == before
    status = crm_env.crm("status").stdout
    assert "BLOCKED  volume.orders" in status
    failed = "[critical] volume.orders: expect_column_values_to_be_between(ratio_to_previous)"
    assert failed in status
    # The operator knows the drop is real (say, a mass cancellation) and accepts it once.
    typo = crm_env.crm("refresh", "--accept", "volume.order", check=False)
    assert typo.returncode == 2 and "no suite: volume.order" in typo.stderr
    crm_env.crm("refresh", "--accept", "volume.orders")
    run_id, _, _ = _published_identity(crm_env)
    assert run_id != before[0]
    with _ro(crm_env.warehouse) as con:
        accepted = con.execute(
            "select suite, column_name, severity from meta.quality_results "
            "where run_id = ? and accepted",
            [run_id],
        ).fetchall()
    assert accepted == [("volume.orders", "ratio_to_previous", "critical")]
    status = crm_env.crm("status").stdout
    assert "ACCEPTED volume.orders" in status and "[accepted] volume.orders" in status
    # The acceptance was for that run only: the published orders are now the baseline.
    crm_env.crm("refresh")
    with _ro(crm_env.warehouse) as con:
        later_run, n_accepted = con.execute(
            "select run_id, (select count(*) from meta.quality_results q "
            "where q.run_id = w.run_id and q.accepted) from meta.warehouse_info w"
        ).fetchone()
    assert later_run != run_id and n_accepted == 0
