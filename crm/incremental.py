"""Which kind of build a refresh runs: full, or incremental from the last publication.

An incremental build starts from a copy of the last restricted output (the
complete warehouse of the previous refresh, plain personal data included) and
dbt's incremental models replace the rows of the keys that changed since (see
macros/incremental.sql). It gives what a full build gives only when everything
but the data is as it was then, so a refresh is incremental when all of these
hold, and full otherwise (DECISIONS 55):

- `crm refresh --full` was not asked for, and identity is neither re-linked nor
  retrained (`--full-relink`, `--retrain-identity`);
- the restricted output exists and records how it was built (its raw
  watermark and build fingerprint: an older version's does not);
- the build fingerprint is the same: the dbt project (models, macros, seeds,
  tests, dbt_project.yml), the crm package's Python code and every dbt var but
  as_of;
- as_of did not move back;
- the raw store still holds the load the watermark names (a raw store restored
  from an older backup, or another one, is not the one the state came from).

The raw watermark is the start time of the newest load a build saw: loads are
strictly ordered and every raw row carries its load's time as `_loaded_at`, so
"arrived since the last publication" is `_loaded_at > watermark`.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from crm.config import Settings
from crm.files import wal_path

# The dbt project (as orchestration/project.py finds it) and this package: what a
# build's result depends on besides the data and as_of.
PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = Path(os.environ.get("CRM_DBT_PROJECT_DIR", PACKAGE_DIR.parent))
FINGERPRINT_SOURCES = ("models", "macros", "seeds", "data-tests", "dbt_project.yml")
# Vars that do not change what a build computes from the same data and state.
VOLATILE_VARS = ("as_of",)

FULL, INCREMENTAL = "full", "incremental"


@dataclass(frozen=True)
class PreviousBuild:
    """What meta.warehouse_info of the last publication says about its build."""

    run_id: str
    as_of: dt.date
    raw_watermark: dt.datetime | None
    fingerprint: str | None


@dataclass(frozen=True)
class BuildPlan:
    mode: str  # FULL or INCREMENTAL
    reason: str
    fingerprint: str
    raw_watermark: dt.datetime | None  # the newest load this build reads
    previous: PreviousBuild | None

    @property
    def incremental(self) -> bool:
        return self.mode == INCREMENTAL


def build_fingerprint(
    dbt_vars: dict[str, Any], project: Path = PROJECT_DIR, package: Path = PACKAGE_DIR
) -> str:
    """sha256 of the dbt project's sources, this package's code and the non-volatile vars."""
    digest = hashlib.sha256()
    stable = {k: v for k, v in sorted(dbt_vars.items()) if k not in VOLATILE_VARS}
    digest.update(json.dumps(stable, sort_keys=True, default=str).encode())
    sources = [(project, project / name) for name in FINGERPRINT_SOURCES]
    for root, path in [*sources, (package.parent, package)]:
        files = [path] if path.is_file() else sorted(path.rglob("*")) if path.exists() else []
        for file in files:
            if not file.is_file() or "__pycache__" in file.parts or file.suffix == ".pyc":
                continue
            digest.update(str(file.relative_to(root)).encode() + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def read_previous(path: Path | None) -> PreviousBuild | None:
    """The last publication's build facts, or None without a readable restricted output."""
    if path is None or not path.exists():
        return None
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None
    try:
        columns = {
            row[0]
            for row in con.execute(
                "select column_name from duckdb_columns() "
                "where schema_name = 'meta' and table_name = 'warehouse_info'"
            ).fetchall()
        }
        if not {"run_id", "as_of"} <= columns:
            return None
        wanted = ["run_id", "as_of"] + [
            c if c in columns else f"null as {c}" for c in ("raw_watermark", "build_fingerprint")
        ]
        row = con.execute(f"select {', '.join(wanted)} from meta.warehouse_info").fetchone()
    finally:
        con.close()
    if row is None:
        return None
    return PreviousBuild(run_id=row[0], as_of=row[1], raw_watermark=row[2], fingerprint=row[3])


def raw_watermark(raw_store: Path) -> dt.datetime | None:
    """The newest load's start time in the raw store (None before the first load)."""
    con = duckdb.connect(str(raw_store), read_only=True)
    try:
        newest = con.execute("select max(started_at) from load_ledger").fetchone()[0]
    finally:
        con.close()
    return newest


def _has_load(raw_store: Path, at: dt.datetime) -> bool:
    con = duckdb.connect(str(raw_store), read_only=True)
    try:
        return bool(
            con.execute("select count(*) from load_ledger where started_at = ?", [at]).fetchone()[0]
        )
    finally:
        con.close()


def home_relative(dbt_vars: dict[str, Any], home: Path) -> dict[str, Any]:
    """`dbt_vars` with every path inside `home` written relative to it (the identity
    model's folder): a home moved to another folder (a new disk, a restore, a copy)
    still builds incrementally, as nothing it holds changed."""
    root = home.resolve()

    def relative(value: Any) -> Any:
        if not (isinstance(value, str) and value.startswith("/")):
            return value
        path = Path(value).resolve()
        return f"$CRM_HOME/{path.relative_to(root)}" if path.is_relative_to(root) else value

    return {name: relative(value) for name, value in dbt_vars.items()}


def plan_build(settings: Settings, dbt_vars: dict[str, Any]) -> BuildPlan:
    """Decide full or incremental (module docstring) for the refresh about to build."""
    fingerprint = build_fingerprint(home_relative(dbt_vars, settings.home))
    watermark = raw_watermark(settings.raw_store) if settings.raw_store.exists() else None
    previous = read_previous(settings.restricted)

    def plan(mode: str, reason: str) -> BuildPlan:
        return BuildPlan(mode, reason, fingerprint, watermark, previous)

    if settings.full_refresh:
        return plan(FULL, "a full refresh was asked for")
    if settings.identity_full_relink or settings.identity_retrain:
        return plan(FULL, "identity is re-linked or retrained")
    if previous is None:
        return plan(FULL, "there is no earlier publication to start from")
    if previous.fingerprint is None or previous.raw_watermark is None:
        return plan(FULL, "the last publication does not record how it was built")
    if previous.fingerprint != fingerprint:
        return plan(FULL, "the project, its seeds or its settings changed since the last one")
    if settings.as_of < previous.as_of:
        return plan(FULL, f"as_of moved back ({previous.as_of} -> {settings.as_of})")
    if watermark is None or not _has_load(settings.raw_store, previous.raw_watermark):
        return plan(FULL, "the raw store does not hold the last publication's newest load")
    return plan(INCREMENTAL, f"rows loaded after {previous.raw_watermark:%Y-%m-%d %H:%M:%S}")


def copy_file(source: Path, target: Path) -> None:
    """Copy a (checkpointed) DuckDB file in the kernel: copy_file_range shares extents
    on file systems that can (XFS, btrfs) and copies without user space elsewhere."""
    if wal_path(source).exists():
        raise RuntimeError(f"{wal_path(source)} exists: {source} is not checkpointed")
    with open(source, "rb") as src, open(target, "wb") as dst:
        size = os.fstat(src.fileno()).st_size
        copied = 0
        try:
            while copied < size:
                n = os.copy_file_range(src.fileno(), dst.fileno(), min(1 << 30, size - copied))
                if n == 0:
                    break
                copied += n
        except OSError as error:
            # across file systems (EXDEV) or where the call is missing: a plain copy
            if error.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                raise
            src.seek(copied)
            dst.seek(copied)
            shutil.copyfileobj(src, dst, 1 << 24)
            copied = dst.tell()
        if copied != size:
            raise OSError(f"copied {copied} of {size} bytes of {source}")


def record_build_state(build: Path, plan: BuildPlan) -> None:
    """Write meta.build_state (one row) into a finished build: publication folds it into
    meta.warehouse_info, where the next refresh reads it (read_previous)."""
    con = duckdb.connect(str(build))
    try:
        con.execute("create schema if not exists meta")
        con.execute(
            "create or replace table meta.build_state as select "
            "cast(? as varchar) as refresh_mode, cast(? as varchar) as refresh_reason, "
            "cast(? as timestamp) as raw_watermark, cast(? as varchar) as build_fingerprint, "
            "cast(? as varchar) as based_on_run_id",
            [
                plan.mode,
                plan.reason,
                plan.raw_watermark,
                plan.fingerprint,
                # the publication an incremental build continues (its state copy)
                plan.previous.run_id if plan.incremental and plan.previous else None,
            ],
        )
        con.execute("checkpoint")
    finally:
        con.close()


# When or how long something ran, and where a home keeps its model: columns two
# builds of the same data (in two homes) may differ in.
VOLATILE_COLUMNS = (
    "fit_seconds",
    "recorded_at",
    "trained_at",
    "published_at",
    "model_path",
    "identity_model_dir",
)
# An incremental build's bookkeeping (the keys it replaced; empty in a full build).
BOOKKEEPING_TABLES = "int_changed_%"
FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")


def _comparable(column: str, data_type: str) -> str:
    """A column as compared: floats to 6 significant digits (parallel sums of doubles
    differ in the last bits from run to run; a boundary between two such values is
    about 1e-9 likely), everything else as it is."""
    quoted = f'"{column}"'
    if data_type.upper() not in FLOAT_TYPES:
        return quoted
    return (
        f"case when {quoted} is null or {quoted} = 0 or isnan({quoted}) or isinf({quoted}) "
        f"then {quoted} else round({quoted}, 5 - cast(floor(log10(abs({quoted}))) as integer)) "
        f"end as {quoted}"
    )


def compare_warehouses(a: Path, b: Path, schemas: tuple[str, ...] | None = None) -> list[str]:
    """How two warehouse files differ, table by table: rows only in one of them (EXCEPT
    ALL both ways, volatile columns left out, floats compared as _comparable says, and
    each float column's sum to a relative 1e-9). Empty when they hold the same data."""
    con = duckdb.connect()
    try:
        con.execute(f"attach '{a}' as a (read_only)")
        con.execute(f"attach '{b}' as b (read_only)")

        def tables(db: str) -> set[tuple[str, str]]:
            return {
                (s, t)
                for s, t in con.execute(
                    "select schema_name, table_name from duckdb_tables() where database_name = ? "
                    "and schema_name <> 'meta' and table_name not like ?",
                    [db, BOOKKEEPING_TABLES],
                ).fetchall()
                if schemas is None or s in schemas
            }

        found, other = tables("a"), tables("b")
        problems = [f"{s}.{t}: only in one file" for s, t in sorted(found ^ other)]
        for schema, table in sorted(found & other):
            columns = [
                (c, t)
                for c, t in con.execute(
                    "select column_name, data_type from duckdb_columns() where database_name = 'a' "
                    "and schema_name = ? and table_name = ? order by column_index",
                    [schema, table],
                ).fetchall()
                if c not in VOLATILE_COLUMNS
            ]
            # a table of volatile columns alone: its row count
            select = ", ".join(_comparable(c, t) for c, t in columns) or "1"
            for left, right in (("a", "b"), ("b", "a")):
                extra = con.execute(
                    f"select count(*) from (select {select} from {left}.{schema}.{table} "
                    f"except all select {select} from {right}.{schema}.{table})"
                ).fetchone()[0]
                if extra:
                    problems.append(f"{schema}.{table}: {extra} rows only in {left}")
            for column, _ in [(c, t) for c, t in columns if t.upper() in FLOAT_TYPES]:
                sums = con.execute(
                    f'select (select sum("{column}") from a.{schema}.{table} '
                    f'where not isnan("{column}") and not isinf("{column}")), '
                    f'(select sum("{column}") from b.{schema}.{table} '
                    f'where not isnan("{column}") and not isinf("{column}"))'
                ).fetchone()
                x, y = (float(v) if v is not None else 0.0 for v in sums)
                if abs(x - y) > 1e-9 * max(abs(x), abs(y), 1.0):
                    problems.append(f"{schema}.{table}.{column}: sums {x!r} and {y!r}")
        return problems
    finally:
        con.close()


def incremental_relations(manifest: Path) -> set[tuple[str, str]]:
    """(schema, table) of every incremental model in a dbt manifest."""
    nodes = json.loads(Path(manifest).read_text())["nodes"].values()
    return {
        (node["schema"], node["alias"])
        for node in nodes
        if node["resource_type"] == "model" and node["config"].get("materialized") == "incremental"
    }


def replaced_keys(manifest: Path) -> dict[tuple[str, str], tuple[str, str, tuple[str, ...]]]:
    """For every model that replaces changed keys (config_replacing_changed_keys in
    macros/incremental.sql): (schema, table) -> (key column of the change list,
    "schema.table" of the model listing the changed keys, the model's columns
    matched against it: a row is replaced when any of them is listed)."""
    nodes = json.loads(Path(manifest).read_text())["nodes"]
    by_name = {node["name"]: node for node in nodes.values() if node["resource_type"] == "model"}
    replaced = {}
    for node in by_name.values():
        spec = (node["config"].get("meta") or {}).get("replaces_changed_keys")
        if node["config"].get("materialized") != "incremental" or not spec:
            continue
        changed = by_name[spec["changed"]]
        replaced[(node["schema"], node["alias"])] = (
            spec["key"],
            f'"{changed["schema"]}"."{changed["alias"]}"',
            tuple(spec.get("columns") or [spec["key"]]),
        )
    return replaced


def keep_only(build: Path, keep: set[tuple[str, str]]) -> int:
    """Drop every table and view of a state copy but `keep` and the meta schema: dbt then
    creates the other models as in an empty file (an existing table costs dbt a
    rename, a drop and more statements per model). Returns how many were dropped."""
    con = duckdb.connect(str(build))
    try:
        relations = con.execute(
            "select schema_name, table_name, 'table' from duckdb_tables() "
            "where database_name = current_database() and schema_name <> 'meta' "
            "union all select schema_name, view_name, 'view' from duckdb_views() "
            "where not internal and database_name = current_database() "
            "and schema_name <> 'meta'"
        ).fetchall()
        dropped = 0
        for schema, name, kind in relations:
            if (schema, name) not in keep:
                con.execute(f'drop {kind} if exists "{schema}"."{name}" cascade')
                dropped += 1
        con.execute("checkpoint")
        return dropped
    finally:
        con.close()
