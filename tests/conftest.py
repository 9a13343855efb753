"""Shared fixtures: a `crm` runner with an isolated environment per test folder."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from crm.config import Settings

CRM = str(Path(sys.executable).with_name("crm"))


@dataclass
class Env:
    root: Path

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def truth(self) -> Path:
        return self.root / "truth"

    @property
    def warehouse(self) -> Path:
        return self.root / "published" / "crm.duckdb"

    @property
    def restricted(self) -> Path:
        """The restricted output (default place): golden record and identity state."""
        return self.home / "restricted" / "crm_restricted.duckdb"

    def environ(self, as_of: str = "2025-12-31", **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "DAGSTER_HOME"))}
        env.update(
            CRM_HOME=str(self.home),
            CRM_INBOX=str(self.inbox),
            CRM_WAREHOUSE=str(self.warehouse),
            CRM_AS_OF=as_of,
            CRM_THREADS="2",
            CRM_MEMORY_LIMIT="4GB",
            DO_NOT_TRACK="1",
        )
        env.update(extra)
        return env

    def crm(self, *args: str, check: bool = True, as_of: str = "2025-12-31", **extra: str):
        result = subprocess.run(
            [CRM, *args], env=self.environ(as_of, **extra), capture_output=True, text=True
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"crm {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def popen(self, *args: str, as_of: str = "2025-12-31", **extra: str) -> subprocess.Popen:
        return subprocess.Popen(
            [CRM, *args],
            env=self.environ(as_of, **extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )


# `make test` runs pytest-xdist with `--dist loadfile --no-loadscope-reorder`: whole
# files are handed to the two workers in collection order. The slowest files (each a
# few whole refreshes) go first, so that none starts last and runs alone at the end
# (longest first). xdist's own reorder puts files with many tests first, which are the
# quick ones. Measured per-file times are printed by `--durations`.
SLOW_FILES_FIRST = (
    "test_faults_kill.py",
    "test_e2e_failures.py",
    "test_e2e.py",
    "test_bi.py",
    "test_incremental.py",
    "test_e2e_clv.py",
    "test_identity_febrl.py",
    "test_faults_input.py",
    "test_identity_state.py",
    "test_marts_snapshots.py",
    "test_metrics.py",
    "test_pii.py",
    "test_privacy.py",
    "test_dbt_models.py",
    "test_identity_matching.py",
    "test_marts_cohorts_kpis.py",
    "test_marts_service_campaigns.py",
    "test_marts_lifecycle.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOW_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable within a file


@pytest.fixture
def crm_env(tmp_path: Path) -> Env:
    return Env(tmp_path)


# The warehouse most end-to-end tests start from: generated and refreshed once per
# test run, then copied for each test that changes it (a home, its inbox, truth and
# published warehouse move as one folder: crm keeps no absolute path it does not
# rewrite at the next refresh).
BASE_CUSTOMERS, BASE_SEED = 200, 11


@pytest.fixture(scope="session")
def base_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared base: built by the first pytest-xdist worker that asks, under a lock
    in the run's temporary folder (common to the workers of one run); the others wait
    for it. Nobody refreshes this folder: tests get copies (`built_env`)."""
    basetemp = tmp_path_factory.getbasetemp()
    run_dir = basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp
    root = run_dir / "base-warehouse"
    with (run_dir / "base-warehouse.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "refresh_seconds").exists():  # written last
            shutil.rmtree(root, ignore_errors=True)
            env = Env(root)
            env.crm(
                "generate", "--customers", str(BASE_CUSTOMERS), "--seed", str(BASE_SEED),
                "--truth", str(env.truth),
            )  # fmt: skip
            started = time.monotonic()
            env.crm("refresh")
            (root / "refresh_seconds").write_text(f"{time.monotonic() - started:.3f}")
    return root


def copy_base(base: Path, root: Path) -> Env:
    """A private copy of the base warehouse at `root` (which must not exist)."""
    shutil.copytree(base, root, symlinks=True)
    return Env(root)


@pytest.fixture
def built_env(base_warehouse: Path, tmp_path: Path) -> Env:
    """A copy of the base warehouse: generated, refreshed once, published."""
    return copy_base(base_warehouse, tmp_path / "env")


def make_settings(root: Path, threads: int = 2, memory_limit: str = "2GB") -> Settings:
    """Settings for a warehouse in `root` (home, inbox and warehouse file in it)."""
    return Settings(
        home=root / "home",
        inbox=root / "inbox",
        warehouse=root / "warehouse.duckdb",
        as_of=dt.date(2025, 12, 31),
        currency="EUR",
        threads=threads,
        memory_limit=memory_limit,
        keep_generations=1,
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


def read_only(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection, as an analyst or a BI tool opens the warehouse."""
    return duckdb.connect(str(path), read_only=True)


def drop_resent_orders(env: Env, share: float = 0.3) -> None:
    """A broken export re-sends a share of the published completed orders as cancelled:
    valid rows, wrong data, which the quality gate's volume check blocks."""
    import pandas as pd

    with read_only(env.warehouse) as con:
        orders = con.execute(
            "select order_id, source_system, source_contact_id, ordered_at, order_total "
            "from marts.fct_orders where is_completed order by order_id"
        ).df()
    resent = orders.iloc[: int(len(orders) * share)].assign(status="cancelled")
    resent["ordered_at"] = pd.to_datetime(resent["ordered_at"]).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    resent.to_csv(env.inbox / "orders" / "resent.csv", index=False)
