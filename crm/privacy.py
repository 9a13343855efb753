"""Who may read what the warehouse writes (docs/personal-data.md, "Who may read which file").

Every process of the warehouse runs with the umask 077 (`private_umask`): whatever
it creates, and whatever its children (dbt, the quality worker, DuckDB's spill
files) create, is owner-only from the first byte, never chmod-ed after the fact.
Only two kinds of file are meant for other readers and get their mode on purpose:
the analytics warehouse with its generations (CRM_WAREHOUSE_MODE, default 0644)
and the folders that lead to them (the same mode with x where it has r).

An installation made before this rule is tightened by the next refresh
(`secure_home`): everything under CRM_HOME that can hold personal data loses its
group and other bits, and the refresh says what it changed. The inbox is left
alone: other accounts may drop files into it; the note says when its files are
readable by others.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from crm.config import Settings

PRIVATE_UMASK = 0o077


def private_umask() -> int:
    """Make everything this process (and its children) creates owner-only; returns the
    previous umask."""
    return os.umask(PRIVATE_UMASK)


def folder_mode(file_mode: int) -> int:
    """The mode of a folder leading to files of `file_mode`: x wherever r is granted."""
    mode = file_mode | stat.S_IRWXU
    for read, search in ((stat.S_IRGRP, stat.S_IXGRP), (stat.S_IROTH, stat.S_IXOTH)):
        if mode & read:
            mode |= search
    return mode & 0o777


def shared_dir(path: Path, file_mode: int) -> Path:
    """Create `path` (and missing parents) so readers of `file_mode` files can reach
    them; folders that exist already keep their mode (they are the operator's)."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    path.mkdir(parents=True, exist_ok=True)
    for folder in missing:
        os.chmod(folder, folder_mode(file_mode))
    return path


def private_paths(settings: Settings) -> list[Path]:
    """Everything under CRM_HOME (and beside the warehouse) that can hold personal
    data: the raw store and its quarantine, builds, the restricted output, secrets,
    the trained identity model, run logs and records, alerts, Dagster's storage,
    DuckDB's spill folder, dbt's target folder, the quality gate's data docs, the
    generator's truth."""
    home = settings.home
    paths = [
        settings.raw_store,
        settings.raw_store.with_name(settings.raw_store.name + ".wal"),
        settings.builds_dir,
        settings.restricted.parent if settings.restricted.parent != home else settings.restricted,
        home / "secrets",
        home / "identity",  # the trained identity model: term frequencies of names, postcodes
        settings.runs_dir,
        home / "alerts.log",
        settings.lock_file,
        settings.dagster_home,
        settings.temp_dir,
        settings.dbt_target_dir,
        settings.warehouse.parent / "data_docs",
        settings.inbox.parent / "truth",
    ]
    return list(dict.fromkeys(paths))


@dataclass
class Tightened:
    """What `secure_home` changed, and what it saw but left alone."""

    changed: list[Path] = field(default_factory=list)
    open_inbox_files: int = 0

    def note(self) -> str | None:
        parts = []
        if self.changed:
            shown = ", ".join(str(p) for p in self.changed[:5])
            more = f" and {len(self.changed) - 5} more" if len(self.changed) > 5 else ""
            parts.append(
                f"made {len(self.changed)} file(s) and folder(s) owner-only that other "
                f"accounts could read: {shown}{more}"
            )
        if self.open_inbox_files:
            parts.append(
                f"{self.open_inbox_files} inbox file(s) are readable by other accounts; the "
                "warehouse leaves the inbox to whoever drops files into it (docs/personal-data.md, "
                '"Who may read which file")'
            )
        return "; ".join(parts) or None


def _walk_open(path: Path, found: list[Path], fix: bool) -> None:
    """Collect (and with `fix`, make owner-only) what group or others can read under `path`."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        return  # the link's target is not ours to change
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        if fix:
            os.chmod(path, mode & ~0o077)
        found.append(path)
    if stat.S_ISDIR(info.st_mode):
        for child in sorted(path.iterdir()):
            _walk_open(child, found, fix)


def readable_by_others(settings: Settings) -> list[Path]:
    """The files and folders that can hold personal data and that others can read
    (for `crm status`; nothing is changed)."""
    found: list[Path] = []
    for path in private_paths(settings):
        _walk_open(path, found, fix=False)
    return found


def secure_home(settings: Settings) -> Tightened:
    """Create CRM_HOME so the published files in it stay reachable, and take the group
    and other bits off everything in it that can hold personal data."""
    shared_dir(settings.home, settings.warehouse_mode)
    shared_dir(settings.warehouse.parent, settings.warehouse_mode)
    result = Tightened()
    for path in private_paths(settings):
        _walk_open(path, result.changed, fix=True)
    published = [settings.warehouse]
    if settings.generations_dir.exists():
        published += sorted(settings.generations_dir.glob("warehouse-*.duckdb"))
    for path in published:
        if path.exists() and stat.S_IMODE(path.stat().st_mode) != settings.warehouse_mode:
            os.chmod(path, settings.warehouse_mode)
    if settings.inbox.exists():
        result.open_inbox_files = sum(
            1
            for path in settings.inbox.rglob("*")
            if path.is_file() and stat.S_IMODE(path.stat().st_mode) & 0o077
        )
    return result
