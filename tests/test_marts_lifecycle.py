"""Lifecycle and segment-movement marts against a brute-force recomputation.

Two `dbt build`s of one hand-made raw store (tests/dbt_fixtures.py): the default
settings (quarterly snapshots, P(alive) rule on) and another set (monthly
snapshots, an RFM look-back window, other stage thresholds, P(alive) rule off).
The expected marts are recomputed here customer by customer and date by date
from the raw orders, the fx and segment seeds and the customer mapping, with
plain Python loops: no SQL and nothing read back from the lifecycle models.
P(alive) uses crm.clv.btyd with the published BG/NBD parameters.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from dbt_fixtures import REPO, build_args, create_raw_store, dbt_env, run_dbt
from test_dbt_models import fx_to_eur, latest_versions, ntile, query, read_raw, rfm_segment_rule

from crm.clv import btyd

AS_OF = dt.date(2024, 12, 31)
START = dt.date(2022, 1, 1)


@dataclass(frozen=True)
class Settings:
    period: str = "quarter"
    periods: int = 4
    new_days: int = 90
    active_days: int = 180
    lapsed_days: int = 365
    reactivated_days: int = 90
    at_risk_p_alive: float | None = 0.5
    lapsed_p_alive: float | None = 0.1
    rfm_lookback_days: int | None = None

    def dbt_vars(self) -> dict[str, Any]:
        return {
            "as_of": AS_OF.isoformat(),
            "currency": "EUR",
            "clv_min_customers": 50,
            "clv_min_repeaters": 20,
            # use the estimates even if a fit on this small world stops early
            "clv_on_fit_failure": "warn",
            "segment_movement_period": self.period,
            "segment_movement_periods": self.periods,
            "lifecycle_new_days": self.new_days,
            "lifecycle_active_days": self.active_days,
            "lifecycle_lapsed_days": self.lapsed_days,
            "lifecycle_reactivated_days": self.reactivated_days,
            "lifecycle_at_risk_p_alive": self.at_risk_p_alive,
            "lifecycle_lapsed_p_alive": self.lapsed_p_alive,
            "rfm_lookback_days": self.rfm_lookback_days,
        }


DEFAULT = Settings()
OTHER = Settings(
    period="month",
    periods=3,
    new_days=30,
    active_days=120,
    lapsed_days=240,
    reactivated_days=30,
    at_risk_p_alive=None,
    lapsed_p_alive=0.02,
    rfm_lookback_days=120,
)


# --- the world ------------------------------------------------------------------


def _order(contact: str, order_id: str, day: dt.date, total: str, **extra: Any) -> dict:
    return {
        "order_id": order_id,
        "source_system": "shop",
        "source_contact_id": contact,
        "ordered_at": dt.datetime.combine(day, dt.time(12)),
        "order_total": total,
        **extra,
    }


def world(n_simulated: int = 260, seed: int = 11) -> dict[str, list[dict]]:
    """Buyers known only from their orders (stub customers: nothing to match on),
    simulated BG/NBD-like so the CLV fit has data, plus hand-made histories for
    each lifecycle rule, and contacts that never bought."""
    rng = np.random.default_rng(seed)
    orders: list[dict] = []
    for i in range(n_simulated):
        contact = f"S{i:03d}"
        rate = rng.gamma(0.9, 1 / 40)  # purchases per day
        drop = rng.beta(1.0, 6.0)  # drop-out chance after each purchase
        day = START + dt.timedelta(days=int(rng.integers(0, (AS_OF - START).days + 30)))
        j = 0
        while day <= AS_OF + dt.timedelta(days=45):  # some orders after as_of
            status = str(rng.choice(["completed"] * 18 + ["cancelled", "returned"]))
            currency = "USD" if rng.random() < 0.15 else "EUR"
            total = f"{rng.choice([9.99, 20, 35.5, 60, 120]):.2f}"
            orders.append(
                _order(contact, f"{contact}-{j}", day, total, status=status, currency=currency)
            )
            j += 1
            if rng.random() < 0.2:  # a second order on the same day
                orders.append(_order(contact, f"{contact}-{j}", day, "5.00"))
                j += 1
            if rng.random() < drop:
                break
            day += dt.timedelta(days=max(1, int(rng.exponential(1 / rate))))

    def hand(contact: str, days: list[dt.date]) -> None:
        for k, day in enumerate(days):
            orders.append(_order(contact, f"{contact}-{k}", day, "50.00"))

    d = dt.date
    hand("H_NEW", [d(2024, 11, 20)])
    hand("H_REACT", [d(2022, 3, 1), d(2022, 5, 1), d(2024, 11, 1)])  # back after 2.5 years
    hand("H_RETURN_EDGE", [d(2023, 6, 1), d(2024, 5, 31)])  # 365 days: a return (2024 is leap)
    hand("H_GAP_364", [d(2023, 6, 1), d(2024, 5, 30)])  # 364 days: not a return
    hand("H_LAPSED", [d(2023, 1, 5), d(2023, 6, 1)])
    hand("H_RISK", [d(2024, 3, 1)])
    # weekly for five months, then silent for 158 days: recent, but not by its own rhythm
    hand("H_SILENT", [d(2024, 3, 1) + dt.timedelta(days=7 * k) for k in range(22)])
    hand("H_ONCE", [d(2024, 8, 15), d(2024, 8, 15)])  # two orders, one purchase day
    # a later file cancels H_RISK's second order: it is no purchase
    orders.append(_order("H_RISK", "H_RISK-x", d(2024, 5, 15), "70.00", _load_id="f1"))
    orders.append(
        _order(
            "H_RISK",
            "H_RISK-x",
            d(2024, 5, 15),
            "70.00",
            status="cancelled",
            _load_id="f2",
            _loaded_at=dt.datetime(2024, 6, 1),
        )
    )
    orders.append(
        _order("H_CANCEL_ONLY", "H_CANCEL_ONLY-0", d(2024, 6, 1), "9.00", status="cancelled")
    )
    contacts = [
        {
            "source_system": "web",
            "source_contact_id": f"P{k}",
            "first_name": name,
            "last_name": "Prospect",
            "email": f"{name.lower()}@example.org",
        }
        for k, name in enumerate(["Ada", "Grace"])
    ]
    return {"contacts": contacts, "orders": orders}


# --- builds ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_raw_store(tmp_path_factory.mktemp("lifecycle_raw") / "raw.duckdb", world())


# The marts these tests read, built with their ancestors and their data tests.
LIFECYCLE_MARTS = (
    "customer_lifecycle",
    "customer_segment_history",
    "segment_movement",
    "customer_clv",
    "clv_model_params",
    "customer_rfm",
    "dim_customers",
    "customer_xref",
)


def _build(tmp_path_factory: pytest.TempPathFactory, raw_store: Path, settings: Settings) -> Path:
    workdir = tmp_path_factory.mktemp("lifecycle")
    build_path = workdir / "build.duckdb"
    run_dbt(
        build_args(settings.dbt_vars(), select=LIFECYCLE_MARTS),
        workdir,
        dbt_env(build_path, raw_store),
    )
    return build_path


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory, raw_store: Path) -> dict[Settings, Path]:
    return {s: _build(tmp_path_factory, raw_store, s) for s in (DEFAULT, OTHER)}


# --- the brute force ---------------------------------------------------------------


def snapshot_dates(settings: Settings) -> list[dt.date]:
    """as_of minus k periods, newest first; months keep the day (or the month's end)."""
    dates = []
    for k in range(settings.periods + 1):
        if settings.period == "week":
            dates.append(AS_OF - dt.timedelta(days=7 * k))
            continue
        months = {"month": 1, "quarter": 3, "year": 12}[settings.period] * k
        year, month = divmod(AS_OF.year * 12 + AS_OF.month - 1 - months, 12)
        month += 1
        last = calendar.monthrange(year, month)[1]
        is_month_end = AS_OF.day == calendar.monthrange(AS_OF.year, AS_OF.month)[1]
        dates.append(dt.date(year, month, last if is_month_end else min(AS_OF.day, last)))
    return dates


def purchase_days(raw_store: Path, build_path: Path) -> dict[str, list[tuple]]:
    """customer_id -> sorted [(day, n_orders, revenue)] of completed orders up to as_of."""
    xref = query(
        build_path, "select source_system, source_contact_id, customer_id from marts.customer_xref"
    )
    orders = latest_versions(read_raw(raw_store, "orders"), ["order_id"])
    orders = orders[orders["ordered_at"] < pd.Timestamp(AS_OF + dt.timedelta(days=1))]
    orders = orders[orders["status"].fillna("completed") == "completed"]
    orders = orders.merge(xref, on=["source_system", "source_contact_id"], how="inner")
    rates = fx_to_eur()
    days: dict[str, dict[dt.date, list]] = {}
    for row in orders.itertuples():
        currency = row.currency.upper() if isinstance(row.currency, str) else "EUR"
        amount = (Decimal(str(row.order_total)) * rates[currency] / rates["EUR"]).quantize(
            Decimal("0.0001")
        )
        slot = days.setdefault(row.customer_id, {}).setdefault(
            row.ordered_at.date(), [0, Decimal(0)]
        )
        slot[0] += 1
        slot[1] += amount
    return {c: sorted((day, n, rev) for day, (n, rev) in per.items()) for c, per in days.items()}


def bgnbd_params(build_path: Path) -> tuple[float, ...] | None:
    params = query(
        build_path,
        "select parameter, value from marts.clv_model_params "
        "where fit = 'current' and model = 'bgnbd' and is_used",
    )
    if params.empty:
        return None
    values = dict(zip(params["parameter"], params["value"], strict=True))
    return tuple(values[name] for name in ("r", "alpha", "a", "b"))


def segment_ranks() -> dict[tuple[str, str], int]:
    with open(REPO / "seeds" / "segment_ranks.csv", newline="") as handle:
        return {
            (row["segmentation"], row["segment"]): int(row["segment_rank"])
            for row in csv.DictReader(handle)
        }


def stage(settings: Settings, on: dt.date, first, last, last_return, p_alive) -> str:
    if last is None:
        return "prospect"
    if (on - first).days < settings.new_days:
        return "new"
    if (on - last).days >= settings.lapsed_days:
        return "lapsed"
    if (
        settings.lapsed_p_alive is not None
        and p_alive is not None
        and p_alive < settings.lapsed_p_alive
    ):
        return "lapsed"
    if (on - last).days >= settings.active_days:
        return "at_risk"
    if (
        settings.at_risk_p_alive is not None
        and p_alive is not None
        and p_alive < settings.at_risk_p_alive
    ):
        return "at_risk"
    if last_return is not None and (on - last_return).days < settings.reactivated_days:
        return "reactivated"
    return "active"


def movement(previous, current, segmentation: str, ranks: dict) -> str | None:
    if previous is None and current is None:
        return None
    if previous is None:
        return "entered"
    if current is None:
        return "left"
    if previous == current:
        return "same"
    before, now = ranks[(segmentation, previous)], ranks[(segmentation, current)]
    return "up" if now < before else "down" if now > before else "lateral"


def rfm_scores(rows: list[dict]) -> None:
    """customer_rfm's quintiles, in place, over the rows of one snapshot in the window."""
    if not rows:
        return
    frame = pd.DataFrame(rows)
    frame["neg_recency"] = -frame["recency"]
    frame["monetary_f"] = frame["monetary"].astype(float)
    for score, keys in {
        "r_score": ["neg_recency", "frequency", "monetary_f", "customer_id"],
        "f_score": ["frequency", "monetary_f", "neg_recency", "customer_id"],
        "m_score": ["monetary_f", "frequency", "customer_id"],
    }.items():
        order = frame.sort_values(keys, kind="mergesort").index
        frame.loc[order, score] = ntile(len(frame))
    for row, (r, f, m) in zip(
        rows, frame[["r_score", "f_score", "m_score"]].astype(int).values, strict=True
    ):
        r, f, m = int(r), int(f), int(m)
        row.update(r_score=r, f_score=f, m_score=m, rfm_segment=rfm_segment_rule(r, f, m))


def expected_history(raw_store: Path, build_path: Path, settings: Settings) -> list[dict]:
    """customer_segment_history, one dict per (customer, snapshot)."""
    days_of = purchase_days(raw_store, build_path)
    params = bgnbd_params(build_path)
    ranks = segment_ranks()
    dates = snapshot_dates(settings)
    rows: list[dict] = []
    for k, on in enumerate(dates):
        in_rfm = []
        for customer, days in days_of.items():
            seen = [d for d in days if d[0] <= on]
            if not seen:
                continue
            first, last = seen[0][0], seen[-1][0]
            returns = [
                b[0]
                for a, b in zip(seen[:-1], seen[1:], strict=True)
                if (b[0] - a[0]).days >= settings.lapsed_days
            ]
            x, t_x, t = len(seen) - 1, (last - first).days, (on - first).days
            p_alive = (
                None if params is None else float(btyd.bgnbd_p_alive(params, [x], [t_x], [t])[0])
            )
            row = {
                "customer_id": customer,
                "snapshot_date": on,
                "periods_ago": k,
                "previous_snapshot_date": dates[k + 1] if k < settings.periods else None,
                "first_order_date": first,
                "last_order_date": last,
                "last_return_date": returns[-1] if returns else None,
                "n_purchase_days": len(seen),
                "n_orders": sum(d[1] for d in seen),
                "revenue": sum((d[2] for d in seen), Decimal(0)),
                "days_since_first_order": t,
                "days_since_last_order": (on - last).days,
                "p_alive": p_alive,
                "lifecycle_stage": stage(
                    settings, on, first, last, returns[-1] if returns else None, p_alive
                ),
                "r_score": None,
                "f_score": None,
                "m_score": None,
                "rfm_segment": None,
            }
            window = [
                d
                for d in seen
                if settings.rfm_lookback_days is None
                or (on - d[0]).days < settings.rfm_lookback_days
            ]
            if window:
                in_rfm.append(
                    {
                        "customer_id": customer,
                        "recency": (on - window[-1][0]).days,
                        "frequency": len(window) - 1,
                        "monetary": sum((d[2] for d in window), Decimal(0)),
                        "row": row,
                    }
                )
            rows.append(row)
        rfm_scores(in_rfm)
        for item in in_rfm:
            item["row"].update(
                {key: item[key] for key in ("r_score", "f_score", "m_score", "rfm_segment")}
            )
    by_key = {(row["customer_id"], row["periods_ago"]): row for row in rows}
    for row in rows:
        k = row["periods_ago"]
        before = by_key.get((row["customer_id"], k + 1))
        oldest = k == settings.periods
        row["previous_lifecycle_stage"] = before["lifecycle_stage"] if before else None
        row["previous_rfm_segment"] = before["rfm_segment"] if before else None
        for segmentation, column in (("lifecycle_stage", "lifecycle"), ("rfm_segment", "rfm")):
            row[f"{column}_movement"] = (
                None
                if oldest
                else movement(
                    before[segmentation] if before else None, row[segmentation], segmentation, ranks
                )
            )
        row["n_purchase_days_in_period"] = (
            None
            if oldest
            else row["n_purchase_days"] - (before["n_purchase_days"] if before else 0)
        )
        row["revenue_in_period"] = (
            None if oldest else row["revenue"] - (before["revenue"] if before else Decimal(0))
        )
    return rows


def _cell(value: Any) -> Any:
    """A comparable cell: None for every null, ISO strings for dates, floats for numbers."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, dt.date | pd.Timestamp):
        return value.isoformat()[:10]
    if isinstance(value, Decimal | float | np.floating):
        return float(value)
    if isinstance(value, int | np.integer):
        return int(value)
    return value


def _records(frame: pd.DataFrame, columns: list[str], keys: list[str]) -> list[dict]:
    records = [
        {column: _cell(value) for column, value in zip(columns, row, strict=True)}
        for row in frame[columns].itertuples(index=False)
    ]
    return sorted(records, key=lambda r: tuple("" if r[k] is None else str(r[k]) for k in keys))


def assert_frames_match(actual: pd.DataFrame, expected: pd.DataFrame, keys: list[str]) -> None:
    """Same rows (matched by `keys`), same cells; floats to 1e-9 relative."""
    columns = list(expected.columns)
    assert sorted(actual.columns) == sorted(columns)
    got, want = _records(actual, columns, keys), _records(expected, columns, keys)
    assert [tuple(r[k] for k in keys) for r in got] == [tuple(r[k] for k in keys) for r in want]
    for a_row, e_row in zip(got, want, strict=True):
        for column in columns:
            a, e = a_row[column], e_row[column]
            where = (column, [a_row[k] for k in keys])
            if isinstance(a, float) and isinstance(e, float):
                assert a == pytest.approx(e, rel=1e-9, abs=1e-12), where
            else:
                assert a == e, (*where, a, e)


# --- tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("settings", [DEFAULT, OTHER], ids=["default", "other"])
def test_segment_history_matches_brute_force(builds, raw_store, settings):
    build_path = builds[settings]
    actual = query(build_path, "select * from marts.customer_segment_history")
    expected = pd.DataFrame(expected_history(raw_store, build_path, settings))
    assert_frames_match(actual, expected, ["customer_id", "periods_ago"])
    dates = query(
        build_path,
        "select snapshot_date from intermediate.int_segment_snapshot_dates order by periods_ago",
    )
    assert [d.date() for d in pd.to_datetime(dates["snapshot_date"])] == snapshot_dates(settings)


@pytest.mark.parametrize("settings", [DEFAULT, OTHER], ids=["default", "other"])
def test_lifecycle_covers_every_customer(builds, raw_store, settings):
    build_path = builds[settings]
    now = {
        row["customer_id"]: row
        for row in expected_history(raw_store, build_path, settings)
        if row["periods_ago"] == 0
    }
    customers = query(build_path, "select customer_id from marts.dim_customers")["customer_id"]
    ranks = segment_ranks()
    rows = []
    for customer in customers:
        buyer = customer in now
        h = now.get(customer)
        stage_ = h["lifecycle_stage"] if buyer else "prospect"
        rows.append(
            {
                "customer_id": customer,
                "as_of": AS_OF,
                "lifecycle_stage": stage_,
                "stage_rank": ranks[("lifecycle_stage", stage_)],
                "currency": "EUR",
                "n_purchase_days": h["n_purchase_days"] if buyer else 0,
                "n_orders": h["n_orders"] if buyer else 0,
                "revenue": h["revenue"] if buyer else Decimal(0),
                **{
                    column: h[column] if buyer else None
                    for column in (
                        "previous_snapshot_date",
                        "previous_lifecycle_stage",
                        "lifecycle_movement",
                        "first_order_date",
                        "last_order_date",
                        "last_return_date",
                        "days_since_first_order",
                        "days_since_last_order",
                        "p_alive",
                    )
                },
            }
        )
    actual = query(build_path, "select * from marts.customer_lifecycle")
    assert_frames_match(actual, pd.DataFrame(rows), ["customer_id"])
    assert (actual["lifecycle_stage"] == "prospect").sum() >= 3  # two contacts, one cancelled order


@pytest.mark.parametrize("settings", [DEFAULT, OTHER], ids=["default", "other"])
def test_movement_matrix_sums_the_history(builds, raw_store, settings):
    build_path = builds[settings]
    history = [
        row
        for row in expected_history(raw_store, build_path, settings)
        if row["periods_ago"] < settings.periods
    ]
    ranks = segment_ranks()
    cells: dict[tuple, dict] = {}
    for row in history:
        for segmentation, previous, current, moved in (
            (
                "lifecycle_stage",
                row["previous_lifecycle_stage"],
                row["lifecycle_stage"],
                row["lifecycle_movement"],
            ),
            ("rfm_segment", row["previous_rfm_segment"], row["rfm_segment"], row["rfm_movement"]),
        ):
            if moved is None:
                continue
            cell = cells.setdefault(
                (segmentation, row["periods_ago"], previous, current),
                {
                    "period_start": row["previous_snapshot_date"],
                    "period_end": row["snapshot_date"],
                    "movement": moved,
                    "from_rank": ranks.get((segmentation, previous)),
                    "to_rank": ranks.get((segmentation, current)),
                    "n_customers": 0,
                    "n_buyers_in_period": 0,
                    "n_purchase_days_in_period": 0,
                    "revenue_in_period": Decimal(0),
                },
            )
            cell["n_customers"] += 1
            cell["n_buyers_in_period"] += int(row["n_purchase_days_in_period"] > 0)
            cell["n_purchase_days_in_period"] += row["n_purchase_days_in_period"]
            cell["revenue_in_period"] += row["revenue_in_period"]
    from_totals: dict[tuple, int] = {}
    for (segmentation, k, previous, _), cell in cells.items():
        key = (segmentation, k, previous)
        from_totals[key] = from_totals.get(key, 0) + cell["n_customers"]
    expected = pd.DataFrame(
        [
            {
                "segmentation": segmentation,
                "periods_ago": k,
                "from_segment": previous,
                "to_segment": current,
                **cell,
                "n_customers_from": from_totals[(segmentation, k, previous)],
                "share_of_from": cell["n_customers"] / from_totals[(segmentation, k, previous)],
                "currency": "EUR",
            }
            for (segmentation, k, previous, current), cell in cells.items()
        ]
    )
    actual = query(build_path, "select * from marts.segment_movement")
    # null segments sort apart from strings
    for frame in (actual, expected):
        frame["from_key"] = frame["from_segment"].fillna("~")
        frame["to_key"] = frame["to_segment"].fillna("~")
    assert_frames_match(actual, expected, ["segmentation", "periods_ago", "from_key", "to_key"])


def test_as_of_snapshot_agrees_with_customer_rfm_and_customer_clv(builds):
    for settings, build_path in builds.items():
        merged = query(
            build_path,
            """
            select history.customer_id, history.rfm_segment, history.r_score, history.f_score,
                history.m_score, history.p_alive, rfm.rfm_segment as rfm_rfm_segment,
                rfm.r_score as rfm_r_score, rfm.f_score as rfm_f_score,
                rfm.m_score as rfm_m_score, clv.p_alive as clv_p_alive
            from marts.customer_segment_history as history
            left join marts.customer_rfm as rfm on history.customer_id = rfm.customer_id
            left join marts.customer_clv as clv on history.customer_id = clv.customer_id
            where history.periods_ago = 0
            """,
        )
        for column in ("rfm_segment", "r_score", "f_score", "m_score"):
            assert merged[column].equals(merged[f"rfm_{column}"]), (settings, column)
        assert merged["p_alive"].notna().all(), "the fit must be usable in this world"
        assert np.allclose(merged["p_alive"], merged["clv_p_alive"], rtol=1e-9, atol=1e-12)
        n_rfm = query(build_path, "select count(*) as n from marts.customer_rfm")["n"].iloc[0]
        assert merged["rfm_segment"].notna().sum() == n_rfm


def test_hand_made_customers_land_in_their_stage(builds):
    stages = query(
        builds[DEFAULT],
        """
        select xref.source_contact_id, lifecycle.*
        from marts.customer_lifecycle as lifecycle
        inner join marts.customer_xref as xref on lifecycle.customer_id = xref.customer_id
        where xref.source_contact_id like 'H%' or xref.source_system = 'web'
        """,
    ).set_index("source_contact_id")
    assert stages.loc["H_NEW", "lifecycle_stage"] == "new"
    assert stages.loc["H_NEW", "lifecycle_movement"] == "entered"
    assert stages.loc["H_REACT", "lifecycle_stage"] == "reactivated"
    assert stages.loc["H_REACT", "previous_lifecycle_stage"] == "lapsed"
    assert stages.loc["H_REACT", "lifecycle_movement"] == "up"
    assert str(stages.loc["H_REACT", "last_return_date"])[:10] == "2024-11-01"
    assert str(stages.loc["H_RETURN_EDGE", "last_return_date"])[:10] == "2024-05-31"
    assert pd.isna(stages.loc["H_GAP_364", "last_return_date"])
    assert stages.loc["H_LAPSED", "lifecycle_stage"] == "lapsed"
    # the cancelled version of H_RISK-x does not count: last purchase 2024-03-01
    assert stages.loc["H_RISK", "lifecycle_stage"] == "at_risk"
    assert str(stages.loc["H_RISK", "last_order_date"])[:10] == "2024-03-01"
    assert stages.loc["H_SILENT", "days_since_last_order"] < DEFAULT.active_days
    assert stages.loc["H_SILENT", "p_alive"] < DEFAULT.lapsed_p_alive
    # a weekly buyer silent for five months: lapsed by its own rhythm, not by the 365 days
    assert stages.loc["H_SILENT", "lifecycle_stage"] == "lapsed"
    assert stages.loc["H_ONCE", "p_alive"] == 1.0
    assert stages.loc["H_ONCE", "lifecycle_stage"] == "active"
    assert (stages.loc["H_ONCE", "n_orders"], stages.loc["H_ONCE", "n_purchase_days"]) == (2, 1)
    for prospect in ("H_CANCEL_ONLY", "P0", "P1"):
        assert stages.loc[prospect, "lifecycle_stage"] == "prospect"
        assert stages.loc[prospect, "n_purchase_days"] == 0
    # both P(alive) rules decide someone here: at_risk and lapsed before their recency limits
    by_fit = query(
        builds[DEFAULT],
        f"""
        select lifecycle_stage, count(*) as n from marts.customer_lifecycle
        where days_since_first_order >= {DEFAULT.new_days}
          and days_since_last_order < {DEFAULT.active_days}
          and lifecycle_stage in ('at_risk', 'lapsed')
        group by lifecycle_stage
        """,
    ).set_index("lifecycle_stage")["n"]
    assert by_fit.get("at_risk", 0) > 0 and by_fit.get("lapsed", 0) > 0, by_fit
    # every stage shows up in this world
    everyone = query(
        builds[DEFAULT], "select distinct lifecycle_stage from marts.customer_lifecycle"
    )
    assert set(everyone["lifecycle_stage"]) == {
        "prospect",
        "new",
        "active",
        "reactivated",
        "at_risk",
        "lapsed",
    }


@pytest.mark.parametrize(
    ("bad_vars", "message"),
    [
        ({"segment_movement_period": "fortnight"}, "segment_movement_period"),
        ({"lifecycle_new_days": 200, "lifecycle_active_days": 180}, "lifecycle_new_days <="),
        ({"lifecycle_lapsed_p_alive": 0.6}, "must not exceed var('lifecycle_at_risk_p_alive')"),
        ({"lifecycle_lapsed_p_alive": 1.5}, "var('lifecycle_lapsed_p_alive') must be in (0, 1]"),
        (
            {"lifecycle_active_days": "x"},
            "var('lifecycle_active_days') must be a whole number >= 1",
        ),
        ({"segment_movement_periods": 61}, "must be a whole number from 1 to 60"),
        ({"segment_snapshot_daily_days": 0}, "must be a whole number >= 1 or null"),
    ],
)
def test_bad_settings_fail_at_compile_time(tmp_path, raw_store, bad_vars, message):
    result = run_dbt(
        [
            "compile",
            "--select",
            "int_segment_snapshot_dates",
            "customer_segment_history",
            "customer_segment_snapshots",
            "--vars",
            json.dumps({**DEFAULT.dbt_vars(), **bad_vars}),
        ],
        tmp_path,
        dbt_env(tmp_path / "build.duckdb", raw_store),
        check=False,
    )
    assert result.returncode != 0
    assert message in result.stdout
