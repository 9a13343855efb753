"""Benchmark: the cohort, region/season, KPI and market-basket marts at scale.

    .venv/bin/python bench/bench_kpi_marts.py --orders 1000000

Generates, in DuckDB, the inputs these marts read (the intermediate orders and
order lines, customers with regions and created_at, stores, products with a
skewed popularity so the Apriori pruning has work to do) straight into a build
file, then runs `dbt run` on the issue-6 models only (the identity and CLV
models are not part of the measurement) and prints each model's seconds from
run_results.json. Figures go to BENCHMARKS.md; nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
DBT = str(Path(sys.executable).with_name("dbt"))
MODELS = [
    "int_customer_purchase_days",
    "int_customer_purchase_months",
    "int_customer_acquisitions",
    "int_basket_order_items",
    "cohort_retention",
    "sales_by_region_period",
    "crm_kpis_monthly",
    "basket_product_pairs",
    "basket_category_pairs",
]


def generate(path: Path, n_orders: int, seed: float) -> dict[str, int]:
    n_customers = max(n_orders // 5, 1)
    con = duckdb.connect(str(path))
    try:
        con.execute(f"select setseed({seed})")
        for schema in ("intermediate", "marts", "staging"):
            con.execute(f"create schema {schema}")
        con.execute(
            f"""
            create table intermediate.int_contacts_resolved as
            select
                'C' || lpad(cast(i as varchar), 9, '0') as customer_id,
                case when random() < 0.7
                    then timestamp '2020-01-01' + to_days(cast(floor(random() * 1800) as integer))
                end as created_at
            from range({n_customers}) as t(i)
            """
        )
        con.execute(
            """
            create table marts.dim_customers as
            select
                customer_id,
                case when random() < 0.9
                    then 'R' || cast(floor(random() * 16) as integer)
                end as region
            from intermediate.int_contacts_resolved
            """
        )
        con.execute(
            """
            create table marts.dim_stores as
            select
                'S' || cast(i as varchar) as store_id,
                case when i % 10 <> 0 then 'R' || cast(i % 16 as varchar) end as region
            from range(200) as t(i)
            """
        )
        con.execute(
            """
            create table staging.stg_raw__products as
            select 'P' || lpad(cast(i as varchar), 5, '0') as product_id,
                   case when i % 50 <> 0 then 'cat' || cast(i % 40 as varchar) end as category
            from range(2000) as t(i)
            """
        )
        # orders over five years before as_of; a tenth anonymous, a tenth not completed
        con.execute(
            f"""
            create table intermediate.int_orders_costed as
            with raw as (
                select
                    i,
                    timestamp '2020-01-01'
                        + to_seconds(cast(floor(random() * 5 * 365 * 86400) as bigint))
                        as ordered_at,
                    random() as r_customer,
                    random() as r_status,
                    random() as r_channel
                from range({n_orders}) as t(i)
            )
            select
                'O' || lpad(cast(i as varchar), 10, '0') as order_id,
                case when r_customer < 0.9
                    then 'C' || lpad(
                        cast(cast(floor(pow(random(), 1.5) * {n_customers}) as bigint) as varchar),
                        9, '0'
                    )
                end as customer_id,
                ordered_at,
                cast(ordered_at as date) as order_date,
                cast(round(5 + random() * 200, 2) as decimal(18, 4)) as order_total_base,
                r_status < 0.9 as is_completed,
                case
                    when r_channel < 0.5 then 'web'
                    when r_channel < 0.8 then 'store'
                    when r_channel < 0.95 then 'phone'
                end as channel,
                case when r_channel >= 0.5 and r_channel < 0.8
                    then 'S' || cast(floor(random() * 200) as integer)
                end as store_id,
                case when random() < 0.8
                    then cast(round(random() * 50, 2) as decimal(18, 4))
                end as order_margin
            from raw
            """
        )
        # 1-5 lines per order (3 on average), popular products far more often
        con.execute(
            """
            create table intermediate.int_order_lines_costed as
            select
                orders.order_id,
                lines.line_number,
                'P' || lpad(
                    cast(cast(floor(pow(random(), 3) * 2000) as integer) as varchar), 5, '0'
                ) as product_id
            from intermediate.int_orders_costed as orders
            cross join lateral (
                select cast(j + 1 as bigint) as line_number
                from range(1 + cast(hash(orders.order_id) % 5 as integer)) as r(j)
            ) as lines
            """
        )
        counts = {
            "orders": con.execute("select count(*) from intermediate.int_orders_costed").fetchone()[
                0
            ],
            "order_lines": con.execute(
                "select count(*) from intermediate.int_order_lines_costed"
            ).fetchone()[0],
            "customers": n_customers,
        }
        con.execute("checkpoint")
    finally:
        con.close()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--threads", default="2")
    parser.add_argument("--memory", default="4GB")
    parser.add_argument("--min-support", type=float, default=0.001)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_kpis_") as tmp:
        work = Path(tmp)
        build = work / "build.duckdb"
        started = time.perf_counter()
        counts = generate(build, args.orders, 0.42)
        print(f"generated {counts} in {time.perf_counter() - started:.1f} s")
        duckdb.connect(str(work / "raw.duckdb")).close()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "DBT_"))}
        env.update(
            DO_NOT_TRACK="1",
            DBT_PROFILES_DIR=str(REPO),
            CRM_BUILD_PATH=str(build),
            CRM_RAW_STORE=str(work / "raw.duckdb"),
            CRM_THREADS=args.threads,
            CRM_MEMORY_LIMIT=args.memory,
            CRM_TEMP_DIR=str(work / "tmp"),
        )
        variables = {"as_of": "2024-12-31", "basket_min_support": args.min_support}
        command = [
            DBT, "run", "--select", " ".join(MODELS), "--vars", json.dumps(variables),
            "--project-dir", str(REPO), "--target-path", str(work / "target"),
            "--log-path", str(work / "logs"),
        ]  # fmt: skip
        started = time.perf_counter()
        result = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if result.returncode != 0:
            sys.exit(result.stdout[-5000:] + result.stderr)
        run_results = json.loads((work / "target" / "run_results.json").read_text())
        print(f"dbt run wall {wall:.1f} s, dbt work {run_results['elapsed_time']:.1f} s")
        for node in run_results["results"]:
            print(f"  {node['unique_id'].split('.')[-1]:32s} {node['execution_time']:7.1f} s")
        con = duckdb.connect(str(build), read_only=True)
        try:
            for name in MODELS[4:]:
                n = con.execute(f"select count(*) from marts.{name}").fetchone()[0]
                print(f"  marts.{name}: {n:,} rows")
        finally:
            con.close()


if __name__ == "__main__":
    main()
