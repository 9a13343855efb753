"""`crm refresh`: the Dagster job `crm_refresh`, executed in this process.

In-process execution keeps the fixed cost low (no Dagster daemon or code
server start), while the runs still land in the Dagster instance under
CRM_HOME/dagster, so `dagster dev` shows them beside scheduled runs. The
command's settings reach the assets as the `settings` resource, not through
the environment.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
import uuid
from dataclasses import dataclass, field

from crm.config import Settings
from crm.pii import private_dir
from crm.privacy import private_umask, shared_dir
from crm.progress import add_listener, remove_listener, say
from crm.runs import refresh_lock, write_run_record

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

DAGSTER_YAML_HEADER = (
    "# Written by crm: the Dagster instance that `crm refresh` and `dagster dev` share."
)
DAGSTER_YAML = """\
{header}
# crm rewrites this file while this first line is unchanged; edit the line to keep edits.
telemetry:
  enabled: false
run_queue:
  max_concurrent_runs: 4
  tag_concurrency_limits:
    - key: "crm/refresh"
      limit: 1
# Dagster's SQLite event log with pooled connections (orchestration/event_storage.py)
event_log_storage:
  module: orchestration.event_storage
  class: PooledSqliteEventLogStorage
  config:
    base_dir: {base_dir}
"""


def prepare_dagster_home(settings: Settings) -> None:
    """Write the instance's dagster.yaml, or bring crm's own up to date.

    A file whose first line is not crm's header is the operator's: left alone.
    """
    private_dir(settings.dagster_home)  # event logs and compute logs: owner-only
    config = settings.dagster_home / "dagster.yaml"
    # Dagster's default place for the run-sharded event databases
    base_dir = json.dumps(str(settings.dagster_home.resolve() / "history" / "runs"))
    wanted = DAGSTER_YAML.format(header=DAGSTER_YAML_HEADER, base_dir=base_dir)
    if config.exists():
        current = config.read_text()
        if current == wanted or not current.startswith(DAGSTER_YAML_HEADER):
            return
    config.write_text(wanted)


@dataclass
class RefreshOutcome:
    run_id: str
    success: bool
    stages: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    rejected: list[str] = field(default_factory=list)  # files this run's load rejected whole
    # the warehouse step succeeded: a later step (the refresh report) may still have failed
    published: bool = False


def _failure_messages(result) -> list[str]:
    messages = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.event_specific_data.error
            text = error.message.strip() if error else "step failed"
            cause = error.cause if error else None
            while cause is not None:
                text += f"\n  caused by: {cause.message.strip()}"
                cause = cause.cause
            messages.append(f"{event.step_key}: {text}")
    return messages


def _published(result) -> bool:
    """Whether the run's `warehouse` step (the publication) succeeded."""
    return any(
        event.event_type_value == "STEP_SUCCESS" and event.step_key == "warehouse"
        for event in result.all_events
    )


def _rejected_files(settings: Settings, since: dt.datetime) -> list[str]:
    """'file: why' for each file the load of this run rejected whole (from the ledger)."""
    import duckdb

    if not settings.raw_store.exists():
        return []
    try:
        with duckdb.connect(str(settings.raw_store), read_only=True) as con:
            rows = con.execute(
                "select file_name, error, blocks_publication from load_ledger "
                "where status = 'rejected' and started_at >= ? order by file_name",
                [since.replace(tzinfo=None)],
            ).fetchall()
    except duckdb.Error:  # an older raw store, or one in use: the gate reports them too
        return []
    return [
        f"{name}{' (holds back publication)' if blocks else ''}: {error}"
        for name, error, blocks in rows
    ]


def run_refresh(
    settings: Settings, wait_seconds: float = 0.0, accept: list[str] | None = None
) -> RefreshOutcome:
    """Run the crm_refresh job in this process.

    ``accept``: quality suites (``suite`` or ``suite:column``) whose critical
    failures the operator accepts for this run; passed as the run tag
    ``crm/accept``, which a run launched from the Dagster UI can set too.
    """
    from crm.quality.suites import check_accept, load_suites, parse_accept

    accepted = parse_accept(accept)
    check_accept(accepted, load_suites())  # a typo fails before any work
    tags = {"crm/launched_by": "cli"}
    if accepted:
        tags["crm/accept"] = ",".join(f"{s}:{c}" if c else s for s, c in accepted)
    private_umask()  # dbt, the quality worker and DuckDB's spills inherit it
    shared_dir(settings.home, settings.warehouse_mode)  # the raw load tightens what is in it
    started = time.monotonic()
    started_at = dt.datetime.now(dt.UTC)
    stages: dict[str, float] = {}
    marks: dict[str, float] = {}

    def on_stage(event: str, name: str, at: float, facts: dict) -> None:
        if event == "start":
            marks[name] = at
        else:
            stages[name] = round(at - marks.pop(name, at), 3)
            if "work_seconds" in facts:  # the part of the stage that is not start-up
                stages[f"{name}_work"] = facts["work_seconds"]

    with refresh_lock(settings, wait_seconds):
        from crm.publish import clean_builds
        from crm.quality import worker

        # the quality gate's GX, imported on the other core meanwhile (crm/quality/worker.py)
        worker.start()
        clean_builds(settings)
        prepare_dagster_home(settings)
        t0 = time.monotonic()
        say("starting Dagster (import and definitions)")
        from dagster import DagsterInstance

        from orchestration.definitions import defs

        job = defs.resolve_job_def("crm_refresh")
        stages["orchestration_startup"] = round(time.monotonic() - t0, 3)
        add_listener(on_stage)
        run_id = str(uuid.uuid4())
        settings.runs_dir.mkdir(parents=True, exist_ok=True)
        log_path = settings.runs_dir / f"{started_at:%Y%m%dT%H%M%S}-{run_id[:8]}.log"
        say(f"detailed log (dbt output): {log_path}")
        try:
            # dagster-dbt echoes every dbt line to stdout: keep it in the run's log file.
            with (
                open(log_path, "w") as log,
                contextlib.redirect_stdout(log),
                DagsterInstance.from_config(str(settings.dagster_home)) as instance,
            ):
                result = job.execute_in_process(
                    instance=instance,
                    # these settings, not the environment's (orchestration/resources.py)
                    resources={"settings": settings},
                    run_config=QUIET_LOGS,
                    raise_on_error=False,
                    run_id=run_id,
                    tags=tags,
                )
        finally:
            remove_listener(on_stage)
            worker.stop()  # a run that ended before its gate leaves it waiting
    errors = [] if result.success else [*_failure_messages(result), f"details: {log_path}"]
    if any("No space left on device" in e for e in errors):
        import shutil

        free = shutil.disk_usage(settings.builds_dir).free / 1e6
        errors.insert(
            0,
            f"out of disk space while building in {settings.builds_dir} ({free:,.0f} MB free "
            "now): free some space or move CRM_HOME; the published warehouse was not touched",
        )
    if not result.success:
        from crm.alerts import alert_failure

        alert_failure(settings, run_id, errors, str(log_path))
    outcome = RefreshOutcome(
        run_id=run_id,
        success=result.success,
        stages=stages,
        errors=errors,
        seconds=round(time.monotonic() - started, 3),
        rejected=_rejected_files(settings, started_at),
        published=_published(result),
    )
    write_run_record(
        settings,
        {
            "run_id": run_id,
            "started_at": started_at.isoformat(),
            "finished_at": dt.datetime.now(dt.UTC).isoformat(),
            "as_of": settings.as_of.isoformat(),
            "success": outcome.success,
            "seconds": outcome.seconds,
            "stages": stages,
            "errors": outcome.errors,
            "warehouse": str(settings.warehouse),
            "log": str(log_path),
        },
    )
    return outcome
