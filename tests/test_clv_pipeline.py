"""crm.clv.pipeline: the fit decisions and predictions as the refresh runs them.

Predictions are checked against crm.clv.btyd's per-customer functions called row
by row (eq. 10 for each customer, no pairing of (x, T)) and discounting against
a direct month-by-month sum.
"""

from __future__ import annotations

import numpy as np
import pytest

from crm.clv import btyd, pipeline
from tests.test_clv_btyd import TRUE_BGNBD, simulate_bgnbd

PARAMS = {"r": 0.5, "alpha": 25.0, "a": 1.2, "b": 5.0}  # days, like the demo data


def _tuples(n=4000, seed=3):
    rng = np.random.default_rng(seed)
    x, t_x, T, _ = simulate_bgnbd(rng, n, PARAMS["r"], PARAMS["alpha"], 1.2, 5.0, 10, 900)
    T = np.floor(T)
    t_x = np.minimum(np.floor(t_x), T)
    t_x[x == 0] = 0
    return btyd.collapse(x, t_x, T)


def test_predictions_equal_per_customer_expectations():
    x, t_x, T, _ = _tuples()
    out = pipeline.predict_tuples(PARAMS, x, t_x, T, [90, 365], annual_discount_rate=0.0)
    for h in (90, 365):
        rows = out["horizon_days"] == h
        want = np.array(
            [btyd.bgnbd_expected_purchases(PARAMS, h, *c) for c in zip(x, t_x, T, strict=True)]
        )
        np.testing.assert_allclose(out["expected"][rows], want, rtol=1e-10)
        np.testing.assert_allclose(out["p_alive"][rows], btyd.bgnbd_p_alive(PARAMS, x, t_x, T))
        # Without discounting the discounted sum telescopes to the expectation.
        np.testing.assert_allclose(out["discounted"][rows], want, rtol=1e-10)


def test_discounting_is_a_month_by_month_sum():
    x, t_x, T = np.array([0.0, 3.0, 12.0]), np.array([0.0, 40.0, 300.0]), np.array([50.0, 60, 400])
    rate, horizon = 0.10, 365
    out = pipeline.predict_tuples(PARAMS, x, t_x, T, [horizon], annual_discount_rate=rate)
    # Other horizons listed beside it change nothing for this one.
    more = pipeline.predict_tuples(PARAMS, x, t_x, T, [45, horizon, 500], rate)
    np.testing.assert_allclose(
        more["discounted"][more["horizon_days"] == horizon], out["discounted"]
    )
    month = 365.25 / 12
    ends = [month * k for k in range(1, 12)] + [horizon]
    for i in range(x.size):
        cumulative = [0.0] + [
            float(btyd.bgnbd_expected_purchases(PARAMS, t, x[i], t_x[i], T[i])) for t in ends
        ]
        want = sum(
            (cumulative[k + 1] - cumulative[k]) / (1 + rate) ** (ends[k] / 365.25)
            for k in range(len(ends))
        )
        assert out["discounted"][i] == pytest.approx(want, rel=1e-10)
        # Month-end discounting lies between no discount and discounting it all at the horizon.
        assert cumulative[-1] / (1 + rate) ** (horizon / 365.25) < want < cumulative[-1]


def test_cumulative_purchases_by_week():
    x, t_x, T, _ = _tuples(500)
    grid = [7, 14, 21, 26]
    p_alive, cumulative = pipeline.cumulative_purchases(PARAMS, x, t_x, T, grid)
    assert cumulative.shape == (x.size, 4)
    for j, t in enumerate(grid):
        np.testing.assert_allclose(
            cumulative[:, j], btyd.bgnbd_expected_purchases(PARAMS, t, x, t_x, T), rtol=1e-10
        )
    assert np.all(np.diff(cumulative, axis=1) >= 0)


def test_fit_models_fits_skips_and_reports():
    rng = np.random.default_rng(8)
    x, t_x, T, _ = simulate_bgnbd(rng, 20_000, *TRUE_BGNBD.values(), 30, 40)
    cx, ct, cT, w = btyd.collapse(x, t_x, T)
    rep = x > 0
    spend = rng.gamma(6.0, 5.0, rep.sum())
    bg, gg = pipeline.fit_models(cx, ct, cT, w, x[rep], spend, min_customers=100, min_repeaters=20)
    assert bg.status == gg.status == "converged"
    assert bg.result.n_customers == 20_000 and bg.result.n_tuples == cx.size
    assert abs(gg.facts["spend_frequency_correlation"]) < 0.05  # independent by construction
    rows = pipeline.params_rows("current", bg) + pipeline.params_rows("current", gg)
    assert [r["parameter"] for r in rows] == ["r", "alpha", "a", "b", "p", "q", "gamma"]
    assert pipeline.bgnbd_params_from_rows(rows, "current") == bg.result.params
    assert pipeline.bgnbd_params_from_rows(rows, "backtest") is None
    # the facts Dagster shows, read back from the table's rows
    facts = pipeline.facts_from_rows(rows)
    assert facts["current.bgnbd.status"] == "converged"
    assert facts["current.bgnbd.a"] == round(bg.result.params["a"], 6)
    assert facts["current.gamma_gamma.log_likelihood"] == round(gg.result.log_likelihood, 3)
    assert facts["current.bgnbd.customers"] == 20_000
    assert facts["current.bgnbd.tuples"] == cx.size
    assert facts["current.gamma_gamma.iterations"] == gg.result.iterations

    bg, gg = pipeline.fit_models(
        cx, ct, cT, w, x[rep], spend, min_customers=50_000, min_repeaters=20
    )
    assert bg.status == gg.status == "skipped" and "50,000" in bg.message
    rows = pipeline.params_rows("current", bg)
    assert len(rows) == 4 and all(r["value"] is None for r in rows)
    assert pipeline.facts_from_rows(rows) == {
        "current.bgnbd.status": "skipped",
        "current.bgnbd.message": bg.message,
    }
    pipeline.check_fits([("current", bg), ("current", gg)], "error")  # skipped is no failure

    # Non-positive mean spend is left out of the Gamma-Gamma fit, and said so.
    spend[:5] = 0.0
    _, gg = pipeline.fit_models(cx, ct, cT, w, x[rep], spend, min_customers=1, min_repeaters=1)
    assert gg.result.n_customers == rep.sum() - 5 and "5 repeat buyers" in gg.message


def test_non_convergence_fails_clearly_unless_warned():
    x, t_x, T, w = _tuples()
    bg, gg = pipeline.fit_models(
        x,
        t_x,
        T,
        w,
        [1.0] * 30,
        np.linspace(5, 50, 30),
        min_customers=10,
        min_repeaters=10,
        max_iterations=2,
    )
    assert bg.status == "not_converged"
    with pytest.raises(pipeline.ClvFitError) as error:
        pipeline.check_fits([("current", bg), ("current", gg)], "error")
    text = str(error.value)
    assert "current bgnbd fit did not converge" in text and "clv_on_fit_failure" in text
    pipeline.check_fits([("current", bg)], "warn")
    pipeline.check_fits([("current", bg)], "skip")
    assert not any(r["is_used"] for r in pipeline.params_rows("current", bg, "skip"))
    assert all(r["is_used"] for r in pipeline.params_rows("current", bg, "warn"))
    assert pipeline.bgnbd_params_from_rows(pipeline.params_rows("current", bg), "current") is None
    with pytest.raises(ValueError, match="clv_on_fit_failure"):
        pipeline.check_fits([("current", bg)], "ignore")


def test_config_values_must_be_set():
    assert pipeline.config_int("365", "h") == 365 and pipeline.config_float("0.1", "d") == 0.1
    assert (
        pipeline.config_ints("90 365", "h") == [90, 365] == pipeline.config_ints("[90, 365]", "h")
    )
    assert pipeline.config_ints((90, 365), "h") == [90, 365]
    with pytest.raises(ValueError, match="var 'clv_horizon_days'"):
        pipeline.config_int(None, "clv_horizon_days")
