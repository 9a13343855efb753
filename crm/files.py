"""File primitives the publication, the PII key and the audience export share."""

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


def write_private(path: Path, text: str) -> None:
    """Create `path` owner-only (0600) with `text`, durably; FileExistsError if it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
