"""Audience export: a target group from the golden record, as a file for a campaign tool.

A selection (RFM segments, value tiers, lifecycle stages, regions, countries, a
predicted-CLV range, contact channels, a size limit) becomes one set-based
query over the restricted output (CRM_RESTRICTED), the only published file with
the clear-text golden record. DuckDB writes the rows itself (COPY), so no row
passes through Python and the export scales with the warehouse.

Only customers whose golden record says marketing_opt_in = true are exported
(unknown counts as no, as contract v1 says), and only those reachable by one of
the requested channels. The manifest beside the file reconciles:
    matching = selected + excluded_no_opt_in + excluded_no_channel + excluded_by_limit
where `matching` counts the customers that meet the criteria before opt-in and
channel are applied.

Every filter value is checked against the values the warehouse knows, so a
typo is an error naming the known values rather than an empty file.

The file holds personal data: it is written into a private (0700) temporary
folder beside the target, made 0600 and renamed into place, so no copy of it is
ever readable by others and a reader never sees half a file.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from crm.config import Settings
from crm.files import fsync_path, write_private
from crm.rawstore import quote_literal

FORMATS = ("csv", "parquet")
# A channel is a way to reach the customer; `post` needs a street and a postal code or city.
CHANNELS = ("email", "phone", "post")
# The lifecycle mart's stages (marts.customer_lifecycle); values found in the mart count too.
LIFECYCLE_STAGES = ("prospect", "new", "active", "at_risk", "lapsed", "reactivated")
LIFECYCLE_TABLE = "customer_lifecycle"
# The selection options, as AudienceSpec, the CLI (dest) and the Dagster config name them.
SPEC_OPTIONS = (
    "segments",
    "tiers",
    "stages",
    "regions",
    "countries",
    "min_clv",
    "max_clv",
    "channels",
    "limit",
)
COLUMNS = (
    "customer_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "region",
    "country",
    "rfm_segment",
    "value_tier",
    "lifecycle_stage",
    "predicted_clv",
)
# The text columns of a CSV export, which a spreadsheet could run as a formula when a
# value starts with = + - @ (or a tab or carriage return): such a value gets a leading
# apostrophe (OWASP's CSV-injection advice). A column added to COLUMNS is guarded
# unless listed here: the id (made by the warehouse), the phone (normalised E.164,
# '+' and digits: a number, not a formula) and the CLV (a number). Parquet is typed
# and never evaluated.
CSV_UNGUARDED_COLUMNS = ("customer_id", "phone", "predicted_clv")
CSV_GUARDED_COLUMNS = tuple(c for c in COLUMNS if c not in CSV_UNGUARDED_COLUMNS)
CSV_FORMULA_START = r"^[=+\-@\t\r]"
REQUIRED_TABLES = ("dim_customers", "customer_rfm", "customer_clv")
MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_KIND = "crm.audience_export"
MAX_LISTED = 30  # known values listed in an error message


class AudienceError(ValueError):
    """The selection cannot be applied as given (a usage error: exit code 2)."""


class AudienceSourceError(RuntimeError):
    """The restricted output is missing or lacks what the export reads (exit code 1)."""


def split_values(values: Iterable[str] | None) -> tuple[str, ...]:
    """Repeatable options and comma lists alike: ["a,b", "c"] -> ("a", "b", "c")."""
    out: list[str] = []
    for value in values or ():
        for part in str(value).split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return tuple(out)


@dataclass(frozen=True)
class AudienceSpec:
    """Who is in the target group. Empty lists mean "no filter"; the lists of one
    criterion are alternatives (OR), the criteria all apply (AND)."""

    segments: tuple[str, ...] = ()  # marts.customer_rfm.rfm_segment
    tiers: tuple[str, ...] = ()  # marts.customer_clv.value_tier
    stages: tuple[str, ...] = ()  # marts.customer_lifecycle.lifecycle_stage
    regions: tuple[str, ...] = ()  # dim_customers.region (golden address), any case
    countries: tuple[str, ...] = ()  # dim_customers.country (ISO code), any case
    min_clv: float | None = None  # predicted_clv >= min_clv (null predictions never match)
    max_clv: float | None = None  # predicted_clv <= max_clv
    channels: tuple[str, ...] = ()  # reachable by any of these; empty = any of CHANNELS
    limit: int | None = None  # at most this many, highest predicted_clv first

    @classmethod
    def from_source(cls, source) -> AudienceSpec:
        """The spec from an object with one attribute per option of `from_options`
        (the CLI's parsed arguments, the Dagster op's config)."""
        return cls.from_options(**{name: getattr(source, name) for name in SPEC_OPTIONS})

    @classmethod
    def from_options(
        cls,
        *,
        segments: Iterable[str] | None = None,
        tiers: Iterable[str] | None = None,
        stages: Iterable[str] | None = None,
        regions: Iterable[str] | None = None,
        countries: Iterable[str] | None = None,
        min_clv: float | None = None,
        max_clv: float | None = None,
        channels: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> AudienceSpec:
        spec = cls(
            segments=split_values(segments),
            tiers=split_values(tiers),
            stages=split_values(stages),
            regions=split_values(regions),
            countries=split_values(countries),
            min_clv=None if min_clv is None else float(min_clv),
            max_clv=None if max_clv is None else float(max_clv),
            channels=tuple(c.lower() for c in split_values(channels)),
            limit=limit,
        )
        spec.check()
        return spec

    def check(self) -> None:
        """What can be said without the warehouse."""
        for name, value in (("min_clv", self.min_clv), ("max_clv", self.max_clv)):
            if value is not None and not math.isfinite(value):
                raise AudienceError(f"{name} must be a finite number, got {value}")
        if self.min_clv is not None and self.max_clv is not None and self.min_clv > self.max_clv:
            raise AudienceError(
                f"min_clv ({self.min_clv:g}) is greater than max_clv ({self.max_clv:g})"
            )
        unknown = [c for c in self.channels if c not in CHANNELS]
        if unknown:
            raise AudienceError(
                f"unknown channel {', '.join(map(repr, unknown))}; known: {', '.join(CHANNELS)}"
            )
        if self.limit is not None and self.limit < 1:
            raise AudienceError(f"limit must be at least 1, got {self.limit}")

    @property
    def effective_channels(self) -> tuple[str, ...]:
        return self.channels or CHANNELS

    def criteria(self) -> dict:
        """The selection as recorded in the manifest."""
        data = asdict(self)
        data["channels"] = list(self.effective_channels)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


@dataclass
class AudienceResult:
    path: Path
    manifest_path: Path
    format: str
    compression: str | None
    counts: dict[str, int]
    source: dict
    columns: list[dict[str, str]]
    sha256: str
    size_bytes: int
    warnings: list[str] = field(default_factory=list)

    @property
    def selected(self) -> int:
        return self.counts["selected"]


def manifest_path_for(path: Path) -> Path:
    return path.with_name(path.name + MANIFEST_SUFFIX)


def resolve_format(path: Path, file_format: str | None) -> tuple[str, str | None]:
    """(format, compression) from --format or the file name; they must agree."""
    name = path.name.lower()
    by_name: tuple[str, str | None] | None = None
    if name.endswith(".csv"):
        by_name = ("csv", None)
    elif name.endswith(".csv.gz"):
        by_name = ("csv", "gzip")
    elif name.endswith((".parquet", ".pq")):
        by_name = ("parquet", None)
    if file_format is not None:
        file_format = file_format.lower()
        if file_format not in FORMATS:
            raise AudienceError(f"unknown format {file_format!r}; known: {', '.join(FORMATS)}")
        if by_name is not None and by_name[0] != file_format:
            raise AudienceError(
                f"{path.name} looks like {by_name[0]} but the format is {file_format}: "
                "rename the file or drop the format"
            )
        return by_name or (file_format, None)
    if by_name is None:
        raise AudienceError(
            f"cannot tell the format from {path.name!r}: name it .csv, .csv.gz or .parquet, "
            "or give the format (csv or parquet)"
        )
    return by_name


def _table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    return {
        row[0]
        for row in con.execute(
            "select column_name from information_schema.columns "
            "where table_catalog = current_database() and table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()
    }


def _distinct(con: duckdb.DuckDBPyConnection, sql: str) -> list[str]:
    """The distinct non-blank values of a one-column query, trimmed, sorted."""
    values = {str(row[0]).strip() for row in con.execute(sql).fetchall() if row[0] is not None}
    return sorted(v for v in values if v)


def _match_known(what: str, wanted: Sequence[str], known: Sequence[str]) -> list[str]:
    """The wanted values in the warehouse's spelling, matched case-insensitively; an
    unknown value is an error listing the known values (and the nearest ones)."""
    by_lower: dict[str, str] = {}
    for value in known:
        by_lower.setdefault(value.lower(), value)
    matched, problems = [], []
    for value in wanted:
        if value.lower() in by_lower:
            matched.append(by_lower[value.lower()])
            continue
        near = difflib.get_close_matches(value.lower(), list(by_lower), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(repr(by_lower[n]) for n in near)}?)" if near else ""
        problems.append(f"{value!r}{hint}")
    if problems:
        listed = ", ".join(known[:MAX_LISTED]) + (
            f", … ({len(known)} in all)" if len(known) > MAX_LISTED else ""
        )
        raise AudienceError(
            f"unknown {what} {'; '.join(problems)}. Known {what}s: {listed or '(none)'}"
        )
    return matched


def _lifecycle_available(con: duckdb.DuckDBPyConnection) -> bool:
    return {"customer_id", "lifecycle_stage"} <= _table_columns(con, "marts", LIFECYCLE_TABLE)


def _list_literal(values: Sequence[str]) -> str:
    return "[" + ", ".join(quote_literal(v) for v in values) + "]"


def _number(value: float) -> str:
    return f"cast({value!r} as double)"


@dataclass(frozen=True)
class AudienceQueries:
    matching: str  # a WITH clause ending in `matching`: the customers meeting the criteria
    select: str  # the export: eligible customers, COLUMNS, ordered by customer_id
    lifecycle: bool  # marts.customer_lifecycle is there
    resolved: dict[str, list[str]]  # the filter values in the warehouse's spelling
    warnings: list[str]


def build_queries(con: duckdb.DuckDBPyConnection, spec: AudienceSpec) -> AudienceQueries:
    """Check the spec against the warehouse's values and build the queries. Values are
    compared in lower case and inlined as literals (only values the warehouse has)."""
    spec.check()
    warnings: list[str] = []
    for table in REQUIRED_TABLES:
        if not _table_columns(con, "marts", table):
            raise AudienceSourceError(
                f"marts.{table} is missing: is this a restricted output built by `crm refresh`?"
            )
    lifecycle = _lifecycle_available(con)
    if spec.stages and not lifecycle:
        raise AudienceError(
            f"cannot filter by lifecycle stage: this warehouse has no marts.{LIFECYCLE_TABLE} "
            "(customer_id, lifecycle_stage); refresh with a version that builds it, "
            "or leave out the stage filter"
        )
    if lifecycle:
        # Coded against the mart's interface (one row per customer): a different grain
        # would repeat customers in the file, so it is refused rather than joined.
        repeated = con.execute(
            f"select count(*) - count(distinct customer_id) from marts.{LIFECYCLE_TABLE}"
        ).fetchone()[0]
        if repeated:
            raise AudienceSourceError(
                f"marts.{LIFECYCLE_TABLE} has {repeated} repeated customer_id rows: "
                "expected one row per customer"
            )
    segment_sql = "select rfm_segment from marts.customer_rfm"
    if _table_columns(con, "seeds", "rfm_segments"):  # a segment with nobody in it today
        segment_sql += " union select rfm_segment from seeds.rfm_segments"
    stage_sql = (
        f"select lifecycle_stage from marts.{LIFECYCLE_TABLE} union "
        f"select unnest({_list_literal(LIFECYCLE_STAGES)})"
    )
    lists = (
        ("segments", "rfm segment", "rfm_segment", segment_sql),
        ("tiers", "value tier", "value_tier", "select value_tier from marts.customer_clv"),
        ("stages", "lifecycle stage", "lifecycle_stage", stage_sql),
        ("regions", "region", "region", "select region from marts.dim_customers"),
        ("countries", "country", "country", "select country from marts.dim_customers"),
    )
    filters: list[str] = []
    resolved: dict[str, list[str]] = {}
    for attr, what, column, known_sql in lists:
        wanted = getattr(spec, attr)
        if not wanted:
            continue
        resolved[attr] = _match_known(what, wanted, _distinct(con, known_sql))
        lowered = sorted({v.lower() for v in resolved[attr]})
        filters.append(f"lower({column}) in {_list_literal(lowered)}")
    if spec.min_clv is not None:
        filters.append(f"predicted_clv >= {_number(spec.min_clv)}")
    if spec.max_clv is not None:
        filters.append(f"predicted_clv <= {_number(spec.max_clv)}")
    if spec.min_clv is not None or spec.max_clv is not None:
        with_clv = con.execute("select count(predicted_clv) from marts.customer_clv").fetchone()[0]
        if not with_clv:
            warnings.append(
                "no customer has a predicted_clv (the CLV fits were skipped): "
                "the CLV range matches nobody"
            )

    reachable = {
        "email": "email is not null",
        "phone": "phone is not null",
        "post": "address_line1 is not null and coalesce(postal_code, city) is not null",
    }
    has_channel = " or ".join(f"({reachable[c]})" for c in spec.effective_channels)
    stage = "lifecycle.lifecycle_stage" if lifecycle else "cast(null as varchar)"
    lifecycle_join = (
        f"left join marts.{LIFECYCLE_TABLE} as lifecycle "
        "on lifecycle.customer_id = customers.customer_id"
        if lifecycle
        else ""
    )
    # Empty strings count as missing: a blank e-mail reaches nobody.
    matching = f"""
        with golden as (
            select
                customers.customer_id,
                nullif(trim(customers.first_name), '') as first_name,
                nullif(trim(customers.last_name), '') as last_name,
                nullif(trim(customers.email), '') as email,
                nullif(trim(customers.phone), '') as phone,
                nullif(trim(customers.address_line1), '') as address_line1,
                nullif(trim(customers.address_line2), '') as address_line2,
                nullif(trim(customers.postal_code), '') as postal_code,
                nullif(trim(customers.city), '') as city,
                nullif(trim(customers.region), '') as region,
                nullif(trim(customers.country), '') as country,
                coalesce(customers.marketing_opt_in, false) as is_opted_in,
                nullif(trim(rfm.rfm_segment), '') as rfm_segment,
                nullif(trim(clv.value_tier), '') as value_tier,
                nullif(trim({stage}), '') as lifecycle_stage,
                clv.predicted_clv
            from marts.dim_customers as customers
            left join marts.customer_rfm as rfm
                on rfm.customer_id = customers.customer_id
            left join marts.customer_clv as clv
                on clv.customer_id = customers.customer_id
            {lifecycle_join}
        ),
        matching as (
            select
                *,
                coalesce({has_channel}, false) as has_channel
            from golden
            where {" and ".join(filters) or "true"}
        )"""
    eligible = "select * from matching where is_opted_in and has_channel"
    if spec.limit is not None:
        # The most valuable first; customer_id makes the cut deterministic.
        eligible += f" order by predicted_clv desc nulls last, customer_id limit {int(spec.limit)}"
    columns = ",\n            ".join(
        "cast(round(predicted_clv, 2) as decimal(18, 2)) as predicted_clv"
        if c == "predicted_clv"
        else c
        for c in COLUMNS
    )
    select = f"""{matching},
        eligible as ({eligible})
        select
            {columns}
        from eligible
        order by customer_id"""
    return AudienceQueries(
        matching=matching,
        select=select,
        lifecycle=lifecycle,
        resolved=resolved,
        warnings=warnings,
    )


def _guard_csv_formulas(con: duckdb.DuckDBPyConnection, select: str) -> tuple[str, int]:
    """The export query with spreadsheet-formula starts defused, and how many values
    that changed."""
    pattern = quote_literal(CSV_FORMULA_START)
    starts = [f"coalesce(regexp_matches({c}, {pattern}), false)" for c in CSV_GUARDED_COLUMNS]
    (n,) = con.execute(
        f"select coalesce(sum({' + '.join(f'cast({s} as integer)' for s in starts)}), 0) "
        f"from ({select})"
    ).fetchone()
    replaced = ", ".join(
        f"case when {s} then '''' || {c} else {c} end as {c}"
        for s, c in zip(starts, CSV_GUARDED_COLUMNS, strict=True)
    )
    return f"select * replace ({replaced}) from ({select}) order by customer_id", int(n)


def _source_info(con: duckdb.DuckDBPyConnection, path: Path) -> dict:
    info = {"path": str(path), "run_id": None, "as_of": None, "published_at": None}
    if {"run_id", "as_of", "published_at"} <= _table_columns(con, "meta", "warehouse_info"):
        row = con.execute(
            "select run_id, cast(as_of as varchar), cast(published_at as varchar) "
            "from meta.warehouse_info"
        ).fetchone()
        if row:
            info.update(run_id=row[0], as_of=row[1], published_at=row[2])
    return info


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def open_restricted(settings: Settings, path: Path | None = None) -> duckdb.DuckDBPyConnection:
    """The restricted output, read-only: a refresh never writes into the published file
    (it renames a new one over it), so this works while a refresh runs, and keeps
    reading the generation it opened."""
    path = path or settings.restricted
    if not path.exists():
        raise AudienceSourceError(
            f"no restricted output at {path}: run `crm refresh` first (or set CRM_RESTRICTED)"
        )
    try:
        return settings.connect(path, read_only=True)
    except duckdb.Error as exc:
        raise AudienceSourceError(f"cannot open {path} read-only: {exc}") from exc


def export_audience(
    settings: Settings,
    spec: AudienceSpec,
    out: Path,
    *,
    file_format: str | None = None,
    overwrite: bool = False,
    restricted: Path | None = None,
    exported_by: str = "crm audience",
) -> AudienceResult:
    """Write the target group to `out` (CSV or Parquet, 0600) and its manifest beside it."""
    out = Path(out).expanduser().absolute()
    fmt, compression = resolve_format(out, file_format)
    manifest_path = manifest_path_for(out)
    if out.is_dir():
        raise AudienceError(f"{out} is a folder: give a file name")
    if not overwrite and (out.exists() or manifest_path.exists()):
        raise FileExistsError(f"{out} already exists (pass overwrite to replace it)")
    source_path = (restricted or settings.restricted).absolute()
    con = open_restricted(settings, source_path)
    try:
        queries = build_queries(con, spec)
        matching, select, warnings = queries.matching, queries.select, queries.warnings
        n_matching, no_opt_in, no_channel, eligible = con.execute(
            f"""{matching}
            select
                count(*),
                count(*) filter (where not is_opted_in),
                count(*) filter (where is_opted_in and not has_channel),
                count(*) filter (where is_opted_in and has_channel)
            from matching"""
        ).fetchone()
        columns = [
            {"name": name, "type": str(kind)}
            for name, kind, *_ in con.execute(f"describe {select}").fetchall()
        ]
        source = _source_info(con, source_path)

        out.parent.mkdir(parents=True, exist_ok=True)
        # A private folder beside the target: nobody else can open the file while it is
        # written, and the rename into place stays on one file system.
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
        try:
            data = work / f"audience.{fmt}"
            guarded = 0
            if fmt == "csv":
                options = "format csv, header true, delimiter ','"
                options += f", compression {compression}" if compression else ""
                select, guarded = _guard_csv_formulas(con, select)
            else:
                options = "format parquet, compression zstd"
            con.execute(f"copy ({select}) to {quote_literal(str(data))} ({options})")
            os.chmod(data, 0o600)
            fsync_path(data)
            counts = {
                "matching": int(n_matching),
                "selected": min(int(eligible), spec.limit or int(eligible)),
                "excluded_no_opt_in": int(no_opt_in),
                "excluded_no_channel": int(no_channel),
            }
            counts["excluded_by_limit"] = int(eligible) - counts["selected"]
            if fmt == "csv":
                counts["csv_values_guarded"] = guarded
            digest, size = _sha256(data), data.stat().st_size
            if not queries.lifecycle:
                warnings.append(
                    f"marts.{LIFECYCLE_TABLE} is not in this warehouse: lifecycle_stage is empty"
                )
            manifest = {
                "kind": MANIFEST_KIND,
                "version": 1,
                "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "exported_by": exported_by,
                "criteria": {**spec.criteria(), **queries.resolved},
                "rules": {
                    "opt_in": "marketing_opt_in = true only; unknown counts as no",
                    "channels": "reachable by any of the criteria's channels; "
                    "post = street and postal code or city",
                    "limit": "highest predicted_clv first, then customer_id",
                    "order": "customer_id",
                    **(
                        {
                            "csv_formula_guard": "a value of "
                            + ", ".join(CSV_GUARDED_COLUMNS)
                            + " starting with = + - @ tab or CR is prefixed with '"
                        }
                        if fmt == "csv"
                        else {}
                    ),
                },
                "counts": counts,
                "source": source,
                "file": {
                    "name": out.name,
                    "format": fmt,
                    "compression": compression,
                    "rows": counts["selected"],
                    "bytes": size,
                    "sha256": digest,
                },
                "columns": columns,
                "warnings": warnings,
            }
            staged_manifest = work / "manifest.json"
            write_private(staged_manifest, json.dumps(manifest, indent=2) + "\n")
            # The data first: a crash between the renames leaves a manifest whose
            # sha256 does not match, never a manifest describing a file not yet there.
            os.replace(data, out)
            os.replace(staged_manifest, manifest_path)
            fsync_path(out.parent)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    finally:
        con.close()
    return AudienceResult(
        path=out,
        manifest_path=manifest_path,
        format=fmt,
        compression=compression,
        counts=counts,
        source=source,
        columns=columns,
        sha256=digest,
        size_bytes=size,
        warnings=warnings,
    )


def summary_lines(result: AudienceResult) -> list[str]:
    """What `crm audience` prints (and the Dagster op logs)."""
    c = result.counts
    source = result.source
    lines = [
        f"audience: {c['selected']:,} customers -> {result.path} "
        f"({result.format}{', ' + result.compression if result.compression else ''}, "
        f"{result.size_bytes:,} bytes, sha256 {result.sha256[:12]}…)",
        f"  matching the criteria       {c['matching']:>10,}",
        f"  excluded: no marketing opt-in {c['excluded_no_opt_in']:>8,}",
        f"  excluded: no contact channel  {c['excluded_no_channel']:>8,}",
    ]
    if c["excluded_by_limit"]:
        lines.append(f"  excluded: over the limit      {c['excluded_by_limit']:>8,}")
    lines.append(f"source: {source['path']} (run {source['run_id']}, as of {source['as_of']})")
    lines.append(f"manifest: {result.manifest_path}")
    lines.extend(f"WARNING: {w}" for w in result.warnings)
    return lines
