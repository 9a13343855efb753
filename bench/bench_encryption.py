"""What DuckDB's encryption at rest would cost (DECISIONS 68): a raw store's large
tables copied into a plain and an encrypted DuckDB file (write), then every column
of every table hashed (a full read), twice each.

DuckDB writes encrypted files only with OpenSSL from its httpfs extension, which the
project does not install. Run it in a scratch environment, for example:

    python3 -m venv /tmp/enc && /tmp/enc/bin/pip install duckdb==1.5.5 \\
        duckdb-extension-httpfs==1.5.5
    /tmp/enc/bin/python bench/bench_encryption.py data/raw.duckdb --fraction 0.1

`--fraction` keeps that share of every table (by a hash of the row), e.g. 0.1 of a
10M-order raw store for 1M orders.
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile
import time

import duckdb

TABLES = ("order_lines", "orders", "contacts", "campaign_touches", "interactions")
KEY = "bench-only-key-0123456789abcdef0123456789abcdef"


def httpfs_path() -> pathlib.Path:
    import duckdb_extension_httpfs

    folder = pathlib.Path(duckdb_extension_httpfs.__file__).parent
    return next(folder.glob("extensions/*/httpfs.duckdb_extension"))


def one(source: str, target: pathlib.Path, fraction: float, encrypted: bool) -> tuple:
    target.unlink(missing_ok=True)
    key = f", encryption_key '{KEY}'" if encrypted else ""
    con = duckdb.connect(config={"threads": "2", "memory_limit": "5GiB"})
    con.execute(f"load '{httpfs_path()}'")
    con.execute(f"attach '{source}' as src (read_only)")
    con.execute(f"attach '{target}' as dst (read_write{key})")
    started = time.perf_counter()
    where = f"where hash(_row_hash) % 1000 < {int(fraction * 1000)}" if fraction < 1 else ""
    for table in TABLES:
        con.execute(f"create table dst.{table} as select * from src.{table} {where}")
    con.execute("checkpoint dst")
    write = time.perf_counter() - started
    con.close()
    con = duckdb.connect(config={"threads": "2", "memory_limit": "5GiB"})
    con.execute(f"attach '{target}' as dst (read_only{key})")
    started = time.perf_counter()
    rows = 0
    for table in TABLES:
        columns = ", ".join(r[0] for r in con.execute(f"describe dst.{table}").fetchall())
        rows += con.execute(f"select count(*), sum(hash({columns})) from dst.{table}").fetchone()[0]
    read = time.perf_counter() - started
    con.close()
    return rows, target.stat().st_size, write, read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw_store", help="a raw store (raw.duckdb) to copy")
    parser.add_argument("--fraction", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=".") as folder:
        for attempt in range(2):
            for encrypted in (False, True):
                name = "encrypted" if encrypted else "plain"
                target = pathlib.Path(folder) / f"{name}.duckdb"
                rows, size, write, read = one(args.raw_store, target, args.fraction, encrypted)
                print(
                    f"run {attempt} {name:9s} rows {rows:,} size {size / 1e6:,.0f} MB "
                    f"write {write:.2f} s read {read:.2f} s",
                    flush=True,
                )


if __name__ == "__main__":
    main()
