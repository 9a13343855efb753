"""Settings, from environment variables only.

ENVIRONMENT lists every `CRM_*` variable the code reads: the documentation's
configuration page is generated from it (crm/reference.py), and a test fails
when code reads a variable it does not list.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
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


@dataclass(frozen=True)
class EnvironmentVariable:
    name: str
    default: str
    meaning: str
    # set by crm itself, by dbt run by hand or by the tests, not by an operator
    internal: bool = False


ENVIRONMENT: tuple[EnvironmentVariable, ...] = (
    EnvironmentVariable(
        "CRM_HOME",
        "`data`",
        "state folder: raw store, builds, generations, run records, dbt target, Dagster instance",
    ),
    EnvironmentVariable("CRM_INBOX", "`$CRM_HOME/inbox`", "the inbox"),
    EnvironmentVariable(
        "CRM_WAREHOUSE",
        "`$CRM_HOME/warehouse.duckdb`",
        "the published analytics file that readers open (personal columns hashed)",
    ),
    EnvironmentVariable(
        "CRM_RESTRICTED",
        "`$CRM_HOME/restricted/crm_restricted.duckdb`",
        "the restricted output: full golden record and identity state, owner-only",
    ),
    EnvironmentVariable(
        "CRM_PII_KEY",
        "none",
        "the key of the PII hashes (at least 32 characters); unset = "
        "`$CRM_HOME/secrets/pii.key`, made on first use",
    ),
    EnvironmentVariable(
        "CRM_AS_OF",
        "`today` (UTC date)",
        "as-of date `YYYY-MM-DD`, passed to dbt as the run var `as_of`",
    ),
    EnvironmentVariable(
        "CRM_CURRENCY",
        "`EUR`",
        "base currency (3-letter code, upper-cased), passed to dbt as var `currency`; "
        "orders without a currency are in it",
    ),
    EnvironmentVariable(
        "CRM_THREADS",
        "number of CPUs",
        "threads of the loader's DuckDB connection, and dbt's `threads`",
    ),
    EnvironmentVariable(
        "CRM_MEMORY_LIMIT",
        f"{MEMORY_SHARE:.0%} of the machine's memory (or of the container's limit), in whole GiB",
        "DuckDB memory limit of the loader, of dbt and of identity scoring; the rest is for "
        "what runs outside DuckDB (Python models, the quality gate's batches, dbt, Dagster)",
    ),
    EnvironmentVariable(
        "CRM_KEEP_GENERATIONS", "`3`", "published generations kept in `$CRM_HOME/generations/`"
    ),
    EnvironmentVariable(
        "CRM_SOURCES",
        "`$CRM_HOME/sources.yml`",
        "import settings for exports in other shapes ([The inbox](inbox.md))",
    ),
    EnvironmentVariable(
        "CRM_REJECTED_FILE_BLOCKS",
        "`false`",
        "`true`: a file the load rejects whole blocks publication; by default it is reported "
        "(status, alert, gate warning) and the rest publishes",
    ),
    EnvironmentVariable(
        "CRM_WAREHOUSE_MODE",
        "`0644`",
        "who may read `CRM_WAREHOUSE` and its generations (octal: `0640` for a group of "
        "analysts, `0600` for the owner alone); everything else the warehouse writes is "
        "owner-only ([Personal data](personal-data.md))",
    ),
    EnvironmentVariable(
        "CRM_SCHEDULE_CRON",
        "`0 6 * * *`",
        "cron of the `daily_refresh` schedule (read when Dagster loads the definitions)",
    ),
    EnvironmentVariable("CRM_SCHEDULE_TIMEZONE", "`UTC`", "time zone of that cron"),
    EnvironmentVariable(
        "CRM_FULL_REFRESH",
        "off",
        "`1` = a full build, not an incremental one (same as `crm refresh --full`)",
    ),
    EnvironmentVariable(
        "CRM_IDENTITY_FULL_RELINK",
        "off",
        "`1` = score every pair of contacts again (same as `crm refresh --full-relink`)",
    ),
    EnvironmentVariable(
        "CRM_IDENTITY_MODEL",
        "unset: the warehouse's own model, `$CRM_HOME/identity/model/`",
        "pins an identity model file (its term-frequency tables beside it)",
    ),
    EnvironmentVariable(
        "CRM_IDENTITY_RETRAIN",
        "off",
        "`1` = train the identity model again in this refresh "
        "(same as `crm refresh --retrain-identity`)",
    ),
    EnvironmentVariable(
        "CRM_RAW_LOCK_WAIT",
        "`120`",
        "seconds the load waits for another process holding the raw store to close it",
    ),
    EnvironmentVariable(
        "CRM_DBT_PROJECT_DIR", "repository root", "where the dbt project is (rarely needed)"
    ),
    EnvironmentVariable(
        "CRM_ALERT_HOOK",
        "none",
        "`package.module:function` called with each refresh-failure alert "
        "(also logged to `$CRM_HOME/alerts.log`)",
    ),
    EnvironmentVariable(
        "CRM_DBT_VARS",
        "none",
        'a JSON object of dbt vars for the refresh, e.g. `{"clv_discount_rate": 0.08}`; '
        "`as_of` and `currency` come from their own variables",
    ),
    EnvironmentVariable(
        "CRM_PROGRESS", "`1`", "progress lines on stderr; `crm --quiet` sets `0`", internal=True
    ),
    EnvironmentVariable(
        "CRM_BUILD_PATH",
        "`data/builds/dev.duckdb`",
        "the build file, for dbt run by hand (`profiles.yml`; a refresh passes the run var "
        "`build_path`)",
        internal=True,
    ),
    EnvironmentVariable(
        "CRM_RAW_STORE",
        "`data/raw.duckdb`",
        "the raw store, for dbt run by hand (a refresh passes the run var `raw_store`)",
        internal=True,
    ),
    EnvironmentVariable(
        "CRM_TEMP_DIR",
        "`.tmp`",
        "DuckDB's spill folder, for dbt run by hand (a refresh passes the run var "
        "`temp_directory`, `$CRM_HOME/tmp`)",
        internal=True,
    ),
    EnvironmentVariable(
        "CRM_DBT_DOCS",
        "`target/dbt-docs/static_index.html`",
        "dbt's static docs that the documentation site takes in (`make docs` sets it)",
        internal=True,
    ),
    EnvironmentVariable(
        "CRM_REFRESH_REPORT",
        "`target/dbt-docs/refresh_report.html`",
        "the refresh report the documentation site shows as its example (`make docs` sets it)",
        internal=True,
    ),
    EnvironmentVariable(
        "CRM_FAULT_KILL_AT",
        "unset",
        "the tests' fault injection: kill the process at that point (crm/faults.py)",
        internal=True,
    ),
)


def _env_path(name: str, default: Path, environ: Mapping[str, str] | None = None) -> Path:
    value = (os.environ if environ is None else environ).get(name)
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
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings in `environ` (default: this process's environment)."""
        env = os.environ if environ is None else environ
        home = _env_path("CRM_HOME", Path("data"), env)
        return cls(
            home=home,
            inbox=_env_path("CRM_INBOX", home / "inbox", env),
            warehouse=_env_path("CRM_WAREHOUSE", home / "warehouse.duckdb", env),
            as_of=_parse_as_of(env.get("CRM_AS_OF")),
            currency=env.get("CRM_CURRENCY", "EUR").upper(),
            threads=int(env.get("CRM_THREADS", os.cpu_count() or 2)),
            memory_limit=env.get("CRM_MEMORY_LIMIT") or default_memory_limit(),
            keep_generations=int(env.get("CRM_KEEP_GENERATIONS", "3")),
            identity_full_relink=env.get("CRM_IDENTITY_FULL_RELINK", "").lower()
            in ("1", "true", "yes"),
            identity_retrain=env.get("CRM_IDENTITY_RETRAIN", "").lower() in ("1", "true", "yes"),
            full_refresh=env.get("CRM_FULL_REFRESH", "").lower() in ("1", "true", "yes"),
            dbt_vars=_parse_dbt_vars(env.get("CRM_DBT_VARS")),
            restricted_path=_env_path(
                "CRM_RESTRICTED", home / "restricted" / "crm_restricted.duckdb", env
            ),
            warehouse_mode=_parse_file_mode(env.get("CRM_WAREHOUSE_MODE")),
            sources_file=_env_path("CRM_SOURCES", home / "sources.yml", env),
            rejected_file_blocks=env.get("CRM_REJECTED_FILE_BLOCKS", "").lower()
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
