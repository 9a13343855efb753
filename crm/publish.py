"""Publishing a finished build file as the two files readers open.

Readers hold the published file open read-only, and DuckDB lets no writer open
a file a reader holds. So the refresh never writes into the published file: it
builds a new file, makes it self-contained and checkpointed, and renames it onto
the published path. A reader that had the old file open keeps its old inode
until it reconnects; a failed refresh never reaches the rename and leaves the
last good warehouse in place.

One build becomes two files (crm/pii.py): the build file itself is the
restricted output (CRM_RESTRICTED, owner-only: the full golden record and the
identity state the next build reads), and a new file written from it, with
personal columns hashed or left out per the dbt YAML, is the analytics
warehouse (CRM_WAREHOUSE). The restricted file is renamed first: if the
refresh dies between the two renames, the identity state is already the new
one and the next refresh publishes an analytics file consistent with it.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

import duckdb

from crm.config import Settings
from crm.faults import fault_point
from crm.files import fsync_path, wal_path
from crm.pii import AnalyticsPatch, Policy, key_check, load_key, private_dir, write_analytics
from crm.privacy import shared_dir

# Schemas whose objects are views over the attached raw store: a reader opening
# the published file alone has no `raw` catalog, so they must not be published.
UNPUBLISHED_SCHEMAS = ("staging",)


@dataclass(frozen=True)
class PublishResult:
    warehouse: Path
    restricted: Path
    generation: str
    size_bytes: int
    snapshot: Path | None
    tables: dict[str, int]
    analytics: str  # how the analytics file was written: 'whole' or 'patched'


def finalize_build(
    build_path: Path, run_id: str, as_of: dt.date, config: dict[str, str] | None = None
) -> dict[str, int]:
    """Make the build file self-contained and durable; return row counts of the marts.
    `config`: DuckDB's settings (Settings.duckdb_config)."""
    con = duckdb.connect(str(build_path), config=dict(config or {}))
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
        found = {
            name
            for (name,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'meta' "
                "and table_name in ('build_state', 'warehouse_info')"
            ).fetchall()
        }
        # How the build was made (crm/incremental.py): the next refresh starts from
        # it. A build finalized before (its publication was interrupted) keeps what
        # its first finalization recorded.
        state = next((t for t in ("build_state", "warehouse_info") if t in found), None)
        built = (
            f"{state}.refresh_mode, {state}.refresh_reason, {state}.raw_watermark, "
            f"{state}.build_fingerprint, {state}.based_on_run_id"
            if state
            else "cast(null as varchar) as refresh_mode, cast(null as varchar) as refresh_reason, "
            "cast(null as timestamp) as raw_watermark, cast(null as varchar) as build_fingerprint, "
            "cast(null as varchar) as based_on_run_id"
        )
        source = f" from meta.{state}" if state else ""
        con.execute(
            "create or replace table meta.warehouse_info as select "
            f"? as run_id, cast(? as date) as as_of, current_timestamp as published_at, {built}"
            f"{source}",
            [run_id, as_of.isoformat()],
        )
        con.execute("drop table if exists meta.build_state")
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
    _seal(build_path)
    return counts


def _seal(path: Path) -> None:
    """A checkpointed database file made durable: no WAL left beside it, fsynced."""
    if wal_path(path).exists():
        raise RuntimeError(f"{wal_path(path)} left after checkpoint: refusing to publish")
    fsync_path(path)


def _replace_durably(source: Path, target: Path, staged_name: str) -> None:
    """os.replace `source` onto `target`, staging a copy beside the target first when
    they are on different file systems (os.replace is atomic only within one)."""
    staged = source
    if os.stat(source).st_dev != os.stat(target.parent).st_dev:
        staged = target.with_name(staged_name)
        shutil.copyfile(source, staged)
        os.chmod(staged, stat.S_IMODE(os.stat(source).st_mode))
        fsync_path(staged)
    stale_wal = wal_path(target)
    if stale_wal.exists():
        # A WAL belongs to the name, not the inode: it would be replayed into the new file.
        stale_wal.unlink()
    os.replace(staged, target)
    fsync_path(target.parent)
    if staged is not source:
        source.unlink(missing_ok=True)


def analytics_patch(
    build_path: Path, previous: Path, key: str, replaced: dict[tuple[str, str], tuple[str, str]]
) -> AnalyticsPatch | None:
    """Whether the analytics file can be a patched copy of the published one: the build
    is incremental and continues exactly the publication `previous` belongs to (same
    run; so the same code, policy and unchanged rows), hashed with the same key.
    None means: write it whole."""
    if not replaced or not previous.exists():
        return None
    with duckdb.connect(str(build_path), read_only=True) as con:
        mode, based_on = con.execute(
            "select refresh_mode, based_on_run_id from meta.warehouse_info"
        ).fetchone()
    if mode != "incremental" or based_on is None:
        return None
    try:
        with duckdb.connect(str(previous), read_only=True) as con:
            run_id = con.execute("select run_id from meta.warehouse_info").fetchone()[0]
            checked = con.execute("select pii_key_check from meta.analytics_info").fetchone()[0]
    except duckdb.Error:  # older, locked or damaged: write it whole
        return None
    if run_id != based_on or checked != key_check(key):
        return None
    return AnalyticsPatch(previous=previous, replaced=replaced)


def publish(
    build_path: Path,
    settings: Settings,
    run_id: str,
    as_of: dt.date,
    policy: Policy,
    replaced: dict[tuple[str, str], tuple[str, str, tuple[str, ...]]] | None = None,
) -> PublishResult:
    """Atomically replace the restricted output and the analytics warehouse with the
    finished build file (restricted) and its PII-safe copy (analytics). `replaced`
    (crm.incremental.replaced_keys) lets an incremental build patch a copy of the
    published analytics file instead of writing every table."""
    target = settings.warehouse
    shared_dir(target.parent, settings.warehouse_mode)
    restricted = settings.restricted
    private_dir(restricted.parent)
    key = load_key(settings.home)
    # every connection under the warehouse's memory limit (DuckDB's own default is 80%)
    config = settings.duckdb_config()
    tables = finalize_build(build_path, run_id, as_of, config)
    fault_point("publish:finalized")

    # The analytics copy is written beside its target, so its rename is atomic.
    incoming = target.with_name(f".{target.name}.incoming-{run_id}")
    try:
        patch = analytics_patch(build_path, target, key, replaced or {})
        written = write_analytics(build_path, incoming, key, policy, patch, config)
        # made owner-only (the umask, crm/privacy.py); readable by others on purpose
        os.chmod(incoming, settings.warehouse_mode)
        _seal(incoming)
        fault_point("publish:analytics_written")

        # The restricted output is the build file itself: owner-only before it moves
        # into the owner-only folder, so no copy of it is ever readable by others.
        os.chmod(build_path, 0o600)
        _replace_durably(build_path, restricted, f".{restricted.name}.incoming-{run_id}")
        fault_point("publish:restricted_replaced")

        # Keep the outgoing generation as a snapshot: a hard link costs no copy and
        # keeps the inode alive for history after the rename.
        snapshot = None
        if target.exists():
            shared_dir(settings.generations_dir, settings.warehouse_mode)
            info = target.stat()
            stamp = dt.datetime.fromtimestamp(info.st_mtime, dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
            snapshot = settings.generations_dir / f"warehouse-{stamp}.duckdb"
            try:
                if not snapshot.exists():
                    os.link(target, snapshot)
            except OSError:
                snapshot = None  # another file system: history is best effort

        fault_point("publish:before_replace")
        _replace_durably(incoming, target, incoming.name)
        fault_point("publish:replaced")
    finally:
        incoming.unlink(missing_ok=True)
    prune_generations(settings)
    return PublishResult(
        warehouse=target,
        restricted=restricted,
        generation=run_id,
        size_bytes=target.stat().st_size,
        snapshot=snapshot,
        tables=tables,
        analytics=written,
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
