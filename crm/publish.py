"""Publishing a finished build file as the warehouse readers open.

Readers hold the published file open read-only, and DuckDB lets no writer open
a file a reader holds. So the refresh never writes into the published file: it
builds a new file, makes it self-contained and checkpointed, and renames it onto
the published path. A reader that had the old file open keeps its old inode
until it reconnects; a failed refresh never reaches the rename and leaves the
last good warehouse in place.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from crm.config import Settings
from crm.faults import fault_point

# Schemas whose objects are views over the attached raw store: a reader opening
# the published file alone has no `raw` catalog, so they must not be published.
UNPUBLISHED_SCHEMAS = ("staging",)


@dataclass(frozen=True)
class PublishResult:
    warehouse: Path
    generation: str
    size_bytes: int
    snapshot: Path | None
    tables: dict[str, int]


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def wal_path(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def finalize_build(build_path: Path, run_id: str, as_of: dt.date) -> dict[str, int]:
    """Make the build file self-contained and durable; return row counts of the marts."""
    con = duckdb.connect(str(build_path))
    try:
        for schema in UNPUBLISHED_SCHEMAS:
            con.execute(f"drop schema if exists {schema} cascade")
        # Any other view that reads the attached raw store would break for readers.
        leftovers = con.execute(
            "select schema_name, view_name from duckdb_views() "
            "where not internal and regexp_matches(sql, '\\braw\\s*\\.')"
        ).fetchall()
        for schema, view in leftovers:
            con.execute(f'drop view "{schema}"."{view}"')
        con.execute("create schema if not exists meta")
        con.execute(
            "create or replace table meta.warehouse_info as select "
            "? as run_id, cast(? as date) as as_of, current_timestamp as published_at",
            [run_id, as_of.isoformat()],
        )
        counts = {
            f"{schema}.{table}": int(rows)
            for schema, table, rows in con.execute(
                "select schema_name, table_name, estimated_size from duckdb_tables() "
                "where schema_name = 'marts' order by table_name"
            ).fetchall()
        }
        con.execute("checkpoint")
    finally:
        con.close()
    if wal_path(build_path).exists():
        raise RuntimeError(f"{wal_path(build_path)} left after checkpoint: refusing to publish")
    _fsync_path(build_path)
    return counts


def publish(build_path: Path, settings: Settings, run_id: str, as_of: dt.date) -> PublishResult:
    """Atomically replace the published warehouse with the finished build file."""
    target = settings.warehouse
    target.parent.mkdir(parents=True, exist_ok=True)
    tables = finalize_build(build_path, run_id, as_of)
    fault_point("publish:finalized")

    # os.replace is atomic only within one file system: stage a copy beside the
    # target when the build lives elsewhere.
    staged = build_path
    if os.stat(build_path).st_dev != os.stat(target.parent).st_dev:
        staged = target.with_name(f".{target.name}.incoming-{run_id}")
        shutil.copyfile(build_path, staged)
        _fsync_path(staged)

    # Keep the outgoing generation as a snapshot: a hard link costs no copy and
    # keeps the inode alive for history after the rename.
    snapshot = None
    if target.exists():
        settings.generations_dir.mkdir(parents=True, exist_ok=True)
        info = target.stat()
        stamp = dt.datetime.fromtimestamp(info.st_mtime, dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        snapshot = settings.generations_dir / f"warehouse-{stamp}.duckdb"
        try:
            if not snapshot.exists():
                os.link(target, snapshot)
        except OSError:
            snapshot = None  # another file system: history is best effort

    stale_wal = wal_path(target)
    if stale_wal.exists():
        # A WAL belongs to the name, not the inode: it would be replayed into the new file.
        stale_wal.unlink()
    fault_point("publish:before_replace")
    os.replace(staged, target)
    fault_point("publish:replaced")
    _fsync_path(target.parent)
    if staged is not build_path:
        build_path.unlink(missing_ok=True)
    prune_generations(settings)
    return PublishResult(
        warehouse=target,
        generation=run_id,
        size_bytes=target.stat().st_size,
        snapshot=snapshot,
        tables=tables,
    )


def prune_generations(settings: Settings) -> list[Path]:
    """Delete snapshots beyond CRM_KEEP_GENERATIONS (newest kept).

    Unlinking a file a reader still has open is safe on POSIX: the reader keeps
    the inode until it closes, then the space is freed.
    """
    if not settings.generations_dir.exists():
        return []
    snapshots = sorted(settings.generations_dir.glob("warehouse-*.duckdb"), reverse=True)
    removed = snapshots[settings.keep_generations :]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def clean_builds(settings: Settings, keep_failed: int = 1) -> list[Path]:
    """Remove build files of earlier runs, keeping the newest failed ones for diagnosis."""
    if not settings.builds_dir.exists():
        return []
    builds = sorted(
        settings.builds_dir.glob("build-*.duckdb"), key=lambda p: p.stat().st_mtime, reverse=True
    )
    removed = []
    for path in builds[keep_failed:]:
        path.unlink(missing_ok=True)
        wal_path(path).unlink(missing_ok=True)
        removed.append(path)
    return removed
