"""Start a refresh when new files land in the inbox (or the import settings change).

The cursor remembers each file by path, size and modification time, so a file
triggers at most one run; a changed file (same name, new content) triggers
again, and the loader's content hash makes a true repeat a no-op anyway.
"""

import hashlib
import json

import dagster as dg

from crm.config import Settings
from crm.contract import ENTITIES, FILE_SUFFIXES
from orchestration.jobs import crm_refresh


def inbox_fingerprints(settings: Settings) -> dict[str, str]:
    """Size and mtime of every inbox file the loader would read (by suffix, or matched
    by a source of the import settings), and of the import settings themselves: a
    changed sources.yml retries the files it now reads."""
    from crm.sources import SourcesError, load_sources

    try:
        sources = load_sources(settings.sources_path)
    except SourcesError:
        sources = None  # the run that this change requests reports the mistake
    found: dict[str, str] = {}
    for entity in ENTITIES:
        folder = settings.inbox / entity
        if not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            if not path.is_file():
                continue
            rel = path.relative_to(settings.inbox).as_posix()
            if path.name.lower().endswith(FILE_SUFFIXES) or (
                sources is not None and any(s.matches(entity, rel) for s in sources.sources)
            ):
                stat = path.stat()
                found[rel] = f"{stat.st_size}:{stat.st_mtime_ns}"
    if settings.sources_path.exists():
        stat = settings.sources_path.stat()
        found[f"(import settings) {settings.sources_path}"] = f"{stat.st_size}:{stat.st_mtime_ns}"
    return found


@dg.sensor(
    name="inbox_sensor",
    job=crm_refresh,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Requests a crm_refresh run when new or changed files appear in CRM_INBOX.",
)
def inbox_sensor(context: dg.SensorEvaluationContext, settings: dg.ResourceParam[Settings]):
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    current = inbox_fingerprints(settings)
    new = sorted(path for path, fp in current.items() if seen.get(path) != fp)
    if not new:
        return dg.SkipReason(f"no new files in {settings.inbox}")
    run_key = hashlib.sha256(json.dumps([(p, current[p]) for p in new]).encode()).hexdigest()[:20]
    context.update_cursor(json.dumps(current, sort_keys=True))
    return dg.RunRequest(run_key=run_key, tags={"crm/new_files": str(len(new))})


@dg.run_failure_sensor(
    name="refresh_failure_alert",
    monitored_jobs=[crm_refresh],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A failed crm_refresh run launched in Dagster (UI, schedule, inbox sensor) is "
    "logged to CRM_HOME/alerts.log and handed to CRM_ALERT_HOOK (crm/alerts.py). Runs of "
    "`crm refresh` alert from the command itself.",
)
def refresh_failure_alert(
    context: dg.RunFailureSensorContext, settings: dg.ResourceParam[Settings]
):
    if context.dagster_run.tags.get("crm/launched_by") == "cli":
        return
    from crm.alerts import alert_failure

    message = context.failure_event.message or "run failed"
    alert_failure(settings, context.dagster_run.run_id, [message])
