"""Faults a production refresh meets: killed at any point, out of disk, started twice.

Each test starts from a copy of the shared generated warehouse (conftest),
injects the fault into a real `crm refresh` process (or, for the kill points
inside publish(), a process publishing a finished build), and checks that the
published warehouse is intact and readable, nothing is lost or doubled in the
raw store, and the next refresh succeeds. The kill points are named in
crm/faults.py; one more kill lands at a random moment of a whole refresh
(seeded, printed).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crm.faults import POINTS
from crm.incremental import compare_warehouses
from tests.conftest import CRM, Env, copy_base
from tests.conftest import read_only as _ro

pytestmark = pytest.mark.e2e


def _published(env: Env) -> tuple[str, int]:
    """(run id, completed orders) of the published warehouse; fails if it is unreadable."""
    with _ro(env.warehouse) as con:
        run_id = con.execute("select run_id from meta.warehouse_info").fetchone()[0]
        n = con.execute("select count(*) from marts.fct_orders where is_completed").fetchone()[0]
        # Every mart must be readable, not just the ones looked at.
        for (table,) in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'marts'"
        ).fetchall():
            con.execute(f"select count(*) from marts.{table}").fetchone()
    return run_id, n


def _restricted(env: Env) -> str:
    """Run id of the restricted output; fails unless it is readable, whole and owner-only."""
    assert env.restricted.stat().st_mode & 0o077 == 0
    with _ro(env.restricted) as con:
        run_id = con.execute("select run_id from meta.warehouse_info").fetchone()[0]
        for schema, table in con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where schema_name in ('marts', 'intermediate')"
        ).fetchall():
            con.execute(f"select count(*) from {schema}.{table}").fetchone()
    return run_id


def _drop_orders(env: Env, name: str, ids: list[str]) -> None:
    lines = "".join(f"{i},2025-06-01T00:00:00Z,5.00,web,completed\n" for i in ids)
    (env.inbox / "orders" / name).write_text(
        "order_id,ordered_at,order_total,channel,status\n" + lines
    )


def _raw_reconciles(env: Env) -> None:
    with _ro(env.home / "raw.duckdb") as raw:
        bad = raw.execute(
            "select file_name from load_ledger where status = 'loaded' and "
            "rows_in_file <> rows_loaded + rows_quarantined + rows_duplicate"
        ).fetchall()
        assert bad == []
        twice = raw.execute(
            "select file_name, count(*) from load_ledger group by all having count(*) > 1"
        ).fetchall()
        assert twice == []
        doubled = raw.execute("select count(*) - count(distinct order_id) from orders").fetchone()
        assert doubled == (0,)
        # Every row belongs to a load the ledger knows (no half-written file).
        orphans = raw.execute(
            "select count(*) from orders where _load_id not in (select load_id from load_ledger)"
        ).fetchone()
        assert orphans == (0,)


@pytest.fixture(scope="module")
def base(base_warehouse: Path, tmp_path_factory) -> Env:
    return copy_base(base_warehouse, tmp_path_factory.mktemp("faults") / "env")


# The publication of a finished build, as the warehouse asset runs it: a process
# killed during publish() leaves what a refresh killed there leaves (nothing of the
# refresh runs after publish() but the report).
REPUBLISH = """
import sys
from pathlib import Path

from crm.config import Settings
from crm.incremental import replaced_keys
from crm.pii import read_policy
from crm.publish import publish

settings = Settings.from_env()
manifest = settings.dbt_target_dir / "manifest.json"
policy, replaced = read_policy(manifest), replaced_keys(manifest)
publish(Path(sys.argv[1]), settings, sys.argv[2], settings.as_of, policy, replaced)
"""
FINALIZED = POINTS.index("publish:finalized")


def test_a_refresh_killed_at_any_point_leaves_the_published_warehouse(base: Env):
    """Each kill point up to publish:finalized kills a whole refresh (a new file
    dropped each time); the build the last of them left finished and unpublished is
    then published again by a process killed at each later point of publish()."""
    env = base
    dropped: list[str] = []
    start_count = _published(env)[1]
    kept: Path | None = None
    for n, point in enumerate(POINTS):
        before, restricted_before = _published(env), _restricted(env)
        if n <= FINALIZED:
            ids = [f"KILL-{n}-{i}" for i in range(3)]
            _drop_orders(env, f"kill-{n}.csv", ids)
            dropped += ids
            result = env.crm("refresh", check=False, CRM_FAULT_KILL_AT=point)
            if n == FINALIZED:
                builds = (env.home / "builds").glob("build-*.duckdb")
                kept = max(builds, key=lambda path: path.stat().st_mtime)  # this run's
        else:
            assert kept is not None
            build = kept.with_name(f"build-again-{n}.duckdb")
            shutil.copy2(kept, build)
            result = subprocess.run(
                [sys.executable, "-c", REPUBLISH, str(build), f"again-{n}"],
                env=env.environ(CRM_FAULT_KILL_AT=point),
                capture_output=True,
                text=True,
            )
        assert result.returncode == -signal.SIGKILL, (point, result.stderr[-2000:])
        after = _published(env)  # readable, every mart
        # The restricted output (identity state) is renamed first: new from that
        # point on, the one before it until then; readable either way.
        renamed = POINTS.index(point) >= POINTS.index("publish:restricted_replaced")
        assert (_restricted(env) != restricted_before) == renamed, point
        if point == "publish:replaced":
            # Killed after the rename: the new generation is whole and in place.
            # It holds every file dropped so far (earlier kills published nothing).
            assert after[0] != before[0] and after[1] == start_count + len(dropped), point
        else:
            assert after == before, point
        assert not Path(str(env.warehouse) + ".wal").exists(), point
        _raw_reconciles(env)

    # And once at a random moment of a whole refresh (dbt included).
    seed = random.randrange(1 << 30)
    full = float((env.root / "refresh_seconds").read_text())  # how long a whole refresh took
    delay = random.Random(seed).uniform(0.5, full)
    print(f"random kill: seed {seed}, {delay:.2f}s into a {full:.1f}s refresh")
    _drop_orders(env, "kill-random.csv", ["KILL-R-1"])
    dropped.append("KILL-R-1")
    # A warm refresh can end before the delay does: then halve it, so a kill lands.
    for _ in range(4):
        before = _published(env)
        proc = env.popen("refresh")
        time.sleep(delay)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.returncode == -signal.SIGKILL:
            break
        delay /= 2
    assert proc.returncode == -signal.SIGKILL, (seed, delay)
    after = _published(env)
    assert after == before or after[1] == before[1] + 1, (seed, delay)
    _restricted(env)  # readable, whole and owner-only after the kill too
    _raw_reconciles(env)

    # The next refresh succeeds and has every dropped order exactly once.
    env.crm("refresh")
    with _ro(env.warehouse) as con:
        found = con.execute(
            "select order_id, count(*) from marts.fct_orders "
            "where order_id like 'KILL-%' group by all"
        ).fetchall()
    assert sorted(found) == sorted((i, 1) for i in dropped)
    _raw_reconciles(env)
    # That refresh started from the last publication (incremental) and holds
    # what a full rebuild of the same data holds.
    with _ro(env.restricted) as con:
        assert con.execute("select refresh_mode from meta.warehouse_info").fetchone()[0] == (
            "incremental"
        )
    twin = Env(env.root.with_name(env.root.name + "-full"))
    shutil.copytree(env.root, twin.root)
    twin.crm("refresh", "--full")
    assert compare_warehouses(env.restricted, twin.restricted) == []
    # Only the newest failed build is kept (for diagnosis); the others were cleaned.
    assert len(list((env.home / "builds").glob("build-*.duckdb"))) <= 1
    # dbt's working file (builds/build.duckdb) never outlives a refresh that got past dbt
    assert not (env.home / "builds" / "build.duckdb").exists()


def test_running_out_of_disk_during_the_build_leaves_the_published_warehouse(base: Env):
    env = base
    before = _published(env)
    _drop_orders(env, "disk-full.csv", ["DISK-1"])
    builds = env.home / "builds"
    builds.mkdir(exist_ok=True)
    # A private mount namespace with a 1 MB file system over the builds folder:
    # DuckDB hits ENOSPC mid-build, as on a full disk.
    result = subprocess.run(
        [
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            f'mount -t tmpfs -o size=1m tmpfs "{builds}" && exec "{CRM}" refresh',
        ],
        env=env.environ(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert "No space left on device" in result.stderr
    assert "out of disk space" in result.stderr  # the hint, not just the trace
    assert _published(env) == before
    env.crm("refresh")  # with space again
    run_id, n = _published(env)
    assert run_id != before[0] and n == before[1] + 1


def test_two_refreshes_at_once_one_is_refused_one_waits(base: Env):
    env = base
    before = _published(env)
    _drop_orders(env, "concurrent.csv", ["CONC-1"])
    first = env.popen("refresh")
    lock = env.home / "refresh.lock"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and f"pid {first.pid}" not in (
        lock.read_text() if lock.exists() else ""
    ):
        time.sleep(0.05)
    assert f"pid {first.pid}" in lock.read_text()
    waiter = env.popen("refresh", "--wait", "600")
    refused = env.crm("refresh", check=False)
    assert refused.returncode == 3 and "another refresh is running" in refused.stderr
    assert first.wait(timeout=600) == 0, first.stderr.read()[-2000:]
    assert waiter.wait(timeout=600) == 0, waiter.stderr.read()[-2000:]
    run_id, n = _published(env)
    assert run_id != before[0] and n == before[1] + 1
    _raw_reconciles(env)
