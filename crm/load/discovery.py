"""Finding the files to load: every candidate under ``<inbox>/<entity>/`` in load
order (`discover_inbox`), each as an `InboxFile` with its format (from the import
settings that read it, else from its suffix) and, for an item that will not be
loaded, the problem that is reported instead."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from crm.contract import ENTITIES, FILE_SUFFIXES
from crm.sources import Source, Sources


@dataclass(frozen=True)
class InboxFile:
    """One candidate found under the inbox; ``problem`` set means it is ignored."""

    entity: str | None
    path: Path
    rel: str  # relative to the inbox, '/' separated: the name used in every table
    fmt: str | None  # FILE_SUFFIXES without the leading dot
    problem: str | None = None
    source: Source | None = None  # the import settings that read it (crm/sources.py)


def format_from_suffix(name: str) -> str | None:
    lower = name.lower()
    for suffix in sorted(FILE_SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix):
            return suffix[1:]
    return None


def format_from_settings(source: Source | None, name: str) -> str | None:
    """The format import settings name for a file whatever its suffix (e.g. .txt as CSV)."""
    if source is None or source.format is None:
        return None
    if source.format == "excel":
        return "xlsx"
    gz = ".gz" if name.lower().endswith(".gz") and source.format != "parquet" else ""
    return source.format + gz


def _visible_files(folder: Path) -> Iterator[Path]:
    """Files below ``folder``, skipping hidden names (``.x.csv.part`` while a writer copies)."""
    for path in folder.rglob("*"):
        rel_parts = path.relative_to(folder).parts
        if any(part.startswith(".") for part in rel_parts):
            continue
        if path.is_file():
            yield path


def discover_inbox(inbox: Path, sources: Sources | None = None) -> list[InboxFile]:
    """Every candidate under the inbox in load order: ENTITIES order, then path, each
    with the source of `sources` (import settings) that reads it, if any.

    Ignored items (unknown entity folders, unknown suffixes, files lying
    directly in the inbox) come last, so that they are reported, not loaded.
    """
    if not inbox.is_dir():
        return []
    found: list[InboxFile] = []
    ignored: list[InboxFile] = []
    for entity in ENTITIES:
        folder = inbox / entity
        if not folder.is_dir():
            continue
        for path in sorted(_visible_files(folder), key=lambda p: p.relative_to(inbox).as_posix()):
            rel = path.relative_to(inbox).as_posix()
            source = sources.for_file(entity, rel) if sources else None
            fmt = format_from_settings(source, path.name) or format_from_suffix(path.name)
            if fmt is None:
                problem = f"unknown file type (expected one of {', '.join(FILE_SUFFIXES)})"
                ignored.append(InboxFile(entity, path, rel, None, problem))
            else:
                found.append(InboxFile(entity, path, rel, fmt, source=source))
    for path in sorted(inbox.iterdir()):
        if path.name.startswith(".") or (path.name in ENTITIES and path.is_dir()):
            continue
        if path.is_dir():
            problem = f"unknown entity folder (expected one of {', '.join(ENTITIES)})"
        else:
            problem = "files belong in a folder named after their entity, e.g. orders/"
        ignored.append(InboxFile(None, path, path.relative_to(inbox).as_posix(), None, problem))
    return found + ignored
