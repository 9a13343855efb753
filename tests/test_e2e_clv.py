"""End to end: the CLV marts of a warehouse built from generated data, recomputed.

The fits are repeated in Python on the per-customer rows of customer_value
(uncollapsed, so independent of the SQL grouping into tuples); predictions,
expected spend, value tiers and the backtest are recomputed with pandas and the
per-customer functions of crm.clv.btyd from the purchase days.
"""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import numpy as np
import pandas as pd
import pytest

from crm.clv import btyd, pipeline
from tests.conftest import Env

AS_OF = dt.date(2025, 12, 31)
HOLDOUT = 182
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Env:
    env = Env(tmp_path_factory.mktemp("e2e_clv"))
    env.crm("generate", "--customers", "1000", "--seed", "5", "--truth", str(env.truth))
    env.crm("refresh")
    return env


def _read(env: Env, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(env.warehouse), read_only=True) as con:
        return con.sql(sql).df()


def _params(params: pd.DataFrame, fit: str, model: str) -> dict[str, float]:
    rows = params[(params["fit"] == fit) & (params["model"] == model)]
    return dict(zip(rows["parameter"], rows["value"], strict=True))


def test_fits_equal_a_refit_on_per_customer_rows(built: Env):
    params = _read(built, "select * from marts.clv_model_params")
    value = _read(built, "select * from marts.customer_value")
    assert set(params.loc[params["model"] != "value", "status"]) == {"converged"}
    refit = btyd.fit_bgnbd(value["frequency"], value["recency_days"], value["t_days"])
    repeat = value[value["frequency"] > 0]
    regg = btyd.fit_gamma_gamma(repeat["frequency"], repeat["monetary_value"].astype(float))
    for fit, model in ((refit, "bgnbd"), (regg, "gamma_gamma")):
        stored = _params(params, "current", model)
        for name, v in fit.params.items():
            assert stored[name] == pytest.approx(v, rel=1e-4), (model, name)
        row = params[(params["fit"] == "current") & (params["model"] == model)].iloc[0]
        assert row["n_customers"] == round(fit.n_customers)
        assert row["log_likelihood"] == pytest.approx(fit.log_likelihood, rel=1e-9)
    tuples = value.groupby(["frequency", "recency_days", "t_days"]).ngroups
    assert (
        params.loc[(params["fit"] == "current") & (params["model"] == "bgnbd"), "n_tuples"]
        .eq(tuples)
        .all()
    )


def test_customer_clv_recomputed(built: Env):
    params = _read(built, "select * from marts.clv_model_params")
    clv = _read(built, "select * from marts.customer_clv")
    value = _read(built, "select customer_id, monetary_value from marts.customer_value")
    bg, gg = _params(params, "current", "bgnbd"), _params(params, "current", "gamma_gamma")
    settings = _params(params, "current", "value")
    assert settings["horizon_days"] == 365 and settings["annual_discount_rate"] == 0.10
    assert clv["customer_id"].is_unique

    buyers = clv[clv["frequency"].notna()].merge(value, on="customer_id")
    assert len(buyers) == len(value)  # every completed buyer, plus returns/cancel-only buyers
    x, t_x, T = (
        buyers[c].astype(float).to_numpy() for c in ("frequency", "recency_days", "t_days")
    )
    np.testing.assert_allclose(buyers["p_alive"], btyd.bgnbd_p_alive(bg, x, t_x, T), rtol=1e-9)
    expected = btyd.bgnbd_expected_purchases(bg, 365, x, t_x, T)
    np.testing.assert_allclose(buyers["expected_purchases"], expected, rtol=1e-9)
    m_x = buyers["monetary_value"].astype(float).fillna(0).to_numpy()
    spend = btyd.gamma_gamma_expected_spend(gg, np.where(m_x > 0, x, 0), m_x)
    np.testing.assert_allclose(buyers["expected_spend"], spend, rtol=1e-9)
    discounted = pipeline.predict_tuples(bg, x, t_x, T, [365], 0.10)["discounted"]
    np.testing.assert_allclose(
        buyers["predicted_clv"], discounted * spend * settings["margin_rate"], rtol=1e-9
    )
    others = clv[clv["frequency"].isna()]
    assert others["p_alive"].isna().all() and (others["historical_revenue"] == 0).all()

    # Netting and the total.
    net = (
        clv["historical_margin"] - clv["returns_cost"] - clv["service_cost"] - clv["marketing_cost"]
    ).astype(float)
    np.testing.assert_allclose(clv["net_historical_value"].astype(float), net, atol=1e-3)
    total = net + clv["predicted_clv"].fillna(0)
    np.testing.assert_allclose(clv["total_value"].astype(float), total, atol=1e-3)

    # Tiers: rank the non-negative by total value (ties by id) against the default shares.
    valued = clv[clv["total_value"] >= 0].sort_values(
        ["total_value", "customer_id"], ascending=[False, True]
    )
    rank = np.arange(1, len(valued) + 1)
    want = np.select(
        [rank <= 0.05 * len(valued), rank <= 0.20 * len(valued), rank <= 0.50 * len(valued)],
        ["top", "high", "medium"],
        "low",
    )
    assert list(valued["value_tier"]) == list(want)
    assert list(valued["value_rank"]) == list(rank)
    negative = clv[clv["total_value"] < 0]
    assert len(negative) > 0 and (negative["value_tier"] == "negative").all()

    # Other horizons: the same functions over 90 and 730 days.
    horizons = _read(built, "select * from marts.customer_clv_horizons")
    assert sorted(horizons["horizon_days"].unique()) == [90, 365, 730]
    h90 = horizons[horizons["horizon_days"] == 90].merge(buyers, on="customer_id")
    np.testing.assert_allclose(
        h90["expected_purchases_x"],
        btyd.bgnbd_expected_purchases(bg, 90, h90["frequency"], h90["recency_days"], h90["t_days"]),
        rtol=1e-9,
    )


def test_backtest_recomputed_from_purchase_days(built: Env):
    days = _read(
        built,
        "select customer_id, order_date, revenue from intermediate.int_customer_purchase_days",
    )
    days["order_date"] = pd.to_datetime(days["order_date"]).dt.date
    cal_end = AS_OF - dt.timedelta(days=HOLDOUT)
    cal = days[days["order_date"] <= cal_end].groupby("customer_id")["order_date"]
    summary = pd.DataFrame({"first": cal.min(), "last": cal.max(), "n": cal.count()})
    summary["x"] = summary["n"] - 1
    summary["t_x"] = [d.days for d in summary["last"] - summary["first"]]
    summary["T"] = [(cal_end - d).days for d in summary["first"]]
    hold = days[(days["order_date"] > cal_end) & days["customer_id"].isin(summary.index)]
    summary["actual"] = hold.groupby("customer_id").size().reindex(summary.index).fillna(0)

    params = _read(built, "select * from marts.clv_model_params")
    bg = _params(params, "backtest", "bgnbd")
    refit = btyd.fit_bgnbd(summary["x"], summary["t_x"], summary["T"])
    for name, v in refit.params.items():
        assert bg[name] == pytest.approx(v, rel=1e-4), name
    x, t_x, T = (summary[c].astype(float).to_numpy() for c in ("x", "t_x", "T"))
    summary["pred"] = btyd.bgnbd_expected_purchases(bg, HOLDOUT, x, t_x, T)

    mart = _read(built, "select * from marts.clv_backtest")
    by_freq = mart[mart["breakdown"] == "frequency"].set_index("bucket_order").sort_index()
    buckets = summary.groupby(np.minimum(summary["x"], 7))
    np.testing.assert_array_equal(by_freq["n_customers"], buckets.size())
    np.testing.assert_array_equal(by_freq["actual_purchases"], buckets["actual"].sum())
    np.testing.assert_allclose(by_freq["predicted_purchases"], buckets["pred"].sum(), rtol=1e-9)
    assert list(by_freq["bucket"]) == ["0", "1", "2", "3", "4", "5", "6", "7+"]

    weeks = mart[mart["breakdown"] == "week"].set_index("bucket_order").sort_index()
    assert list(weeks.index) == list(range(1, 27))
    week_of = np.array([((d - cal_end).days - 1) // 7 + 1 for d in hold["order_date"]])
    actual_weeks = pd.Series(week_of).value_counts().reindex(range(1, 27)).fillna(0)
    np.testing.assert_array_equal(weeks["actual_purchases"], actual_weeks)
    ends = np.minimum(np.arange(0, 27) * 7, HOLDOUT)
    cumulative = np.array([btyd.bgnbd_expected_purchases(bg, e, x, t_x, T).sum() for e in ends])
    np.testing.assert_allclose(weeks["predicted_purchases"], np.diff(cumulative), rtol=1e-8)

    report = _read(built, "select * from marts.clv_backtest_summary")
    assert len(report) == 1
    row = report.iloc[0]
    assert row["n_customers"] == len(summary)
    err = summary["pred"] - summary["actual"]
    assert row["mae_per_customer"] == pytest.approx(err.abs().mean(), rel=1e-9)
    assert row["rmse_per_customer"] == pytest.approx(np.sqrt((err**2).mean()), rel=1e-9)
    assert row["actual_purchases"] == summary["actual"].sum()
    corr = np.corrcoef(summary["pred"], summary["actual"])[0, 1]
    assert row["correlation"] == pytest.approx(corr, rel=1e-9)
    baseline = np.where(T > 0, x / np.where(T > 0, T, 1) * HOLDOUT, 0.0)
    base_mae = np.abs(baseline - summary["actual"]).mean()
    assert row["baseline_mae_per_customer"] == pytest.approx(base_mae, rel=1e-9)


def test_fit_facts_are_asset_metadata(built: Env):
    import dagster as dg

    params = _read(built, "select * from marts.clv_model_params")
    instance = dg.DagsterInstance.from_config(str(built.home / "dagster"))
    try:
        for key in (["intermediate", "int_clv_fits"], ["marts", "clv_model_params"]):
            event = instance.get_latest_materialization_event(dg.AssetKey(key))
            assert event is not None, key
            metadata = event.asset_materialization.metadata
            for model in ("bgnbd", "gamma_gamma"):
                for name, v in _params(params, "current", model).items():
                    assert metadata[f"current.{model}.{name}"].value == pytest.approx(v, rel=1e-5)
            assert metadata["current.bgnbd.status"].value == "converged"
            assert metadata["backtest.bgnbd.customers"].value > 0
    finally:
        instance.dispose()


def test_unconverged_fits_are_skipped_warned_or_block_and_little_data_skips(crm_env: Env):
    crm_env.crm("generate", "--customers", "300", "--seed", "6", "--truth", str(crm_env.truth))

    def refresh(check=True, **dbt_vars):
        return crm_env.crm("refresh", check=check, CRM_DBT_VARS=json.dumps(dbt_vars))

    # skip (the default): published with the estimates shown but unused, and a warning.
    skipped = refresh(clv_max_iterations=2)
    assert "WARNING: the CLV current.bgnbd fit did not converge" in skipped.stderr
    params = _read(crm_env, "select * from marts.clv_model_params where fit = 'current'")
    fitted = params[params["model"] != "value"]
    assert set(fitted["status"]) == {"not_converged"} and not fitted["is_used"].any()
    assert fitted["value"].notna().all() and (fitted["iterations"] <= 2).all()
    clv = _read(crm_env, "select * from marts.customer_clv")
    assert clv["p_alive"].isna().all() and clv["predicted_clv"].isna().all()
    before = crm_env.warehouse.stat().st_ino

    # error: the refresh fails, naming the fit; the previous warehouse stays.
    failed = refresh(check=False, clv_max_iterations=2, clv_on_fit_failure="error")
    assert failed.returncode == 1
    assert "CLV model fit failed" in failed.stderr
    assert "current bgnbd fit did not converge" in failed.stderr
    assert crm_env.warehouse.stat().st_ino == before

    # warn: published from the unconverged estimates, flagged.
    refresh(clv_max_iterations=2, clv_on_fit_failure="warn")
    params = _read(crm_env, "select * from marts.clv_model_params where model = 'bgnbd'")
    assert params["is_used"].all() and set(params["status"]) == {"not_converged"}
    assert _read(crm_env, "select * from marts.customer_clv")["p_alive"].notna().any()

    # Too little data: skipped, not failed; the marts that need the fits are empty.
    refresh(clv_min_customers=1_000_000)
    params = _read(crm_env, "select * from marts.clv_model_params where model <> 'value'")
    assert set(params["status"]) == {"skipped"} and params["value"].isna().all()
    assert "1,000,000" in params["message"].iloc[0]
    clv = _read(crm_env, "select * from marts.customer_clv")
    assert len(clv) > 0 and clv["p_alive"].isna().all() and clv["value_tier"].notna().all()
    for table in ("clv_backtest", "clv_backtest_summary", "customer_clv_horizons"):
        assert _read(crm_env, f"select count(*) as n from marts.{table}")["n"][0] == 0
