"""The Dagster instance `crm refresh` writes: its config, and the pooled event log."""

import dagster as dg

from crm.config import Settings
from orchestration.event_storage import MAX_OPEN_DATABASES, PooledSqliteEventLogStorage
from orchestration.refresh import DAGSTER_YAML_HEADER, prepare_dagster_home


@dg.asset
def numbers() -> int:
    return 3


@dg.asset_check(asset=numbers)
def numbers_positive() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def _settings(tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("CRM_HOME", str(tmp_path / "home"))
    return Settings.from_env()


def test_config_is_written_updated_and_an_operators_file_kept(tmp_path, monkeypatch):
    settings = _settings(tmp_path, monkeypatch)
    config = settings.dagster_home / "dagster.yaml"
    prepare_dagster_home(settings)
    text = config.read_text()
    assert text.startswith(DAGSTER_YAML_HEADER)
    assert "PooledSqliteEventLogStorage" in text
    assert str(settings.dagster_home.resolve() / "history" / "runs") in text

    # an older file of crm's (same header) is brought up to date
    config.write_text(DAGSTER_YAML_HEADER + "\ntelemetry:\n  enabled: false\n")
    prepare_dagster_home(settings)
    assert config.read_text() == text

    # a file whose header the operator changed is theirs
    own = "# mine\ntelemetry:\n  enabled: false\n"
    config.write_text(own)
    prepare_dagster_home(settings)
    assert config.read_text() == own


def test_runs_written_through_the_pool_read_back_by_a_plain_instance(tmp_path, monkeypatch):
    settings = _settings(tmp_path, monkeypatch)
    prepare_dagster_home(settings)
    home = str(settings.dagster_home)
    defs = dg.Definitions(assets=[numbers], asset_checks=[numbers_positive])
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.from_config(home) as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        run_ids = [job.execute_in_process(instance=instance).run_id for _ in range(3)]
        # the writer keeps no more databases open than it may
        assert len(instance.event_log_storage._engines) <= MAX_OPEN_DATABASES

    # a reader as `dagster dev` would be (the same files, Dagster's own storage class)
    from dagster._core.storage.event_log import SqliteEventLogStorage

    reader = SqliteEventLogStorage(str(settings.dagster_home / "history" / "runs"))
    try:
        for run_id in run_ids:
            types = [
                r.event_log_entry.dagster_event_type
                for r in reader.get_records_for_run(run_id).records
                if r.event_log_entry.is_dagster_event
            ]
            assert dg.DagsterEventType.ASSET_MATERIALIZATION in types
            assert dg.DagsterEventType.ASSET_CHECK_EVALUATION in types
            assert types[-1] == dg.DagsterEventType.RUN_SUCCESS
        latest = reader.get_latest_materialization_events([numbers.key])[numbers.key]
        assert latest is not None and latest.run_id == run_ids[-1]
    finally:
        reader.dispose()

    # wiping closes the pooled connections before the files go
    with dg.DagsterInstance.from_config(home) as instance:
        instance.event_log_storage.wipe()
        assert set(instance.event_log_storage._engines) <= {"index"}  # the index is emptied
        assert not list((settings.dagster_home / "history" / "runs").glob("*-*-*.db"))
        run_id = job.execute_in_process(instance=instance).run_id
        assert instance.get_run_by_id(run_id) is not None
        assert instance.event_log_storage.get_records_for_run(run_id).records


def test_a_table_found_once_is_not_looked_up_again(tmp_path, monkeypatch):
    """Dagster asks has_table for every asset-check event; the answer is kept."""
    from dagster._core.storage.event_log.sqlite import sqlite_event_log

    storage = PooledSqliteEventLogStorage(str(tmp_path / "runs"))
    try:
        assert storage.has_table("asset_check_executions")
        assert not storage.has_table("no_such_table")
        # no more lookups of a known table: neither a new engine nor a reflection
        monkeypatch.setattr(sqlite_event_log, "create_engine", None)
        monkeypatch.setattr(storage, "_engine", None)
        assert storage.has_table("asset_check_executions")
        assert storage.supports_asset_checks
        monkeypatch.undo()
        storage.wipe()  # the schema is made again: asked again after a wipe
        assert storage.has_table("asset_check_executions")
    finally:
        storage.dispose()


def test_an_asset_key_column_found_once_is_not_reflected_again(tmp_path, monkeypatch):
    """Dagster reflects the asset-key table for every asset event; the answer is kept."""
    from dagster._core.storage.event_log import sql_event_log

    storage = PooledSqliteEventLogStorage(str(tmp_path / "runs"))
    try:
        assert storage.has_asset_key_index_cols()
        assert not storage.has_asset_key_col("no_such_column")
        monkeypatch.setattr(sql_event_log.db, "inspect", None)  # no reflection any more
        assert storage.has_asset_key_index_cols()
        with storage.index_connection() as conn:
            assert storage._has_asset_key_index_cols_on_connection(conn)
        monkeypatch.undo()
        assert not storage.has_asset_key_col("no_such_column")  # a missing one is asked again
        storage.wipe()
        assert storage.has_asset_key_index_cols()
    finally:
        storage.dispose()
