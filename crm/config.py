"""Settings, from environment variables only (documented in docs/guide.md)."""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

# DuckDB's share of the machine's memory when CRM_MEMORY_LIMIT is not set. The rest
# is for what a refresh holds outside DuckDB's limit (Python, dbt's and Dagster's
# objects, the scored identity pairs, the quality worker: ~2 GB at 10M orders),
# for the operating system's file cache and for other programs (DECISIONS 64).
MEMORY_SHARE = 0.25
# Where Linux says a container's memory limit (cgroup v2, v1).
CGROUP_MEMORY_FILES = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def machine_memory_bytes(cgroup_files: tuple[str, ...] = CGROUP_MEMORY_FILES) -> int | None:
    """The machine's physical memory, or the container's limit when that is lower."""
    try:
        total: int | None = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system
        total = None
    for name in cgroup_files:
        try:
            text = Path(name).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and (total is None or int(text) < total):
            total = int(text)  # "max" (no limit) is not a number
    return total


def default_memory_limit(total: int | None = None) -> str:
    """MEMORY_SHARE of the machine's memory in whole GiB (at least 1), else 4GB."""
    total = machine_memory_bytes() if total is None else total
    if not total:
        return "4GB"
    return f"{max(1, int(total * MEMORY_SHARE / 2**30))}GiB"


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default.resolve()


def _parse_as_of(value: str | None) -> dt.date:
    if not value or value.lower() == "today":
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise SystemExit(f"CRM_AS_OF must be a date YYYY-MM-DD or 'today', got {value!r}") from exc


def _parse_dbt_vars(value: str | None) -> dict:
    if not value or not value.strip():
        return {}
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise SystemExit(f"CRM_DBT_VARS must be a JSON object, got {value!r}: {exc}") from exc
    if not isinstance(parsed, dict):
        raise SystemExit(f"CRM_DBT_VARS must be a JSON object, got {value!r}")
    return parsed


def _parse_file_mode(value: str | None) -> int:
    """An octal file mode for the analytics warehouse: the owner reads and writes it,
    nobody executes it, and nobody else writes it."""
    if not value or not value.strip():
        return 0o644
    try:
        mode = int(value.strip(), 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o777 or mode & 0o600 != 0o600 or mode & 0o133:
        raise SystemExit(
            f"CRM_WAREHOUSE_MODE must be an octal file mode such as 0644, 0640 or 0600 "
            f"(the owner reads and writes, others at most read), got {value!r}"
        )
    return mode


@dataclass(frozen=True)
class Settings:
    home: Path  # CRM_HOME: raw store, build files, run history
    inbox: Path  # CRM_INBOX
    warehouse: Path  # CRM_WAREHOUSE: the published file readers open
    as_of: dt.date  # CRM_AS_OF
    currency: str  # CRM_CURRENCY: the warehouse's default currency
    threads: int  # CRM_THREADS: DuckDB threads
    memory_limit: str  # CRM_MEMORY_LIMIT: DuckDB memory limit per process
    keep_generations: int  # CRM_KEEP_GENERATIONS: published generations kept as snapshots
    identity_full_relink: bool = False  # CRM_IDENTITY_FULL_RELINK: re-score every contact pair
    identity_retrain: bool = False  # CRM_IDENTITY_RETRAIN: train the identity model again
    full_refresh: bool = False  # CRM_FULL_REFRESH: rebuild everything, not only what changed
    # CRM_DBT_VARS: a JSON object of dbt vars for the refresh (dbt_project.yml documents
    # them, e.g. {"clv_discount_rate": 0.08}); as_of and currency come from their settings.
    dbt_vars: dict = field(default_factory=dict)
    # CRM_RESTRICTED: the restricted output (owner-only): the full golden record and the
    # identity state; default $CRM_HOME/restricted/crm_restricted.duckdb.
    restricted_path: Path | None = None
    # CRM_WAREHOUSE_MODE: who may read the analytics warehouse and its generations (octal;
    # everything else the warehouse writes is owner-only: crm/privacy.py)
    warehouse_mode: int = 0o644
    # CRM_SOURCES: import settings (crm/sources.py); default $CRM_HOME/sources.yml
    sources_file: Path | None = None
    # CRM_REJECTED_FILE_BLOCKS: a file rejected whole holds back publication (default: it
    # is reported and the other files publish; a source's rejected_file_blocks wins)
    rejected_file_blocks: bool = False

    @classmethod
    def from_env(cls) -> Settings:
        home = _env_path("CRM_HOME", Path("data"))
        return cls(
            home=home,
            inbox=_env_path("CRM_INBOX", home / "inbox"),
            warehouse=_env_path("CRM_WAREHOUSE", home / "warehouse.duckdb"),
            as_of=_parse_as_of(os.environ.get("CRM_AS_OF")),
            currency=os.environ.get("CRM_CURRENCY", "EUR").upper(),
            threads=int(os.environ.get("CRM_THREADS", os.cpu_count() or 2)),
            memory_limit=os.environ.get("CRM_MEMORY_LIMIT") or default_memory_limit(),
            keep_generations=int(os.environ.get("CRM_KEEP_GENERATIONS", "3")),
            identity_full_relink=os.environ.get("CRM_IDENTITY_FULL_RELINK", "").lower()
            in ("1", "true", "yes"),
            identity_retrain=os.environ.get("CRM_IDENTITY_RETRAIN", "").lower()
            in ("1", "true", "yes"),
            full_refresh=os.environ.get("CRM_FULL_REFRESH", "").lower() in ("1", "true", "yes"),
            dbt_vars=_parse_dbt_vars(os.environ.get("CRM_DBT_VARS")),
            restricted_path=_env_path(
                "CRM_RESTRICTED", home / "restricted" / "crm_restricted.duckdb"
            ),
            warehouse_mode=_parse_file_mode(os.environ.get("CRM_WAREHOUSE_MODE")),
            sources_file=_env_path("CRM_SOURCES", home / "sources.yml"),
            rejected_file_blocks=os.environ.get("CRM_REJECTED_FILE_BLOCKS", "").lower()
            in ("1", "true", "yes"),
        )

    @property
    def restricted(self) -> Path:
        return self.restricted_path or self.home / "restricted" / "crm_restricted.duckdb"

    @property
    def identity_state(self) -> Path | None:
        """The file the next build reads its identity state from (attached as `previous`):
        the restricted output; a warehouse published before it existed held the state itself."""
        for path in (self.restricted, self.warehouse):
            if path.exists():
                return path
        return None

    @property
    def sources_path(self) -> Path:
        """Import settings for exports not in the contract's shape (crm/sources.py)."""
        return self.sources_file or self.home / "sources.yml"

    @property
    def raw_store(self) -> Path:
        return self.home / "raw.duckdb"

    @property
    def builds_dir(self) -> Path:
        return self.home / "builds"

    @property
    def dbt_target_dir(self) -> Path:
        """dbt's target folder (manifest, run_results), one per CRM_HOME so partial
        parsing stays warm across refreshes."""
        return self.home / "dbt-target"

    @property
    def generations_dir(self) -> Path:
        return self.home / "generations"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def temp_dir(self) -> Path:
        return self.home / "tmp"

    @property
    def lock_file(self) -> Path:
        return self.home / "refresh.lock"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    def duckdb_config(self) -> dict[str, str]:
        """Connection settings for every DuckDB file the warehouse writes."""
        self.temp_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # spills hold data
        return {
            "threads": str(self.threads),
            "memory_limit": self.memory_limit,
            "temp_directory": str(self.temp_dir),
            "preserve_insertion_order": "true",
        }

    def connect(self, path: Path | str, read_only: bool = False):
        """A DuckDB connection with the warehouse's settings and the session time zone UTC.

        TimeZone can't go in the connect config (ICU is not loaded yet at that
        point), so it is set right after connecting.
        """
        import duckdb

        con = duckdb.connect(str(path), read_only=read_only, config=self.duckdb_config())
        con.execute("set TimeZone = 'UTC'")
        return con
