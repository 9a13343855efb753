"""The entry point, `load_inbox`: load every new inbox file into the raw store, one
file after the other, and report what happened to each."""

from __future__ import annotations

import time
from collections.abc import Callable

from crm.config import Settings
from crm.faults import fault_point
from crm.load.discovery import discover_inbox
from crm.load.one_file import load_file
from crm.load.results import FileResult, LoadReport
from crm.load.store import connect_raw_store
from crm.rawstore import ensure_raw_store
from crm.sources import load_sources

Progress = Callable[[str], None]


def load_inbox(settings: Settings, progress: Progress | None = None) -> LoadReport:
    """Load every new inbox file into the raw store; return what happened to each.

    Opens the raw store itself and closes it before returning (dbt opens the
    file next). A file that cannot be parsed is rejected and the run goes
    on; an unexpected error (a loader bug, out of memory) rolls back the
    current file and is raised: files loaded before it stay loaded.
    """
    t0 = time.perf_counter()
    report = LoadReport()
    say = progress or (lambda _msg: None)
    candidates = discover_inbox(settings.inbox, load_sources(settings.sources_path))
    for stale in settings.temp_dir.glob("load-*.utf8.csv"):  # a killed load's copies
        stale.unlink(missing_ok=True)
    con = connect_raw_store(settings)
    try:
        ensure_raw_store(con)
        for f in candidates:
            if f.problem is not None:
                result = FileResult(entity=f.entity, file=f.rel, status="ignored", error=f.problem)
            else:
                say(f"loading {f.rel}")
                result = load_file(con, f, settings.temp_dir, settings.rejected_file_blocks)
            report.files.append(result)
            say(result.summary())
            if result.status == "loaded":
                fault_point("load:after_file")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    report.seconds = time.perf_counter() - t0
    return report
