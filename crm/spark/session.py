"""The local Spark session of a warehouse home (pyspark, `local[CRM_THREADS]`).

Everything Spark keeps lives under `CRM_HOME/spark`: the warehouse folder of its
managed tables, the Derby metastore of the Hive catalog (a local, one-process
catalog, as DuckDB's file is), and the lake of landed raw tables; its spill
files go to the home's temporary folder, like DuckDB's. Timestamps are UTC
instants (session time zone UTC; Parquet written as TIMESTAMP_MICROS, which
DuckDB reads as instants too). The driver's memory is CRM_MEMORY_LIMIT.
"""

from __future__ import annotations

import re
from pathlib import Path

from crm.config import Settings

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT])(i?B)?\s*$", re.IGNORECASE)
_POWER = {"K": 1, "M": 2, "G": 3, "T": 4}


def spark_memory(memory_limit: str) -> str:
    """A DuckDB memory limit ('4GB', '1536MiB', '9GiB') as a JVM size in whole MiB
    ('3814m'): GB is 1000^3 bytes, GiB (and a bare G, as the JVM writes it) 1024^3."""
    match = _SIZE.match(memory_limit)
    if not match:
        raise ValueError(f"memory limit {memory_limit!r}: a size such as 4GB is expected")
    base = 1000 if (match[3] or "").lower() == "b" else 1024
    mib = int(float(match[1]) * base ** _POWER[match[2].upper()] / 2**20)
    if mib < 512:
        raise ValueError(f"memory limit {memory_limit!r}: Spark's driver needs at least 512MB")
    return f"{mib}m"


def spark_dir(settings: Settings) -> Path:
    return settings.home / "spark"


def lake_dir(settings: Settings) -> Path:
    """Where the raw store lands for Spark (crm/spark/landing.py)."""
    return spark_dir(settings) / "lake"


def session_config(settings: Settings) -> dict[str, str]:
    """The Spark settings of the home's local session."""
    root = spark_dir(settings)
    return {
        "spark.master": f"local[{settings.threads}]",
        "spark.app.name": "crm",
        "spark.driver.memory": spark_memory(settings.memory_limit),
        "spark.sql.warehouse.dir": str(root / "warehouse"),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={root / 'derby'}",
        "spark.local.dir": str(settings.temp_dir / "spark"),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        # few, small partitions: a shuffle per core, not Spark's default 200
        "spark.sql.shuffle.partitions": str(max(2, 2 * settings.threads)),
        "spark.ui.enabled": "false",
    }


def start_session(settings: Settings):
    """The home's local SparkSession (started, or the one this process runs). pyspark
    starts the JVM from JAVA_HOME, else the `java` on the PATH (Java 17 or later)."""
    from pyspark.sql import SparkSession

    for folder in (spark_dir(settings), settings.temp_dir / "spark"):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # tables hold personal data
    builder = SparkSession.builder
    for key, value in session_config(settings).items():
        builder = builder.config(key, value)
    return builder.enableHiveSupport().getOrCreate()
