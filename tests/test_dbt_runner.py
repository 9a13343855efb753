"""dbt in Dagster's process (orchestration/dbt_runner.py), on a two-model project.

The whole warehouse runs through the runner in every end-to-end test; these
tests pin what those cannot see: when a kept parse is reused and when it is
not, the events a run yields, and the database being released after success
and failure alike.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_dbt import DagsterDbtTranslator, dbt_assets

from orchestration import dbt_runner
from orchestration.dbt_runner import DbtRun, DbtRunError, dbt_run

PROFILE = """\
tiny:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{{ env_var('TINY_DB') }}"
      threads: 1
"""
SCHEMA = """\
sources:
  - name: raw
    tables: [{name: people}]
models:
  - name: b
    columns:
      - name: id
        data_tests: [not_null]
"""


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "tiny"
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text(
        "name: tiny\nversion: '1.0'\nprofile: tiny\nmodel-paths: [models]\n"
    )
    (root / "profiles.yml").write_text(PROFILE)
    (root / "models" / "a.sql").write_text(
        "select id from {{ source('raw', 'people') }} union all select 2 as id\n"
    )
    # b's alias is read from the environment while dbt parses
    (root / "models" / "b.sql").write_text(
        "{{ config(alias=env_var('TINY_ALIAS', 'b')) }}\nselect id from {{ ref('a') }}\n"
    )
    (root / "models" / "schema.yml").write_text(SCHEMA)
    monkeypatch.setenv("TINY_DB", str(tmp_path / "db" / "tiny.duckdb"))
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    monkeypatch.delenv("TINY_ALIAS", raising=False)
    monkeypatch.delenv("CRM_BUILD_PATH", raising=False)
    (tmp_path / "db").mkdir()
    with duckdb.connect(str(tmp_path / "db" / "tiny.duckdb")) as con:
        con.execute("create schema raw; create table raw.people as select 1 as id")
    dbt_runner._PARSED.clear()
    yield root
    dbt_runner._PARSED.clear()


def _common(project: Path, target: Path) -> list[str]:
    return [
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target-path",
        str(target),
    ]


def _manifest(project: Path, target: Path, *args: str):
    return dbt_runner._manifest(project, project, _common(project, target), ["build", *args])


def _run(project: Path, target: Path, *args: str) -> DbtRun:
    # what dagster-dbt reads from manifest.json
    parsed = _manifest(project, target.with_name(target.name + "-parse"), *args)
    dagster_manifest = parsed.writable_manifest().to_dict()
    run = DbtRun(
        args=["build", *args],
        project_dir=project,
        profiles_dir=project,
        target_path=target,
        dagster_manifest=dagster_manifest,
        translator=DagsterDbtTranslator(),
    )
    return run


def _readable_elsewhere(path: Path) -> list:
    """The rows of every table, read by another process (fails while a lock is held)."""
    code = (
        "import duckdb, json, sys; c = duckdb.connect(sys.argv[1]); "
        "print(json.dumps(c.execute('select table_name from information_schema.tables "
        "order by 1').fetchall()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    return [row[0] for row in json.loads(done.stdout)]


def test_a_run_yields_dagster_events_and_releases_the_database(project, tmp_path):
    run = _run(project, tmp_path / "target")
    events = list(run.stream())
    assert dbt_runner.query_open_build("select 1") is None  # released after the run
    materialized = sorted(
        e.asset_key.path[-1] for e in events if isinstance(e, dg.AssetMaterialization)
    )
    assert materialized == ["a", "b"]
    # outside an asset, dagster-dbt reports a test as a check evaluation
    checks = [e for e in events if isinstance(e, dg.AssetCheckEvaluation)]
    assert [(c.asset_key.path[-1], c.check_name, c.passed) for c in checks] == [
        ("b", "not_null_b_id", True)
    ]
    assert run.elapsed_seconds and run.elapsed_seconds > 0
    assert (tmp_path / "target" / "run_results.json").exists()
    # dbt-duckdb would hold the file until the process ends; the runner closes it
    assert _readable_elsewhere(tmp_path / "db" / "tiny.duckdb") == ["a", "b", "people"]


def test_a_build_under_way_is_read_through_dbt_s_own_open_database(tmp_path):
    """DuckDB refuses a second open of a file with other settings: what the build
    has written is read through the database dbt-duckdb holds (the CLV facts)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.adapters.duckdb.credentials import DuckDBCredentials
    from dbt.adapters.duckdb.environments.local import LocalEnvironment

    path = tmp_path / "build.duckdb"
    env = LocalEnvironment(DuckDBCredentials.from_dict({"path": str(path), "schema": "main"}))
    writer = env.handle()  # dbt's connection, as while a build runs
    writer.cursor().execute("create table t as select range as id from range(3)")
    DuckDBConnectionManager._ENV = env
    try:
        rows = dbt_runner.query_open_build("select id from t order by id")
        assert rows == [{"id": 0}, {"id": 1}, {"id": 2}]
        with pytest.raises(duckdb.Error):  # what a second open meets
            duckdb.connect(str(path), read_only=True)
    finally:
        writer.close()
        dbt_runner._close_duckdb()
    assert DuckDBConnectionManager._ENV is None
    assert dbt_runner.query_open_build("select 1") is None


def test_a_subset_dagster_asks_for_builds_only_the_selected_models(project, tmp_path):
    """A run of some of the assets (the Dagster UI's "materialize selected") adds
    dagster-dbt's selection to the runner's dbt command."""
    manifest = _manifest(project, tmp_path / "parse").writable_manifest().to_dict()
    target = tmp_path / "target"

    @dbt_assets(manifest=manifest)
    def tiny(context):
        run = dbt_run(
            context, ["build"], target_path=target, project_dir=project, profiles_dir=project
        )
        yield from run.stream()

    def built(result) -> list[str]:
        done = json.loads((target / "run_results.json").read_text())["results"]
        materialized = [e.asset_key.path[-1] for e in result.get_asset_materialization_events()]
        return sorted(r["unique_id"].split(".")[2] for r in done), sorted(materialized)

    assert built(dg.materialize([tiny])) == (
        ["a", "b", "not_null_b_id"],
        ["a", "b"],
    )
    assert built(dg.materialize([tiny], selection=[dg.AssetKey("b")])) == (
        ["b", "not_null_b_id"],
        ["b"],
    )


def test_a_failing_build_raises_dbt_s_error_and_releases_the_database(project, tmp_path):
    (project / "models" / "c.sql").write_text("select * from no_such_table\n")
    run = _run(project, tmp_path / "target")
    with pytest.raises(DbtRunError, match="no_such_table"):
        list(run.stream())
    assert "a" in _readable_elsewhere(tmp_path / "db" / "tiny.duckdb")


def test_the_parse_is_kept_until_a_file_a_var_or_a_parse_time_env_var_changes(
    project, tmp_path, monkeypatch
):
    first = _manifest(project, tmp_path / "t1")
    assert (tmp_path / "t1" / "partial_parse.msgpack").exists()
    # another target folder (another CRM_HOME) reuses this process's parse
    assert _manifest(project, tmp_path / "t2") is first
    # a new process finds the parse kept on disk and does not parse
    dbt_runner._PARSED.clear()
    loaded = _manifest(project, tmp_path / "t3")
    assert loaded is not first and sorted(loaded.nodes) == sorted(first.nodes)
    assert not (tmp_path / "t3").exists()
    # and a build runs on it (refs and sources resolve)
    run = _run(project, tmp_path / "target")
    assert run.dagster_manifest and _manifest(project, tmp_path / "t3") is loaded
    list(run.stream())
    assert _readable_elsewhere(tmp_path / "db" / "tiny.duckdb") == ["a", "b", "people"]

    # other vars: parsed again
    with_vars = _manifest(project, tmp_path / "t4", "--vars", json.dumps({"x": 1}))
    assert with_vars is not loaded and (tmp_path / "t4" / "partial_parse.msgpack").exists()

    # an environment variable read while parsing changed: parsed again, with it
    monkeypatch.setenv("TINY_ALIAS", "b_renamed")
    renamed = _manifest(project, tmp_path / "t5")
    assert renamed.nodes["model.tiny.b"].alias == "b_renamed"
    monkeypatch.delenv("TINY_ALIAS")
    assert _manifest(project, tmp_path / "t6").nodes["model.tiny.b"].alias == "b"

    # a changed file: parsed again, and the build runs the new SQL
    (project / "models" / "a.sql").write_text("select 7 as id\n")
    changed = _manifest(project, tmp_path / "t7")
    assert "select 7" in changed.nodes["model.tiny.a"].raw_code
    run = _run(project, tmp_path / "target")
    list(run.stream())
    code = (
        "import duckdb, sys; print(duckdb.connect(sys.argv[1]).sql('select id from b').fetchall())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "db" / "tiny.duckdb")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "[(7,)]"
    # only the newest few parses stay on disk
    kept = list((project / "target" / "parsed").glob("manifest-*.pickle"))
    assert 1 <= len(kept) <= dbt_runner.KEEP_PARSED


def _parsed_nodes(target: Path, variables: dict) -> dict:
    """The warehouse project parsed afresh with these vars: its nodes and env reads."""
    from dbt.cli.main import dbtRunner

    from orchestration.project import PROJECT_DIR

    result = dbtRunner().invoke(
        ["parse", *_common(PROJECT_DIR, target), "--vars", json.dumps(variables), "--quiet"]
    )
    assert result.success, result.exception
    manifest = result.result
    assert dbt_runner._parse_env(manifest) == {}  # nothing read from the environment

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "created_at"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(manifest.writable_manifest().to_dict()["nodes"])


def test_run_vars_and_the_environment_do_not_shape_the_warehouse_parse(tmp_path, monkeypatch):
    """Values that differ per home or per day (the profile's files and limits, the
    as-of date, the previous publication, the build's plan, the identity model
    folder) are run vars, left out of a parse's key: the project must read them
    only when models run. Two homes on two days must parse to the same nodes."""

    def run_vars(home: Path, as_of: str, incremental: bool) -> dict:
        return {
            "build_path": str(home / "builds" / "build.duckdb"),
            "raw_store": str(home / "raw.duckdb"),
            "threads": 1,
            "memory_limit": "1GB",
            "temp_directory": str(home / "tmp"),
            "access_mode": "read_only" if incremental else "automatic",
            "as_of": as_of,
            "previous_restricted_output": str(home / "restricted.duckdb"),
            "build_incremental": incremental,
            "identity_model_dir": str(home / "identity" / "model"),
        }

    assert set(run_vars(tmp_path, "", False)) == dbt_runner.RUN_VARS
    monkeypatch.setenv("CRM_PREVIOUS_WAREHOUSE", str(tmp_path / "stale.duckdb"))
    first = _parsed_nodes(tmp_path / "t1", run_vars(tmp_path / "a", "2024-01-31", False))
    second = _parsed_nodes(tmp_path / "t2", run_vars(tmp_path / "b", "2025-06-30", True))
    assert first.keys() == second.keys() and len(first) > 100
    differing = [name for name in first if first[name] != second[name]]
    assert differing == []
    # and the key of a kept parse leaves them out, but not the database's name
    key = dbt_runner._project_key
    args = ["--vars", json.dumps(run_vars(tmp_path / "a", "2024-01-31", False))]
    again = ["--vars", json.dumps(run_vars(tmp_path / "b", "2025-06-30", True))]
    assert key(tmp_path, tmp_path, args) == key(tmp_path, tmp_path, again)
    renamed = {**run_vars(tmp_path / "a", "2024-01-31", False), "build_path": "other.duckdb"}
    assert key(tmp_path, tmp_path, args) != key(tmp_path, tmp_path, ["--vars", json.dumps(renamed)])
    priced = {**run_vars(tmp_path / "a", "2024-01-31", False), "currency": "USD"}
    assert key(tmp_path, tmp_path, args) != key(tmp_path, tmp_path, ["--vars", json.dumps(priced)])


def test_the_options_that_shape_a_parse_are_found_in_either_spelling():
    args = ["build", "--select", "a", "--vars", '{"x": 1}', "--target=dev", "--full-refresh"]
    assert dbt_runner._parse_args(args) == ["--vars", '{"x": 1}', "--target=dev"]
    assert dbt_runner._parse_args(["build", "--exclude", "b"]) == []


def test_a_damaged_or_unwritable_kept_parse_means_parsing_not_failing(
    project, tmp_path, monkeypatch
):
    first = _manifest(project, tmp_path / "t1")
    (kept,) = (project / "target" / "parsed").glob("manifest-*.pickle")
    kept.write_bytes(b"not a pickle")
    dbt_runner._PARSED.clear()
    again = _manifest(project, tmp_path / "t2")
    assert (tmp_path / "t2" / "partial_parse.msgpack").exists()  # parsed, not loaded
    assert sorted(again.nodes) == sorted(first.nodes)
    dbt_runner._PARSED.clear()
    assert _manifest(project, tmp_path / "t3") is not None and not (tmp_path / "t3").exists()

    # nowhere to keep it: every process parses, and the run goes on
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(dbt_runner, "_parsed_dir", lambda _project: blocker / "parsed")
    (project / "models" / "a.sql").write_text("select 3 as id\n")
    dbt_runner._PARSED.clear()
    assert "select 3" in _manifest(project, tmp_path / "t4").nodes["model.tiny.a"].raw_code
