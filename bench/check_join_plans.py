"""Find joins that DuckDB runs without a hash: quadratic at scale.

    .venv/bin/python bench/bench_refresh.py --customers 250000 --refreshes 2 --workdir /tmp/b
    .venv/bin/python bench/check_join_plans.py --workdir /tmp/b

Reruns every compiled SQL model of the last refresh in a bench workdir (against a
copy of its restricted output, which is also attached as `previous`, and the raw
store) with DuckDB's profiler on, and lists each nested-loop, blockwise,
piecewise-merge, inequality or cross-product join whose smaller input has more than
--min-rows rows. Such a join costs the product of its inputs: invisible on test
data, hours at 100M orders (int_customer_ids had one: 19 s at 250k customers,
0.3 s as a hash join). A join with a one-row parameter table or a small grid is
fine and is not listed. Exit code 1 when something is listed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb

NON_HASH = ("NESTED_LOOP", "BLOCKWISE_NL", "CROSS_PRODUCT", "PIECEWISE_MERGE", "IE_JOIN")


def _non_hash_joins(node: dict, found: list[tuple[str, list[int], float]]) -> None:
    name = (node.get("operator_name") or "").strip()
    if any(kind in name for kind in NON_HASH):
        sizes = [int(child.get("operator_cardinality") or 0) for child in node["children"]]
        found.append((name, sizes, float(node.get("operator_timing") or 0.0)))
    for child in node.get("children", []):
        _non_hash_joins(child, found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True, help="a bench_refresh workdir")
    parser.add_argument("--min-rows", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-limit", default="8GB")
    args = parser.parse_args(argv)

    home = args.workdir / "home"
    compiled = home / "dbt-target" / "compiled" / "crm" / "models"
    restricted = home / "restricted" / "crm_restricted.duckdb"
    if not compiled.is_dir() or not restricted.exists():
        parser.error(f"{args.workdir} has no refresh (run bench/bench_refresh.py --workdir)")
    with tempfile.TemporaryDirectory(dir=home / "tmp") as scratch:
        # The compiled SQL names the build file's catalog `build`.
        build = Path(scratch) / "build.duckdb"
        previous = Path(scratch) / "previous.duckdb"
        shutil.copyfile(restricted, build)
        shutil.copyfile(restricted, previous)
        con = duckdb.connect(str(build))
        con.execute(f"set threads = {args.threads}")
        con.execute(f"set memory_limit = '{args.memory_limit}'")
        con.execute(f"set temp_directory = '{scratch}'")
        con.execute(f"attach '{home / 'raw.duckdb'}' as raw (read_only)")
        con.execute(f"attach '{previous}' as previous (read_only)")
        # Staging views are not published: recreate them from their compiled SQL.
        con.execute("create schema if not exists staging")
        for path in sorted((compiled / "staging").rglob("stg_*.sql")):
            con.execute(f"create or replace view staging.{path.stem} as {path.read_text()}")
        profile = Path(scratch) / "profile.json"
        listed, checked, started = 0, 0, time.monotonic()
        for path in sorted(compiled.rglob("*.sql")):
            model = path.relative_to(compiled)
            if model.parts[0] == "staging" or path.parent.suffix == ".yml":
                continue  # views (recreated above) and data tests
            sql = path.read_text()
            if "def model(" in sql:
                continue  # Python models
            con.execute(f"pragma enable_profiling = 'json'; pragma profiling_output = '{profile}'")
            con.execute(f"create or replace temp table checked as {sql}")
            con.execute("pragma disable_profiling")
            checked += 1
            found: list[tuple[str, list[int], float]] = []
            _non_hash_joins(json.loads(profile.read_text()), found)
            for name, sizes, seconds in found:
                if sizes and min(sizes) > args.min_rows:
                    listed += 1
                    inputs = " x ".join(f"{n:,}" for n in sizes)
                    print(f"{model}: {name} of {inputs} rows, {seconds:.2f}s")
        con.close()
    print(
        f"{checked} models checked in {time.monotonic() - started:.0f}s: "
        f"{listed} non-hash joins with both inputs over {args.min_rows:,} rows"
    )
    return 1 if listed else 0


if __name__ == "__main__":
    sys.exit(main())
