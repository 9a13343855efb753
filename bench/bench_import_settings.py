"""What import settings cost the load: one generated world loaded once as contract
CSV and once reshaped into an export dialect (crm/generate/dialects.py) read through
the sources.yml it comes with. Raw load only (`crm.load.load_inbox`), same machine
settings; prints seconds, rows and MB per second for both.

    .venv/bin/python bench/bench_import_settings.py --customers 250000 --dialect german
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path

from crm.config import Settings, default_memory_limit
from crm.generate import generate
from crm.generate.dialects import DIALECTS, reshape
from crm.load import load_inbox


def settings_for(root: Path, threads: int) -> Settings:
    return Settings(
        home=root / "home",
        inbox=root / "inbox",
        warehouse=root / "warehouse.duckdb",
        as_of=dt.date(2025, 12, 31),
        currency="EUR",
        threads=threads,
        memory_limit=default_memory_limit(),
        keep_generations=1,
    )


def timed_load(settings: Settings) -> tuple[float, int, float]:
    size = sum(p.stat().st_size for p in settings.inbox.rglob("*") if p.is_file())
    started = time.perf_counter()
    report = load_inbox(settings)
    seconds = time.perf_counter() - started
    bad = [r for r in report.files if r.status != "loaded"]
    if bad:
        raise SystemExit(f"not loaded: {[(r.file, r.error) for r in bad]}")
    rows = sum(r.rows_in_file for r in report.files)
    return seconds, rows, size / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=250_000)
    parser.add_argument("--dialect", default="german", choices=DIALECTS[1:])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    root = args.workdir or Path(tempfile.mkdtemp(prefix="bench-import-"))
    contract = settings_for(root / "contract", args.threads)
    shaped = settings_for(root / args.dialect, args.threads)
    started = time.perf_counter()
    generate(contract.inbox, root / "truth", customers=args.customers, file_format="csv")
    print(f"generated {args.customers:,} customers as CSV in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    shaped.home.mkdir(parents=True, exist_ok=True)
    shaped.sources_path.write_text(reshape(contract.inbox, shaped.inbox, args.dialect))
    print(f"reshaped into {args.dialect} in {time.perf_counter() - started:.1f} s")
    for name, settings in (("contract", contract), (args.dialect, shaped)):
        seconds, rows, mb = timed_load(settings)
        print(
            f"{name:>10}: load {seconds:7.1f} s, {rows:,} rows, {mb:,.0f} MB, "
            f"{rows / seconds:,.0f} rows/s, {mb / seconds:,.1f} MB/s"
        )
    if args.workdir is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
