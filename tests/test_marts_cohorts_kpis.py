"""Cohort, region/season, CRM KPI and market-basket marts against brute force.

One `dbt build` of a hand-made world (random but seeded: customers with
regions and created_at, stores with and without a region, orders of every
status and channel, anonymous sales, orders after as_of, order lines of
products with and without cost and category) builds the five marts; every
figure is then recomputed here the slow, obvious way: per customer, per month,
per basket, in plain Python over the raw rows. Only the customer mapping and
the golden-record region are read back (customer_xref, dim_customers): they
are the identity's answers, not these marts'.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from dbt_fixtures import build_args, create_raw_store, dbt_env, run_dbt

from crm.quality.suites import load_suites, run_suites

AS_OF = dt.date(2025, 3, 15)  # mid-month: the last month is partial
WINDOW = 12  # kpi_active_months (default)
TOP_SHARE = 0.25
SEASONS = {"winter": [12, 1, 2], "spring": [3, 4, 5], "summer": [6, 7, 8], "autumn": [9, 10, 11]}
BASKET = {"basket_min_orders": 2, "basket_min_support": 0.02, "basket_max_items": 3}
VARS = {
    "as_of": AS_OF.isoformat(),
    "currency": "EUR",
    "kpi_active_months": WINDOW,
    "clv_value_tiers": [
        {"tier": "top", "top_share": TOP_SHARE},
        {"tier": "rest", "top_share": 1.0},
    ],
    **BASKET,
}
KPI_MARTS = (
    "cohort_retention",
    "sales_by_region_period",
    "crm_kpis_monthly",
    "basket_product_pairs",
    "basket_category_pairs",
)
SELECTED = (*KPI_MARTS, "customer_xref", "dim_customers", "customer_value", "fct_orders")


# --- the world -------------------------------------------------------------------


def kpi_world(seed: int = 3, n_customers: int = 70) -> dict[str, list[dict]]:
    rng = np.random.default_rng(seed)
    regions = ["North", "South", "East", None]
    stores = [
        {"store_id": "ST1", "name": "North store", "region": "North"},
        {"store_id": "ST2", "name": "South store", "region": "South"},
        {"store_id": "ST3", "name": "Store without region"},
    ]
    categories = ["kitchen", "living", "garden", None]
    products = []
    for i in range(1, 13):
        product = {"product_id": f"P{i:02d}", "name": f"Product {i}"}
        category = categories[i % 4]
        if category:
            product["category"] = category
        if i % 5:  # P05, P10 have no cost
            product["unit_cost"] = f"{2 + i}.50"
        products.append(product)
    product_ids = [p["product_id"] for p in products] + ["P99"]  # P99: not in the product file
    start = dt.datetime(2022, 9, 1)
    span_days = (dt.datetime(2025, 4, 30) - start).days  # a few orders after as_of
    contacts, orders, lines = [], [], []

    def add_order(order_id, system, contact_id, when):
        status = str(rng.choice(["completed"] * 8 + ["cancelled", "returned"]))
        channel = rng.choice(["web", "store", "phone", None])
        order = {
            "order_id": order_id,
            "ordered_at": when,
            "order_total": f"{float(rng.integers(500, 20000)) / 100:.2f}",
            "status": None if status == "completed" and rng.random() < 0.3 else status,
        }
        if system is not None:
            order |= {"source_system": system, "source_contact_id": contact_id}
        if channel is not None:
            order["channel"] = str(channel)
        if channel == "store" or rng.random() < 0.1:
            order["store_id"] = str(rng.choice(["ST1", "ST2", "ST3", "ST9"]))
        orders.append(order)
        if rng.random() < 0.85:
            n_lines = int(rng.integers(1, 5))
            for line_number in range(1, n_lines + 1):
                lines.append(
                    {
                        "order_id": order_id,
                        "line_number": line_number,
                        # a small catalogue, so products repeat in one basket
                        "product_id": str(rng.choice(product_ids[:6] * 3 + product_ids[6:])),
                        "quantity": str(int(rng.integers(1, 4))),
                        "unit_price": f"{float(rng.integers(100, 5000)) / 100:.2f}",
                    }
                )

    for i in range(n_customers):
        system = "web" if i % 3 else "store"
        contact_id = f"K{i:03d}"
        contact = {"source_system": system, "source_contact_id": contact_id, "city": f"Town{i}"}
        region = regions[i % 4]
        if region:
            contact["region"] = region
        if rng.random() < 0.7:
            created = start + dt.timedelta(days=int(rng.integers(-60, span_days - 60)))
            contact["created_at"] = min(created, dt.datetime(2025, 3, 15, 12))
        contacts.append(contact)
        # some customers never buy, some buy a lot
        for j in range(int(rng.choice([0, 1, 1, 2, 3, 5, 8, 12]))):
            when = start + dt.timedelta(
                days=int(rng.integers(0, span_days)), hours=int(rng.integers(0, 24))
            )
            add_order(f"O{i:03d}-{j:02d}", system, contact_id, when)
    # a contact created after as_of (left out) and a buyer no contact file describes
    contacts.append(
        {"source_system": "web", "source_contact_id": "LATE", "created_at": dt.datetime(2025, 4, 1)}
    )
    for j in range(3):
        add_order(f"STUB-{j}", "web", "STUB", start + dt.timedelta(days=100 * j + 5))
    for j in range(40):  # anonymous sales
        add_order(f"ANON-{j:02d}", None, None, start + dt.timedelta(days=int(rng.integers(0, 900))))
    return {
        "contacts": contacts,
        "orders": orders,
        "order_lines": lines,
        "products": products,
        "stores": stores,
    }


@pytest.fixture(scope="module")
def world() -> dict:
    return kpi_world()


@pytest.fixture(scope="module")
def build_files(tmp_path_factory: pytest.TempPathFactory, world: dict) -> tuple[Path, Path]:
    workdir = tmp_path_factory.mktemp("dbt_kpis")
    raw_store = create_raw_store(workdir / "raw.duckdb", world)
    build_path = workdir / "build.duckdb"
    run_dbt(
        build_args(VARS, select=SELECTED),  # these marts and their ancestors, with their tests
        workdir,
        dbt_env(build_path, raw_store),
    )
    return build_path, raw_store


@pytest.fixture(scope="module")
def built(build_files: tuple[Path, Path]) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(build_files[0]), read_only=True)
    try:
        return {
            name: con.execute(f"select * from marts.{name}").df()
            for name in (*KPI_MARTS, "customer_xref", "dim_customers")
        }
    finally:
        con.close()


# --- brute force -------------------------------------------------------------------


def month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def month_date(index: int) -> dt.date:
    return dt.date(index // 12, index % 12 + 1, 1)


def season_position(month: int) -> tuple[str, int, int]:
    for season, months in SEASONS.items():
        if month in months:
            return season, months.index(month), len(months)
    raise AssertionError(month)


def dec(value) -> Decimal:
    return Decimal(str(value))


class Facts:
    """The raw world as the marts should see it at AS_OF, one Python object per order."""

    def __init__(self, world: dict, built: dict[str, pd.DataFrame]) -> None:
        xref = built["customer_xref"]
        self.customer_of = {
            (row.source_system, row.source_contact_id): row.customer_id for row in xref.itertuples()
        }
        self.region_of = {
            row.customer_id: (row.region if isinstance(row.region, str) else None)
            for row in built["dim_customers"].itertuples()
        }
        self.customers = set(xref["customer_id"])
        end = dt.datetime.combine(AS_OF + dt.timedelta(days=1), dt.time())
        costs = {p["product_id"]: p.get("unit_cost") for p in world["products"]}
        self.category_of = {p["product_id"]: p.get("category") for p in world["products"]}
        lines_of = defaultdict(list)
        for line in world["order_lines"]:
            lines_of[line["order_id"]].append(line)
        self.store_region = {s["store_id"]: s.get("region") for s in world["stores"]}
        self.orders = []
        for order in world["orders"]:
            if order["ordered_at"] >= end:
                continue
            key = (order.get("source_system"), order.get("source_contact_id"))
            lines = lines_of[order["order_id"]]
            total = dec(order["order_total"])
            margin = None
            if lines and all(costs.get(line["product_id"]) for line in lines):
                cost = sum(dec(line["quantity"]) * dec(costs[line["product_id"]]) for line in lines)
                margin = total - cost
            self.orders.append(
                {
                    "order_id": order["order_id"],
                    "customer_id": self.customer_of.get(key) if key[0] else None,
                    "ordered_at": order["ordered_at"],
                    "day": order["ordered_at"].date(),
                    "completed": (order.get("status") or "completed") == "completed",
                    "channel": order.get("channel"),
                    "store_id": order.get("store_id"),
                    "total": total,
                    "margin": margin,
                    "products": {line["product_id"] for line in lines},
                }
            )
        self.completed = [o for o in self.orders if o["completed"]]
        created = defaultdict(list)
        for contact in world["contacts"]:
            key = (contact["source_system"], contact["source_contact_id"])
            if contact.get("created_at") and contact["created_at"] < end:
                created[self.customer_of[key]].append(contact["created_at"].date())
        first_order = {}
        for order in self.orders:
            if order["customer_id"]:
                c = order["customer_id"]
                first_order[c] = min(first_order.get(c, order["day"]), order["day"])
        self.first_known = {
            c: min(created.get(c, []) + ([first_order[c]] if c in first_order else []))
            for c in self.customers
            if created.get(c) or c in first_order
        }


@pytest.fixture(scope="module")
def facts(world: dict, built: dict[str, pd.DataFrame]) -> Facts:
    return Facts(world, built)


def assert_close(actual, expected, what: str, tolerance: float = 1e-9) -> None:
    if expected is None or (isinstance(expected, float) and math.isnan(expected)):
        assert actual is None or pd.isna(actual), f"{what}: {actual} != null"
        return
    assert actual is not None and not pd.isna(actual), f"{what}: null != {expected}"
    if isinstance(expected, (str, bool, dt.date)):
        assert actual == expected, f"{what}: {actual} != {expected}"
        return
    assert abs(float(actual) - float(expected)) <= tolerance * max(1.0, abs(float(expected))), (
        f"{what}: {actual} != {expected}"
    )


def compare(mart: pd.DataFrame, expected: list[dict], keys: list[str], what: str) -> None:
    """Every expected row is in the mart with these values, and the mart has no other rows."""
    assert len(mart) == len(expected), f"{what}: {len(mart)} rows, expected {len(expected)}"
    rows = {tuple(row[k] for k in keys): row for row in mart.to_dict("records")}
    for want in expected:
        key = tuple(want[k] for k in keys)
        assert key in rows, f"{what}: no row {key}"
        got = rows[key]
        for column, value in want.items():
            if column in keys:
                continue
            tolerance = 1e-4 if isinstance(value, Decimal) else 1e-9
            assert_close(got[column], value, f"{what} {key} {column}", tolerance)


def normalise_dates(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    frame = frame.copy()
    for column in columns:
        frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame


# --- cohorts ------------------------------------------------------------------------


def expected_cohorts(facts: Facts) -> list[dict]:
    by_customer = defaultdict(list)
    for order in facts.completed:
        if order["customer_id"]:
            by_customer[order["customer_id"]].append(order)
    members = {}
    for c, orders in by_customer.items():
        days = sorted({o["day"] for o in orders})
        first = min(orders, key=lambda o: (o["ordered_at"], o["order_id"]))
        members[c] = {
            "cohort": month_index(days[0]),
            "repeat": month_index(days[1]) if len(days) > 1 else None,
            "all": "(all)",
            "first_channel": first["channel"] or "(unknown)",
            "region": facts.region_of.get(c) or "(unknown)",
        }
    last = month_index(AS_OF)
    rows = []
    for dimension in ("all", "first_channel", "region"):
        cohorts = defaultdict(list)
        for c, member in members.items():
            cohorts[(member["cohort"], member[dimension])].append(c)
        for (cohort, value), customers in cohorts.items():
            size = len(customers)
            cumulative, cumulative_margin, cumulative_with_cost = Decimal(0), None, Decimal(0)
            for k in range(last - cohort + 1):
                month = cohort + k
                in_month = [
                    o for c in customers for o in by_customer[c] if month_index(o["day"]) == month
                ]
                active = {o["customer_id"] for o in in_month}
                revenue = sum((o["total"] for o in in_month), Decimal(0))
                cumulative += revenue
                for o in in_month:
                    if o["margin"] is not None:
                        cumulative_margin = (cumulative_margin or Decimal(0)) + o["margin"]
                        cumulative_with_cost += o["total"]
                repeaters = sum(
                    1
                    for c in customers
                    if members[c]["repeat"] is not None and members[c]["repeat"] <= month
                )
                rows.append(
                    {
                        "cohort_month": month_date(cohort),
                        "cohort_dimension": dimension,
                        "cohort_value": value,
                        "months_since_acquisition": k,
                        "cohort_size": size,
                        "n_active_customers": len(active),
                        "retention_rate": len(active) / size,
                        "n_repeat_customers": repeaters,
                        "repeat_rate": repeaters / size,
                        "n_orders": len(in_month),
                        "revenue": revenue,
                        "cumulative_revenue": cumulative,
                        "cumulative_revenue_per_customer": cumulative / size,
                        "cumulative_margin": cumulative_margin,
                        "cumulative_margin_per_customer": (
                            None if cumulative_margin is None else cumulative_margin / size
                        ),
                        "margin_coverage": (
                            float(cumulative_with_cost / cumulative) if cumulative > 0 else None
                        ),
                        "is_complete_month": month < last,
                    }
                )
    return rows


def test_cohorts_match_brute_force(built: dict, facts: Facts) -> None:
    mart = normalise_dates(built["cohort_retention"], ["cohort_month"])
    expected = expected_cohorts(facts)
    keys = ["cohort_month", "cohort_dimension", "cohort_value", "months_since_acquisition"]
    compare(mart, expected, keys, "cohort_retention")
    # the splits are partitions of the cohort
    sizes = (
        mart[mart["months_since_acquisition"] == 0]
        .groupby(["cohort_month", "cohort_dimension"])["cohort_size"]
        .sum()
        .unstack()
    )
    assert (sizes["first_channel"] == sizes["all"]).all()
    assert (sizes["region"] == sizes["all"]).all()
    # the fixture exercises what the mart is about
    assert (mart["n_active_customers"] == 0).any(), "a month without activity keeps its row"
    assert mart["cumulative_margin"].notna().any() and mart["cumulative_margin"].isna().any()
    assert {"(unknown)", "North"} <= set(
        mart.loc[mart["cohort_dimension"] == "region", "cohort_value"]
    )


# --- region and season --------------------------------------------------------------


def expected_region_periods(facts: Facts) -> list[dict]:
    stats = defaultdict(
        lambda: {"orders": 0, "revenue": Decimal(0), "customers": set(), "c_orders": 0}
    )
    first_month = {}
    for order in facts.completed:
        region = (
            facts.store_region.get(order["store_id"])
            or (facts.region_of.get(order["customer_id"]) if order["customer_id"] else None)
            or "(unknown)"
        )
        month = month_index(order["day"])
        _, position, _ = season_position(order["day"].month)
        for r in (region, "(all)"):
            first_month[r] = min(first_month.get(r, month), month)
            for period in (("month", month), ("season", month - position)):
                s = stats[(period[0], period[1], r)]
                s["orders"] += 1
                s["revenue"] += order["total"]
                if order["customer_id"]:
                    s["customers"].add(order["customer_id"])
                    s["c_orders"] += 1
    last = month_index(AS_OF)
    grid = set()
    for region, first in first_month.items():
        for month in range(first, last + 1):
            grid.add(("month", month, region))
            grid.add(("season", month - season_position(month % 12 + 1)[1], region))

    def measures(key):
        s = stats.get(key)
        if s is None:
            return {"orders": 0, "revenue": Decimal(0), "customers": 0, "opc": None}
        n = len(s["customers"])
        return {
            "orders": s["orders"],
            "revenue": s["revenue"],
            "customers": n,
            "opc": s["c_orders"] / n if n else None,
            "c_orders": s["c_orders"],
        }

    def change(now, before):
        return (
            None if before is None or before == 0 or now is None else float(now) / float(before) - 1
        )

    rows = []
    for key in grid:
        period_type, start, region = key
        m = measures(key)
        prior_key = (period_type, start - 12, region)
        prior = (
            measures(prior_key) if prior_key in grid and start - 12 >= first_month[region] else None
        )
        season, _, length = season_position(start % 12 + 1)
        n_months = 1 if period_type == "month" else length
        rows.append(
            {
                "period_type": period_type,
                "period_start": month_date(start),
                "region": region,
                "period_end": month_date(start + n_months) - dt.timedelta(days=1),
                "season": season,
                "season_year": (start + length - 1 - season_position(start % 12 + 1)[1]) // 12,
                "is_complete_period": start + n_months - 1 < last,
                "n_orders": m["orders"],
                "n_customers": m["customers"],
                "n_customer_orders": m.get("c_orders", 0),
                "orders_per_customer": m["opc"],
                "revenue": m["revenue"],
                "prior_year_revenue": prior["revenue"] if prior else None,
                "prior_year_n_customers": prior["customers"] if prior else None,
                "revenue_yoy_change": change(m["revenue"], prior["revenue"]) if prior else None,
                "n_customers_yoy_change": change(m["customers"], prior["customers"])
                if prior
                else None,
                "n_orders_yoy_change": change(m["orders"], prior["orders"]) if prior else None,
                "orders_per_customer_yoy_change": change(m["opc"], prior["opc"]) if prior else None,
            }
        )
    return rows


def test_region_season_sales_match_brute_force(built: dict, facts: Facts) -> None:
    mart = normalise_dates(built["sales_by_region_period"], ["period_start", "period_end"])
    expected = expected_region_periods(facts)
    compare(mart, expected, ["period_type", "period_start", "region"], "sales_by_region_period")
    assert {"North", "South", "(unknown)", "(all)"} <= set(mart["region"])
    assert mart["revenue_yoy_change"].notna().any() and mart["revenue_yoy_change"].isna().any()
    # additive measures: the regions add up to (all), the months to their season
    months = mart[mart["period_type"] == "month"]
    by_region = months[months["region"] != "(all)"].groupby("period_start")["n_orders"].sum()
    overall = months[months["region"] == "(all)"].set_index("period_start")["n_orders"]
    assert (by_region.reindex(overall.index, fill_value=0) == overall).all()
    seasons = mart[mart["period_type"] == "season"].set_index(["period_start", "region"])
    for (start, region), row in seasons.iterrows():
        in_season = months[
            (months["region"] == region)
            & (months["period_start"] >= start)
            & (months["period_start"] <= row["period_end"])
        ]
        assert in_season["n_orders"].sum() == row["n_orders"], (start, region)


# --- the CRM KPIs -------------------------------------------------------------------


def expected_kpis(facts: Facts) -> list[dict]:
    last = month_index(AS_OF)
    months_with_data = [month_index(o["day"]) for o in facts.completed] + [
        month_index(day) for day in facts.first_known.values()
    ]
    first = min(months_with_data)
    purchase_months = defaultdict(set)
    revenue = defaultdict(Decimal)  # (customer, month) -> revenue
    customer_orders = defaultdict(int)  # month -> orders of customers
    for o in facts.completed:
        if o["customer_id"]:
            m = month_index(o["day"])
            purchase_months[o["customer_id"]].add(m)
            revenue[(o["customer_id"], m)] += o["total"]
            customer_orders[m] += 1
    first_purchase = {c: min(ms) for c, ms in purchase_months.items()}

    def active(month: int) -> set:
        return {
            c for c, ms in purchase_months.items() if any(month - WINDOW < p <= month for p in ms)
        }

    rows = []
    for month in range(first, last + 1):
        in_month = [o for o in facts.completed if month_index(o["day"]) == month]
        total = sum((o["total"] for o in in_month), Decimal(0))
        buyers = sorted(c for c, ms in purchase_months.items() if month in ms)
        now = active(month)
        if month - WINDOW >= first:
            before = active(month - WINDOW)
            base, retained = len(before), len(before & now)
        else:
            base = retained = None
        trailing = {
            c: sum(
                (revenue[(c, p)] for p in purchase_months[c] if month - WINDOW < p <= month),
                Decimal(0),
            )
            for c in buyers
        }
        ranked = sorted(buyers, key=lambda c: (-trailing[c], c))
        top = ranked[
            : sum(1 for rank in range(1, len(ranked) + 1) if rank <= TOP_SHARE * len(ranked))
        ]
        buyer_revenue = sum((revenue[(c, month)] for c in buyers), Decimal(0))
        window_orders = sum(customer_orders[m] for m in range(month - WINDOW + 1, month + 1))
        rows.append(
            {
                "month_start": month_date(month),
                "is_complete_month": month < last,
                "n_new_members": sum(
                    1 for d in facts.first_known.values() if month_index(d) == month
                ),
                "n_new_customers": sum(1 for m in first_purchase.values() if m == month),
                "n_active_customers": len(now),
                "n_buying_customers": len(buyers),
                "n_orders": len(in_month),
                "total_purchase_amount": total,
                "average_order_value": total / len(in_month) if in_month else None,
                "n_customer_orders": customer_orders[month],
                "customer_purchase_amount": buyer_revenue,
                "purchase_frequency": window_orders / len(now) if now else None,
                "n_retention_base": base,
                "n_retained_customers": retained,
                "retention_rate": retained / base if base else None,
                "churn_rate": 1 - retained / base if base else None,
                "top_tier_revenue_share": (
                    float(sum((revenue[(c, month)] for c in top), Decimal(0)) / buyer_revenue)
                    if buyer_revenue > 0
                    else None
                ),
            }
        )
    return rows


def test_crm_kpis_match_brute_force(built: dict, facts: Facts) -> None:
    mart = normalise_dates(built["crm_kpis_monthly"], ["month_start"])
    expected = expected_kpis(facts)
    compare(mart, expected, ["month_start"], "crm_kpis_monthly")
    assert mart["retention_rate"].between(0, 1).any(), "the fixture reaches a retention figure"
    assert (mart["top_tier_revenue_share"] > 0).any()
    assert mart["month_start"].is_monotonic_increasing
    assert mart["month_start"].iloc[-1] == AS_OF.replace(day=1)


# --- market basket ------------------------------------------------------------------


def expected_pairs(facts: Facts, level: str) -> list[dict]:
    baskets = [
        o["products"]
        for o in facts.completed
        if o["products"] and len(o["products"]) <= BASKET["basket_max_items"]
    ]
    if level == "category":
        baskets_items = [{facts.category_of.get(p) for p in b} - {None} for b in baskets]
    else:
        baskets_items = baskets
    n = len(baskets)

    def frequent(count: int) -> bool:
        return count >= BASKET["basket_min_orders"] and count >= BASKET["basket_min_support"] * n

    items = defaultdict(int)
    pairs = defaultdict(int)
    for basket in baskets_items:
        for item in basket:
            items[item] += 1
        for a, b in itertools.combinations(sorted(basket), 2):
            pairs[(a, b)] += 1  # every pair, no pruning: brute force
    rows = []
    for (a, b), count in pairs.items():
        if not frequent(count):
            continue
        rows.append(
            {
                "item_a": a,
                "item_b": b,
                "n_orders": count,
                "n_orders_a": items[a],
                "n_orders_b": items[b],
                "n_baskets": n,
                "support": count / n,
                "support_a": items[a] / n,
                "support_b": items[b] / n,
                "confidence_a_to_b": count / items[a],
                "confidence_b_to_a": count / items[b],
                "lift": count * n / (items[a] * items[b]),
            }
        )
    return rows


@pytest.mark.parametrize(
    ("mart_name", "level", "a", "b"),
    [
        ("basket_product_pairs", "product", "product_id_a", "product_id_b"),
        ("basket_category_pairs", "category", "category_a", "category_b"),
    ],
)
def test_basket_pairs_match_brute_force_itemsets(
    built: dict, facts: Facts, mart_name: str, level: str, a: str, b: str
) -> None:
    mart = built[mart_name].rename(columns={a: "item_a", b: "item_b"})
    expected = expected_pairs(facts, level)
    assert expected, "the fixture has frequent pairs"
    compare(mart, expected, ["item_a", "item_b"], mart_name)


def test_basket_thresholds_and_cap_bite(built: dict, facts: Facts) -> None:
    """The fixture has pairs below the minimum and baskets above basket_max_items."""
    baskets = [o["products"] for o in facts.completed if o["products"]]
    assert any(len(b) > BASKET["basket_max_items"] for b in baskets)
    kept = [b for b in baskets if len(b) <= BASKET["basket_max_items"]]
    all_pairs = {pair for b in kept for pair in itertools.combinations(sorted(b), 2)}
    assert 0 < len(built["basket_product_pairs"]) < len(all_pairs)


# --- the reconciliation suite -------------------------------------------------------


def test_reconciliation_suite_passes(build_files: tuple[Path, Path]) -> None:
    (suite,) = [s for s in load_suites() if s.name == "reconciliation.kpis"]
    (outcome,) = run_suites(build_files[0], [suite], raw_store=build_files[1])
    assert outcome.success, outcome.summary()


# --- configuration errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("seasons", "message"),
    [
        ({"winter": [12, 1, 2], "summer": [6, 7, 8]}, "must give every month 1-12 a season"),
        ({"wet": [1, 12, 2, 3, 4, 5], "dry": [6, 7, 8, 9, 10, 11]}, "must be consecutive"),
    ],
)
def test_a_bad_season_map_stops_the_build(tmp_path: Path, seasons: dict, message: str) -> None:
    raw_store = create_raw_store(tmp_path / "raw.duckdb", {})
    result = run_dbt(
        [
            "compile",
            "--select",
            "sales_by_region_period",
            "--vars",
            json.dumps({"seasons": seasons}),
        ],
        tmp_path,
        dbt_env(tmp_path / "build.duckdb", raw_store),
        check=False,
    )
    assert result.returncode != 0 and message in result.stdout, result.stdout[-3000:]
