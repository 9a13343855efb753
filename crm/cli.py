"""The `crm` command: generate demo data, refresh, inspect.

Settings come from environment variables (CRM_HOME, CRM_INBOX, CRM_WAREHOUSE,
CRM_AS_OF, ...; see docs/configuration.md); flags override them for one call.

`crm refresh` and `crm demo` run the Dagster job, which this package does not
import (DECISIONS 1): the `crm` command (orchestration/cli.py) hands `main` the
function that runs it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXAMPLE_QUERY = """\
select rfm_segment,
       count(*)                      as customers,
       round(avg(monetary), 2)       as avg_revenue,
       round(avg(recency_days), 0)   as avg_recency_days
from marts.customer_rfm
group by rfm_segment
order by customers desc"""
# crm.generate.params.NOISE_PROFILES (not imported here: the parser stays light).
NOISE_PROFILES = ("default", "hard")


def _settings(args: argparse.Namespace):
    for flag, env in (
        ("home", "CRM_HOME"),
        ("inbox", "CRM_INBOX"),
        ("warehouse", "CRM_WAREHOUSE"),
        ("as_of", "CRM_AS_OF"),
    ):
        value = getattr(args, flag, None)
        if value:
            os.environ[env] = str(value)
    from crm.config import Settings

    return Settings.from_env()


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object, e.g. '{\"ocr_error\": 0.05}'")
    return value


def cmd_generate(args: argparse.Namespace) -> int:
    from crm.generate import generate
    from crm.generate.params import resolve_noise
    from crm.privacy import shared_dir

    noise_profile = getattr(args, "noise_profile", "default")
    noise = getattr(args, "noise", None)
    try:
        resolve_noise(noise_profile, noise)
    except ValueError as exc:
        print(f"crm generate: --noise: {exc}", file=sys.stderr)
        return 2
    settings = _settings(args)
    truth = Path(args.truth).resolve() if args.truth else settings.inbox.parent / "truth"
    if settings.inbox.is_relative_to(settings.home):  # the warehouse's readers pass through it
        shared_dir(settings.home, settings.warehouse_mode)
    options = dict(
        customers=args.customers,
        seed=args.seed,
        start=dt.date.fromisoformat(args.start),
        end=dt.date.fromisoformat(args.end),
        bad_row_rate=args.bad_row_rate,
        progress=lambda m: print(m, file=sys.stderr, flush=True),
        overwrite=getattr(args, "overwrite", False),
        noise=noise,
        noise_profile=noise_profile,
    )
    dialect = getattr(args, "dialect", None) or "contract"
    if dialect == "contract":
        summary = generate(settings.inbox, truth, file_format=args.format, **options)
    else:
        from crm.generate.dialects import generate_in_dialect

        summary = generate_in_dialect(
            settings.inbox, truth, dialect, settings.sources_path, **options
        )
    print(f"inbox: {settings.inbox}\ntruth: {truth}")
    for key, value in summary.items():
        if isinstance(value, (int, float, str)):
            print(f"  {key}: {value}")
        elif isinstance(value, dict):
            print(f"  {key}: " + ", ".join(f"{k}={v}" for k, v in value.items()))
    return 0


def cmd_refresh(args: argparse.Namespace) -> int:
    from crm.runs import RefreshLocked

    run_refresh = args.run_refresh
    if run_refresh is None:
        print(
            f"crm {args.command}: no refresh to run here: use the `crm` command "
            "(orchestration.cli), which runs the Dagster job",
            file=sys.stderr,
        )
        return 2

    if getattr(args, "full_relink", False):
        os.environ["CRM_IDENTITY_FULL_RELINK"] = "1"
    if getattr(args, "retrain_identity", False):
        os.environ["CRM_IDENTITY_RETRAIN"] = "1"
    if getattr(args, "full", False):
        os.environ["CRM_FULL_REFRESH"] = "1"
    settings = _settings(args)
    os.environ["CRM_PROGRESS"] = "0" if args.quiet else "1"
    print(
        f"refresh: inbox {settings.inbox} -> warehouse {settings.warehouse} "
        f"(as of {settings.as_of})",
        file=sys.stderr,
    )
    try:
        outcome = run_refresh(
            settings, wait_seconds=args.wait, accept=getattr(args, "accept", None) or []
        )
    except ValueError as exc:  # e.g. --accept naming no suite
        print(f"crm refresh: {exc}", file=sys.stderr)
        return 2
    except RefreshLocked as exc:
        print(f"crm refresh: refused: {exc}", file=sys.stderr)
        return 3
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in outcome.stages.items())
    if outcome.rejected:
        print(
            f"refresh: {len(outcome.rejected)} file(s) rejected whole, their rows not loaded "
            "(`crm status` lists them; `crm inbox check FILE` proposes import settings):",
            file=sys.stderr,
        )
        for line in outcome.rejected:
            print(f"  {line}", file=sys.stderr)
    if not outcome.success:
        print(
            f"crm refresh: FAILED after {outcome.seconds:.1f}s (run {outcome.run_id}); "
            + (
                f"the warehouse was published ({settings.warehouse}), a step after it failed:"
                if getattr(outcome, "published", False)
                else "the previously published warehouse is unchanged."
            ),
            file=sys.stderr,
        )
        for error in outcome.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    print(
        f"refresh: published {settings.warehouse} in {outcome.seconds:.1f}s ({timings})",
        file=sys.stderr,
    )
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    import duckdb

    settings = _settings(args)
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        con.sql(args.sql).show(max_rows=args.max_rows, max_width=200)
    finally:
        con.close()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    settings = _settings(args)
    has_files = settings.inbox.exists() and any(settings.inbox.rglob("*.*"))
    if not has_files:
        args.truth, args.start, args.end, args.format = None, "2023-01-01", "2025-12-31", "mixed"
        args.bad_row_rate = 0.001
        cmd_generate(args)
    else:
        print(f"demo: using the files already in {settings.inbox}", file=sys.stderr)
    if cmd_refresh(args) != 0:
        return 1
    from crm.refresh_report import report_path

    print(f"\nThe warehouse is ready: {settings.warehouse}")
    print(f"Its refresh report: {report_path(settings.warehouse)}")
    print("Open it read-only from any DuckDB 1.5 client or BI tool, e.g.:\n")
    print(f'  .venv/bin/crm query "{EXAMPLE_QUERY.splitlines()[0]} ..."\n')
    print(EXAMPLE_QUERY + ";\n")
    args.sql, args.max_rows = EXAMPLE_QUERY, 20
    return cmd_query(args)


def _print_preview(preview, indent: str = "") -> None:
    if preview.status == "rejected":
        print(f"{indent}rejected: {preview.error}")
        return
    print(
        f"{indent}loads {preview.rows_loaded} of {preview.rows_in_file} rows "
        f"(quarantined {preview.rows_quarantined}, repeated {preview.rows_duplicate}, "
        f"value issues {preview.n_value_issues})"
        + (
            f"; columns kept in _extra: {', '.join(preview.extra_columns)}"
            if preview.extra_columns
            else ""
        )
    )
    for row, reason in preview.reasons:
        print(f"{indent}  row {row if row is not None else '?'}: {reason}")
    if preview.head is not None and len(preview.head):
        import pandas as pd

        head = preview.head.dropna(axis="columns", how="all")
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print("\n".join(indent + line for line in head.to_string(index=False).splitlines()))


def cmd_inbox(args: argparse.Namespace) -> int:
    """`crm inbox check FILE`: how a file would load, and the import settings that
    would load it if it is rejected (nothing is loaded)."""
    import dataclasses

    from crm.contract import ENTITIES
    from crm.load.discovery import InboxFile, format_from_settings, format_from_suffix
    from crm.load.preview import preview_file
    from crm.sniff import propose
    from crm.sources import SourcesError, load_sources, parse_sources

    settings = _settings(args)
    path = Path(args.file).resolve()
    if not path.is_file():
        print(f"crm inbox check: no such file: {path}", file=sys.stderr)
        return 2
    entity = args.entity or (path.parent.name if path.parent.name in ENTITIES else None)
    if entity not in ENTITIES:
        print(
            f"crm inbox check: which entity does {path.name} hold? Put it in an entity's "
            f"folder or give --entity ({', '.join(ENTITIES)})",
            file=sys.stderr,
        )
        return 2
    rel = (
        path.relative_to(settings.inbox).as_posix()
        if path.is_relative_to(settings.inbox)
        else f"{entity}/{path.name}"
    )
    try:
        source = load_sources(settings.sources_path).for_file(entity, rel)
    except SourcesError as exc:
        print(f"crm inbox check: {exc}", file=sys.stderr)
        return 2
    fmt = format_from_settings(source, path.name) or format_from_suffix(path.name)
    if fmt is None:
        fmt = "csv"  # an unknown suffix: read as text, as a source with format: csv would
    file = InboxFile(entity, path, rel, fmt, source=source)
    how = f"import settings {source.label} (line {source.line})" if source else "contract v1"
    print(f"{rel} as {entity}, read with {how}:")
    preview = preview_file(file, settings.temp_dir, limit=args.rows)
    _print_preview(preview, "  ")
    if preview.status == "loads":
        return 0
    if fmt not in ("csv", "csv.gz"):
        print(f"\n(proposals are for text exports; describe this {fmt} file in sources.yml)")
        return 1
    proposal = propose(entity, path, rel)
    print(f"\nproposed import settings (add under `sources:` in {settings.sources_path}):\n")
    print(proposal.yaml())
    for note in proposal.notes:
        print(f"note: {note}")
    if proposal.looks_like_data or [c for c in proposal.missing if c != "source_system"]:
        return 1
    try:
        proposed = parse_sources("sources:\n" + proposal.yaml()).sources[0]
    except SourcesError as exc:  # a proposal we cannot read back is a bug: say so
        print(f"(the proposal does not validate: {exc})")
        return 1
    fmt = format_from_settings(proposed, path.name) or fmt
    print("with these settings:")
    _print_preview(
        preview_file(
            dataclasses.replace(file, source=proposed, fmt=fmt), settings.temp_dir, args.rows
        ),
        "  ",
    )
    return 1


def cmd_report(args: argparse.Namespace) -> int:
    from crm.refresh_report import run as report_run

    return report_run(_settings(args), out=args.out)


def cmd_metrics(args: argparse.Namespace) -> int:
    from crm.metrics import run as metrics_run

    return metrics_run(_settings(args), args)


def cmd_status(args: argparse.Namespace) -> int:
    from crm.status import print_status

    return print_status(_settings(args))


def cmd_identity(args: argparse.Namespace) -> int:
    """Train or evaluate the identity model (crm/identity/)."""
    if args.identity_command == "train":
        from crm.identity.model_store import warehouse_model_dir
        from crm.identity.train import main as train_main

        settings = _settings(args)
        source = Path(args.from_warehouse or settings.restricted)
        if not source.exists():
            print(
                f"crm identity train: {source} does not exist; run `crm refresh` first "
                "(the model learns from the normalised contacts of a built warehouse)",
                file=sys.stderr,
            )
            return 2
        argv = [
            "--warehouse",
            # the normalised contacts are personal data: only the restricted output has them
            str(source),
            "--seed",
            str(args.seed),
            "--out",
            str(args.out or warehouse_model_dir(settings.home)),
        ]
        return train_main(argv) or 0
    if args.identity_command == "report":
        from crm.identity.report import run as report_run

        return report_run(_settings(args), out=args.out, limit=args.limit)
    from crm.identity.evaluate import main as evaluate_main

    settings = _settings(args)
    argv = ["--warehouse", str(args.eval_warehouse or settings.restricted), "--truth", args.truth]
    if args.model:
        argv += ["--model", args.model]
    for threshold in args.threshold or []:
        argv += ["--threshold", str(threshold)]
    return evaluate_main(argv) or 0


def cmd_audience(args: argparse.Namespace) -> int:
    """Export a target group of opted-in customers with their contact details."""
    from crm.audience import (
        AudienceError,
        AudienceSourceError,
        AudienceSpec,
        export_audience,
        summary_lines,
    )

    settings = _settings(args)
    try:
        spec = AudienceSpec.from_source(args)
        result = export_audience(
            settings,
            spec,
            Path(args.out),
            file_format=args.format,
            overwrite=args.overwrite,
            restricted=Path(args.restricted) if args.restricted else None,
        )
    except (AudienceError, FileExistsError) as exc:
        print(f"crm audience: {exc}", file=sys.stderr)
        return 2
    except AudienceSourceError as exc:
        print(f"crm audience: {exc}", file=sys.stderr)
        return 1
    for line in summary_lines(result):
        print(line, file=sys.stderr if line.startswith("WARNING") else sys.stdout)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crm", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--home", help="state folder (CRM_HOME, default data/)")
        p.add_argument("--inbox", help="inbox folder (CRM_INBOX, default $CRM_HOME/inbox)")
        p.add_argument("--warehouse", help="published warehouse file (CRM_WAREHOUSE)")

    def gen_flags(p: argparse.ArgumentParser) -> None:
        from crm.generate.dialects import DIALECTS

        p.add_argument("--customers", type=int, default=1000, help="true persons to simulate")
        p.add_argument("--seed", type=int, default=42, help="random seed (same seed, same data)")
        p.add_argument(
            "--dialect",
            default="contract",
            choices=DIALECTS,
            help="write the inbox as real exports look (german: ; 1.234,50 31.12.2024; "
            "latin1-tab; pipe; excel; renamed columns; mixed: each file another) and the "
            "import settings that read it to CRM_SOURCES (default: contract v1's shape)",
        )

    g = sub.add_parser(
        "generate", help="write reproducible demo data (with ground truth) to the inbox"
    )
    common(g)
    gen_flags(g)
    g.add_argument("--truth", help="ground-truth folder (default: beside the inbox, truth/)")
    g.add_argument("--start", default="2023-01-01", help="first order date YYYY-MM-DD")
    g.add_argument("--end", default="2025-12-31", help="last order date YYYY-MM-DD")
    g.add_argument(
        "--format",
        default="mixed",
        choices=["mixed", "csv", "parquet", "jsonl"],
        help="file format of the inbox files (mixed: each entity another)",
    )
    g.add_argument(
        "--bad-row-rate",
        type=float,
        default=0.0,
        help="share of contract-breaking rows to inject (tests the quarantine)",
    )
    g.add_argument(
        "--noise-profile",
        default="default",
        choices=NOISE_PROFILES,
        help="noise preset for the contacts. default: the usual demo noise; hard: closer to "
        "real exports (more gaps and typos, OCR confusions, phonetic spellings, initials, "
        "birth-date slips, swapped fields, store and dealer without e-mail, web and loyalty "
        "without phone). Rates: crm/generate/params.py",
    )
    g.add_argument(
        "--noise",
        type=_json_object,
        metavar="JSON",
        help="override single noise parameters on top of the profile, e.g. "
        '\'{"ocr_error": 0.05, "source_without_email": ["store"]}\'',
    )
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="replace generated files already in the inbox (otherwise inbox files are immutable)",
    )
    g.set_defaults(func=cmd_generate)

    def refresh_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--wait",
            type=float,
            default=0.0,
            help="seconds to wait for a running refresh instead of refusing",
        )
        p.add_argument("--quiet", action="store_true", help="no progress lines")

    r = sub.add_parser("refresh", help="load the inbox, build, check and publish the warehouse")
    common(r)
    r.add_argument("--as-of", help="as-of date YYYY-MM-DD (CRM_AS_OF, default today)")
    refresh_flags(r)
    r.add_argument(
        "--full",
        action="store_true",
        help="rebuild every table from the raw store instead of updating what changed "
        "since the last publication (CRM_FULL_REFRESH; the reference an incremental "
        "refresh equals)",
    )
    r.add_argument(
        "--full-relink",
        action="store_true",
        help="score every pair of contacts again instead of only new or changed ones "
        "(CRM_IDENTITY_FULL_RELINK)",
    )
    r.add_argument(
        "--retrain-identity",
        action="store_true",
        help="train the identity model again on this refresh's contacts "
        "(CRM_IDENTITY_RETRAIN; otherwise it retrains when the data changed shape)",
    )
    r.add_argument(
        "--accept",
        action="append",
        metavar="SUITE[:COLUMN]",
        help="publish despite this quality suite's critical failures (or one column's), for "
        "this run only, e.g. a volume drop you know is real: --accept volume.orders. "
        "Recorded as accepted in meta.quality_results. Repeatable.",
    )
    r.set_defaults(func=cmd_refresh)

    d = sub.add_parser("demo", help="generate demo data if the inbox is empty, refresh, query")
    common(d)
    gen_flags(d)
    d.add_argument(
        "--as-of",
        default=os.environ.get("CRM_AS_OF", "2025-12-31"),
        help="as-of date for the demo (CRM_AS_OF, default 2025-12-31: the demo data's end)",
    )
    refresh_flags(d)
    d.set_defaults(func=cmd_demo)

    s = sub.add_parser("status", help="what was loaded, quarantined and published, and when")
    common(s)
    s.set_defaults(func=cmd_status)

    rr = sub.add_parser(
        "report",
        help="write the refresh report of the published warehouse (offline HTML: KPIs, "
        "RFM, value tiers, lifecycle, cohorts, CLV diagnostics, campaign lift); every "
        "refresh writes it too",
    )
    common(rr)
    rr.add_argument(
        "--out", metavar="FILE", help="default: refresh_report.html beside CRM_WAREHOUSE"
    )
    rr.set_defaults(func=cmd_report)

    mt = sub.add_parser(
        "metrics",
        help="query the governed CRM metrics (dbt semantic layer, MetricFlow) against the "
        "published warehouse, read-only",
    )
    msub = mt.add_subparsers(dest="metrics_command", required=True)
    common(msub.add_parser("list", help="every metric: name, type, definition"))
    dims = msub.add_parser("dimensions", help="what the given metrics can be grouped by")
    common(dims)
    dims.add_argument("--metrics", action="append", required=True, metavar="NAMES",
                      help="metric names (comma list or repeated)")  # fmt: skip
    mq = msub.add_parser(
        "query",
        help="metrics by time grain and dimensions, e.g. --metrics revenue,orders "
        "--group-by metric_time__month,customer__value_tier",
    )
    common(mq)
    mq.add_argument("--metrics", action="append", required=True, metavar="NAMES",
                    help="metric names (comma list or repeated)")  # fmt: skip
    mq.add_argument("--group-by", action="append", metavar="NAMES",
                    help="metric_time__day|week|month|quarter|year and entity__dimension "
                    "names (`crm metrics dimensions`)")  # fmt: skip
    mq.add_argument("--where", action="append", metavar="FILTER",
                    help="a MetricFlow filter, e.g. \"{{ Dimension('customer__region') }} "
                    "= 'North'\" (repeatable: all must hold)")  # fmt: skip
    mq.add_argument("--order-by", action="append", metavar="NAMES",
                    help="metric or group-by names, '-' first for descending")  # fmt: skip
    mq.add_argument("--limit", type=int, metavar="N", help="rows at most")
    mq.add_argument("--explain", action="store_true", help="print the SQL instead of running it")
    mq.add_argument("--csv", action="store_true", help="CSV on standard output")
    mq.add_argument("--max-rows", type=int, default=60, help="rows shown at most (not --csv)")
    mt.set_defaults(func=cmd_metrics)

    i = sub.add_parser("identity", help="train or evaluate the probabilistic identity model")
    common(i)
    isub = i.add_subparsers(dest="identity_command", required=True)
    t = isub.add_parser(
        "train",
        help="train the Splink model on the warehouse's own normalised contacts "
        "(unsupervised; reproducible from --seed); the next refresh links with it",
    )
    t.add_argument("--from-warehouse", help="warehouse file to train on (default CRM_RESTRICTED)")
    t.add_argument("--out", help="model folder (default $CRM_HOME/identity/model)")
    t.add_argument("--seed", type=int, default=42, help="random seed of the training")
    e = isub.add_parser("evaluate", help="score the resolution against generator ground truth")
    e.add_argument("--warehouse", dest="eval_warehouse", help="default CRM_RESTRICTED")
    e.add_argument("--truth", required=True, help="the generator's truth/contacts.parquet")
    e.add_argument("--model", help="model file (default: the repository's)")
    e.add_argument("--threshold", type=float, action="append", help="repeatable")
    rep = isub.add_parser(
        "report",
        help="write an offline HTML page on the model and the links it made "
        "(personal data: owner-only)",
    )
    rep.add_argument(
        "--out", metavar="FILE", help="default $CRM_HOME/restricted/identity_report.html"
    )
    rep.add_argument(
        "--limit",
        type=int,
        default=20,
        metavar="N",
        help="weakest kept and strongest rejected links shown (default 20)",
    )
    i.set_defaults(func=cmd_identity)

    a = sub.add_parser(
        "audience",
        help="export a target group (opted-in customers, best contact details) to CSV or Parquet",
        description="Export the customers matching every given criterion (values of one "
        "criterion are alternatives; repeat a flag or give a comma list) whose golden record "
        "has marketing_opt_in = true and a contact channel, from the restricted output "
        "(CRM_RESTRICTED), sorted by customer_id. A manifest (FILE.manifest.json) is written "
        "beside the file. Both are owner-only (0600): they hold personal data.",
    )
    common(a)
    a.add_argument("--restricted", help="restricted output to read (CRM_RESTRICTED)")
    # dest = the AudienceSpec option names (crm.audience.SPEC_OPTIONS)
    a.add_argument(
        "--segment", action="append", dest="segments", metavar="NAME", help="RFM segment"
    )
    a.add_argument(
        "--tier", action="append", dest="tiers", metavar="NAME", help="value tier (customer_clv)"
    )
    a.add_argument(
        "--stage",
        action="append",
        dest="stages",
        metavar="NAME",
        help="lifecycle stage (prospect, new, active, at_risk, lapsed, reactivated)",
    )
    a.add_argument(
        "--region", action="append", dest="regions", metavar="NAME", help="address region"
    )
    a.add_argument(
        "--country", action="append", dest="countries", metavar="CODE", help="country (ISO code)"
    )
    a.add_argument("--min-clv", type=float, metavar="AMOUNT", help="predicted_clv at least")
    a.add_argument("--max-clv", type=float, metavar="AMOUNT", help="predicted_clv at most")
    a.add_argument(
        "--channel",
        action="append",
        dest="channels",
        metavar="email|phone|post",
        help="reachable by any of these channels (default: any of the three; post = street "
        "and postal code or city)",
    )
    a.add_argument(
        "--limit", type=int, metavar="N", help="at most N customers, highest predicted_clv first"
    )
    a.add_argument("--out", required=True, metavar="FILE", help=".csv, .csv.gz or .parquet")
    a.add_argument("--format", choices=["csv", "parquet"], help="default: from the file name")
    a.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    a.set_defaults(func=cmd_audience)

    ib = sub.add_parser("inbox", help="check how an export would load, without loading it")
    common(ib)
    ibsub = ib.add_subparsers(dest="inbox_command", required=True)
    chk = ibsub.add_parser(
        "check",
        help="preview how FILE would load (rows, quarantine, the first rows); for a file "
        "that would be rejected, propose import settings (sources.yml) and preview them",
    )
    chk.add_argument("file", metavar="FILE", help="the export to check (need not be in the inbox)")
    chk.add_argument("--entity", help="the entity the file holds (default: its folder's name)")
    chk.add_argument("--rows", type=int, default=10, help="rows and reasons shown (default 10)")
    ib.set_defaults(func=cmd_inbox)

    q = sub.add_parser("query", help="run SQL against the published warehouse (read-only)")
    common(q)
    q.add_argument("sql", help="the query")
    q.add_argument("--max-rows", type=int, default=40, help="rows shown at most")
    q.set_defaults(func=cmd_query)
    return parser


# The refresh behind `crm refresh` and `crm demo` (orchestration.refresh.run_refresh).
RunRefresh = Callable[..., Any]


def quiet_environment() -> None:
    """No tool may try the network at run time: tracking off everywhere."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def main(argv: list[str] | None = None, run_refresh: RunRefresh | None = None) -> int:
    from crm.privacy import private_umask

    quiet_environment()
    private_umask()  # everything crm writes is owner-only unless made shared on purpose
    args = build_parser().parse_args(argv)
    args.run_refresh = run_refresh
    try:
        return args.func(args)
    except FileExistsError as exc:
        print(f"crm {args.command}: {exc}", file=sys.stderr)
        print(
            "  (inbox files are immutable; `crm generate --overwrite` replaces generated ones)",
            file=sys.stderr,
        )
        return 2


def run(run_refresh: RunRefresh | None = None) -> None:
    """The `crm` command: main(), then the exit handlers, and out without tearing
    the interpreter down. Freeing the objects a refresh leaves (dbt's parsed
    project, Dagster's definitions, ~600k objects) one by one took ~3-5 s after
    the work was done; nothing is written then that the exit handlers and
    flushes below do not write."""
    code = main(run_refresh=run_refresh)
    import atexit
    import logging

    logging.shutdown()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(code or 0))


if __name__ == "__main__":
    run()
