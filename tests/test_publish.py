"""Publication: atomic, self-contained, never blocked by readers, history pruned."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from crm.config import Settings
from crm.pii import Policy, TablePolicy
from crm.publish import clean_builds, finalize_build, publish

# The hand-made builds hold one table, with nothing personal in it.
POLICY = Policy({("marts", "fct"): TablePolicy()})


def _settings(tmp_path: Path, keep: int = 2) -> Settings:
    return Settings(
        home=tmp_path / "home",
        inbox=tmp_path / "inbox",
        warehouse=tmp_path / "pub" / "w.duckdb",
        as_of=dt.date(2025, 1, 31),
        currency="EUR",
        threads=1,
        memory_limit="1GB",
        keep_generations=keep,
    )


def _build(path: Path, value: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = path.with_name(f"raw-{value}.duckdb")
    con = duckdb.connect(str(path))
    con.execute(f"attach '{raw}' as raw")
    con.execute("create table raw.main.orders as select 1 as id")
    con.execute("create schema marts")
    con.execute("create schema staging")
    con.execute(f"create table marts.fct as select {value} as v")
    con.execute("create view staging.stg as select * from raw.main.orders")
    con.close()
    return path


def test_publish_is_self_contained_and_readers_keep_their_generation(tmp_path):
    settings = _settings(tmp_path)
    publish(
        _build(settings.builds_dir / "build-1.duckdb", 1), settings, "run-1", settings.as_of, POLICY
    )
    reader = duckdb.connect(str(settings.warehouse), read_only=True)
    assert reader.execute("select v from marts.fct").fetchone() == (1,)

    result = publish(
        _build(settings.builds_dir / "build-2.duckdb", 2), settings, "run-2", settings.as_of, POLICY
    )
    # The open reader still reads its generation; a new connection sees the new one.
    assert reader.execute("select v from marts.fct").fetchone() == (1,)
    reader.close()
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("select v from marts.fct").fetchone() == (2,)
        schemas = {r[0] for r in con.execute("select schema_name from duckdb_schemas()").fetchall()}
        assert "staging" not in schemas
        assert con.execute("select run_id from meta.warehouse_info").fetchone() == ("run-2",)
    assert not Path(str(settings.warehouse) + ".wal").exists()
    assert not (settings.builds_dir / "build-2.duckdb").exists()  # renamed, not copied
    assert result.restricted == settings.restricted and settings.restricted.exists()
    assert result.tables == {"marts.fct": 1}
    assert result.snapshot is not None and result.snapshot.exists()


def test_generations_are_pruned_to_the_configured_number(tmp_path):
    settings = _settings(tmp_path, keep=2)
    for i in range(5):
        build = _build(settings.builds_dir / f"build-{i}.duckdb", i)
        publish(build, settings, f"run-{i}", settings.as_of, POLICY)
        # distinct mtimes name distinct snapshots
        settings.warehouse.touch()
    snapshots = sorted(settings.generations_dir.glob("warehouse-*.duckdb"))
    assert len(snapshots) == 2
    values = []
    for snap in snapshots:
        with duckdb.connect(str(snap), read_only=True) as con:
            values.append(con.execute("select v from marts.fct").fetchone()[0])
    assert values == [2, 3]  # the two newest generations before the current one


def test_clean_builds_keeps_only_the_newest_failed_build(tmp_path):
    settings = _settings(tmp_path)
    settings.builds_dir.mkdir(parents=True)
    for i in range(3):
        path = settings.builds_dir / f"build-{i}.duckdb"
        path.write_bytes(b"x")
        import os

        os.utime(path, (i, i))
    removed = clean_builds(settings, keep_failed=1)
    assert sorted(p.name for p in removed) == ["build-0.duckdb", "build-1.duckdb"]
    assert [p.name for p in settings.builds_dir.iterdir()] == ["build-2.duckdb"]


def test_publication_writes_under_the_warehouse_s_memory_limit(tmp_path, monkeypatch):
    """DuckDB's own default is 80% of the machine: publication rewrote a 10M-order
    warehouse under it, 3.7 GB past the warehouse's limit."""
    settings = _settings(tmp_path)
    build = _build(settings.builds_dir / "build-1.duckdb", 1)
    opened = []
    connect = duckdb.connect

    def spy(database=":memory:", read_only=False, config=None, **kwargs):
        opened.append((Path(str(database)).name, read_only, dict(config or {})))
        return connect(database, read_only=read_only, config=config or {}, **kwargs)

    monkeypatch.setattr(duckdb, "connect", spy)
    publish(build, settings, "run-1", settings.as_of, POLICY)
    writes = [
        (name, config.get("memory_limit")) for name, read_only, config in opened if not read_only
    ]
    assert writes and {limit for _, limit in writes} == {"1GB"}, writes


def test_a_build_finalized_twice_keeps_how_it_was_made(tmp_path):
    """A publication killed after finalize_build leaves a finalized build; publishing
    it again must not forget its build state (the next refresh starts from it)."""
    build = _build(tmp_path / "build-1.duckdb", 1)
    with duckdb.connect(str(build)) as con:
        con.execute("create schema meta")
        con.execute(
            "create table meta.build_state as select 'incremental' as refresh_mode, "
            "'new files' as refresh_reason, timestamp '2025-01-30 12:00' as raw_watermark, "
            "'fp' as build_fingerprint, 'run-0' as based_on_run_id"
        )
    built = "refresh_mode, refresh_reason, raw_watermark, build_fingerprint, based_on_run_id"
    finalize_build(build, "run-1", dt.date(2025, 1, 31))
    with duckdb.connect(str(build), read_only=True) as con:
        first = con.execute(f"select {built} from meta.warehouse_info").fetchall()
    assert first[0][0] == "incremental" and first[0][4] == "run-0"
    finalize_build(build, "run-2", dt.date(2025, 1, 31))
    with duckdb.connect(str(build), read_only=True) as con:
        assert con.execute(f"select {built} from meta.warehouse_info").fetchall() == first
        assert con.execute("select run_id from meta.warehouse_info").fetchone() == ("run-2",)
