"""What a load run reports: the outcome of each inbox file (`FileResult`) and of the
whole run (`LoadReport`), and the two exceptions that decide an outcome: `FileRejected`
(the file cannot be read as a whole, so it is recorded as 'rejected') and
`LoadIntegrityError` (the counts of a file do not reconcile: a loader bug that rolls
the file back)."""

from __future__ import annotations

from dataclasses import dataclass, field


class FileRejected(Exception):
    """The file as a whole cannot be parsed: recorded as 'rejected', never half-loaded."""


class LoadIntegrityError(RuntimeError):
    """Counts of a file do not reconcile: a loader bug; the file's transaction is rolled back."""


@dataclass
class FileResult:
    """What happened to one inbox file (or one ignored folder) in this run.

    status: 'loaded' | 'rejected' (whole file unreadable, recorded in the ledger)
    | 'skipped' (same content seen before, nothing written) | 'ignored' (not a
    contract file: unknown entity folder or suffix) | 'failed' (the file could
    not even be read from disk; nothing recorded, retried next run).
    """

    entity: str | None
    file: str
    status: str
    rows_in_file: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    n_value_issues: int = 0
    error: str | None = None
    load_id: str | None = None
    content_hash: str | None = None
    file_format: str | None = None
    extra_columns: list[str] = field(default_factory=list)
    note: str | None = None
    seconds: float = 0.0
    blocks_publication: bool = False  # a rejected file that holds back publication

    def summary(self) -> str:
        """One line for logs and progress callbacks."""
        head = f"{self.file}: {self.status}"
        if self.status == "loaded":
            head += (
                f" {self.rows_loaded}/{self.rows_in_file} rows"
                f" (quarantined {self.rows_quarantined}, duplicates {self.rows_duplicate},"
                f" value issues {self.n_value_issues}) in {self.seconds:.2f}s"
            )
        tail = self.error or self.note
        return f"{head}: {tail}" if tail else head


@dataclass
class LoadReport:
    """All file results of one ``load_inbox`` run, with totals."""

    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    def _count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def files_loaded(self) -> int:
        return self._count("loaded")

    @property
    def files_rejected(self) -> int:
        return self._count("rejected")

    @property
    def files_skipped(self) -> int:
        return self._count("skipped")

    @property
    def files_ignored(self) -> int:
        return self._count("ignored")

    @property
    def files_failed(self) -> int:
        return self._count("failed")

    def _sum(self, attr: str) -> int:
        return sum(getattr(f, attr) for f in self.files if f.status == "loaded")

    @property
    def rows_in_files(self) -> int:
        return self._sum("rows_in_file")

    @property
    def rows_loaded(self) -> int:
        return self._sum("rows_loaded")

    @property
    def rows_quarantined(self) -> int:
        return self._sum("rows_quarantined")

    @property
    def rows_duplicate(self) -> int:
        return self._sum("rows_duplicate")

    @property
    def n_value_issues(self) -> int:
        return self._sum("n_value_issues")

    def totals(self) -> dict[str, int | float]:
        """Flat totals, e.g. for Dagster metadata."""
        return {
            "files_loaded": self.files_loaded,
            "files_rejected": self.files_rejected,
            "files_skipped": self.files_skipped,
            "files_ignored": self.files_ignored,
            "files_failed": self.files_failed,
            "rows_in_files": self.rows_in_files,
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
            "rows_duplicate": self.rows_duplicate,
            "n_value_issues": self.n_value_issues,
            "seconds": round(self.seconds, 3),
        }
