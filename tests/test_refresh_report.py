"""The refresh report's parts: charts carry the values they draw, the CLV matrices
match the BG/NBD formulas written out here, and `crm report` explains a missing
warehouse. The page over a real warehouse is checked end to end in test_e2e.py."""

from __future__ import annotations

import math
import re

import pytest

from crm import charts
from crm.refresh_report import clv_matrices, frequency_grid, recency_grid
from tests.conftest import Env

PARAMS = {"r": 0.48, "alpha": 25.5, "a": 1.17, "b": 5.32}  # a demo fit's size


def _values(svg: str) -> list[float]:
    return [float(v) for v in re.findall(r'data-value="([^"]+)"', svg)]


def test_charts_carry_each_value_and_escape_labels():
    bars = charts.hbar_chart([("<b>top</b>", 120.5), ("negative", -30.0)], label="x")
    assert _values(bars) == [120.5, -30.0]
    assert "<b>" not in bars and "&lt;b&gt;top&lt;/b&gt;" in bars
    assert 'class="neg"' in bars  # a negative value is drawn left of zero, in red
    cells = charts.heatmap(["a", "b"], ["0", "1"], [[0.5, None], [1.0, 0.25]], label="m")
    assert _values(cells) == [0.5, 1.0, 0.25]  # the empty cell draws nothing
    lines = charts.line_chart(["w1", "w2"], [("p", [1.0, None], "bar")], label="l")
    assert _values(lines) == [1.0]
    forest = charts.interval_chart([("c", 0.1, -0.2, 0.3), ("d", None, None, None)], label="f")
    assert _values(forest) == [0.1] and "n/a" in forest
    boxes = charts.box_chart([("t", [1, 2, 3, 4, 5])], label="b")
    assert _values(boxes) == [3.0]  # the median


def test_axis_ranges_hold_every_value_on_whole_steps():
    for values in ([0.3, 7.2], [-356.8, 2228.0], [5.0], [], [-1e-9, 1e-9]):
        lo, hi, step = charts.nice_range(values)
        assert lo <= min(values + [0.0]) and hi >= max(values + [0.0]) and hi > lo
        assert math.isclose(round((hi - lo) / step), (hi - lo) / step)


def test_grids_are_bounded_and_start_at_zero():
    grid = recency_grid(1095)
    assert grid[0] == 0 and grid[-1] == 1095 and len(grid) == 13
    assert all(0 < b - a <= 92 for a, b in zip(grid, grid[1:], strict=False))  # even steps
    assert recency_grid(5)[0] == 0 and recency_grid(5)[-1] == 5
    assert frequency_grid(3) == [0, 1, 2, 3, 4, 5]  # at least 0..5
    big = frequency_grid(200)
    assert len(big) <= 20 and big[0] == 0 and big[-1] == 200


def test_clv_matrices_follow_the_bgnbd_formulas():
    """P(alive) against its closed form (Fader, Hardie & Lee 2005, eq. 13), written here
    independently; expected purchases against properties the model must have."""
    r, alpha, a, b = PARAMS["r"], PARAMS["alpha"], PARAMS["a"], PARAMS["b"]
    t_max, horizon = 1095, 365.0
    expected, alive = clv_matrices(PARAMS, t_max, 27, horizon)
    for i, x in enumerate(alive.frequencies):
        for j, t_x in enumerate(alive.recencies):
            cell = alive.values[i][j]
            if (x > 0) != (t_x > 0):
                assert cell is None and expected.values[i][j] is None  # cannot occur
                continue
            if x == 0:
                want = 1.0
            else:
                want = 1 / (1 + a / (b + x - 1) * ((alpha + t_max) / (alpha + t_x)) ** (r + x))
            assert cell == pytest.approx(want, rel=1e-9)
    # A customer silent for three years expects fewer purchases than a brand-new one,
    # E[X(t)] = (a+b-1)/(a-1) * (1 - (alpha/(alpha+t))^r * 2F1(r, b; a+b-1; t/(alpha+t))),
    # which is below the same without the 2F1 term (2F1 >= 1 here)
    new_customer = (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + horizon)) ** r)
    assert 0 < expected.values[0][0] < new_customer
    # more purchases at the same recency late in the window: more expected; an early
    # last purchase with many repeat purchases means the customer has likely left
    last = expected.values
    assert last[5][-1] > last[1][-1] and last[5][1] < last[1][1]


def test_report_without_a_warehouse_says_what_to_do(crm_env: Env):
    result = crm_env.crm("report", check=False)
    assert result.returncode == 2
    assert "no published warehouse" in result.stderr and "crm refresh" in result.stderr
    assert not (crm_env.warehouse.parent / "refresh_report.html").exists()


def test_a_warehouse_without_orders_still_gets_a_page():
    """A first refresh with contacts only: every section says what is missing."""
    from crm.refresh_report import ReportData, render

    empty = ReportData(
        info={"as_of": "2025-12-31", "run_id": "r1"},
        currency="EUR",
        kpis=[],
        service=[],
        rfm=[],
        tiers=[],
        lifecycle=[],
        stages=[],
        cohorts=[],
        backtest=[],
        backtest_summary=None,
        bgnbd=None,
        bgnbd_status="skipped: too few customers",
        horizon_days=365.0,
        customers_btyd={"t_max": None, "frequency_p99": None, "customers": 0},
        campaigns=[],
    )
    page = render(empty)
    assert "No complete month yet." in page and "No cohorts yet." in page
    assert "No usable BG/NBD fit (skipped: too few customers)" in page
    assert "No backtest" in page and "No campaigns." in page
    assert page.count("<section") == 7
