"""Check: the dbt project's SQL builds the same tables on Spark as on DuckDB.

    uv sync --frozen --extra dev --extra spark      # dbt-spark + pyspark (Java 17)
    .venv/bin/python bench/spark_parity.py --customers 200

A step of issue 17 (the warehouse on Spark), before `CRM_ENGINE=spark` exists:

1. generates demo data and refreshes it on DuckDB (`crm generate`, `crm refresh`);
2. starts the local Spark a home gets (crm/spark/session.py: pyspark,
   `local[2]`, Derby metastore in the work folder) and lands the raw store in
   it as a refresh on Spark does (crm/spark/landing.py: Parquet files per
   landing, external tables of `crm_raw`);
3. builds the project on Spark in waves (crm/spark/python_models.py): each
   wave's models and seeds by `dbt build` in this process (dbt-spark's session
   method shares the Spark session), then the wave's dbt *Python* models
   (identity model, scores and clusters; CLV fits and predictions), which
   dbt-spark runs on Databricks only: their refs written by Spark as Parquet,
   the model's own function run on them (DuckDB), its result declared as the
   model's table (DECISIONS 79);
4. runs the data tests on Spark;
5. compares every table of the intermediate and marts schemas row for row with
   the DuckDB build (floats to 1e-6 relative, everything else exactly), apart from
   the columns that hold the run's own clock (`recorded_at`, `fit_seconds`).

Prints the time of each step and each differing table; exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CRM = str(Path(sys.executable).with_name("crm"))
AS_OF = "2025-12-31"
# the run's own clock: when the build ran, how long a fit took
RUN_CLOCK_COLUMNS = {"recorded_at", "fit_seconds"}


def _step(name: str, started: float) -> float:
    now = time.monotonic()
    print(f"{name}: {now - started:.1f}s", flush=True)
    return now


def refresh_on_duckdb(work: Path, customers: int, seed: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update(
        CRM_HOME=str(work / "home"),
        CRM_INBOX=str(work / "inbox"),
        CRM_WAREHOUSE=str(work / "published" / "crm.duckdb"),
        CRM_AS_OF=AS_OF,
        DO_NOT_TRACK="1",
    )
    truth = str(work / "truth")
    args = ["--customers", str(customers), "--seed", str(seed), "--truth", truth]
    subprocess.run([CRM, "generate", *args], env=env, check=True, capture_output=True)
    subprocess.run([CRM, "refresh"], env=env, check=True, capture_output=True)
    return env


def spark_session(work: Path):
    """The local session a home at `work` gets (crm/spark/session.py), two threads."""
    from crm.config import Settings
    from crm.spark.session import start_session

    settings = Settings(
        home=work,
        inbox=work / "inbox",
        warehouse=work / "warehouse.duckdb",
        as_of=dt.date.fromisoformat(AS_OF),
        currency="EUR",
        threads=2,
        memory_limit="4GB",
        keep_generations=1,
    )
    return start_session(settings)


def _duckdb_tables(con, schema: str) -> list[str]:
    return [
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables "
            "where table_schema = ? and table_type = 'BASE TABLE' order by 1",
            [schema],
        ).fetchall()
    ]


def _dbt(work: Path, args: list[str], dbt_vars: dict) -> bool:
    """One dbt invocation on Spark, in this process."""
    from dbt.cli.main import dbtRunner

    profiles = work / "profiles"
    profiles.mkdir(exist_ok=True)
    # The session method's builder.getOrCreate() returns the session started above.
    (profiles / "profiles.yml").write_text(
        "crm:\n  target: spark\n  outputs:\n    spark:\n      type: spark\n"
        "      method: session\n      host: NA\n      schema: crm_build\n      threads: 1\n"
    )
    common = [
        "--project-dir", str(REPO),
        "--profiles-dir", str(profiles),
        "--target-path", str(work / "target"),
        "--log-path", str(work / "logs"),
        "--vars", json.dumps(dbt_vars),
    ]  # fmt: skip
    result = dbtRunner().invoke([*args, *common])
    return bool(result.success)


def build_on_spark(spark, work: Path, dbt_vars: dict) -> dict[str, float]:
    """The project on Spark, wave by wave; returns seconds spent in dbt and in the
    Python models. Raises on a failed step."""
    from crm.spark.python_models import python_models, run_python_model, waves

    manifest = json.loads((REPO / "target" / "manifest.json").read_text())
    nodes = manifest["nodes"]
    models = python_models(manifest, REPO)
    seconds = {"dbt": 0.0, "python_models": 0.0}
    for sql, python in waves(manifest):
        started = time.monotonic()
        if sql:
            names = [nodes[uid]["name"] for uid in sql]
            args = ["build", "--select", *names, "--exclude-resource-type", "test", "unit_test"]
            if not _dbt(work, args, dbt_vars):
                raise RuntimeError(f"dbt failed on Spark: see {work / 'logs' / 'dbt.log'}")
        seconds["dbt"] += time.monotonic() - started
        started = time.monotonic()
        for uid in python:
            model = models[uid]
            inputs = {}
            for name in model.refs:
                schema = next(n["schema"] for n in nodes.values() if n["name"] == name)
                folder = work / "refs" / model.name / name
                spark.table(f"{schema}.{name}").write.mode("overwrite").parquet(str(folder))
                inputs[name] = folder
            output = work / "python_models" / model.name
            rows = run_python_model(model, inputs, output, {"memory_limit": "2GB"})
            schema = nodes[uid]["schema"]
            spark.sql(f"create database if not exists {schema}")
            spark.sql(f"drop table if exists {schema}.{model.name}")
            spark.sql(f"create table {schema}.{model.name} using parquet location '{output}'")
            print(f"  python model {model.name}: {rows} rows", flush=True)
        seconds["python_models"] += time.monotonic() - started
    started = time.monotonic()
    if not _dbt(work, ["test", "--exclude-resource-type", "unit_test"], dbt_vars):
        raise RuntimeError(f"data tests failed on Spark: see {work / 'logs' / 'dbt.log'}")
    seconds["dbt"] += time.monotonic() - started
    return seconds


def _value(value):
    """One comparable Python value for either engine's representation."""
    import numpy as np
    import pandas as pd

    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, (dt.date, pd.Timestamp, np.datetime64)):
        stamp = pd.Timestamp(value)
        return (stamp.tz_convert(None) if stamp.tzinfo else stamp).isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return str([_value(v) for v in value])
    if isinstance(value, dict):
        return str(sorted((k, _value(v)) for k, v in value.items()))
    return value


def _same(a, b) -> bool:
    if a == b:
        return True
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        return abs(a - b) <= 1e-6 * max(1.0, abs(a))
    return False


def compare(spark, con, schema: str) -> list[str]:
    """The tables of `schema` that differ between the engines, with an example each."""
    differing = []
    for table in _duckdb_tables(con, schema):
        ours = con.execute(f"select * from {schema}.{table}").df()
        theirs = spark.table(f"{schema}.{table}").toPandas()
        if list(ours.columns) != list(theirs.columns) or len(ours) != len(theirs):
            differing.append(
                f"{schema}.{table}: columns or rows differ "
                f"({len(ours.columns)}x{len(ours)} vs {len(theirs.columns)}x{len(theirs)})"
            )
            continue
        columns = list(ours.columns)
        keep = [i for i, c in enumerate(columns) if c not in RUN_CLOCK_COLUMNS]

        def rows(frame, keep=keep):
            values = [
                tuple(_value(row[i]) for i in keep)
                for row in frame.astype(object).itertuples(index=False)
            ]
            return sorted(values, key=lambda r: [(v is None, str(v)) for v in r])

        a, b = rows(ours), rows(theirs)
        problems = []
        for j, i in enumerate(keep):
            bad = [k for k in range(len(a)) if not _same(a[k][j], b[k][j])]
            if bad:
                k = bad[0]
                problems.append(f"{columns[i]} in {len(bad)} rows, e.g. {a[k][j]!r} vs {b[k][j]!r}")
        if problems:
            differing.append(f"{schema}.{table}: " + "; ".join(problems))
    return differing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    options = parser.parse_args()
    work = options.work or Path(tempfile.mkdtemp(prefix="crm-spark-parity-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {work}")

    import duckdb

    started = time.monotonic()
    env = refresh_on_duckdb(work / "duckdb", options.customers, options.seed)
    started = _step("duckdb: generate and refresh", started)

    spark = spark_session(work / "spark")
    # the raw store as a refresh on Spark lands it (crm/spark/landing.py)
    from crm.spark.landing import land_raw_store, raw_table_ddl

    lake = work / "spark" / "lake"
    landing = land_raw_store(work / "duckdb" / "home" / "raw.duckdb", lake)
    spark.sql("create database if not exists crm_raw")
    for statement in raw_table_ddl(lake, "crm_raw").values():
        spark.sql(statement)
    print(f"landed {landing.rows} rows of {len(landing.files)} raw tables")
    started = _step("spark: start, land the raw store", started)

    dbt_vars = {
        "as_of": AS_OF,
        "raw_schema": "crm_raw",
        "identity_model_dir": str(Path(env["CRM_HOME"]) / "identity" / "model"),
    }
    try:
        seconds = build_on_spark(spark, work / "spark", dbt_vars)
    except RuntimeError as failed:
        print(failed)
        return 1
    print(f"  dbt {seconds['dbt']:.1f}s, Python models {seconds['python_models']:.1f}s")
    started = _step("spark: build in waves, then the data tests", started)

    restricted = Path(env["CRM_HOME"]) / "restricted" / "crm_restricted.duckdb"
    built = duckdb.connect(str(restricted), read_only=True)
    built.execute("set TimeZone = 'UTC'")

    differing = compare(spark, built, "intermediate") + compare(spark, built, "marts")
    n_tables = len(_duckdb_tables(built, "intermediate")) + len(_duckdb_tables(built, "marts"))
    _step("compare", started)
    for line in differing:
        print("DIFFERS", line)
    print(f"{n_tables - len(differing)} of {n_tables} tables equal on both engines")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
