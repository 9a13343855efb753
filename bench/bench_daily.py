"""Benchmark: a day's files after a full refresh, incremental against `crm refresh --full`.

    .venv/bin/python bench/bench_daily.py --customers 200000 --workdir /tmp/daily   # ~1M orders

Generates data once (Parquet, through --as-of), holds back the last
--days-held days of orders, their lines and the contacts created in them,
refreshes in full as of the day before, then drops the held-back files and a
set of changed contact records (new versions of --changed-contacts of them,
with another e-mail) and refreshes as of --as-of: once incrementally, once with
`--full` on a copy of the same home. Prints wall time per stage of each, the
ratio, and whether both produced the same tables (every schema; volatile
columns excepted). Each refresh is a separate `crm refresh` process, so start-up
is counted as a user pays it. Figures go to BENCHMARKS.md; nothing asserts a
timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CRM = str(Path(sys.executable).with_name("crm"))


def _env(root: Path, as_of: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "DAGSTER_HOME"))}
    env.update(
        CRM_HOME=str(root / "home"),
        CRM_INBOX=str(root / "inbox"),
        CRM_WAREHOUSE=str(root / "warehouse.duckdb"),
        CRM_AS_OF=as_of,
        CRM_PROGRESS="0",
        DO_NOT_TRACK="1",
    )
    env.update(extra)
    return env


def _refresh(root: Path, as_of: str, *flags: str) -> dict:
    started = time.monotonic()
    result = subprocess.run(
        [CRM, "refresh", "--quiet", *flags], env=_env(root, as_of), capture_output=True, text=True
    )
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"refresh failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    record = json.loads(sorted((root / "home" / "runs").glob("*.json"))[-1].read_text())
    record["wall"] = wall
    return record


def _split(source: Path, inbox: Path, cutoff: dt.date, changed_share: float) -> dict[str, int]:
    """Initial inbox (before `cutoff`) and the day's drop (returned as SQL per file)."""
    import duckdb

    con = duckdb.connect()
    end = f"timestamptz '{cutoff.isoformat()} 00:00:00+00'"

    def read(entity: str) -> str:
        return f"read_parquet('{source}/{entity}/*.parquet', union_by_name = true)"

    def write(sql: str, target: Path) -> int:
        target.parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"copy ({sql}) to '{target}' (format parquet)")
        return con.execute(f"select count(*) from read_parquet('{target}')").fetchone()[0]

    counts = {}
    for entity in ("campaign_touches", "campaigns", "interactions", "products", "stores"):
        shutil.copytree(source / entity, inbox / entity)
    con.execute(
        f"create table held as select order_id from {read('orders')} where ordered_at >= {end}"
    )
    counts["orders_initial"] = write(
        f"select * from {read('orders')} where order_id not in (select * from held)",
        inbox / "orders" / "orders.parquet",
    )
    write(
        f"select * from {read('order_lines')} where order_id not in (select * from held)",
        inbox / "order_lines" / "order_lines.parquet",
    )
    counts["contacts_initial"] = write(
        f"select * from {read('contacts')} where created_at < {end}",
        inbox / "contacts" / "contacts.parquet",
    )
    day = inbox.parent / "day"  # the drop, copied into the inbox later
    counts["orders_day"] = write(
        f"select * from {read('orders')} where order_id in (select * from held)",
        day / "orders" / "day.parquet",
    )
    write(
        f"select * from {read('order_lines')} where order_id in (select * from held)",
        day / "order_lines" / "day.parquet",
    )
    counts["contacts_new"] = write(
        f"select * from {read('contacts')} where created_at >= {end}",
        day / "contacts" / "day_new.parquet",
    )
    counts["contacts_changed"] = write(
        f"select * replace ('changed.' || coalesce(email, source_contact_id || '@example.org') "
        f"as email, {end} as updated_at) from {read('contacts')} where created_at < {end} "
        f"using sample {changed_share * 100}% (bernoulli, 7)",
        day / "contacts" / "day_changed.parquet",
    )
    return counts


def _report(label: str, record: dict) -> None:
    stages = ", ".join(f"{k} {v:.1f}" for k, v in record["stages"].items())
    print(f"{label:<28}{record['wall']:8.1f}s wall  ({stages})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--as-of", default="2025-12-31")
    parser.add_argument("--days-held", type=int, default=3, help="days of orders in the drop")
    parser.add_argument("--changed-contacts", type=float, default=0.001, help="share re-versioned")
    parser.add_argument(
        "--workdir", required=True, help="generated data (kept, reused) and both homes (rebuilt)"
    )
    parser.add_argument("--no-compare", action="store_true", help="skip the --full twin")
    args = parser.parse_args()

    work = Path(args.workdir)
    source, a, b = work / "source", work / "incremental", work / "full"
    as_of = dt.date.fromisoformat(args.as_of)
    cutoff = as_of - dt.timedelta(days=args.days_held - 1)
    if not source.exists():
        from crm.generate import generate

        t0 = time.monotonic()
        generate(
            source, work / "truth", customers=args.customers, seed=args.seed, end=as_of,
            file_format="parquet",
        )  # fmt: skip
        print(f"generate: {time.monotonic() - t0:.1f}s")
    shutil.rmtree(a, ignore_errors=True)
    shutil.rmtree(b, ignore_errors=True)
    counts = _split(source, a / "inbox", cutoff, args.changed_contacts)
    print("split:", counts)
    first = _refresh(a, (cutoff - dt.timedelta(days=1)).isoformat())
    _report("first refresh (full)", first)
    if not args.no_compare:
        shutil.copytree(a, b)
    for root in (a,) if args.no_compare else (a, b):
        shutil.copytree(a / "day", root / "inbox", dirs_exist_ok=True)
    day = _refresh(a, args.as_of)
    _report("day refresh (incremental)", day)
    if not args.no_compare:
        full = _refresh(b, args.as_of, "--full")
        _report("day refresh (--full)", full)
        print(f"incremental / full: {day['wall'] / full['wall']:.1%}")
        from crm.incremental import compare_warehouses

        problems = compare_warehouses(a / "home/restricted/crm_restricted.duckdb",
                                b / "home/restricted/crm_restricted.duckdb")  # fmt: skip
        print("tables equal" if not problems else "DIFFERENCES:\n  " + "\n  ".join(problems))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
