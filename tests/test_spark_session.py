"""The local Spark session's settings (crm/spark/session.py); starting one is
bench/spark_parity.py's part (it needs the `spark` extra and Java)."""

from __future__ import annotations

import dataclasses

import pytest

from crm.spark.session import lake_dir, session_config, spark_memory


def test_the_session_lives_under_the_home_with_the_warehouse_limits(settings):
    config = session_config(dataclasses.replace(settings, threads=3, memory_limit="6GiB"))
    spark = settings.home / "spark"
    assert config["spark.master"] == "local[3]"
    assert config["spark.driver.memory"] == "6144m"
    assert config["spark.sql.warehouse.dir"] == str(spark / "warehouse")
    assert config["spark.driver.extraJavaOptions"] == f"-Dderby.system.home={spark / 'derby'}"
    assert config["spark.local.dir"] == str(settings.temp_dir / "spark")  # spills with DuckDB's
    assert config["spark.sql.shuffle.partitions"] == "6"
    # instants in UTC, written so that DuckDB reads them as instants too
    assert config["spark.sql.session.timeZone"] == "UTC"
    assert config["spark.sql.parquet.outputTimestampType"] == "TIMESTAMP_MICROS"
    assert lake_dir(settings) == spark / "lake"


@pytest.mark.parametrize(
    ("limit", "jvm"),
    [
        ("4GB", "3814m"),
        ("4GiB", "4096m"),
        ("1536MiB", "1536m"),
        ("2g", "2048m"),
        ("1.5GB", "1430m"),
    ],
)
def test_duckdb_memory_limits_become_jvm_sizes(limit, jvm):
    assert spark_memory(limit) == jvm


@pytest.mark.parametrize(
    ("limit", "message"),
    [("100MB", "at least 512MB"), ("lots", "a size such as 4GB"), ("4", "a size such as 4GB")],
)
def test_a_memory_limit_spark_cannot_use_is_refused(limit, message):
    with pytest.raises(ValueError, match=message):
        spark_memory(limit)
