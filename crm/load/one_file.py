"""Loading one inbox file (`load_file`): skipped when its name, size and mtime or its
content hash were seen before; otherwise staged, then written in one transaction with
its ledger row, so that it is loaded completely or not at all. A file that cannot be
read as a whole gets a 'rejected' ledger row (with a hint of the import settings that
would read it) and the run goes on."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import duckdb

from crm.contract import ENTITIES, Entity
from crm.load.discovery import InboxFile
from crm.load.fingerprint import fingerprint_file
from crm.load.readers import stage_file
from crm.load.results import FileRejected, FileResult
from crm.load.store import utc_now
from crm.load.write import insert_ledger, write_loaded_file
from crm.rawstore import quote_literal

T = TypeVar("T")

# Per-file temporary objects (dropped after every file).
_TEMP_TABLES = (
    "_ld_scan",
    "_ld_rows",
    "_ld_rejl",
    "_ld_rej",
    "_ld_lines",
    "_ld_map",
    "_ld_kmap",
    "_ld_phys",
    "_ld_logical",
    "_ld_keys",
    "_ld_out",
    "_ld_prior",
    "_ld_rejects",
    "_ld_rejects_scan",
)


def _drop_temp_tables(con: duckdb.DuckDBPyConnection) -> None:
    for name in _TEMP_TABLES:
        con.execute(f"DROP TABLE IF EXISTS temp.{name}")


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back without masking the error that got us here."""
    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK")


def _next_load_time(con: duckdb.DuckDBPyConnection) -> dt.datetime:
    """Now (UTC), but strictly after every earlier load, so _loaded_at orders versions."""
    now = utc_now()
    last = con.execute("SELECT max(started_at) FROM main.load_ledger").fetchone()[0]
    if last is not None and now <= last:
        now = last + dt.timedelta(microseconds=1)
    return now


def _new_ledger_row(
    f: InboxFile, digest: str, size: int, mtime_ns: int, started: dt.datetime
) -> dict[str, object]:
    """A ledger row as first written: 'loaded' with zero counts, completed later.

    The load id reads as the load time plus the content hash prefix: sortable
    like ``_loaded_at`` and unique per load.
    """
    return {
        "load_id": f"L{started:%Y%m%dT%H%M%S%f}-{digest[:8]}",
        "entity": f.entity,
        "file_name": f.rel,
        "content_hash": digest,
        "file_size": size,
        "file_mtime_ns": mtime_ns,
        "file_format": f.fmt,
        "status": "loaded",
        "rows_in_file": None,
        "rows_loaded": 0,
        "rows_quarantined": 0,
        "rows_duplicate": 0,
        "n_value_issues": 0,
        "extra_columns": None,
        "error": None,
        "notes": None,
        "import_settings": f.source.label if f.source else None,
        "blocks_publication": None,
        "started_at": started,
        "finished_at": None,
    }


def _in_transaction(con: duckdb.DuckDBPyConnection, work: Callable[[], T]) -> T:
    """Run ``work`` in one transaction: everything it wrote is committed, or nothing."""
    con.execute("BEGIN TRANSACTION")
    try:
        outcome = work()
        con.execute("COMMIT")
    except BaseException:
        _rollback(con)
        raise
    return outcome


def _import_settings_hint(entity: Entity, f: InboxFile) -> str:
    """For a text export without import settings: the settings that would read it
    (crm/sniff.py), so that the rejection says how to load it. Never fails a load."""
    if f.source is not None or f.fmt not in ("csv", "csv.gz"):
        return ""
    try:
        from crm.sniff import propose

        proposal = propose(entity, f.path, f.rel)
    except Exception:  # noqa: BLE001 - a hint, never a reason to fail the load
        return ""
    if proposal.looks_like_data or not (proposal.settings or proposal.columns):
        return ""
    return (
        f" Import settings would read it: {proposal.summary()} (`crm inbox check "
        f"{f.rel}` prints them for sources.yml)."
    )


def _earlier_outcome_stands(status: str, settings_then: str | None, f: InboxFile) -> bool:
    """Whether an earlier outcome for this content stands: a load always does; a
    rejection only while the same import settings (or none) would read the file."""
    return status != "rejected" or settings_then == (f.source.label if f.source else None)


def load_file(
    con: duckdb.DuckDBPyConnection,
    f: InboxFile,
    work_dir: Path | None = None,
    rejected_blocks: bool = False,
) -> FileResult:
    """Load one file in one transaction; see the docstring of ``crm.load`` for the rules."""
    t0 = time.perf_counter()
    assert f.entity is not None and f.fmt is not None
    entity = ENTITIES[f.entity]
    result = FileResult(entity=f.entity, file=f.rel, status="failed", file_format=f.fmt)
    try:
        stat = f.path.stat()
        seen = con.execute(
            "SELECT load_id, status, content_hash, import_settings FROM main.load_ledger "
            f"WHERE entity = {quote_literal(f.entity)} AND file_name = {quote_literal(f.rel)} "
            f"AND file_size = {stat.st_size} AND file_mtime_ns = {stat.st_mtime_ns} "
            "ORDER BY status = 'loaded' DESC, started_at DESC LIMIT 1"
        ).fetchone()
        if seen is not None and _earlier_outcome_stands(seen[1], seen[3], f):
            # Inbox files are immutable: same name, size and mtime is the same
            # file. Skipping the hash keeps refreshes cheap as the inbox grows.
            result.status = "skipped"
            result.load_id, result.content_hash = seen[0], seen[2]
            result.note = f"unchanged since load {seen[0]} ({seen[1]})"
            result.seconds = time.perf_counter() - t0
            return result
        digest, size, lines = fingerprint_file(f.path, count_lines=f.fmt == "csv")
    except OSError as exc:
        result.error = f"cannot read the file: {exc}"
        return result
    result.content_hash = digest
    prior = con.execute(
        "SELECT load_id, file_name, status, error, import_settings FROM main.load_ledger "
        f"WHERE entity = {quote_literal(f.entity)} AND content_hash = {quote_literal(digest)} "
        "ORDER BY status = 'loaded' DESC, started_at DESC LIMIT 1"
    ).fetchone()
    if prior is not None and _earlier_outcome_stands(prior[2], prior[4], f):
        # Loaded, or rejected under the same import settings: immutable content is
        # never loaded (or retried) again. New settings give a rejected file a new try.
        result.status = "skipped"
        result.load_id = prior[0]
        result.note = f"same content already {prior[2]} as {prior[1]} (load {prior[0]})"
        if prior[3]:
            result.note += f": {prior[3]}"
        result.seconds = time.perf_counter() - t0
        return result

    started = _next_load_time(con)
    ledger = _new_ledger_row(f, digest, size, stat.st_mtime_ns, started)
    result.load_id = str(ledger["load_id"])
    _drop_temp_tables(con)
    try:
        try:
            staged = stage_file(con, entity, f, size, lines, work_dir)
        except FileRejected as exc:
            _drop_temp_tables(con)
            exc = FileRejected(str(exc) + _import_settings_hint(entity, f))
            if f.source is not None and f.source.rejected_file_blocks is not None:
                rejected_blocks = f.source.rejected_file_blocks
            ledger.update(
                status="rejected",
                error=str(exc),
                blocks_publication=rejected_blocks,
                finished_at=utc_now(),
            )
            _in_transaction(con, lambda: insert_ledger(con, ledger))
            result.status = "rejected"
            result.error = str(exc)
            result.blocks_publication = rejected_blocks
            result.seconds = time.perf_counter() - t0
            return result
        counts = _in_transaction(con, lambda: write_loaded_file(con, entity, staged, ledger))
    finally:
        _drop_temp_tables(con)
    result.status = "loaded"
    result.rows_in_file = staged.rows + staged.rejected
    result.rows_loaded = counts.loaded
    result.rows_quarantined = counts.quarantined
    result.rows_duplicate = counts.duplicate
    result.n_value_issues = counts.issues
    result.extra_columns = staged.extra_columns
    result.note = "; ".join(staged.notes) or None
    result.seconds = time.perf_counter() - t0
    return result
