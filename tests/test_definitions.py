"""The Dagster code location loads, with the lineage raw -> dbt -> warehouse."""

from __future__ import annotations

import dagster as dg
import pytest

from orchestration.definitions import defs
from orchestration.sensors import inbox_sensor


@pytest.fixture(scope="module")
def graph():
    return defs.resolve_asset_graph()


def test_definitions_load_with_job_schedule_and_sensor():
    assert defs.resolve_job_def("crm_refresh") is not None
    assert defs.resolve_schedule_def("daily_refresh").cron_schedule == "0 6 * * *"
    assert defs.resolve_sensor_def("inbox_sensor") is not None


def test_audience_export_is_an_op_job_outside_the_refresh():
    job = defs.resolve_job_def("audience_export")
    assert [node.name for node in job.nodes] == ["export_audience"]
    assert job.tags.get("crm/audience") == "true"
    # crm_refresh selects every asset: the export must not be one, or it would run there
    refresh_nodes = {node.name for node in defs.resolve_job_def("crm_refresh").nodes}
    assert "export_audience" not in refresh_nodes


def test_lineage_runs_from_raw_through_dbt_to_the_published_warehouse(graph):
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {
        "raw/orders",
        "raw/contacts",
        "marts/fct_orders",
        "marts/customer_rfm",
        "warehouse",
    } <= keys
    upstream = graph.get(dg.AssetKey(["warehouse"])).parent_keys
    assert dg.AssetKey(["marts", "customer_rfm"]) in upstream

    def ancestors(key: dg.AssetKey) -> set[dg.AssetKey]:
        seen, stack = set(), [key]
        while stack:
            for parent in graph.get(stack.pop()).parent_keys:
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        return seen

    assert dg.AssetKey(["raw", "orders"]) in ancestors(dg.AssetKey(["marts", "customer_rfm"]))


def test_dbt_tests_are_asset_checks(graph):
    checks = list(graph.asset_check_keys)
    assert any(c.asset_key == dg.AssetKey(["marts", "customer_rfm"]) for c in checks)


def test_quality_suites_are_blocking_checks_on_their_assets(graph):
    from crm.quality.suites import load_suites

    keys = graph.get_all_asset_keys()
    job_checks = defs.resolve_job_def("crm_refresh").asset_layer.asset_graph.asset_check_keys
    for suite in load_suites():
        key = dg.AssetCheckKey(dg.AssetKey(suite.asset), suite.check_name)
        assert dg.AssetKey(suite.asset) in keys, suite.name
        assert key in graph.asset_check_keys and key in job_checks, suite.name
        # Raw suites run after the dbt build, so Dagster's blocking flag (hold the
        # asset's downstream) cannot apply to them; the gate op's failure and the
        # publish step's re-check block publication for every suite.
        assert graph.get_check_spec(key).blocking == (suite.asset[0] != "raw"), suite.name


def _sensor_context(cursor):
    """A sensor's context with the settings resource, as the code location gives it."""
    from orchestration.resources import settings_resource

    return dg.build_sensor_context(cursor=cursor, resources={"settings": settings_resource})


def test_inbox_sensor_requests_one_run_per_new_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_INBOX", str(tmp_path))
    monkeypatch.setenv("CRM_HOME", str(tmp_path / "home"))
    (tmp_path / "orders").mkdir()
    (tmp_path / "orders" / "a.csv").write_text("order_id\n1\n")
    (tmp_path / "notes.txt").write_text("ignored: not under an entity folder")

    with _sensor_context(cursor=None) as context:
        first = inbox_sensor(context)
        cursor = context.cursor
    assert isinstance(first, dg.RunRequest)

    with _sensor_context(cursor=cursor) as context:
        again = inbox_sensor(context)
    assert isinstance(again, dg.SkipReason)  # nothing new: no second run

    (tmp_path / "orders" / "b.parquet").write_bytes(b"x")
    with _sensor_context(cursor=cursor) as context:
        second = inbox_sensor(context)
    assert isinstance(second, dg.RunRequest)
    assert second.run_key != first.run_key
    cursor = context.cursor

    # An export with a suffix of its own counts once import settings read it, and a
    # change of the settings (which retries rejected files) requests a run too.
    (tmp_path / "orders" / "kasse.txt").write_text("x")
    with _sensor_context(cursor=cursor) as context:
        assert isinstance(inbox_sensor(context), dg.SkipReason)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "sources.yml").write_text(
        "sources:\n  kasse:\n    entity: orders\n    files: orders/*.txt\n    format: csv\n"
    )
    with _sensor_context(cursor=cursor) as context:
        third = inbox_sensor(context)
    assert isinstance(third, dg.RunRequest) and third.tags["crm/new_files"] == "2"


def test_every_dbt_data_test_is_an_asset_check(graph):
    """A test dagster-dbt can't attach to an asset is only logged, never a gate."""
    import json

    from orchestration.project import crm_dbt_project

    manifest = json.loads(crm_dbt_project.manifest_path.read_text())
    tests = {node["name"] for node in manifest["nodes"].values() if node["resource_type"] == "test"}
    checks = {check.name for check in graph.asset_check_keys}
    assert tests and tests <= checks, sorted(tests - checks)


def test_every_python_model_config_read_reaches_the_model():
    """dbt hands a dbt Python model only the config keys its parser finds in plain
    `dbt.config.get("<literal>")` calls; one inside an expression (int(... or 50))
    silently gets nothing. Every key a model reads must be in its config_keys_used."""
    import json
    import re
    from pathlib import Path

    from orchestration.project import crm_dbt_project

    manifest = json.loads(crm_dbt_project.manifest_path.read_text())
    models = {
        node["original_file_path"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["language"] == "python"
    }
    assert len(models) >= 6
    for path, node in models.items():
        code = "\n".join(
            line for line in Path(path).read_text().splitlines() if not line.strip().startswith("#")
        )
        read = set(re.findall(r'dbt\.config\.get\(\s*"([^"]+)"', code))
        used = set(node["unrendered_config"].get("config_keys_used") or [])
        assert read <= used, (path, read - used)
        for key in read:  # and each is set from a var in the model's YAML
            assert key in node["config"], (path, key)
