"""Benchmark: generate data at a scale, run the whole refresh, print time and memory.

    .venv/bin/python bench/bench_refresh.py --customers 20000        # ~100k orders
    .venv/bin/python bench/bench_refresh.py --customers 200000       # ~1M orders

Prints wall time and peak resident memory (this process plus its children, such
as the dbt process) per stage, the fixed cost of orchestration (Dagster import
and definitions, dbt start-up) apart from the work itself, and the totals.
Figures are recorded in BENCHMARKS.md; nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PAGE = os.sysconf("SC_PAGE_SIZE")


def _tree_rss(root: int) -> int:
    """Resident bytes of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/statm") as handle:
                rss[int(entry)] = int(handle.read().split()[1]) * PAGE
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


class MemorySampler:
    """Samples the process tree's RSS every 100 ms and keeps the peak per stage."""

    def __init__(self) -> None:
        self.current = "startup"
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        pid = os.getpid()
        while not self._stop.is_set():
            value = _tree_rss(pid)
            self.peaks[self.current] = max(self.peaks.get(self.current, 0), value)
            self.peaks["total"] = max(self.peaks.get("total", 0), value)
            time.sleep(0.1)

    def on_stage(self, event: str, name: str, at: float, facts: dict) -> None:
        self.current = name if event == "start" else "orchestration"

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


VALUE_MODELS = ("int_customer_btyd_summary", "int_customer_costs", "customer_value")


def _is_value_model(unique_id: str) -> bool:
    name = unique_id.split(".")[-1]
    return name in VALUE_MODELS or "clv" in name


def _model_times(settings, keep, top: int = 4) -> tuple[int, float, str]:
    """The dbt models of the last run that `keep(unique_id, manifest_node)` accepts:
    (how many, their model seconds, "name 1.2s, ..." of the `top` slowest)."""
    import json

    target = settings.dbt_target_dir
    nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    results = json.loads((target / "run_results.json").read_text())["results"]
    models = [
        r
        for r in results
        if r["unique_id"].startswith("model.") and keep(r["unique_id"], nodes[r["unique_id"]])
    ]
    slowest = sorted(models, key=lambda r: -r["execution_time"])[:top]
    return (
        len(models),
        sum(r["execution_time"] for r in models),
        ", ".join(f"{r['unique_id'].split('.')[-1]} {r['execution_time']:.1f}s" for r in slowest),
    )


def _value_report(settings, con_path: Path) -> None:
    """Customer value: time of its dbt models, the fits and the backtest's errors."""
    import duckdb

    n, seconds, slowest = _model_times(settings, lambda uid, _: _is_value_model(uid))
    print(f"customer value: {n} models, {seconds:.1f}s of model time; slowest: {slowest}")
    with duckdb.connect(str(con_path), read_only=True) as con:
        fits = con.execute(
            "select fit, model, status, n_customers, n_tuples, iterations, fit_seconds "
            "from marts.clv_model_params where model <> 'value' and parameter in ('r', 'p') "
            "order by fit, model"
        ).fetchall()
        backtest = con.execute(
            "select n_customers, total_relative_error, mae_per_customer, "
            "baseline_mae_per_customer from marts.clv_backtest_summary"
        ).fetchall()
    for fit, model, status, customers, tuples, iterations, secs in fits:
        print(
            f"  fit {fit} {model}: {status}, {customers:,} customers, {tuples:,} tuples, "
            f"{iterations} iterations, {secs:.2f}s"
        )
    for customers, total, mae, base in backtest:
        print(
            f"  backtest: {customers:,} customers, total error {total:+.1%}, "
            f"MAE {mae:.3f} (baseline {base:.3f}) purchase days per customer"
        )


# Identity resolution: its intermediate folder and the marts it ends in.
IDENTITY_MODELS = (
    "models/intermediate/identity/",
    "models/marts/customers/customer_xref.sql",
    "models/marts/customers/dim_customers.sql",
    "models/marts/customers/identity_",
)
CRM_MART_FOLDERS = (
    "models/intermediate/lifecycle/",
    "models/intermediate/kpis/",
    "models/intermediate/basket/",
    "models/marts/lifecycle/",
    "models/marts/service/",
    "models/marts/campaigns/",
    "models/marts/kpis/",
    "models/marts/basket/",
    "models/marts/customers/customer_360.sql",
)


def _crm_marts_report(settings) -> None:
    """The CRM marts of issue 6 (lifecycle, service, campaigns, KPIs, basket, 360):
    their models' time, from the manifest's file paths and run_results."""
    n, seconds, slowest = _model_times(
        settings, lambda _, node: node["original_file_path"].startswith(CRM_MART_FOLDERS), top=5
    )
    print(f"CRM marts: {n} models, {seconds:.1f}s of model time; slowest: {slowest}")


def _identity_report(settings, truth_dir: Path, con_path: Path) -> None:
    """Identity resolution: time of its dbt models and accuracy against ground truth."""
    import duckdb

    n_models, seconds, slowest = _model_times(
        settings,
        lambda _, node: node["original_file_path"].startswith(IDENTITY_MODELS),
    )
    with duckdb.connect(str(con_path), read_only=True) as con:
        n_contacts = con.execute("select count(*) from marts.customer_xref").fetchone()[0]
        xref = con.execute(
            "select source_system || ':' || source_contact_id as k, customer_id "
            "from marts.customer_xref where has_contact_record"
        ).df()
    print(
        f"identity resolution: {n_contacts:,} records, {n_models} models, "
        f"{seconds:.1f}s of model time (upper bound of their wall time); slowest: {slowest}"
    )
    with duckdb.connect(str(con_path), read_only=True) as con:
        model = con.execute(
            "select model_origin, model_reason, link_threshold, estimated_precision, "
            "estimated_recall from marts.identity_resolution"
        ).fetchone()
    print(
        f"identity model: {model[0]} ({model[1]}), threshold {model[2]:g}, model's own "
        f"estimates: precision {model[3] or 0:.4f}, recall {model[4] or 0:.4f}"
    )
    truth = truth_dir / "contacts.parquet"
    if truth.exists():
        from crm.identity.evaluate import score_clusters, truth_keys

        scores = score_clusters(xref.k.to_numpy(), xref.customer_id.to_numpy(), truth_keys(truth))
        print(
            "identity accuracy vs ground truth: "
            + ", ".join(
                f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in scores.items()
            )
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20000, help="true persons to simulate")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--noise-profile", default="default", help="generator noise preset (default, hard)"
    )
    parser.add_argument("--as-of", default="2025-12-31")
    parser.add_argument("--workdir", help="keep data here (default: a temp folder, removed)")
    parser.add_argument(
        "--refreshes",
        type=int,
        default=1,
        help="refreshes to run; the 2nd+ show the cost with nothing new to load",
    )
    args = parser.parse_args()

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="crm-bench-"))
    os.environ.update(
        CRM_HOME=str(work / "home"),
        CRM_INBOX=str(work / "inbox"),
        CRM_WAREHOUSE=str(work / "warehouse.duckdb"),
        CRM_AS_OF=args.as_of,
        CRM_PROGRESS="0",
    )
    from crm.config import Settings
    from crm.generate import generate
    from crm.progress import add_listener
    from orchestration.refresh import run_refresh

    settings = Settings.from_env()
    if not any(settings.inbox.rglob("*.*")) if settings.inbox.exists() else True:
        t0 = time.monotonic()
        summary = generate(
            settings.inbox,
            work / "truth",
            customers=args.customers,
            seed=args.seed,
            end=dt.date.fromisoformat(args.as_of),
            noise_profile=args.noise_profile,
        )
        print(f"generate: {time.monotonic() - t0:.1f}s  {summary.get('counts', summary)}")

    for attempt in range(1, args.refreshes + 1):
        sampler = MemorySampler()
        add_listener(sampler.on_stage)
        with sampler:
            outcome = run_refresh(settings)
        if not outcome.success:
            print("refresh FAILED:\n" + "\n".join(outcome.errors))
            return 1
        import duckdb

        with duckdb.connect(str(settings.warehouse), read_only=True) as con:
            n_orders = con.execute("select count(*) from marts.fct_orders").fetchone()[0]
            n_customers = con.execute("select count(*) from marts.dim_customers").fetchone()[0]
        stages = outcome.stages
        work_total = sum(
            v for k, v in stages.items() if k in ("load", "quality", "publish")
        ) + stages.get("dbt_work", 0.0)
        print(
            f"\nrefresh {attempt}: {n_orders:,} orders, {n_customers:,} customers, "
            f"as of {args.as_of}"
        )
        print(f"{'stage':<24}{'wall s':>9}{'peak RSS MiB':>15}")
        rows = [
            ("orchestration start-up", stages.get("orchestration_startup", 0.0), "startup"),
            ("load (inbox -> raw)", stages.get("load", 0.0), "load"),
            ("dbt (wall)", stages.get("dbt", 0.0), "dbt"),
            ("  of which dbt work", stages.get("dbt_work", 0.0), None),
            ("  of which dbt start-up", stages.get("dbt", 0.0) - stages.get("dbt_work", 0.0), None),
            ("quality gate (GX)", stages.get("quality", 0.0), "quality"),
            ("publish", stages.get("publish", 0.0), "publish"),
        ]
        for label, seconds, key in rows:
            peak = f"{sampler.peaks.get(key, 0) / 2**20:15.0f}" if key else ""
            print(f"{label:<24}{seconds:9.1f}{peak}")
        fixed = outcome.seconds - work_total
        print(f"{'total':<24}{outcome.seconds:9.1f}{sampler.peaks.get('total', 0) / 2**20:15.0f}")
        print(
            f"fixed cost (everything but load, dbt work, quality gate, publish): {fixed:.1f}s "
            f"= {100 * fixed / outcome.seconds:.0f}% of the total"
        )
        _identity_report(settings, work / "truth", con_path=settings.warehouse)
        _value_report(settings, con_path=settings.warehouse)
        _crm_marts_report(settings)
    if args.workdir:
        print(f"\ndata kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
