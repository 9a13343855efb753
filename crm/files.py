"""File primitives the build, the publication, the PII key and the audience export share."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (a directory: so a rename in it is durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def wal_path(path: Path) -> Path:
    """DuckDB's write-ahead log of a database file (it belongs to the name, not the inode)."""
    return path.with_name(path.name + ".wal")


def move_duckdb_file(source: Path, target: Path) -> None:
    """Rename a DuckDB file and its write-ahead log, if any (a process that died
    mid-write leaves one), within one file system; nothing when `source` is missing."""
    if not source.exists():
        return
    os.replace(source, target)
    if wal_path(source).exists():
        os.replace(wal_path(source), wal_path(target))
    else:
        wal_path(target).unlink(missing_ok=True)


def write_private(path: Path, text: str) -> None:
    """Create `path` owner-only (0600) with `text`, durably; FileExistsError if it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
