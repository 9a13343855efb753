"""Great Expectations suites (``expectations/*.json``) run against a build file.

A suite file is a GX 1.x expectation suite (``name``, ``expectations`` with
``type``, ``kwargs`` and ``severity``) whose ``meta.crm`` says what to validate:

- ``asset``: the Dagster asset the suite is about (shown with its results);
- ``batch``: the SQL that makes the pandas batch, run on the build file with the
  raw store attached read-only as ``raw`` and the previous published warehouse
  (if any) as ``previous``. Per-row expectations read a sample of at most
  ``sample_rows`` rows (``{sample}`` in the SQL); reconciliations aggregate in
  SQL first and validate the one-row result; ``{since}`` is the previous
  publication's time (loads after it are this refresh's news);
- ``batch_kind``: ``rows``, ``sample`` or ``aggregate``: what the batch is, so
  the results say how exact they are;
- ``row_id_columns``: batch columns that identify a failing row (e.g. the file
  name): a failure shows sample rows with them, not values alone.

An operator can accept the critical failures of a suite (or of one column of
it) for one run, e.g. a volume drop they know to be legitimate: ``crm refresh
--accept volume.orders``. Accepted failures are recorded as such and do not
block.

GX's SQL datasource does not work on DuckDB here, so every batch is a pandas
DataFrame. Severity ``critical`` failures block publication; ``warning``
failures are recorded and shown.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

DEFAULT_SUITES_DIR = Path(__file__).resolve().parents[2] / "expectations"
DEFAULT_SAMPLE_ROWS = 1_000_000
SAMPLE_FAILURES = 5


def failure_detail(unexpected_count, observed, sample, rows=None) -> str:
    """'3 unexpected, observed 0.6, e.g. [7, 7]': how an expectation failed, for messages.

    With failing ``rows`` (dicts of the row id columns and the checked value)
    they are shown instead of bare values.
    """
    if isinstance(rows, str):
        rows = json.loads(rows)
    shown = "; ".join(", ".join(f"{k}={v}" for k, v in row.items()) for row in rows or [])
    parts = (
        f"{unexpected_count} unexpected" if unexpected_count else "",
        f"observed {observed}" if observed else "",
        f"e.g. rows [{shown}]" if shown else (f"e.g. {sample}" if sample else ""),
    )
    return ", ".join(p for p in parts if p)


def parse_accept(items) -> list[tuple[str, str | None]]:
    """``['volume.orders', 'raw.orders:reject_rate']`` -> [(suite, column or None)]."""
    accepted = []
    for item in items or []:
        for part in str(item).split(","):
            part = part.strip()
            if part:
                suite, _, column = part.partition(":")
                accepted.append((suite.strip(), column.strip() or None))
    return accepted


def check_accept(accept: list[tuple[str, str | None]], suites: list[Suite]) -> None:
    """A typo must not silently accept nothing: every name must be a suite, and every
    column one that suite checks."""
    by_name = {s.name: s for s in suites}
    unknown = sorted({suite for suite, _ in accept if suite not in by_name})
    if unknown:
        raise ValueError(
            f"--accept names no suite: {', '.join(unknown)}; suites: {', '.join(sorted(by_name))}"
        )
    for suite, column in accept:
        checked = {
            e.get("kwargs", {}).get("column") for e in by_name[suite].spec["expectations"]
        } - {None}
        if column is not None and column not in checked:
            raise ValueError(
                f"--accept {suite}:{column}: {suite} checks no column {column}; "
                f"its columns: {', '.join(sorted(checked))}"
            )


@dataclass
class Suite:
    name: str
    asset: list[str]
    batch: str
    batch_kind: str
    sample_rows: int
    spec: dict
    path: Path
    requires: list[str] = field(default_factory=list)  # attached databases: raw, previous
    row_id_columns: list[str] = field(default_factory=list)  # shown with failing rows

    @property
    def check_name(self) -> str:
        return "gx_" + self.name.replace(".", "__")


@dataclass
class ExpectationOutcome:
    expectation: str
    column: str | None
    severity: str
    success: bool
    element_count: int | None
    unexpected_count: int | None
    observed: str | None
    unexpected_sample: list = field(default_factory=list)
    unexpected_rows: list[dict] = field(default_factory=list)
    accepted: bool = False  # a critical failure an operator accepted for this run


@dataclass
class SuiteOutcome:
    suite: Suite
    success: bool
    batch_rows: int
    seconds: float
    outcomes: list[ExpectationOutcome]
    error: str | None = None  # the batch could not be built
    skipped: str | None = None  # why the suite did not run (e.g. no previous warehouse)

    @property
    def critical_failures(self) -> list[ExpectationOutcome]:
        return [
            o
            for o in self.outcomes
            if not o.success and o.severity == "critical" and not o.accepted
        ]

    @property
    def warning_failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity != "critical"]

    @property
    def accepted_failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.accepted]

    @property
    def blocks(self) -> bool:
        return self.error is not None or bool(self.critical_failures)

    def summary(self) -> str:
        if self.skipped:
            return f"{self.suite.name}: skipped ({self.skipped})"
        if self.error:
            return f"{self.suite.name}: the batch failed: {self.error}"
        failed = [o for o in self.outcomes if not o.success]
        if not failed:
            return f"{self.suite.name}: {len(self.outcomes)} expectations passed"
        parts = []
        for o in failed:
            where = f"{o.column}: " if o.column else ""
            detail = failure_detail(
                o.unexpected_count, o.observed, o.unexpected_sample, o.unexpected_rows
            )
            severity = "accepted" if o.accepted else o.severity
            parts.append(f"[{severity}] {where}{o.expectation} ({detail})")
        return f"{self.suite.name}: " + "; ".join(parts)


def _checked_columns(spec: dict) -> list[str]:
    columns = []
    for expectation in spec.get("expectations", []):
        kwargs = expectation.get("kwargs", {})
        columns += [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]
        columns += list(kwargs.get("column_list", []))
    return columns


def _is_personal(column: str) -> bool:
    """A contract column tagged personal, or one derived from it (email_normalized, ...)."""
    from crm.contract import ENTITIES

    names = {c.name for entity in ENTITIES.values() for c in entity.columns if c.pii}
    return any(column == name or column.startswith(name + "_") for name in names)


def load_suites(directory: Path = DEFAULT_SUITES_DIR) -> list[Suite]:
    """Every ``*.json`` suite of the directory, sorted by file name."""
    suites = []
    for path in sorted(Path(directory).glob("*.json")):
        spec = json.loads(path.read_text())
        crm = spec.get("meta", {}).get("crm")
        if not crm or "batch" not in crm or "asset" not in crm:
            raise ValueError(f"{path}: meta.crm needs 'asset' and 'batch'")
        for expectation in spec.get("expectations", []):
            if expectation.get("severity", "critical") not in ("critical", "warning", "info"):
                raise ValueError(f"{path}: severity must be critical, warning or info")
        shown = [*_checked_columns(spec), *crm.get("row_id_columns", [])]
        personal = sorted({c for c in shown if _is_personal(c)})
        if personal:
            raise ValueError(
                f"{path}: a suite may not check or show personal columns ({', '.join(personal)}):"
                " failing values would be quoted in data docs, run logs and meta.quality_results;"
                " check an aggregate of them instead (e.g. a share of invalid e-mails)"
            )
        suites.append(
            Suite(
                name=spec["name"],
                asset=list(crm["asset"]),
                batch=crm["batch"],
                batch_kind=crm.get("batch_kind", "rows"),
                sample_rows=int(crm.get("sample_rows", DEFAULT_SAMPLE_ROWS)),
                spec=spec,
                path=path,
                requires=list(crm.get("requires", [])),
                row_id_columns=list(crm.get("row_id_columns", [])),
            )
        )
    return suites


def _quiet_gx() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


def _context(docs_dir: Path | None):
    _quiet_gx()
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    if docs_dir is not None:
        context.add_data_docs_site(
            "crm",
            {
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    return gx, context


def _jsonable(value):
    try:
        json.dumps(value)
        return value
    except TypeError:
        return str(value)


def _failing_rows(frame, res: dict, columns: list[str]) -> list[dict]:
    """The first failing rows (row id columns and the checked column) of a map expectation."""
    index = res.get("partial_unexpected_index_list") or []
    index = [i for i in index[:SAMPLE_FAILURES] if isinstance(i, int | np.integer)]
    columns = [c for c in dict.fromkeys(columns) if c in frame.columns]
    if not index or not columns:
        return []
    picked = frame.loc[index, columns]
    return [
        {k: _jsonable(None if pd.isna(v) else v) for k, v in row.items()}
        for row in picked.to_dict(orient="records")
    ]


def _is_accepted(accept, suite: Suite, column: str | None) -> bool:
    return any(name == suite.name and col in (None, column) for name, col in accept)


def _outcomes(result, suite: Suite, frame, accept) -> list[ExpectationOutcome]:
    out = []
    for r in result.results:
        config = r.expectation_config
        res = r.result or {}
        observed = res.get("observed_value")
        sample = res.get("partial_unexpected_list") or []
        column = config.kwargs.get("column")
        severity = str(getattr(config, "severity", None) or "critical").split(".")[-1].lower()
        rows = []
        if not r.success and suite.row_id_columns and column:
            rows = _failing_rows(frame, res, [*suite.row_id_columns, column])
        out.append(
            ExpectationOutcome(
                expectation=config.type,
                column=config.kwargs.get("column")
                or (
                    f"{config.kwargs['column_A']}, {config.kwargs['column_B']}"
                    if "column_A" in config.kwargs
                    else None
                ),
                severity=severity,
                success=bool(r.success),
                element_count=res.get("element_count"),
                unexpected_count=res.get("unexpected_count"),
                observed=None if observed is None else json.dumps(_jsonable(observed)),
                unexpected_sample=[_jsonable(v) for v in sample[:SAMPLE_FAILURES]],
                unexpected_rows=rows,
                accepted=not r.success
                and severity == "critical"
                and _is_accepted(accept, suite, column),
            )
        )
    return out


def run_suites(
    build: Path,
    suites: list[Suite],
    *,
    raw_store: Path | None = None,
    previous: Path | None = None,
    docs_dir: Path | None = None,
    accept: list[tuple[str, str | None]] = (),
    config: dict[str, str] | None = None,
) -> list[SuiteOutcome]:
    """Validate every suite against the build file (opened read-only).

    ``accept``: (suite, column or None) whose critical failures an operator
    accepted for this run (see :func:`parse_accept`). ``config``: DuckDB's
    settings (Settings.duckdb_config: the warehouse's memory limit).
    """
    check_accept(list(accept), suites)
    gx, context = _context(docs_dir)
    source = context.data_sources.add_pandas("crm")
    outcomes: list[SuiteOutcome] = []
    con = duckdb.connect(str(build), read_only=True, config=dict(config or {}))
    try:
        con.execute("set TimeZone = 'UTC'")
        attached = set()
        if raw_store is not None and raw_store.exists():
            con.execute(f"attach '{raw_store}' as raw (read_only)")
            attached.add("raw")
        if previous is not None and previous.exists():
            con.execute(f"attach '{previous}' as previous (read_only)")
            attached.add("previous")
        # {since}: the previous publication (loads after it are this refresh's news).
        since = "timestamp '1900-01-01 00:00:00'"
        if "previous" in attached:
            published = con.execute(
                "select max(published_at) from previous.meta.warehouse_info"
            ).fetchone()[0]
            if published is not None:
                since = f"timestamp '{published:%Y-%m-%d %H:%M:%S.%f}'"
        for suite in suites:
            started = time.perf_counter()
            missing = [name for name in suite.requires if name not in attached]
            if missing:
                outcomes.append(
                    SuiteOutcome(suite, True, 0, 0.0, [], skipped=f"no {', '.join(missing)}")
                )
                continue
            sql = suite.batch.replace(
                "{sample}", f"using sample reservoir({suite.sample_rows} rows) repeatable (42)"
            ).replace("{since}", since)
            try:
                frame = con.execute(sql).df()
            except duckdb.Error as exc:
                outcomes.append(
                    SuiteOutcome(suite, False, 0, time.perf_counter() - started, [], str(exc))
                )
                continue
            asset = source.add_dataframe_asset(suite.name)
            batch = asset.add_batch_definition_whole_dataframe("batch")
            spec = {k: v for k, v in suite.spec.items() if k in ("name", "expectations", "meta")}
            gx_suite = context.suites.add(gx.ExpectationSuite(**spec))
            definition = context.validation_definitions.add(
                gx.ValidationDefinition(name=suite.name, data=batch, suite=gx_suite)
            )
            result = definition.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")
            outcomes.append(
                SuiteOutcome(
                    suite,
                    bool(result.success),
                    len(frame),
                    time.perf_counter() - started,
                    _outcomes(result, suite, frame, accept),
                )
            )
    finally:
        con.close()
    if docs_dir is not None:
        context.build_data_docs()
    return outcomes


RESULTS_DDL = """
create schema if not exists meta;
create table if not exists meta.quality_runs (
    run_id varchar, checked_at timestamp, suite varchar, asset varchar,
    batch_kind varchar, batch_rows bigint, success boolean, blocks boolean,
    n_expectations integer, n_critical_failed integer, n_warning_failed integer,
    error varchar, skipped varchar, seconds double, n_accepted integer
);
create table if not exists meta.quality_results (
    run_id varchar, checked_at timestamp, suite varchar, expectation varchar,
    column_name varchar, severity varchar, success boolean, element_count bigint,
    unexpected_count bigint, observed varchar, unexpected_sample varchar,
    unexpected_rows varchar, accepted boolean
);
"""


def record(build: Path, run_id: str, outcomes: list[SuiteOutcome]) -> None:
    """Write the outcomes into the build file's meta schema (published with it)."""
    checked_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con = duckdb.connect(str(build))
    try:
        con.execute(RESULTS_DDL)
        con.execute("delete from meta.quality_runs where run_id = ?", [run_id])
        con.execute("delete from meta.quality_results where run_id = ?", [run_id])
        for o in outcomes:
            con.execute(
                "insert into meta.quality_runs "
                "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    checked_at,
                    o.suite.name,
                    "/".join(o.suite.asset),
                    o.suite.batch_kind,
                    o.batch_rows,
                    o.success,
                    o.blocks,
                    len(o.outcomes),
                    len(o.critical_failures),
                    len(o.warning_failures),
                    o.error,
                    o.skipped,
                    round(o.seconds, 3),
                    len(o.accepted_failures),
                ],
            )
            for e in o.outcomes:
                con.execute(
                    "insert into meta.quality_results "
                    "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        run_id,
                        checked_at,
                        o.suite.name,
                        e.expectation,
                        e.column,
                        e.severity,
                        e.success,
                        e.element_count,
                        e.unexpected_count,
                        e.observed,
                        json.dumps(e.unexpected_sample) if e.unexpected_sample else None,
                        json.dumps(e.unexpected_rows) if e.unexpected_rows else None,
                        e.accepted,
                    ],
                )
        con.execute("checkpoint")
    finally:
        con.close()


def blocking_failures(build: Path, run_id: str) -> list[str] | None:
    """The blocking suites of this run as messages; None if the gate did not run."""
    con = duckdb.connect(str(build), read_only=True)
    try:
        exists = con.execute(
            "select count(*) from duckdb_tables() "
            "where schema_name = 'meta' and table_name = 'quality_runs'"
        ).fetchone()[0]
        if not exists:
            return None
        runs = con.execute(
            "select suite, error from meta.quality_runs where run_id = ? and blocks", [run_id]
        ).fetchall()
        ran = con.execute(
            "select count(*) from meta.quality_runs where run_id = ?", [run_id]
        ).fetchone()[0]
        if not ran:
            return None
        messages = []
        for suite, error in runs:
            if error:
                messages.append(f"{suite}: the batch failed: {error}")
                continue
            rows = con.execute(
                "select expectation, column_name, unexpected_count, observed, unexpected_sample, "
                "unexpected_rows from meta.quality_results where run_id = ? and suite = ? "
                "and not success and severity = 'critical' and not accepted "
                "order by expectation, column_name",
                [run_id, suite],
            ).fetchall()
            details = "; ".join(
                f"{exp}({col or ''}): {failure_detail(n, obs, sample, failing)}"
                for exp, col, n, obs, sample, failing in rows
            )
            messages.append(f"{suite}: {details}")
        return messages
    finally:
        con.close()
