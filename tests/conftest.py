"""Shared fixtures: a `crm` runner with an isolated environment per test folder."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
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


@pytest.fixture
def crm_env(tmp_path: Path) -> Env:
    return Env(tmp_path)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        inbox=tmp_path / "inbox",
        warehouse=tmp_path / "warehouse.duckdb",
        as_of=dt.date(2025, 12, 31),
        currency="EUR",
        threads=2,
        memory_limit="2GB",
        keep_generations=1,
    )


def read_only(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection, as an analyst or a BI tool opens the warehouse."""
    return duckdb.connect(str(path), read_only=True)
