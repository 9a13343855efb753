"""Run-failure alerts (crm/alerts.py) and the Dagster run-failure sensor."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from crm.alerts import alert_failure
from crm.config import Settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch) -> Settings:
    monkeypatch.setenv("CRM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CRM_AS_OF", "2025-12-31")
    monkeypatch.setenv("CRM_TEST_ALERT_FILE", str(tmp_path / "hook.jsonl"))
    return Settings.from_env()


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_failures_are_logged_and_handed_to_the_hook(settings, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CRM_ALERT_HOOK", "tests.alert_hook:record")
    alert_failure(settings, "run-1", ["dbt_build: boom"], "/logs/x.log")
    logged = _lines(settings.home / "alerts.log")
    hooked = _lines(tmp_path / "hook.jsonl")
    assert logged[0]["run_id"] == hooked[0]["run_id"] == "run-1"
    assert hooked[0]["errors"] == ["dbt_build: boom"] and logged[0]["hook"] == "ok"

    # A hook that raises is logged; the alert itself still lands in alerts.log.
    monkeypatch.setenv("CRM_ALERT_HOOK", "tests.alert_hook:explode")
    alert = alert_failure(settings, "run-2", ["x"])
    assert alert["hook"].startswith("failed: RuntimeError('the mail server is down'")
    assert "the mail server is down" in capsys.readouterr().err
    assert [a["run_id"] for a in _lines(settings.home / "alerts.log")] == ["run-1", "run-2"]

    monkeypatch.setenv("CRM_ALERT_HOOK", "no_colon_here")
    assert "must be 'package.module:function'" in alert_failure(settings, "run-3", [])["hook"]


def test_the_run_failure_sensor_alerts_dagster_runs_but_not_cli_runs(
    settings, tmp_path, monkeypatch
):
    from orchestration.sensors import refresh_failure_alert

    monkeypatch.setenv("CRM_ALERT_HOOK", "tests.alert_hook:record")

    @dg.op
    def boom():
        raise RuntimeError("boom")

    @dg.job
    def failing():
        boom()

    with dg.DagsterInstance.ephemeral() as instance:
        for tags in ({}, {"crm/launched_by": "cli"}):
            result = failing.execute_in_process(instance=instance, raise_on_error=False, tags=tags)
            event = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
            context = dg.build_run_status_sensor_context(
                sensor_name="refresh_failure_alert",
                dagster_instance=instance,
                dagster_run=result.dagster_run,
                dagster_event=event,
                resources={"settings": settings},
            ).for_run_failure()
            refresh_failure_alert(context)
            if not tags:
                first_run = result.dagster_run.run_id
    alerts = _lines(tmp_path / "hook.jsonl")
    assert [a["run_id"] for a in alerts] == [first_run]  # the CLI run alerts by itself
    assert "boom" in alerts[0]["errors"][0], alerts[0]
