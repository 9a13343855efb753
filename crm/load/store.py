"""Opening the raw store (a DuckDB file) for a load: read-write, in UTC, waiting a
while for a reader that holds its lock; and the UTC clock the loader stamps its
ledger rows with (naive UTC, like every timestamp in the raw store)."""

from __future__ import annotations

import datetime as dt
import os
import time

import duckdb

from crm.config import Settings


def utc_now() -> dt.datetime:
    """Now, as naive UTC (how the raw store holds timestamps)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def connect_raw_store(settings: Settings) -> duckdb.DuckDBPyConnection:
    """Open the raw store read-write with the warehouse's settings and TimeZone UTC.

    The loader's parsing depends on UTC (a timestamp without an offset means
    UTC, data contract), so it is set here explicitly, whatever the default.
    DuckDB lets no writer in while another process holds the file, even
    read-only (an analyst inspecting the quarantine, `crm status`): the load
    waits up to CRM_RAW_LOCK_WAIT seconds (default 120) for such a reader to
    close, then fails with a message that says what holds it.
    """
    settings.raw_store.parent.mkdir(parents=True, exist_ok=True)
    wait = float(os.environ.get("CRM_RAW_LOCK_WAIT", "120"))
    deadline = time.monotonic() + wait
    while True:
        try:
            con = settings.connect(settings.raw_store)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"the raw store {settings.raw_store} is held by another process "
                    f"(waited {wait:.0f}s): close other connections to it (readers must "
                    f"open the published warehouse, not the raw store). {exc}"
                ) from exc
            time.sleep(0.5)
    try:
        con.execute("SET TimeZone = 'UTC'")
    except BaseException:
        con.close()
        raise
    return con
