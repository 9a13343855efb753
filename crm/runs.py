"""Refresh lock and run history under CRM_HOME.

Two refreshes at once would race on the raw store and the published path: the
second one is refused (or waits, when asked) instead of corrupting anything.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from crm.config import Settings


class RefreshLocked(RuntimeError):
    pass


@contextlib.contextmanager
def refresh_lock(settings: Settings, wait_seconds: float = 0.0) -> Iterator[None]:
    """An exclusive advisory lock on CRM_HOME/refresh.lock for the whole refresh."""
    busy = "another refresh is running ({holder}); wait for it or use --wait SECONDS"
    with exclusive_lock(settings.lock_file, busy, wait_seconds):
        yield


@contextlib.contextmanager
def exclusive_lock(path: Path, busy: str, wait_seconds: float = 0.0) -> Iterator[None]:
    """An exclusive advisory lock (flock) on `path`, or RefreshLocked with `busy`
    (its `{holder}` names the holding process) after `wait_seconds`.

    The kernel releases a flock when its process dies, so a killed refresh never
    leaves a stale lock behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - held for the with-block
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise RefreshLocked(busy.format(holder=holder)) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {dt.datetime.now(dt.UTC).isoformat()}")
        handle.flush()
        yield
    finally:
        handle.close()


def write_run_record(settings: Settings, record: dict) -> Path:
    """Persist one refresh's outcome as JSON (atomically) for `crm status`."""
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    path = (
        settings.runs_dir / f"{record['started_at'].replace(':', '')}-{record['run_id'][:8]}.json"
    )
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2, default=str))
    os.replace(tmp, path)
    return path


def read_run_records(settings: Settings, limit: int = 10) -> list[dict]:
    if not settings.runs_dir.exists():
        return []
    paths = sorted(settings.runs_dir.glob("*.json"), reverse=True)[:limit]
    return [json.loads(p.read_text()) for p in paths]
