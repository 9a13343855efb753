"""The semantic layer: every metric `crm metrics` answers equals its recomputation
from the marts of a generated warehouse, by month, by dimension and by campaign;
the published file is read, never written; bad requests get a clear error."""

from __future__ import annotations

import csv
import io
import os

import pandas as pd
import pytest

from crm.config import Settings
from crm.metrics import Metrics, semantic_manifest_path
from tests.conftest import Env
from tests.conftest import read_only as _ro

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Env:
    env = Env(tmp_path_factory.mktemp("metrics"))
    env.crm("generate", "--customers", "500", "--seed", "11", "--truth", str(env.truth))
    env.crm("refresh")
    return env


@pytest.fixture(scope="module")
def layer(built: Env):
    settings = Settings.from_env(built.environ())
    with Metrics(built.warehouse, semantic_manifest_path(settings)) as metrics:
        yield metrics


MONTHLY = {
    "revenue": "total_purchase_amount",
    "orders": "n_orders",
    "average_order_value": "average_order_value",
    "buying_customers": "n_buying_customers",
    "new_customers": "n_new_customers",
    "customer_orders": "n_customer_orders",
    "active_customers": "n_active_customers",
    "retention_rate": "retention_rate",
    "churn_rate": "churn_rate",
    "retained_customers_metric": "n_retained_customers",
    "retention_base_metric": "n_retention_base",
}
SERVICE = {
    "interactions": "n_interactions",
    "complaints": "n_complaints",
    "complaint_rate": "complaints_per_1000_orders",
    "orders_placed": "n_orders",
    "resolution_hours": "mean_resolution_hours",
    "median_resolution_hours": "median_resolution_hours",
}
CAMPAIGNS = {
    "campaign_conversion_rate": "conversion_rate",
    "campaign_conversions": "n_converted",
    "campaign_treated_customers": "n_treatment",
    "incremental_customers": "incremental_customers",
    "incremental_revenue": "incremental_revenue",
    "campaign_cost": "campaign_cost",
    "cost_per_incremental_customer": "cost_per_incremental_customer",
}

ORDERS = ["returning_customers", "purchase_frequency", "margin"]
COHORTS = ["repeat_rate", "repeat_customers"]
VALUE = ["predicted_clv", "total_value"]
# every metric the tests below check against the marts
CHECKED = {*MONTHLY, *SERVICE, *CAMPAIGNS, *ORDERS, *COHORTS, *VALUE}


def _by(layer: Metrics, metrics: list[str], group_by: list[str]) -> pd.DataFrame:
    assert set(metrics) <= CHECKED
    frame = layer.query(metrics, group_by).to_pandas()
    return frame.set_index(group_by)


def _marts(built: Env, sql: str) -> pd.DataFrame:
    with _ro(built.warehouse) as con:
        return con.execute(sql).df()


def _same(got, want, label: str) -> None:
    """Equal numbers (None/NaN equal each other), compared as floats."""
    got = None if pd.isna(got) else float(got)
    want = None if pd.isna(want) else float(want)
    if got is None or want is None:
        assert got is None and want is None, f"{label}: {got} != {want}"
    else:
        assert got == pytest.approx(want, rel=1e-9, abs=1e-9), f"{label}: {got} != {want}"


def _key(key):
    """Index keys comparable across MetricFlow's and DuckDB's types (dates as Timestamps)."""
    if isinstance(key, tuple):
        return tuple(_key(k) for k in key)
    if hasattr(key, "year") and hasattr(key, "month"):
        return pd.Timestamp(key)
    return key


def _compare(got: pd.DataFrame, want: pd.DataFrame, pairs: dict[str, str]) -> None:
    """Every key of ``want`` is in ``got`` with equal values (metric -> mart column)."""
    assert len(want) > 0
    answers = {_key(k): row for k, row in got.iterrows()}
    for key, row in want.iterrows():
        assert _key(key) in answers, f"{key} missing from the metric's answer"
        for metric, column in pairs.items():
            _same(answers[_key(key)][metric], row[column], f"{metric} at {key}")


def test_monthly_metrics_equal_crm_kpis_monthly(built: Env, layer: Metrics):
    pairs = MONTHLY
    got = _by(layer, list(pairs), ["metric_time__month"])
    want = _marts(
        built,
        "select * from marts.crm_kpis_monthly where n_orders > 0 or n_new_customers > 0",
    ).set_index("month_start")
    # the mart rounds AOV to its decimal(18,4) type
    got["average_order_value"] = got["average_order_value"].round(4)
    _compare(got, want, pairs)


def test_customer_metrics_equal_recomputations_from_orders(built: Env, layer: Metrics):
    got = _by(
        layer,
        ORDERS,
        ["metric_time__month"],
    )
    want = _marts(
        built,
        """select cast(date_trunc('month', o.order_date) as date) as month,
            count(distinct case when c.first_order_date < date_trunc('month', o.order_date)
                then o.customer_id end) as returning,
            cast(count(o.customer_id) as double) / count(distinct o.customer_id) as frequency,
            sum(o.order_margin) as margin
        from marts.fct_orders as o
        left join marts.customer_360 as c on o.customer_id = c.customer_id
        where o.is_completed
        group by all""",
    ).set_index("month")
    _compare(
        got,
        want,
        {"returning_customers": "returning", "purchase_frequency": "frequency", "margin": "margin"},
    )


def test_cohort_and_value_metrics_equal_the_customer_marts(built: Env, layer: Metrics):
    got = _by(layer, COHORTS, ["customer__first_order_date__month"])
    want = _marts(
        built,
        """select cast(date_trunc('month', first_order_date) as date) as cohort,
            avg(case when n_orders >= 2 then 1.0 else 0.0 end) as repeat_rate,
            sum(case when n_orders >= 2 then 1 else 0 end) as repeaters
        from marts.customer_value group by all""",
    ).set_index("cohort")
    _compare(got, want, {"repeat_rate": "repeat_rate", "repeat_customers": "repeaters"})

    got = _by(layer, VALUE, ["customer__value_tier"])
    want = _marts(
        built,
        """select value_tier, sum(predicted_clv) as clv, sum(total_value) as value
        from marts.customer_clv where value_tier is not null group by all""",
    ).set_index("value_tier")
    _compare(got, want, {"predicted_clv": "clv", "total_value": "value"})
    assert "negative" in got.index  # the tier of customers who cost more than they bring

    got = _by(layer, ["revenue", "buying_customers"], ["metric_time__year", "customer__region"])
    want = _marts(
        built,
        """select cast(date_trunc('year', o.order_date) as date) as year, c.region,
            sum(o.order_total_base) as revenue, count(distinct o.customer_id) as buyers
        from marts.fct_orders as o
        inner join marts.customer_360 as c on o.customer_id = c.customer_id
        where o.is_completed and c.region is not null
        group by all""",
    )
    pairs = {"revenue": "revenue", "buying_customers": "buyers"}
    _compare(got, want.set_index(["year", "region"]), pairs)


def test_service_metrics_equal_service_kpis(built: Env, layer: Metrics):
    pairs = SERVICE
    got = _by(layer, list(pairs), ["metric_time__month"])
    want = _marts(
        built,
        "select * from marts.service_kpis where breakdown = 'month' and n_interactions > 0",
    ).set_index("opened_month")
    _compare(got, want, pairs)


def test_campaign_metrics_equal_campaign_performance(built: Env, layer: Metrics):
    pairs = CAMPAIGNS
    got = _by(layer, list(pairs), ["campaign"])
    want = _marts(built, "select * from marts.campaign_performance").set_index("campaign_id")
    _compare(got, want, pairs)


def test_every_metric_is_checked_and_the_file_is_only_read(built: Env, layer: Metrics):
    assert {m["name"] for m in layer.list()} == CHECKED
    before = os.stat(built.warehouse)
    with _ro(built.warehouse) as reader:  # a reader beside the semantic layer's connection
        assert reader.execute("select count(*) from marts.fct_orders").fetchone()[0] > 0
        layer.query(["revenue"], ["metric_time__year"])
    after = os.stat(built.warehouse)
    assert (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size)


def test_the_command_answers_in_csv_and_explains_bad_requests(built: Env):
    result = built.crm(
        "metrics", "query", "--metrics", "orders,revenue", "--group-by", "customer__value_tier",
        "--order-by", "customer__value_tier", "--csv",
    )  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    want = _marts(
        built,
        """select c.value_tier, count(*) as orders from marts.fct_orders as o
        inner join marts.customer_360 as c on o.customer_id = c.customer_id
        where o.is_completed and c.value_tier = 'top' group by all""",
    )
    top = next(r for r in rows if r["customer__value_tier"] == "top")
    assert int(float(top["orders"])) == int(want["orders"][0])

    bad = built.crm("metrics", "query", "--metrics", "revenu", check=False)
    assert bad.returncode == 2 and "revenue" in bad.stderr  # the suggestion
    sql = built.crm("metrics", "query", "--metrics", "revenue", "--explain").stdout
    assert "marts" in sql and "fct_orders" in sql
    listed = built.crm("metrics", "list").stdout
    assert "cost_per_incremental_customer" in listed
    dimensions = built.crm("metrics", "dimensions", "--metrics", "revenue").stdout.split()
    assert {"metric_time__month", "customer__value_tier", "order__channel", "customer"} <= set(
        dimensions
    )
