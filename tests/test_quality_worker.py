"""crm.quality.worker: the gate's suites in a process started before they are needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from crm.quality import suites as suites_module
from crm.quality import worker
from crm.quality.suites import load_suites
from tests.test_quality import stale_orders_build


@pytest.fixture
def build(tmp_path: Path) -> Path:
    return stale_orders_build(tmp_path / "build.duckdb")


@pytest.fixture(autouse=True)
def no_worker_left():
    yield
    worker.stop()


def _facts(outcomes) -> list:
    return [
        (
            o.suite.name,
            o.success,
            o.blocks,
            o.batch_rows,
            o.error,
            [(e.expectation, e.column, e.success, e.unexpected_sample) for e in o.outcomes],
        )
        for o in outcomes
    ]


def _suites():
    return [s for s in load_suites() if s.name in ("freshness.orders", "volume.orders")]


def test_the_worker_validates_what_the_gate_would_and_writes_the_docs(
    tmp_path: Path, build: Path, monkeypatch
):
    suites = _suites()
    here = suites_module.run_suites(build, suites)
    worker.start()
    waiting = worker._waiting
    with monkeypatch.context() as patch:
        # the parent does none of the work while a worker waits
        patch.setattr(suites_module, "run_suites", None)
        there = worker.run_suites(
            build, suites, docs_dir=tmp_path / "docs", config={"memory_limit": "512MB"}
        )
    assert _facts(there) == _facts(here)
    passed = {o.suite.name: o.success for o in there}
    assert passed == {"freshness.orders": False, "volume.orders": True}  # stale orders
    assert (tmp_path / "docs" / "index.html").exists()
    assert waiting.wait(timeout=30) == 0 and worker._waiting is None  # one request, then gone
    # with no worker waiting, the same call validates in this process
    assert _facts(worker.run_suites(build, suites)) == _facts(here)


def test_an_error_in_the_worker_is_raised_in_the_gate(build: Path):
    worker.start()
    with pytest.raises(ValueError, match="no suite: raw.order") as raised:
        worker.run_suites(build, _suites(), accept=[("raw.order", None)])
    assert "in the quality worker" in "".join(raised.value.__notes__)


def test_a_dead_worker_costs_time_not_results(build: Path, monkeypatch):
    suites = _suites()
    here = _facts(suites_module.run_suites(build, suites))
    # dead before it was asked
    worker.start()
    worker._waiting.kill()
    worker._waiting.wait()
    assert _facts(worker.run_suites(build, suites)) == here
    # dies while asked (reads the request, answers nothing)
    dying = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.buffer.read(); sys.exit(3)"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    monkeypatch.setattr(worker, "_waiting", dying)
    assert _facts(worker.run_suites(build, suites)) == here
    assert dying.returncode is not None


def test_a_worker_nobody_asks_goes_away():
    worker.start()
    first = worker._waiting
    worker.start()  # one waits already: no second one
    assert worker._waiting is first
    first.stdin.close()  # its refresh ended (or was killed) before the gate
    assert first.wait(timeout=60) == 0
    worker.start()
    second = worker._waiting
    assert second is not first
    worker.stop()
    assert second.poll() is not None and worker._waiting is None
