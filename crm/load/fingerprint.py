"""Reading an inbox file's bytes before it is parsed: its content hash, size and
physical line count (`fingerprint_file`, which recognises a file seen before), a full
decompression check of gzip files (`check_gzip`: a truncated stream is rejected, not
half-loaded), and the raw first line (a CSV header)."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

from crm.load.results import FileRejected

CHUNK_SIZE = 1 << 20  # bytes (or characters) read at a time


def fingerprint_file(path: Path, count_lines: bool) -> tuple[str, int, int | None]:
    """sha256 of the bytes, size and (optionally) the number of physical lines.

    Counting lines here costs nothing extra (the bytes are read for the hash
    anyway) and lets the CSV path prove that every line is one record.
    """
    digest = hashlib.sha256()
    size = 0
    newlines = 0
    last = b""
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
            if count_lines:
                newlines += chunk.count(b"\n")
            last = chunk[-1:]
    lines = None
    if count_lines:
        lines = newlines + (1 if size and last != b"\n" else 0)
    return digest.hexdigest(), size, lines


def check_gzip(path: Path) -> tuple[int, int]:
    """Decompress a .gz file fully: (uncompressed size, physical lines).

    DuckDB happily reads the readable prefix of a truncated gzip stream
    without an error; a silent half-load is exactly what the contract
    forbids, so the stream is verified here first.
    """
    size = 0
    newlines = 0
    last = b""
    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(CHUNK_SIZE):
                size += len(chunk)
                newlines += chunk.count(b"\n")
                last = chunk[-1:]
    except (OSError, EOFError, zlib.error) as exc:
        raise FileRejected(f"corrupt or truncated gzip file: {exc}") from exc
    return size, newlines + (1 if size and last != b"\n" else 0)


def read_first_line(path: Path, gz: bool) -> bytes:
    opener = gzip.open if gz else open
    with opener(path, "rb") as fh:
        return fh.readline(CHUNK_SIZE)
