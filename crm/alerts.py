"""Alerts: always logged, and handed to a pluggable hook.

Every failed refresh (from `crm refresh` or a run launched in Dagster, through
the `refresh_failure_alert` run-failure sensor) and every load that rejected a
file whole becomes one JSON line in $CRM_HOME/alerts.log and a call of the
function named by CRM_ALERT_HOOK (`package.module:function`, called with the
alert dict: kind `refresh_failed` with errors and log, or `files_rejected` with
files; run_id, as_of, at). A hook that raises is logged and never hides what it
reports. Send mail, post to a chat or page someone from that function.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import sys
import traceback

from crm.config import Settings


def load_hook(spec: str):
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError(f"CRM_ALERT_HOOK must be 'package.module:function', got {spec!r}")
    return getattr(importlib.import_module(module), name)


def alert_failure(settings: Settings, run_id: str, errors: list[str], log: str = "") -> dict:
    return _send(settings, "refresh_failed", run_id, {"errors": errors, "log": log})


def alert_rejected_files(settings: Settings, run_id: str, files: list[dict]) -> dict:
    """Files the load rejected whole (`file`, `error`, `blocks_publication`): their rows
    are not in the warehouse until a fixed file (or import settings) loads them."""
    return _send(settings, "files_rejected", run_id, {"files": files})


def _send(settings: Settings, kind: str, run_id: str, facts: dict) -> dict:
    alert = {
        "kind": kind,
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "run_id": run_id,
        "as_of": settings.as_of.isoformat(),
        **facts,
    }
    settings.home.mkdir(parents=True, exist_ok=True)
    spec = os.environ.get("CRM_ALERT_HOOK", "").strip()
    if spec:
        try:
            load_hook(spec)(alert)
            alert["hook"] = "ok"
        except Exception as exc:  # the alert must never mask the failure it reports
            alert["hook"] = f"failed: {exc!r}"
            print(f"alert hook {spec} failed:\n{traceback.format_exc()}", file=sys.stderr)
    with open(settings.home / "alerts.log", "a") as handle:
        handle.write(json.dumps(alert) + "\n")
    return alert
