"""The refresh report: one offline HTML page on what the published warehouse says.

Written beside the analytics warehouse after every publication (the Dagster asset
`refresh_report`) and on demand by `crm report`. It reads the published marts
read-only and holds aggregates only (no customer row, no personal data):

- the KPIs of the last complete month against the month before (crm_kpis_monthly,
  service_kpis);
- RFM segments: size, revenue and value (customer_rfm, customer_clv);
- value tiers, the negative tier included, and the distribution of total value in
  each (customer_clv);
- lifecycle movement since the previous snapshot (customer_lifecycle);
- the cohort retention heatmap (cohort_retention);
- the CLV diagnostics lifetimes and pymc-marketing users look for: the
  frequency/recency matrix of expected purchases and the probability-alive matrix
  (the BG/NBD fit of clv_model_params, evaluated by crm.clv.btyd), predicted CLV by
  value tier, and the backtest's
  predicted against actual purchases per holdout week and per calibration frequency
  (clv_backtest, clv_backtest_summary);
- campaign lift with its interval (campaign_performance).

Charts are inline SVG (crm.charts): no JavaScript, no external resource; the page is
the same bytes for the same warehouse. Its size depends on the number of cohorts,
segments and campaigns shown (each capped), not on the number of orders.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from crm.charts import (
    CSS,
    box_chart,
    esc,
    fmt_count,
    fmt_number,
    fmt_percent,
    hbar_chart,
    heatmap,
    interval_chart,
    line_chart,
    table,
    write_atomic,
)

REPORT_FILE = "refresh_report.html"
# The page shows at most this many cohorts (the newest) and months since acquisition,
# campaigns (the newest by start) and matrix rows: its size is bounded whatever the data.
MAX_COHORTS = 24
MAX_CAMPAIGNS = 20
MAX_FREQUENCY_ROWS = 20
RECENCY_COLUMNS = 12


class ReportError(RuntimeError):
    """The warehouse cannot make a report (not published, a mart missing): say why."""


def report_path(warehouse: Path) -> Path:
    """Where the report of ``warehouse`` lives: beside it."""
    return Path(warehouse).parent / REPORT_FILE


# -- reading -----------------------------------------------------------------------------


@dataclass
class ReportData:
    """Everything the page shows, read from the published marts."""

    info: dict[str, Any]
    currency: str
    kpis: list[dict[str, Any]]
    service: list[dict[str, Any]]
    rfm: list[dict[str, Any]]
    tiers: list[dict[str, Any]]
    lifecycle: list[dict[str, Any]]
    stages: list[str]
    cohorts: list[dict[str, Any]]
    backtest: list[dict[str, Any]]
    backtest_summary: dict[str, Any] | None
    bgnbd: dict[str, float] | None
    bgnbd_status: str
    horizon_days: float
    customers_btyd: dict[str, Any]
    campaigns: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _float(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def read_data(warehouse: Path) -> ReportData:
    """Read what the page needs from the published ``warehouse`` (read-only)."""
    warehouse = Path(warehouse)
    if not warehouse.exists():
        raise ReportError(f"no published warehouse at {warehouse}: run `crm refresh` first")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return _read(con)
    except duckdb.CatalogException as exc:
        raise ReportError(f"{warehouse} lacks a mart the report reads: {exc}") from exc
    finally:
        con.close()


def _read(con: duckdb.DuckDBPyConnection) -> ReportData:
    info = _rows(
        con,
        "select run_id, as_of, published_at, refresh_mode from meta.warehouse_info "
        "order by published_at desc limit 1",
    )
    currency = con.execute("select any_value(currency) from marts.customer_clv").fetchone()[0]
    kpis = _rows(
        con,
        """select * from marts.crm_kpis_monthly
        where is_complete_month order by month_start desc limit 2""",
    )
    service = _rows(
        con,
        """select opened_month, n_interactions, n_complaints, complaints_per_1000_orders,
            median_resolution_hours, share_resolved, mean_satisfaction
        from marts.service_kpis
        where breakdown = 'month' and is_complete_month
        order by opened_month desc limit 2""",
    )
    rfm = _rows(
        con,
        """select rfm.rfm_segment as segment, count(*) as customers,
            sum(rfm.monetary) as revenue, avg(clv.total_value) as mean_total_value,
            sum(clv.predicted_clv) as predicted_clv
        from marts.customer_rfm as rfm
        left join marts.customer_clv as clv on rfm.customer_id = clv.customer_id
        group by rfm.rfm_segment
        order by customers desc, segment""",
    )
    tiers = _rows(
        con,
        """select value_tier as tier, count(*) as customers, sum(total_value) as total_value,
            sum(predicted_clv) as predicted_clv, min(value_rank) as best_rank,
            quantile_cont(total_value, [0.1, 0.25, 0.5, 0.75, 0.9]) as total_value_quantiles,
            quantile_cont(predicted_clv, [0.1, 0.25, 0.5, 0.75, 0.9]) as predicted_quantiles
        from marts.customer_clv
        where value_tier is not null
        group by value_tier
        order by min(total_value) < 0, best_rank nulls last, tier""",
    )
    lifecycle = _rows(
        con,
        """select previous_lifecycle_stage as from_stage, lifecycle_stage as to_stage,
            lifecycle_movement as movement, any_value(previous_snapshot_date) as since,
            count(*) as customers
        from marts.customer_lifecycle
        group by all order by all""",
    )
    stages = [
        row[0]
        for row in con.execute(
            "select lifecycle_stage from marts.customer_lifecycle "
            "group by lifecycle_stage order by min(stage_rank), lifecycle_stage"
        ).fetchall()
    ]
    cohorts = _rows(
        con,
        f"""with newest as (
            select distinct cohort_month from marts.cohort_retention
            where cohort_dimension = 'all'
            order by cohort_month desc limit {MAX_COHORTS}
        )
        select cohort_month, months_since_acquisition, cohort_size, retention_rate,
            is_complete_month
        from marts.cohort_retention
        where cohort_dimension = 'all'
            and cohort_month in (select cohort_month from newest)
            and months_since_acquisition < {MAX_COHORTS}
        order by cohort_month, months_since_acquisition""",
    )
    backtest = _rows(
        con,
        """select breakdown, bucket, bucket_order, n_customers, predicted_purchases,
            actual_purchases, error
        from marts.clv_backtest order by breakdown, bucket_order""",
    )
    summary = _rows(con, "select * from marts.clv_backtest_summary")
    params = _rows(
        con,
        """select model, parameter, value, status, is_used, message
        from marts.clv_model_params where fit = 'current'""",
    )
    bgnbd_rows = [p for p in params if p["model"] == "bgnbd"]
    usable = bgnbd_rows and all(p["is_used"] and p["value"] is not None for p in bgnbd_rows)
    bgnbd = {p["parameter"]: float(p["value"]) for p in bgnbd_rows} if usable else None
    if bgnbd_rows:
        status = bgnbd_rows[0]["status"] + (
            f": {bgnbd_rows[0]['message']}" if bgnbd_rows[0]["message"] else ""
        )
    else:
        status = "no BG/NBD fit in clv_model_params"
    horizon = next((float(p["value"]) for p in params if p["parameter"] == "horizon_days"), 365.0)
    btyd = _rows(
        con,
        """select max(t_days) as t_max,
            quantile_disc(frequency, 0.99) as frequency_p99,
            count(frequency) as customers
        from marts.customer_clv where frequency is not null""",
    )[0]
    campaigns = _rows(
        con,
        f"""select campaign_id, campaign_name, channel, started_at, lift_outcome,
            lift_confidence, n_treatment, n_control, conversion_rate,
            control_conversion_rate, purchase_rate, control_purchase_rate,
            lift, lift_lower, lift_upper, incremental_customers, incremental_revenue,
            cost_per_incremental_customer, is_window_complete
        from marts.campaign_performance
        order by started_at desc nulls last, campaign_id
        limit {MAX_CAMPAIGNS}""",
    )
    return ReportData(
        info=info[0] if info else {},
        currency=currency or "",
        kpis=kpis,
        service=service,
        rfm=rfm,
        tiers=tiers,
        lifecycle=lifecycle,
        stages=stages,
        cohorts=cohorts,
        backtest=backtest,
        backtest_summary=summary[0] if summary else None,
        bgnbd=bgnbd,
        bgnbd_status=status,
        horizon_days=horizon,
        customers_btyd=btyd,
        campaigns=campaigns,
    )


# -- the CLV matrices --------------------------------------------------------------------


@dataclass(frozen=True)
class Matrix:
    """Model values over a grid of (frequency, recency) for customers of age ``t_max``."""

    frequencies: list[int]
    recencies: list[int]
    values: list[list[float | None]]


def recency_grid(t_max: int, columns: int = RECENCY_COLUMNS) -> list[int]:
    """0 and ``columns`` evenly spaced recencies up to ``t_max`` days (distinct, sorted)."""
    return sorted({round(j * t_max / columns) for j in range(columns + 1)})


def frequency_grid(frequency_p99: int, rows: int = MAX_FREQUENCY_ROWS) -> list[int]:
    """Frequencies 0 .. the 99th percentile (at least 5), at most ``rows`` of them."""
    top = max(int(frequency_p99 or 0), 5)
    if top + 1 <= rows:
        return list(range(top + 1))
    return sorted({round(i * top / (rows - 1)) for i in range(rows)})


def clv_matrices(params: dict[str, float], t_max: int, frequency_p99: int, horizon: float):
    """(expected purchases in ``horizon`` days, P(alive)) over the grid, the way
    lifetimes' plot_frequency_recency_matrix and plot_probability_alive_matrix draw
    them: every cell a customer whose first purchase was ``t_max`` days before as_of.
    Cells that cannot occur (repeat purchases at recency 0, none at a later recency)
    stay empty."""
    from crm.clv.btyd import bgnbd_expected_purchases, bgnbd_p_alive

    freqs, recs = frequency_grid(frequency_p99), recency_grid(t_max)
    cells = [(i, j) for i, f in enumerate(freqs) for j, r in enumerate(recs) if (f > 0) == (r > 0)]
    x = np.array([freqs[i] for i, _ in cells], dtype=float)
    t_x = np.array([recs[j] for _, j in cells], dtype=float)
    T = np.full_like(x, float(t_max))
    expected = bgnbd_expected_purchases(params, horizon, x, t_x, T)
    alive = bgnbd_p_alive(params, x, t_x, T)

    def grid(values: np.ndarray) -> list[list[float | None]]:
        out: list[list[float | None]] = [[None] * len(recs) for _ in freqs]
        for (i, j), value in zip(cells, values, strict=True):
            out[i][j] = float(value)
        return out

    return Matrix(freqs, recs, grid(expected)), Matrix(freqs, recs, grid(alive))


# -- rendering ---------------------------------------------------------------------------


def _money(currency: str):
    def fmt(x: float | None) -> str:
        return fmt_number(_float(x), 0) + (f" {currency}" if currency and x is not None else "")

    return fmt


def _pp(x: float | None) -> str:
    """A difference of two rates in percentage points."""
    x = _float(x)
    return "n/a" if x is None else f"{100 * x:+.1f} pp"


def _section(section_id: str, title: str, note: str, body: str) -> str:
    return (
        f'<section id="{section_id}"><h2>{esc(title)}</h2>'
        f'<p class="note">{note}</p>{body}</section>'
    )


KPI_ROWS = (
    # (column, label, kind): kind picks the format and how the change is said
    ("n_new_customers", "new customers", "count"),
    ("n_active_customers", "active customers (bought in the KPI window)", "count"),
    ("n_buying_customers", "buying customers", "count"),
    ("n_orders", "orders", "count"),
    ("total_purchase_amount", "revenue", "money"),
    ("average_order_value", "average order value", "money2"),
    ("purchase_frequency", "purchase frequency (orders per active customer)", "ratio"),
    ("retention_rate", "retention rate", "rate"),
    ("churn_rate", "churn rate", "rate"),
    ("top_tier_revenue_share", "revenue share of the top value tier", "rate"),
)
SERVICE_ROWS = (
    ("n_interactions", "service interactions", "count"),
    ("n_complaints", "complaints", "count"),
    ("complaints_per_1000_orders", "complaints per 1,000 orders", "ratio"),
    ("median_resolution_hours", "median resolution time (hours)", "ratio"),
    ("share_resolved", "share resolved", "rate"),
    ("mean_satisfaction", "mean satisfaction score", "ratio"),
)


def _kpi_cell(value: Any, kind: str, currency: str) -> str:
    value = _float(value)
    if kind == "count":
        return fmt_count(None if value is None else int(value))
    if kind == "money":
        return _money(currency)(value)
    if kind == "money2":
        return fmt_number(value, 2) + (f" {currency}" if value is not None else "")
    if kind == "rate":
        return fmt_percent(value)
    return fmt_number(value, 2)


def _change(now: Any, before: Any, kind: str) -> tuple[str, str]:
    now, before = _float(now), _float(before)
    if now is None or before is None:
        return "n/a", "n/a"
    if kind == "rate":
        return _pp(now - before), ""
    relative = fmt_percent((now - before) / before) if before else "n/a"
    digits = 0 if kind in ("count", "money") else 2
    return f"{now - before:+,.{digits}f}", relative


def _kpi_section(data: ReportData) -> str:
    if not data.kpis:
        return _section("kpis", "KPIs of the month", "No complete month yet.", "")
    now = data.kpis[0]
    before = data.kpis[1] if len(data.kpis) > 1 else {}
    svc_now = data.service[0] if data.service else {}
    svc_before = data.service[1] if len(data.service) > 1 else {}
    if svc_now and svc_now["opened_month"] != now["month_start"]:
        svc_now, svc_before = {}, {}  # a service month that is not the KPI month
    rows = []
    for source, prev, spec in ((now, before, KPI_ROWS), (svc_now, svc_before, SERVICE_ROWS)):
        for column, label, kind in spec:
            value, previous = source.get(column), prev.get(column)
            change, relative = _change(value, previous, kind)
            rows.append(
                [
                    esc(label),
                    f'<span data-kpi="{esc(column)}">{esc(_kpi_cell(value, kind, data.currency))}'
                    "</span>",
                    esc(_kpi_cell(previous, kind, data.currency)),
                    esc(change),
                    esc(relative),
                ]
            )
    month = esc(now["month_label"])
    previous_label = esc(before.get("month_label", "n/a"))
    return _section(
        "kpis",
        f"KPIs of {now['month_label']}",
        f"The last complete month ({month}) against the month before ({previous_label}), "
        "from <code>crm_kpis_monthly</code> and <code>service_kpis</code> (breakdown "
        "'month'). Active, frequency and retention look back over the KPI window (dbt var "
        "<code>kpi_active_months</code>); definitions: the mart reference. Rates change in "
        "percentage points (pp).",
        table(["KPI", month, previous_label, "change", "change %"], rows, {1, 2, 3, 4}),
    )


def _rfm_section(data: ReportData) -> str:
    total = sum(r["customers"] for r in data.rfm) or 1
    money = _money(data.currency)
    rows = [
        [
            esc(r["segment"]),
            f'<span data-rfm="{esc(r["segment"])}">{esc(fmt_count(r["customers"]))}</span>',
            esc(fmt_percent(r["customers"] / total)),
            esc(money(r["revenue"])),
            esc(money(r["mean_total_value"])),
            esc(money(r["predicted_clv"])),
        ]
        for r in data.rfm
    ]
    chart = hbar_chart(
        [(r["segment"], float(r["customers"])) for r in data.rfm],
        label="customers per RFM segment",
        fmt=lambda v: fmt_count(None if v is None else int(v)),
    )
    return _section(
        "rfm",
        "RFM segments",
        "Customers with a completed order per segment (<code>customer_rfm</code>), their "
        "revenue, mean total value and summed predicted CLV (<code>customer_clv</code>).",
        chart
        + table(
            ["segment", "customers", "share", "revenue", "mean total value", "predicted CLV"],
            rows,
            {1, 2, 3, 4, 5},
        ),
    )


def _tier_section(data: ReportData) -> str:
    total = sum(r["customers"] for r in data.tiers) or 1
    money = _money(data.currency)
    rows = [
        [
            esc(r["tier"]),
            f'<span data-tier="{esc(r["tier"])}">{esc(fmt_count(r["customers"]))}</span>',
            esc(fmt_percent(r["customers"] / total)),
            f'<span data-tier-value="{esc(r["tier"])}">{esc(money(r["total_value"]))}</span>',
            esc(money(r["predicted_clv"])),
        ]
        for r in data.tiers
    ]
    values = hbar_chart(
        [(r["tier"], _float(r["total_value"])) for r in data.tiers],
        label="total value per value tier",
        fmt=money,
    )
    boxes = box_chart(
        [(r["tier"], [_float(q) for q in r["total_value_quantiles"]]) for r in data.tiers],
        label="distribution of total value per value tier",
        fmt=money,
    )
    return _section(
        "tiers",
        "Value tiers",
        "Customers and their summed total value (net historical value + predicted CLV) per "
        "tier of <code>customer_clv</code>; the negative tier holds customers whose costs "
        "exceed their margin. Below: each tier's distribution of total value (box: 25th to "
        "75th percentile, line: median, whiskers: 10th to 90th).",
        table(["tier", "customers", "share", "total value", "predicted CLV"], rows, {1, 2, 3, 4})
        + values
        + "<h3>Distribution of total value per tier</h3>"
        + boxes,
    )


def _lifecycle_section(data: ReportData) -> str:
    since = next((r["since"] for r in data.lifecycle if r["since"] is not None), None)
    moved = [r for r in data.lifecycle if r["from_stage"] is not None]
    if not moved:
        body = '<p class="note">No earlier snapshot to compare with yet.</p>'
    else:
        from_stages = [s for s in data.stages if any(r["from_stage"] == s for r in moved)]
        to_stages = [s for s in data.stages if any(r["to_stage"] == s for r in data.lifecycle)]
        counts = {(r["from_stage"], r["to_stage"]): r["customers"] for r in moved}
        entered = {r["to_stage"]: r["customers"] for r in data.lifecycle if r["from_stage"] is None}
        values = [[_float(counts.get((f, t))) for t in to_stages] for f in from_stages]
        values.append([_float(entered.get(t)) for t in to_stages])
        body = heatmap(
            [*from_stages, "(not in it)"],
            to_stages,
            values,
            label="customers by lifecycle stage then and now",
            fmt=lambda v: fmt_count(None if v is None else int(v)),
            row_title="stage then",
            col_title="stage now",
            cell=70.0,
        )
    totals: dict[str, int] = {}
    for r in data.lifecycle:
        key = r["movement"] or "none (no purchase yet)"
        totals[key] = totals.get(key, 0) + r["customers"]
    body += table(
        ["movement", "customers"],
        [
            [esc(k), f'<span data-movement="{esc(k)}">{esc(fmt_count(v))}</span>']
            for k, v in sorted(totals.items())
        ],
        {1},
    )
    when = f"the snapshot of {esc(since)}" if since else "the previous snapshot"
    return _section(
        "lifecycle",
        "Lifecycle movement",
        f"Customers by their stage at {when} (rows) and now (columns), from "
        "<code>customer_lifecycle</code>; the last row holds customers not in that "
        "snapshot. Up and down follow the stage order.",
        body,
    )


def _cohort_section(data: ReportData) -> str:
    if not data.cohorts:
        return _section("cohorts", "Cohort retention", "No cohorts yet.", "")
    months = sorted({r["cohort_month"] for r in data.cohorts})
    width = 1 + max(r["months_since_acquisition"] for r in data.cohorts)
    cells = {
        (r["cohort_month"], r["months_since_acquisition"]): _float(r["retention_rate"])
        for r in data.cohorts
    }
    sizes = {r["cohort_month"]: r["cohort_size"] for r in data.cohorts}
    chart = heatmap(
        [f"{m:%Y-%m} ({sizes[m]:,})" for m in months],
        [str(k) for k in range(width)],
        [[cells.get((m, k)) for k in range(width)] for m in months],
        label="share of each cohort buying in each month since acquisition",
        fmt=lambda v: "" if v is None else f"{100 * v:.0f}",
        row_title="cohort (size)",
        col_title="months since acquisition: % of the cohort buying",
        cell=34.0,
    )
    return _section(
        "cohorts",
        "Cohort retention",
        f"The newest {len(months)} acquisition cohorts (<code>cohort_retention</code>, "
        "all customers): the percentage of each cohort that bought in each month since "
        "its first purchase. Month 0 is the acquisition month.",
        chart,
    )


def _clv_section(data: ReportData) -> str:
    parts = []
    horizon = int(data.horizon_days)
    t_max = data.customers_btyd.get("t_max")
    if data.bgnbd is None or not t_max:
        parts.append(
            f'<p class="warn">No usable BG/NBD fit ({esc(data.bgnbd_status)}): no matrices.</p>'
        )
    else:
        expected, alive = clv_matrices(
            data.bgnbd, int(t_max), int(data.customers_btyd["frequency_p99"] or 0), horizon
        )
        rows = [str(f) for f in expected.frequencies]
        cols = [str(r) for r in expected.recencies]
        parts.append(
            f"<h3>Expected repeat purchase days in the next {horizon} days</h3>"
            f'<p class="note">BG/NBD ({", ".join(f"{k} {v:.4g}" for k, v in data.bgnbd.items())}) '
            f"for a customer whose first purchase was {int(t_max):,} days before as_of (the "
            "oldest), by repeat purchase days (rows) and days from first to last purchase "
            "(columns); as lifetimes' frequency/recency matrix.</p>"
            + heatmap(
                rows,
                cols,
                expected.values,
                label="expected purchases by frequency and recency",
                fmt=lambda v: fmt_number(v, 1),
                row_title="frequency",
                col_title="recency (days)",
                cell=44.0,
            )
            + "<h3>Probability of being alive</h3>"
            + heatmap(
                rows,
                cols,
                alive.values,
                label="probability alive by frequency and recency",
                fmt=lambda v: fmt_number(v, 2),
                row_title="frequency",
                col_title="recency (days)",
                cell=44.0,
            )
        )
    if data.tiers:
        money = _money(data.currency)
        parts.append(
            f"<h3>Predicted CLV by value tier</h3>"
            f'<p class="note">Each tier\'s distribution of predicted CLV over the next '
            f"{horizon} days (discounted margin; box: 25th to 75th percentile, line: median, "
            "whiskers: 10th to 90th).</p>"
            + box_chart(
                [
                    (r["tier"], [_float(q) for q in (r["predicted_quantiles"] or [])])
                    for r in data.tiers
                ],
                label="distribution of predicted CLV per value tier",
                fmt=money,
            )
        )
    summary = data.backtest_summary
    weeks = [r for r in data.backtest if r["breakdown"] == "week"]
    freq = [r for r in data.backtest if r["breakdown"] == "frequency"]
    if summary is None or not weeks:
        parts.append('<p class="note">No backtest: too little history before the holdout.</p>')
    else:
        facts = [
            ("calibration end", esc(summary["calibration_end"])),
            ("holdout", f"{esc(summary['holdout_days'])} days to {esc(summary['as_of'])}"),
            ("customers", esc(fmt_count(summary["n_customers"]))),
            (
                "purchases predicted / actual",
                f'<span data-backtest="predicted_purchases">'
                f"{esc(fmt_number(summary['predicted_purchases'], 1))}</span> / "
                f"{esc(fmt_number(summary['actual_purchases'], 0))} "
                f"({esc(fmt_percent(summary['total_relative_error']))} off)",
            ),
            ("weekly MAPE", esc(fmt_percent(summary["weekly_mape"]))),
            (
                "MAE per customer (model / baseline)",
                f"{esc(fmt_number(summary['mae_per_customer'], 3))} / "
                f"{esc(fmt_number(summary['baseline_mae_per_customer'], 3))}",
            ),
            ("correlation per customer", esc(fmt_number(summary["correlation"], 3))),
            ("revenue relative error", esc(fmt_percent(summary["revenue_relative_error"]))),
        ]
        parts.append(
            "<h3>Backtest: predicted against actual</h3>"
            '<p class="note">Models fitted on the calibration period predict the holdout '
            "(<code>clv_backtest</code>, <code>clv_backtest_summary</code>); the baseline "
            "predicts each customer's past rate.</p><dl>"
            + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
            + "</dl>"
            + line_chart(
                [r["bucket"].removeprefix("week ") for r in weeks],
                [
                    ("predicted", [_float(r["predicted_purchases"]) for r in weeks], "bar"),
                    ("actual", [_float(r["actual_purchases"]) for r in weeks], "alt"),
                ],
                label="repeat purchase days per holdout week, predicted and actual",
                y_label="purchase days per holdout week",
                fmt=lambda v: fmt_number(v, 1),
                every=max(1, len(weeks) // 13),
            )
            + line_chart(
                [r["bucket"] for r in freq],
                [
                    ("predicted", [_float(r["predicted_purchases"]) for r in freq], "bar"),
                    ("actual", [_float(r["actual_purchases"]) for r in freq], "alt"),
                ],
                label="holdout purchase days by calibration frequency",
                y_label="holdout purchase days by calibration frequency",
                fmt=lambda v: fmt_number(v, 1),
            )
        )
    return _section(
        "clv",
        "CLV diagnostics",
        "How the lifetime value models see the customer base and how well they predicted a "
        "period they did not see. Conventions: the BTYD block of the docs.",
        "".join(parts),
    )


def _campaign_section(data: ReportData) -> str:
    if not data.campaigns:
        return _section("campaigns", "Campaign lift", "No campaigns.", "")
    money = _money(data.currency)
    rows, chart_rows = [], []
    for c in data.campaigns:
        name = c["campaign_name"] or c["campaign_id"]
        outcome = c["lift_outcome"] or "conversion"
        treated = c["conversion_rate"] if outcome == "conversion" else c["purchase_rate"]
        control = (
            c["control_conversion_rate"] if outcome == "conversion" else c["control_purchase_rate"]
        )
        chart_rows.append(
            (name, _float(c["lift"]), _float(c["lift_lower"]), _float(c["lift_upper"]))
        )
        rows.append(
            [
                esc(name),
                esc(c["channel"]),
                esc(outcome),
                esc(fmt_count(c["n_treatment"])),
                esc(fmt_count(c["n_control"])),
                esc(fmt_percent(_float(treated))),
                esc(fmt_percent(_float(control))),
                f'<span data-lift="{esc(c["campaign_id"])}">{esc(_pp(c["lift"]))}</span>',
                esc(f"{_pp(c['lift_lower'])} to {_pp(c['lift_upper'])}"),
                esc(fmt_number(_float(c["incremental_customers"]), 1)),
                esc(money(c["incremental_revenue"])),
                esc(money(c["cost_per_incremental_customer"])),
                "" if c["is_window_complete"] else "still open",
            ]
        )
    confidence = _float(data.campaigns[0]["lift_confidence"]) or 0.95
    return _section(
        "campaigns",
        "Campaign lift",
        f"Treatment against hold-out control (<code>campaign_performance</code>, the "
        f"{len(data.campaigns)} newest campaigns): the difference in the outcome's rate "
        f"with its {confidence:.0%} interval. An interval that crosses zero shows no "
        "effect the data can tell from chance.",
        interval_chart(
            chart_rows,
            label="lift per campaign with its interval",
            fmt=_pp,
            tick_label=lambda t: f"{100 * t:g} pp",
        )
        + table(
            [
                "campaign",
                "channel",
                "outcome",
                "treated",
                "control",
                "treated rate",
                "control rate",
                "lift",
                "interval",
                "incremental customers",
                "incremental revenue",
                "cost per incremental customer",
                "window",
            ],
            rows,
            {3, 4, 5, 6, 7, 8, 9, 10, 11},
        ),
    )


def render(data: ReportData) -> str:
    """The page (a str), from what read_data read."""
    info = data.info
    as_of = info.get("as_of")
    header = [
        ("as of", esc(as_of)),
        ("published", esc(info.get("published_at"))),
        ("refresh", esc(info.get("refresh_mode"))),
        ("run", esc(info.get("run_id"))),
        ("currency", esc(data.currency)),
    ]
    nav = "".join(
        f'<a href="#{i}">{esc(t)}</a> '
        for i, t in (
            ("kpis", "KPIs"),
            ("rfm", "RFM"),
            ("tiers", "value tiers"),
            ("lifecycle", "lifecycle"),
            ("cohorts", "cohorts"),
            ("clv", "CLV diagnostics"),
            ("campaigns", "campaigns"),
        )
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Refresh report {esc(as_of)}</title>"
        f"<style>{CSS}</style></head><body>"
        f"<h1>Refresh report, as of {esc(as_of)}</h1>"
        '<p class="note">What the published warehouse says after this refresh: aggregates of '
        "the marts only, no personal data.</p><dl>"
        + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in header)
        + f"</dl><nav>{nav}</nav>"
        + _kpi_section(data)
        + _rfm_section(data)
        + _tier_section(data)
        + _lifecycle_section(data)
        + _cohort_section(data)
        + _clv_section(data)
        + _campaign_section(data)
        + "<footer>Made by <code>crm report</code> from the published warehouse; every "
        "refresh writes it anew beside the warehouse.</footer></body></html>\n"
    )


def write_report(warehouse: Path, out: Path | None = None, mode: int = 0o644) -> Path:
    """Write the report of the published ``warehouse`` to ``out`` (default: beside it,
    readable as the warehouse is: CRM_WAREHOUSE_MODE), replacing the old page
    atomically. Returns the page's path."""
    out = Path(out) if out else report_path(warehouse)
    page = render(read_data(warehouse))
    write_atomic(out, page, mode=mode)
    return out


def run(settings, out: str | Path | None = None) -> int:
    """`crm report`: write the refresh report of the published warehouse."""
    try:
        path = write_report(settings.warehouse, Path(out) if out else None, settings.warehouse_mode)
    except (ReportError, duckdb.Error) as exc:
        print(f"crm report: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0
