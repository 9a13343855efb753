"""The service and campaign marts, checked against independent computations.

One `dbt build` of a small hand-made world (tests/dbt_fixtures.py: the
loader's exact raw DDL) with random interactions, orders, campaigns and
touches, including the awkward cases: contacts that resolve to nobody,
timestamps after as_of or before the opening, a customer with a touch in both
groups of a campaign, a campaign without a hold-out group, one whose windows
are still open, one only named by touches. The expected values are recomputed
here with pandas from the raw rows (only the customer mapping is read back,
from marts.customer_xref); the lift interval from a plain-Python Newcombe /
Wilson implementation (stdlib NormalDist, no scipy), itself checked against
Newcombe's published examples; the dbt normal quantile macro against scipy.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from statistics import NormalDist

import duckdb
import numpy as np
import pandas as pd
import pytest
from dbt_fixtures import build, create_raw_store, dbt_env, run_dbt
from scipy.stats import norm

from tests.test_dbt_models import query

AS_OF = "2024-06-30"
AS_OF_END = pd.Timestamp("2024-07-01")  # exclusive end of the as-of day
ATTRIBUTION_DAYS = 30
CONFIDENCE = 0.9
RECENT_DAYS = 60
VARS = {
    "as_of": AS_OF,
    "currency": "EUR",
    "identity_max_contacts_per_value": 3,
    "campaign_attribution_days": ATTRIBUTION_DAYS,
    "campaign_lift_confidence": CONFIDENCE,
    "campaign_lift_outcome": "conversion",
    "service_recent_days": RECENT_DAYS,
}
CHANNELS = ["phone", "email", "web", "chat", "fax", "store", None]
TYPES = ["complaint", "inquiry", "repair", "feedback", None]
N_PEOPLE = 60


# --- the world -------------------------------------------------------------------


def _ts(rng: np.random.Generator, start: str, end: str) -> pd.Timestamp:
    lo, hi = pd.Timestamp(start).value // 10**9, pd.Timestamp(end).value // 10**9
    return pd.Timestamp(int(rng.integers(lo, hi)), unit="s")


def _hours(rng: np.random.Generator, mean: float) -> pd.Timedelta:
    return pd.Timedelta(seconds=int(rng.exponential(mean * 3600)) + 1)


def make_world(seed: int = 3) -> dict[str, list[dict]]:
    rng = np.random.default_rng(seed)
    contacts = [
        {"source_system": "shop", "source_contact_id": f"S{i:03d}", "first_name": f"Person {i}"}
        for i in range(N_PEOPLE)
    ]
    # one person, two records (same e-mail): their touches can fall in both groups
    for system in ("web", "store"):
        contacts.append(
            {
                "source_system": system,
                "source_contact_id": "DUAL",
                "first_name": "Dana",
                "last_name": "Dual",
                "email": "dana.dual@example.com",
            }
        )
    people = [(c["source_system"], c["source_contact_id"]) for c in contacts]
    ghosts = [("shop", f"G{i}") for i in range(4)]  # named by interactions/touches only

    orders = []
    for i, (system, contact) in enumerate(people):
        for j in range(int(rng.integers(0, 7))):
            orders.append(
                {
                    "order_id": f"O{i:03d}-{j}",
                    "source_system": system,
                    "source_contact_id": contact,
                    "ordered_at": _ts(rng, "2024-01-01", "2024-08-15").to_pydatetime(),
                    "order_total": f"{rng.uniform(5, 200):.2f}",
                    "status": str(rng.choice(["completed"] * 6 + ["cancelled", "returned"])),
                }
            )
    for j in range(5):  # anonymous sales count in the monthly order denominators
        orders.append(
            {
                "order_id": f"N{j}",
                "ordered_at": _ts(rng, "2024-01-01", "2024-07-15").to_pydatetime(),
                "order_total": "9.99",
            }
        )
    order_ids = [o["order_id"] for o in orders]

    interactions = []
    for k in range(320):
        u = rng.uniform()
        who = (
            people[int(rng.integers(0, len(people)))]
            if u < 0.85
            else ghosts[int(rng.integers(0, len(ghosts)))]
            if u < 0.95
            else ("shop", None)
        )
        opened = _ts(rng, "2024-01-01", "2024-07-20")
        response = None if rng.uniform() < 0.15 else opened + _hours(rng, 6)
        resolved = None if rng.uniform() < 0.2 else opened + _hours(rng, 60)
        if rng.uniform() < 0.04:
            response = opened - _hours(rng, 2)  # inconsistent source data
        if rng.uniform() < 0.04:
            resolved = opened - _hours(rng, 2)
        interactions.append(
            {
                "interaction_id": f"I{k:04d}",
                "source_system": who[0],
                "source_contact_id": who[1],
                "channel": CHANNELS[int(rng.integers(0, len(CHANNELS)))],
                "type": TYPES[int(rng.choice(len(TYPES), p=[0.3, 0.3, 0.15, 0.15, 0.1]))],
                "opened_at": opened.to_pydatetime(),
                "first_response_at": None if response is None else response.to_pydatetime(),
                "resolved_at": None if resolved is None else resolved.to_pydatetime(),
                "satisfaction_score": None if rng.uniform() < 0.5 else int(rng.integers(1, 6)),
                "handling_cost": None if rng.uniform() < 0.3 else f"{rng.uniform(1, 50):.2f}",
                "order_id": order_ids[int(rng.integers(0, len(order_ids)))]
                if rng.uniform() < 0.3
                else None,
            }
        )

    campaigns = [
        {
            "campaign_id": "K1",
            "name": "Spring",
            "started_at": dt.datetime(2024, 2, 1),
            "cost": "500",
        },
        {
            "campaign_id": "K2",
            "name": "No hold-out",
            "started_at": dt.datetime(2024, 3, 1),
            "cost": "300",
        },
        {"campaign_id": "K3", "name": "Late", "started_at": dt.datetime(2024, 6, 20)},
        {
            "campaign_id": "K4",
            "name": "Future",
            "started_at": dt.datetime(2024, 7, 10),
            "cost": "99",
        },
        {"campaign_id": "K5", "name": "Unused", "started_at": dt.datetime(2024, 4, 1), "cost": "0"},
    ]
    touches = []

    def touch(campaign: str, who: tuple[str, str], at: pd.Timestamp, event: str, control) -> None:
        touches.append(
            {
                "campaign_id": campaign,
                "source_system": who[0],
                "source_contact_id": who[1],
                "touched_at": at.to_pydatetime(),
                "event": event,
                "is_control": control,
            }
        )

    plans = {  # campaign: (start, audience, control share, convert treatment / control)
        "K1": ("2024-02-01", 45, 0.3, 0.35, 0.12),
        "K2": ("2024-03-01", 30, 0.0, 0.2, 0.0),
        "K3": ("2024-06-20", 25, 0.3, 0.3, 0.1),
        "K4": ("2024-07-10", 10, 0.2, 0.3, 0.1),  # after as_of: absent
        "K9": ("2024-05-01", 12, 0.25, 0.3, 0.1),  # no campaign record
    }
    for campaign, (start, size, control_share, p_t, p_c) in plans.items():
        chosen = rng.choice(len(people) - 2, size=size, replace=False)  # DUAL added below
        members = [people[i] for i in chosen] + ghosts[:2]
        if campaign == "K1":
            members.append(("web", "DUAL"))
            members.append(("store", "DUAL"))
        for who in members:
            control = bool(rng.uniform() < control_share)
            if who == ("web", "DUAL"):
                control = True
            if who == ("store", "DUAL"):
                control = False
            flag = control if control_share > 0 else (None if rng.uniform() < 0.5 else False)
            sent = _ts(rng, start, str(pd.Timestamp(start) + pd.Timedelta(days=1)))
            touch(campaign, who, sent, "sent", flag)
            if not control and rng.uniform() < 0.5:
                opened = sent + _hours(rng, 10)
                touch(campaign, who, opened, "opened", flag)
                if rng.uniform() < 0.4:
                    touch(campaign, who, opened + _hours(rng, 1), "clicked", flag)
            if rng.uniform() < (p_c if control else p_t):
                # up to 45 days: some conversions fall outside the 30-day window
                at = sent + pd.Timedelta(seconds=int(rng.integers(60, 45 * 86400)))
                touch(campaign, who, at, "converted", flag)
    return {
        "contacts": contacts,
        "orders": orders,
        "interactions": interactions,
        "campaigns": campaigns,
        "campaign_touches": touches,
    }


# --- helpers -----------------------------------------------------------------------


def frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def assert_close(actual: pd.Series, expected: pd.Series, name: str, rtol: float = 1e-9) -> None:
    a = pd.to_numeric(actual, errors="coerce").astype(float).to_numpy()
    e = pd.to_numeric(expected, errors="coerce").astype(float).to_numpy()
    assert np.array_equal(np.isnan(a), np.isnan(e)), name
    assert np.allclose(a, e, rtol=rtol, atol=1e-9, equal_nan=True), name


def assert_same(actual: pd.Series, expected: pd.Series, name: str) -> None:
    a = [None if pd.isna(v) else v for v in actual]
    e = [None if pd.isna(v) else v for v in expected]
    assert a == e, name


def wilson(x: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval of x / n (textbook form)."""
    p = x / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(x1: int, n1: int, x2: int, n2: int, z: float) -> tuple[float, float, float]:
    """Newcombe's hybrid score interval (method 10) of p1 - p2."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    d = p1 - p2
    return d, d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2)


# --- builds ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world() -> dict[str, list[dict]]:
    return make_world()


# The marts these tests read, built with their ancestors and their data tests.
SELECTED = (
    "fct_interactions",
    "service_kpis",
    "customer_service",
    "fct_campaign_members",
    "campaign_performance",
    "customer_xref",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, world: dict) -> tuple[Path, pd.DataFrame]:
    build_path = build(tmp_path_factory.mktemp("service_campaigns"), world, VARS, select=SELECTED)
    xref = query(
        build_path, "select source_system, source_contact_id, customer_id from marts.customer_xref"
    )
    return build_path, xref


def with_customer(df: pd.DataFrame, xref: pd.DataFrame) -> pd.DataFrame:
    return df.merge(xref, on=["source_system", "source_contact_id"], how="left")


def expected_interactions(world: dict, xref: pd.DataFrame) -> pd.DataFrame:
    raw = frame(world["interactions"])
    for column in ("opened_at", "first_response_at", "resolved_at"):
        raw[column] = pd.to_datetime(raw[column])
    df = with_customer(raw[raw["opened_at"] < AS_OF_END].copy(), xref)
    response = df["first_response_at"].where(df["first_response_at"] < AS_OF_END)
    resolved = df["resolved_at"].where(df["resolved_at"] < AS_OF_END)
    first_hours = (response - df["opened_at"]).dt.total_seconds() / 3600
    resolution_hours = (resolved - df["opened_at"]).dt.total_seconds() / 3600
    as_of_day = pd.Timestamp(AS_OF)
    out = pd.DataFrame(
        {
            "interaction_id": df["interaction_id"],
            "customer_id": df["customer_id"],
            "channel": df["channel"],
            "interaction_type": df["type"],
            "opened_at": df["opened_at"],
            "first_response_hours": first_hours.where(first_hours >= 0),
            "resolution_hours": resolution_hours.where(resolution_hours >= 0),
            "is_complaint": df["type"] == "complaint",
            "is_resolved": resolved.notna(),
            "is_open": resolved.isna(),
            "open_days": ((as_of_day - df["opened_at"].dt.normalize()).dt.days).where(
                resolved.isna()
            ),
            "satisfaction_score": df["satisfaction_score"].where(
                df["resolved_at"].isna() | (df["resolved_at"] < AS_OF_END)
            ),
            "handling_cost": pd.to_numeric(df["handling_cost"]),
        }
    )
    return out.sort_values("interaction_id").reset_index(drop=True)


def expected_orders(world: dict, xref: pd.DataFrame) -> pd.DataFrame:
    raw = frame(world["orders"])
    raw["ordered_at"] = pd.to_datetime(raw["ordered_at"])
    raw["status"] = raw["status"].fillna("completed")
    raw["order_total"] = pd.to_numeric(raw["order_total"])
    return with_customer(raw[raw["ordered_at"] < AS_OF_END].copy(), xref)


# --- the normal quantile and the interval ---------------------------------------------


def test_newcombe_reference_matches_the_published_examples() -> None:
    """Newcombe (1998), Stat. Med. 17:873-890, table II, method 10 at 95%."""
    z = NormalDist().inv_cdf(0.975)
    _, lower, upper = newcombe(56, 70, 48, 80, z)
    assert (round(lower, 4), round(upper, 4)) == (0.0524, 0.3339)
    _, lower, upper = newcombe(9, 10, 3, 10, z)
    assert (round(lower, 4), round(upper, 4)) == (0.1705, 0.8090)


def test_normal_quantile_macro_matches_scipy(tmp_path: Path) -> None:
    probabilities = [1e-12, 1e-6, 0.001, 0.01, 0.02425, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5]
    probabilities += [0.6, 0.8, 0.9, 0.95, 0.975, 0.97575, 0.99, 0.995, 0.999, 1 - 1e-7]
    values = ", ".join(f"({p!r})" for p in probabilities)
    sql = (
        "select p, {{ normal_quantile('p') }} as z, "
        "{{ confidence_z(0.9, 'x') }} as z90, {{ confidence_z('0.95', 'x') }} as z95 "
        f"from (values {values}) as t(p) order by p"
    )
    raw_store = create_raw_store(tmp_path / "raw.duckdb", {})
    env = dbt_env(tmp_path / "build.duckdb", raw_store)
    result = run_dbt(["compile", "--inline", sql, "--output", "json", "--quiet"], tmp_path, env)
    compiled = json.loads(result.stdout)["compiled"]
    got = duckdb.connect().execute(compiled).df()
    expected = norm.ppf(got["p"])
    # Acklam's approximation: relative error below 1.15e-9 over (0, 1)
    assert np.all(np.abs(got["z"] - expected) <= 1.2e-9 * np.abs(expected) + 1e-15)
    assert got["z90"].iloc[0] == pytest.approx(norm.ppf(0.95), rel=1.2e-9)
    assert got["z95"].iloc[0] == pytest.approx(norm.ppf(0.975), rel=1.2e-9)


def test_a_confidence_outside_zero_one_is_a_compiler_error(tmp_path: Path) -> None:
    raw_store = create_raw_store(tmp_path / "raw.duckdb", {})
    env = dbt_env(tmp_path / "build.duckdb", raw_store)
    result = run_dbt(
        ["compile", "--inline", "select {{ confidence_z(95, 'campaign_lift_confidence') }}"],
        tmp_path,
        env,
        check=False,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "campaign_lift_confidence" in output and "must be a confidence level" in output


# --- service -----------------------------------------------------------------------


def test_fct_interactions_matches_independent_computation(built, world) -> None:
    build_path, xref = built
    expected = expected_interactions(world, xref)
    actual = query(build_path, "select * from marts.fct_interactions order by interaction_id")
    assert actual["interaction_id"].tolist() == expected["interaction_id"].tolist()
    assert len(actual) < len(world["interactions"])  # some were opened after as_of
    for column in ("customer_id", "channel", "interaction_type", "is_complaint", "is_open"):
        assert_same(actual[column], expected[column], column)
    for column in ("first_response_hours", "resolution_hours", "open_days", "satisfaction_score"):
        assert_close(actual[column], expected[column], column)
    assert_close(actual["handling_cost"], expected["handling_cost"], "handling_cost")
    # the awkward cases are in the data
    assert actual["customer_id"].isna().sum() > 5
    assert (actual["is_open"] & (actual["opened_at"] < pd.Timestamp("2024-06-01"))).any()
    raw_late = frame(world["interactions"])
    late = raw_late[pd.to_datetime(raw_late["resolved_at"]) >= AS_OF_END]["interaction_id"]
    assert (
        actual.set_index("interaction_id")
        .loc[list(set(late) & set(actual["interaction_id"])), "is_open"]
        .all()
    )


def test_service_kpis_match_independent_computation(built, world) -> None:
    build_path, xref = built
    df = expected_interactions(world, xref)
    df["opened_month"] = df["opened_at"].dt.to_period("M").dt.to_timestamp()
    df["channel"] = df["channel"].fillna("unknown")
    df["interaction_type"] = df["interaction_type"].fillna("unknown")
    orders = expected_orders(world, xref)
    orders["month"] = orders["ordered_at"].dt.to_period("M").dt.to_timestamp()
    per_month = orders.groupby("month").agg(
        n_orders=("order_id", "count"), n_customers=("customer_id", "nunique")
    )
    rows = []
    levels = {
        "channel_type": ["channel", "interaction_type"],
        "channel": ["channel"],
        "type": ["interaction_type"],
        "month": [],
    }
    for breakdown, keys in levels.items():
        for key, group in df.groupby(["opened_month", *keys]):
            values = dict(zip(["opened_month", *keys], key, strict=True))
            complaints = int(group["is_complaint"].sum())
            n_orders = per_month["n_orders"].get(values["opened_month"], 0)
            n_customers = per_month["n_customers"].get(values["opened_month"], 0)
            rows.append(
                {
                    "opened_month": values["opened_month"],
                    "channel": values.get("channel", "all"),
                    "interaction_type": values.get("interaction_type", "all"),
                    "breakdown": breakdown,
                    "n_interactions": len(group),
                    "n_customers": group["customer_id"].nunique(),
                    "n_complaints": complaints,
                    "n_complaining_customers": group.loc[
                        group["is_complaint"], "customer_id"
                    ].nunique(),
                    "n_open": int(group["is_open"].sum()),
                    "n_open_complaints": int((group["is_open"] & group["is_complaint"]).sum()),
                    "share_resolved": group["is_resolved"].mean(),
                    "n_first_responses": group["first_response_hours"].notna().sum(),
                    "median_first_response_hours": group["first_response_hours"].median(),
                    "mean_first_response_hours": group["first_response_hours"].mean(),
                    "median_resolution_hours": group["resolution_hours"].median(),
                    "mean_resolution_hours": group["resolution_hours"].mean(),
                    "n_satisfaction_scores": group["satisfaction_score"].notna().sum(),
                    "mean_satisfaction": group["satisfaction_score"].mean(),
                    "handling_cost": group["handling_cost"].sum(min_count=1),
                    "n_orders": n_orders,
                    "complaints_per_1000_orders": 1000 * complaints / n_orders
                    if n_orders
                    else None,
                    "complaints_per_customer": complaints / n_customers if n_customers else None,
                }
            )
    keys = ["opened_month", "channel", "interaction_type"]
    expected = pd.DataFrame(rows).sort_values(keys).reset_index(drop=True)
    actual = (
        query(build_path, "select * from marts.service_kpis")
        .sort_values(keys)
        .reset_index(drop=True)
    )
    actual["opened_month"] = pd.to_datetime(actual["opened_month"])
    assert actual[keys].values.tolist() == expected[keys].values.tolist()
    assert_same(actual["breakdown"], expected["breakdown"], "breakdown")
    for column in expected.columns:
        if column not in keys and column != "breakdown":
            assert_close(actual[column], expected[column], column)
    assert actual["opened_month"].max() == pd.Timestamp("2024-06-01")
    assert actual["is_complete_month"].all()  # as_of is the last day of June
    # the channels of a month add up to the month's complaint rate
    by_channel = (
        actual[actual["breakdown"] == "channel"]
        .groupby("opened_month")["complaints_per_1000_orders"]
        .sum()
    )
    total = actual[actual["breakdown"] == "month"].set_index("opened_month")[
        "complaints_per_1000_orders"
    ]
    assert np.allclose(by_channel.sort_index(), total.sort_index())


def test_customer_service_matches_independent_computation(built, world) -> None:
    build_path, xref = built
    df = expected_interactions(world, xref)
    df = df[df["customer_id"].notna()]
    cutoff = pd.Timestamp(AS_OF) - pd.Timedelta(days=RECENT_DAYS)
    df["recent"] = df["opened_at"].dt.normalize() > cutoff
    rows = []
    for customer, group in df.groupby("customer_id"):
        last = group.sort_values(["opened_at", "interaction_id"]).iloc[-1]
        rows.append(
            {
                "customer_id": customer,
                "n_interactions": len(group),
                "n_complaints": int(group["is_complaint"].sum()),
                "n_open": int(group["is_open"].sum()),
                "n_open_complaints": int((group["is_open"] & group["is_complaint"]).sum()),
                "has_open_complaint": bool((group["is_open"] & group["is_complaint"]).any()),
                "n_recent_interactions": int(group["recent"].sum()),
                "n_recent_complaints": int((group["recent"] & group["is_complaint"]).sum()),
                "first_interaction_at": group["opened_at"].min(),
                "last_interaction_at": last["opened_at"],
                "days_since_last_interaction": (
                    pd.Timestamp(AS_OF) - last["opened_at"].normalize()
                ).days,
                "last_channel": last["channel"],
                "last_interaction_type": last["interaction_type"],
                "n_satisfaction_scores": group["satisfaction_score"].notna().sum(),
                "mean_satisfaction": group["satisfaction_score"].mean(),
                "min_satisfaction": group["satisfaction_score"].min(),
                "mean_first_response_hours": group["first_response_hours"].mean(),
                "mean_resolution_hours": group["resolution_hours"].mean(),
                "handling_cost": group["handling_cost"].sum(min_count=1),
            }
        )
    expected = pd.DataFrame(rows).sort_values("customer_id").reset_index(drop=True)
    actual = query(build_path, "select * from marts.customer_service order by customer_id")
    assert actual["customer_id"].tolist() == expected["customer_id"].tolist()
    for column in (
        "has_open_complaint",
        "last_channel",
        "last_interaction_type",
        "first_interaction_at",
        "last_interaction_at",
    ):
        assert_same(actual[column], expected[column], column)
    for column in expected.columns:
        if column not in (
            "customer_id",
            "has_open_complaint",
            "last_channel",
            "last_interaction_type",
            "first_interaction_at",
            "last_interaction_at",
        ):
            assert_close(actual[column], expected[column], column)
    assert actual["has_open_complaint"].any() and not actual["has_open_complaint"].all()


# --- campaigns ---------------------------------------------------------------------


def expected_members(world: dict, xref: pd.DataFrame) -> pd.DataFrame:
    touches = frame(world["campaign_touches"])
    touches["touched_at"] = pd.to_datetime(touches["touched_at"])
    touches = touches[touches["touched_at"] < AS_OF_END]
    touches = touches.merge(xref, on=["source_system", "source_contact_id"], how="inner")
    touches["control"] = touches["is_control"].fillna(False).astype(bool)
    orders = expected_orders(world, xref)
    orders = orders[(orders["status"] == "completed") & orders["customer_id"].notna()]
    rows = []
    for (campaign, customer), group in touches.groupby(["campaign_id", "customer_id"]):
        first = group["touched_at"].min()
        end = first + pd.Timedelta(days=ATTRIBUTION_DAYS)
        converted = group[(group["event"] == "converted") & (group["touched_at"] < end)]
        bought = orders[
            (orders["customer_id"] == customer)
            & (orders["ordered_at"] >= first)
            & (orders["ordered_at"] < end)
        ]
        rows.append(
            {
                "campaign_id": campaign,
                "customer_id": customer,
                "is_control": bool(group["control"].all()),
                "is_in_both_groups": bool(group["control"].any() and not group["control"].all()),
                "first_touched_at": first,
                "is_window_complete": end <= AS_OF_END,
                "n_touches": len(group),
                "is_sent": bool((group["event"] == "sent").any()),
                "is_opened": bool((group["event"] == "opened").any()),
                "is_clicked": bool((group["event"] == "clicked").any()),
                "is_converted": len(converted) > 0,
                "first_converted_at": converted["touched_at"].min() if len(converted) else None,
                "is_purchaser": len(bought) > 0,
                "n_orders": len(bought),
                "revenue": bought["order_total"].sum(),
            }
        )
    return pd.DataFrame(rows).sort_values(["campaign_id", "customer_id"]).reset_index(drop=True)


def test_fct_campaign_members_matches_independent_computation(built, world) -> None:
    build_path, xref = built
    expected = expected_members(world, xref)
    actual = query(
        build_path, "select * from marts.fct_campaign_members order by campaign_id, customer_id"
    )
    keys = ["campaign_id", "customer_id"]
    assert actual[keys].values.tolist() == expected[keys].values.tolist()
    for column in expected.columns:
        if column in ("n_orders", "revenue"):
            assert_close(actual[column], expected[column], column)
        elif column not in keys:
            assert_same(actual[column], expected[column], column)
    assert actual["is_in_both_groups"].sum() == 1  # the DUAL person in K1
    assert set(actual["campaign_id"]) == {"K1", "K2", "K3", "K9"}  # K4 starts after as_of
    # conversions outside the window exist in the raw data and are not counted
    assert actual["is_converted"].sum() < sum(
        1 for t in world["campaign_touches"] if t["event"] == "converted"
    )


def test_campaign_performance_matches_independent_computation(built, world) -> None:
    build_path, xref = built
    members = expected_members(world, xref)
    touches = frame(world["campaign_touches"])
    touches = touches[pd.to_datetime(touches["touched_at"]) < AS_OF_END]
    touches = touches.merge(xref, on=["source_system", "source_contact_id"], how="left")
    costs = {c["campaign_id"]: c.get("cost") for c in world["campaigns"]}
    z = NormalDist().inv_cdf(1 - (1 - CONFIDENCE) / 2)
    actual = query(build_path, "select * from marts.campaign_performance").set_index("campaign_id")
    assert set(actual.index) == {"K1", "K2", "K3", "K5", "K9"}
    for campaign, row in actual.iterrows():
        group = members[members["campaign_id"] == campaign]
        treated, held_out = group[~group["is_control"]], group[group["is_control"]]
        n_t, n_c = len(treated), len(held_out)
        mine = touches[touches["campaign_id"] == campaign]
        assert row["n_touches"] == len(mine), campaign
        assert row["n_touches_unresolved"] == mine["customer_id"].isna().sum(), campaign
        assert (row["n_treatment"], row["n_control"]) == (n_t, n_c), campaign
        assert row["n_opened"] == treated["is_opened"].sum()
        assert row["n_clicked"] == treated["is_clicked"].sum()
        assert row["n_converted"] == treated["is_converted"].sum()
        assert row["n_orders_attributed"] == treated["n_orders"].sum()
        assert float(row["revenue_attributed"]) == pytest.approx(treated["revenue"].sum(), abs=1e-4)
        assert row["has_campaign_record"] == (campaign in costs)
        assert row["is_window_complete"] == bool(group["is_window_complete"].all())
        cost = float(costs[campaign]) if costs.get(campaign) is not None else None
        if n_t and n_c:
            x_t, x_c = int(treated["is_converted"].sum()), int(held_out["is_converted"].sum())
            lift, lower, upper = newcombe(x_t, n_t, x_c, n_c, z)
            # z comes from a rational approximation (relative error < 1.15e-9)
            assert row["lift"] == pytest.approx(lift, abs=1e-12), campaign
            assert row["lift_lower"] == pytest.approx(lower, rel=1e-8), campaign
            assert row["lift_upper"] == pytest.approx(upper, rel=1e-8), campaign
            assert row["incremental_customers"] == pytest.approx(lift * n_t)
            incremental_revenue = (
                treated["revenue"].sum() / n_t - held_out["revenue"].sum() / n_c
            ) * n_t
            assert row["incremental_revenue"] == pytest.approx(incremental_revenue, rel=1e-9)
            if cost:
                assert row["roas_incremental"] == pytest.approx(incremental_revenue / cost)
                if lift > 0:
                    assert row["cost_per_incremental_customer"] == pytest.approx(
                        cost / (lift * n_t)
                    )
        else:  # no hold-out group (K2) or nobody contacted: null, never 0
            for column in (
                "lift",
                "lift_lower",
                "lift_upper",
                "incremental_customers",
                "incremental_revenue",
                "cost_per_incremental_customer",
                "roas_incremental",
            ):
                assert pd.isna(row[column]), (campaign, column)
        if cost:
            assert row["roas_attributed"] == pytest.approx(treated["revenue"].sum() / cost)
        else:
            assert pd.isna(row["roas_attributed"]), campaign
    assert actual.loc["K1", "n_control"] > 5 and not pd.isna(actual.loc["K1", "lift"])
    assert pd.isna(actual.loc["K2", "lift"]) and actual.loc["K2", "n_treatment"] > 0
    assert not actual.loc["K3", "is_window_complete"]
    assert actual.loc["K1", "lift_confidence"] == pytest.approx(CONFIDENCE)
