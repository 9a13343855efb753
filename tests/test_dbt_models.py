"""The dbt project built on hand-made raw stores, checked against independent computations.

Each build writes a fixture raw store (tests/dbt_fixtures.py, the loader's exact
DDL) into a temporary folder and runs one `dbt build` into a new build file, as
a refresh does. The expected values are recomputed here with pandas from the
raw rows and the seeds, not read back from intermediate models.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import shutil
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import jinja2
import numpy as np
import pandas as pd
import pytest
import yaml
from dbt_fixtures import REPO, build, dbt_env, run_dbt, sample_rows

AS_OF = "2024-06-30"
LATER_AS_OF = "2024-12-31"
MAX_PER_VALUE = 3  # the fixture's placeholder e-mail is shared by 4 contacts
VARS = {"as_of": AS_OF, "currency": "EUR", "identity_max_contacts_per_value": MAX_PER_VALUE}

MARTS = (
    "customer_xref",
    "dim_customers",
    "fct_orders",
    "fct_order_lines",
    "dim_products",
    "dim_stores",
    "customer_value",
    "customer_360",
    "customer_rfm",
    "fct_interactions",
    "service_kpis",
    "customer_service",
    "fct_campaign_members",
    "campaign_performance",
    "cohort_retention",
    "sales_by_region_period",
    "crm_kpis_monthly",
    "basket_product_pairs",
    "basket_category_pairs",
    "customer_lifecycle",
    "customer_segment_history",
    "segment_movement",
)


# --- helpers -----------------------------------------------------------------


def query(build_path: Path, sql: str, raw_store: Path | None = None) -> pd.DataFrame:
    """Read the build file like an analyst (read-only); attach raw only to read staging views."""
    con = duckdb.connect(str(build_path), read_only=True)
    try:
        if raw_store is not None:
            con.execute(f"attach '{raw_store}' as raw (read_only)")
        return con.execute(sql).df()
    finally:
        con.close()


def customer_id_of(key: str) -> str:
    return "C" + hashlib.md5(key.encode()).hexdigest()[:16]


def latest_versions(raw: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """One row per key: latest _loaded_at, then _load_id, then _row_number."""
    ordered = raw.sort_values(["_loaded_at", "_load_id", "_row_number"])
    return ordered.drop_duplicates(key, keep="last")


def read_raw(raw_store: Path, entity: str) -> pd.DataFrame:
    con = duckdb.connect(str(raw_store), read_only=True)
    try:
        return con.execute(f"select * from main.{entity}").df()
    finally:
        con.close()


def fx_to_eur() -> dict[str, Decimal]:
    with open(REPO / "seeds" / "fx_rates.csv", newline="") as handle:
        return {row["currency"]: Decimal(row["rate_to_eur"]) for row in csv.DictReader(handle)}


def ntile(n_rows: int, buckets: int = 5) -> np.ndarray:
    """SQL NTILE over already sorted rows: the first n % buckets tiles get one row more."""
    base, extra = divmod(n_rows, buckets)
    sizes = [base + 1 if i < extra else base for i in range(buckets)]
    return np.repeat(np.arange(1, buckets + 1), sizes)


def rfm_segment_rule(r: int, f: int, m: int) -> str:
    fm = int((Decimal(f + m) / 2).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    table = {
        5: {
            1: "New",
            2: "Potential Loyalist",
            3: "Potential Loyalist",
            4: "Champions",
            5: "Champions",
        },
        4: {
            1: "Promising",
            2: "Potential Loyalist",
            3: "Potential Loyalist",
            4: "Loyal",
            5: "Loyal",
        },
        3: {1: "About to Sleep", 2: "About to Sleep", 3: "Need Attention", 4: "Loyal", 5: "Loyal"},
        2: {1: "Hibernating", 2: "Hibernating", 3: "At Risk", 4: "At Risk", 5: "Cannot Lose Them"},
        1: {1: "Lost", 2: "Hibernating", 3: "At Risk", 4: "At Risk", 5: "Cannot Lose Them"},
    }
    return table[r][fm]


def expected_rfm(raw_store: Path, xref: pd.DataFrame, as_of: str) -> pd.DataFrame:
    """RFM recomputed from the raw orders, the fx seed and the customer mapping."""
    as_of_day = dt.date.fromisoformat(as_of)
    orders = latest_versions(read_raw(raw_store, "orders"), ["order_id"])
    orders = orders[orders["ordered_at"] < pd.Timestamp(as_of_day + dt.timedelta(days=1))]
    orders = orders.assign(
        status=orders["status"].fillna("completed"),
        currency=orders["currency"].fillna("EUR").str.upper(),
        order_date=orders["ordered_at"].dt.date,
    )
    orders = orders[orders["status"] == "completed"].merge(
        xref[["source_system", "source_contact_id", "customer_id"]],
        on=["source_system", "source_contact_id"],
        how="inner",
    )
    rates = fx_to_eur()
    orders["amount_base"] = [
        (Decimal(str(total)) * rates[cur] / rates["EUR"]).quantize(Decimal("0.0001"))
        for total, cur in zip(orders["order_total"], orders["currency"], strict=True)
    ]
    per_customer = (
        orders.groupby("customer_id")
        .agg(
            last_day=("order_date", "max"),
            n_days=("order_date", "nunique"),
            n_orders=("order_id", "count"),
            monetary=("amount_base", lambda values: sum(values, Decimal(0))),
        )
        .reset_index()
    )
    per_customer["recency_days"] = [(as_of_day - day).days for day in per_customer["last_day"]]
    per_customer["frequency"] = per_customer["n_days"] - 1
    # sort keys: negate to sort descending inside one ascending sort
    per_customer["neg_recency"] = -per_customer["recency_days"]
    per_customer["monetary_f"] = per_customer["monetary"].astype(float)
    for score, keys in {
        "r_score": ["neg_recency", "frequency", "monetary_f", "customer_id"],
        "f_score": ["frequency", "monetary_f", "neg_recency", "customer_id"],
        "m_score": ["monetary_f", "frequency", "customer_id"],
    }.items():
        ordered = per_customer.sort_values(keys, kind="mergesort").index
        per_customer.loc[ordered, score] = ntile(len(per_customer))
    per_customer[["r_score", "f_score", "m_score"]] = per_customer[
        ["r_score", "f_score", "m_score"]
    ].astype(int)
    per_customer["rfm_segment"] = [
        rfm_segment_rule(r, f, m)
        for r, f, m in zip(
            per_customer["r_score"], per_customer["f_score"], per_customer["m_score"], strict=True
        )
    ]
    return per_customer.set_index("customer_id").sort_index()


# --- builds (one dbt build each, shared by the tests of a module) -----------


@pytest.fixture(scope="module")
def world() -> dict:
    return sample_rows()


@pytest.fixture(scope="module")
def main_build(tmp_path_factory: pytest.TempPathFactory, world: dict) -> tuple[Path, Path]:
    workdir = tmp_path_factory.mktemp("dbt_main")
    build_path = build(workdir, world, VARS, unit_tests=True)  # the one build with them
    return build_path, workdir / "raw.duckdb"


@pytest.fixture(scope="module")
def later_build(tmp_path_factory: pytest.TempPathFactory, world: dict) -> tuple[Path, Path]:
    workdir = tmp_path_factory.mktemp("dbt_later")
    build_path = build(workdir, world, {**VARS, "as_of": LATER_AS_OF})
    return build_path, workdir / "raw.duckdb"


# --- parse ---------------------------------------------------------------------


def test_parse_needs_no_environment(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_PROFILES_DIR": str(REPO),
    }
    run_dbt(["parse", "--no-partial-parse"], tmp_path, env)
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    models = {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    }
    for name in MARTS:
        assert models[name]["schema"] == "marts"
        assert models[name]["config"]["contract"]["enforced"] is True
        assert all(column["data_type"] for column in models[name]["columns"].values()), name
    assert models["int_contact_clusters"]["language"] == "python"
    assert {m["schema"] for n, m in models.items() if n.startswith("stg_")} == {"staging"}


def test_the_profile_keeps_working_after_duckdb_spills(tmp_path: Path) -> None:
    """dbt-duckdb opens a cursor per node and runs the profile's `settings` on
    each; DuckDB refuses to set temp_directory again once it has spilled there,
    so with the spill folder among them every node after a spill failed (10M
    orders with a 5 GB memory limit). The profile, rendered as a refresh renders
    it, must give each new cursor its limits and still open after a spill."""
    from dbt.adapters.duckdb.credentials import DuckDBCredentials
    from dbt.adapters.duckdb.environments.local import LocalEnvironment

    duckdb.connect(str(tmp_path / "raw.duckdb")).close()
    run_vars = {  # as a refresh passes them (orchestration/assets/dbt.py)
        "build_path": str(tmp_path / "build.duckdb"),
        "raw_store": str(tmp_path / "raw.duckdb"),
        "memory_limit": "64MB",
        "temp_directory": str(tmp_path / "spill"),
    }
    text = jinja2.Template((REPO / "profiles.yml").read_text()).render(
        var=lambda name, default=None: run_vars.get(name, default),
        env_var=lambda name, default=None: default,
    )
    output = yaml.safe_load(text)["crm"]["outputs"]["build"]
    credentials = DuckDBCredentials.from_dict(
        {k: v for k, v in output.items() if k not in ("type", "threads")}
    )
    environment = LocalEnvironment(credentials)
    first = environment.handle().cursor()
    first.execute("create table t as select md5(range::varchar) as b from range(2000000)")
    assert first.execute(
        "select count(*) from (select b, count(*) from t group by b order by b)"
    ).fetchone() == (2_000_000,)
    assert (tmp_path / "spill").exists()  # it spilled
    for _ in range(2):  # a node's cursor after the spill, and the next one
        cursor = environment.handle().cursor()
        assert cursor.execute(
            "select current_setting('memory_limit'), current_setting('temp_directory'), "
            "current_setting('TimeZone')"
        ).fetchone() == ("61.0 MiB", str(tmp_path / "spill"), "UTC")


def test_rfm_segment_seed_follows_the_rule() -> None:
    with open(REPO / "seeds" / "rfm_segments.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 125
    for row in rows:
        r, f, m = int(row["r_score"]), int(row["f_score"]), int(row["m_score"])
        assert row["rfm_cell"] == f"{r}{f}{m}"
        assert row["rfm_segment"] == rfm_segment_rule(r, f, m), row


# --- the main build -----------------------------------------------------------


def test_rfm_matches_independent_computation(main_build: tuple[Path, Path]) -> None:
    build_path, raw_store = main_build
    xref = query(build_path, "select * from marts.customer_xref")
    expected = expected_rfm(raw_store, xref, AS_OF)
    actual = (
        query(build_path, "select * from marts.customer_rfm").set_index("customer_id").sort_index()
    )

    assert len(actual) > 40  # the random customers make the quintiles meaningful
    assert list(actual.index) == list(expected.index)
    assert (actual["as_of"].dt.date == dt.date.fromisoformat(AS_OF)).all()
    for column in ("recency_days", "frequency", "n_orders", "r_score", "f_score", "m_score"):
        assert actual[column].tolist() == expected[column].tolist(), column
    assert np.allclose(
        actual["monetary"].astype(float), expected["monetary"].astype(float), atol=1e-4
    )
    assert actual["rfm_segment"].tolist() == expected["rfm_segment"].tolist()
    assert (
        actual["rfm_cell"]
        == actual["r_score"].astype(str)
        + actual["f_score"].astype(str)
        + actual["m_score"].astype(str)
    ).all()


def test_customer_value_conventions(main_build: tuple[Path, Path]) -> None:
    build_path, _ = main_build
    value = query(build_path, "select * from marts.customer_value").set_index("customer_id")
    anna = value.loc[customer_id_of("call_center:CC1")]
    # completed on 2024-01-10 (two orders: web + store), 2024-03-05 (USD), 2024-06-30 23:59
    assert anna["n_orders"] == 4
    assert anna["n_purchase_days"] == 3
    assert anna["frequency"] == 2
    assert anna["recency_days"] == (dt.date(2024, 6, 30) - dt.date(2024, 1, 10)).days
    assert anna["t_days"] == (dt.date(2024, 6, 30) - dt.date(2024, 1, 10)).days
    assert float(anna["revenue"]) == pytest.approx(100 + 50 + 80 * 0.92 + 20)
    assert anna["n_returned"] == 1 and float(anna["returned_value"]) == pytest.approx(60)
    # A1's lines: 2 * 12 + 1 * 20 = 44 cost; A2's lamp has no cost -> only A1 counts
    assert float(anna["margin"]) == pytest.approx(100 - 44)
    assert anna["n_orders_with_cost"] == 1
    bob = value.loc[customer_id_of("dealer:D1")]
    assert bob["n_orders"] == 1 and bob["n_cancelled"] == 1  # B1 cancelled by a later file


def test_identity_links_formats_and_keeps_strangers_apart(main_build: tuple[Path, Path]) -> None:
    build_path, _ = main_build
    xref = query(build_path, "select * from marts.customer_xref")
    by_key = {
        f"{s}:{c}": row
        for s, c, row in zip(
            xref["source_system"], xref["source_contact_id"], xref.to_dict("records"), strict=True
        )
    }

    def customer(key: str) -> str:
        return by_key[key]["customer_id"]

    # e-mail in another case, phone national vs +49, loyalty id in another spelling
    anna = {"web:W1", "store:S1", "call_center:CC1", "loyalty:L1"}
    assert {customer(k) for k in anna} == {customer_id_of(min(anna))}

    # the keys each record shares (the probabilistic model may add its own links
    # among Anna's records: they share a name)
    def keys(key: str) -> str:
        return by_key[key]["match_rule"].removesuffix("+splink")

    assert keys("web:W1") == "email+phone"
    assert keys("store:S1") == "email+loyalty_id"
    assert keys("call_center:CC1") == "phone"
    assert keys("loyalty:L1") == "loyalty_id"
    # '030 1234567' (DE) and '0049 30 1234567'
    assert customer("web:W2") == customer("dealer:D1") == customer_id_of("dealer:D1")
    # nothing deterministic in common: apart (probabilistic matching may join them later)
    assert customer("web:W3") != customer("store:S3")
    # a placeholder e-mail shared by more contacts than the cap links nobody
    walk_ins = [f"store:P{i}" for i in range(1, 5)]
    assert len({customer(k) for k in walk_ins}) == 4
    assert {by_key[k]["match_rule"] for k in walk_ins} == {"singleton"}
    # every singleton is named after itself; the stub buyer exists without a contact record
    for key, row in by_key.items():
        if row["match_rule"] == "singleton":
            assert row["customer_id"] == customer_id_of(key)
            assert row["n_customer_records"] == 1
    assert not by_key["web:W77"]["has_contact_record"]
    assert customer("web:W77") == customer_id_of("web:W77")
    # random customers share nothing
    rnd = xref[xref["source_system"] == "rnd"]
    assert rnd["customer_id"].is_unique

    customers = query(build_path, "select * from marts.dim_customers")
    assert len(customers) == xref["customer_id"].nunique()


def test_golden_record_survivorship(main_build: tuple[Path, Path]) -> None:
    build_path, _ = main_build
    customers = query(build_path, "select * from marts.dim_customers").set_index("customer_id")
    anna = customers.loc[customer_id_of("call_center:CC1")]
    assert anna["first_name"] == "Anna-Lena"  # loyalty is the most trusted source
    assert anna["email"] == "anna.muster@example.com"  # loyalty has none: web's, normalised
    assert anna["phone"] == "+491512345678"
    assert anna["birth_date"].date() == dt.date(1985, 4, 12)
    # what the analytics file keeps of the personal fields
    assert (anna["has_email"], anna["has_phone"], anna["birth_year"]) == (True, True, 1985)
    assert (anna["address_line1"], anna["city"], anna["postal_code"]) == (
        "Invalidenstr. 1",
        "Berlin",
        "10115",
    )
    assert not anna["marketing_opt_in"]  # the latest stated opt-in (call centre, 2024-02) is no
    assert anna["n_source_records"] == 4 and anna["n_source_systems"] == 4
    assert anna["source_systems"] == "call_center,loyalty,store,web"
    assert anna["first_order_date"].date() == dt.date(2024, 1, 10)
    assert anna["last_order_date"].date() == dt.date(2024, 6, 30)
    bob = customers.loc[customer_id_of("dealer:D1")]
    assert bob["first_name"] == "Bob"  # web (trusted over dealer), its latest version


def test_customer_360_is_the_other_marts_side_by_side(main_build: tuple[Path, Path]) -> None:
    """One row per customer; each column equals its source mart (joined here with pandas)."""
    build_path, _ = main_build
    c360 = query(build_path, "select * from marts.customer_360").set_index("customer_id")
    dim = query(build_path, "select * from marts.dim_customers").set_index("customer_id")
    assert sorted(c360.index) == sorted(dim.index)
    sources = {
        "customer_value": ["revenue", "avg_order_value", "margin"],
        "customer_rfm": ["r_score", "f_score", "m_score", "rfm_segment"],
        "customer_clv": ["p_alive", "predicted_clv", "value_tier"],
        "customer_lifecycle": ["lifecycle_stage"],
    }
    for mart, columns in sources.items():
        source = query(build_path, f"select * from marts.{mart}").set_index("customer_id")
        expected = source[columns].reindex(c360.index)
        pd.testing.assert_frame_equal(
            c360[columns], expected, check_dtype=False, check_names=False, obj=mart
        )
    n_orders = query(build_path, "select customer_id, n_orders from marts.customer_value")
    expected_orders = n_orders.set_index("customer_id")["n_orders"].reindex(c360.index).fillna(0)
    assert (c360["n_orders"] == expected_orders).all()
    pd.testing.assert_series_equal(
        c360["marketing_opt_in"], dim["marketing_opt_in"].reindex(c360.index), check_names=False
    )
    personal = {"first_name", "last_name", "email", "phone", "birth_date", "address_line1"}
    assert personal.isdisjoint(c360.columns)


def test_as_of_ignores_later_data(main_build: tuple[Path, Path]) -> None:
    build_path, raw_store = main_build
    orders = query(build_path, "select * from marts.fct_orders").set_index("order_id")
    assert "A4" in orders.index  # 2024-06-30 23:59 is on the as-of day
    assert "B3" not in orders.index and "F1" not in orders.index  # 2024-07-01 00:00 and later
    assert orders["ordered_at"].max() < pd.Timestamp("2024-07-01")
    assert orders.loc["B1", "status"] == "cancelled"  # the later file's version
    assert orders.loc["N1", "customer_id"] is None or pd.isna(orders.loc["N1", "customer_id"])
    assert float(orders.loc["A3", "order_total_base"]) == pytest.approx(80 * 0.92)
    xref = query(build_path, "select * from marts.customer_xref")
    assert "W9" not in set(xref["source_contact_id"])  # created after as_of
    lines = query(build_path, "select * from marts.fct_order_lines")
    assert "B3" not in set(lines["order_id"])
    interactions = query(build_path, "select * from staging.stg_raw__interactions", raw_store)
    assert interactions["interaction_id"].tolist() == ["I1"]


def test_replay_later_as_of_keeps_customer_ids(
    main_build: tuple[Path, Path], later_build: tuple[Path, Path]
) -> None:
    earlier = query(main_build[0], "select * from marts.customer_xref")
    later = query(later_build[0], "select * from marts.customer_xref")
    merged = earlier.merge(
        later, on=["source_system", "source_contact_id"], suffixes=("", "_later")
    )
    assert len(merged) == len(earlier)  # nobody disappears
    assert (merged["customer_id"] == merged["customer_id_later"]).all()  # unrelated data: same ids
    assert "W9" in set(later["source_contact_id"])
    orders = query(later_build[0], "select order_id from marts.fct_orders")
    assert {"B3", "F1"} <= set(orders["order_id"])
    rfm = query(later_build[0], "select * from marts.customer_rfm")
    xref = query(later_build[0], "select * from marts.customer_xref")
    expected = expected_rfm(later_build[1], xref, LATER_AS_OF)
    actual = rfm.set_index("customer_id").sort_index()
    assert actual[["r_score", "f_score", "m_score"]].values.tolist() == (
        expected[["r_score", "f_score", "m_score"]].values.tolist()
    )
    assert (actual["as_of"].dt.date == dt.date(2024, 12, 31)).all()


def test_column_checks_fail_where_the_single_tests_would(
    main_build: tuple[Path, Path], tmp_path: Path
) -> None:
    """column_checks (data-tests/generic/) replaced dbt's not_null, unique,
    accepted_values and the composite key and expression tests: on a copy of the
    build with broken rows it reports each broken check with the rows the single
    test would have failed, and no other check."""
    build_path, raw_store = main_build
    broken = tmp_path / "broken.duckdb"
    shutil.copy(build_path, broken)
    clusters, links = "intermediate.int_contact_clusters", "intermediate.int_contact_links"
    with duckdb.connect(str(broken)) as con:
        # two null keys (nulls are not duplicates of each other), one repeated
        # key whose guard is not an accepted value, one null guard (accepted)
        con.execute(
            f"insert into {clusters} select * replace (null as contact_key, null as guard) "
            f"from (from {clusters} limit 2)"
        )
        con.execute(
            f"insert into {clusters} select * replace ('bogus' as guard) "
            f"from (from {clusters} limit 1)"
        )
        # a repeated pair, a reversed pair, and one null-keyed pair twice: a
        # combination's nulls are compared, and a null comparison is not true
        con.execute(f"insert into {links} from (from {links} limit 1)")
        con.execute(
            f"insert into {links} select * replace (contact_key_b as contact_key_a, "
            f"contact_key_a as contact_key_b) from (from {links} limit 1)"
        )
        for _ in range(2):
            con.execute(
                f"insert into {links} select * replace (null as contact_key_a) "
                f"from (from {links} order by contact_key_a limit 1)"
            )
    workdir = tmp_path / "dbt"
    selected = ["column_checks_int_contact_clusters", "column_checks_int_contact_links"]
    result = run_dbt(
        ["test", "--select", *selected, "--vars", json.dumps({**VARS, "build_incremental": False})],
        workdir,
        dbt_env(broken, raw_store),
        check=False,
    )
    assert result.returncode == 1, result.stdout[-3000:]
    results = [
        r
        for r in json.loads((workdir / "target" / "run_results.json").read_text())["results"]
        if r["unique_id"].startswith("test.")
    ]
    failures = {r["unique_id"].split(".")[2]: (r["status"], r["failures"]) for r in results}
    assert failures == {
        "column_checks_int_contact_clusters": ("fail", 2 + 1 + 1),
        "column_checks_int_contact_links": ("fail", 2 + 3 + 2),
    }
    with duckdb.connect(str(broken), read_only=True) as con:
        found = {row for r in results for row in con.execute(r["compiled_code"]).fetchall()}
    assert found == {
        ("not_null contact_key", 2),
        ("unique contact_key", 1),
        ("accepted_values guard", 1),
        ("not_null contact_key_a", 2),
        ("unique contact_key_a, contact_key_b", 1 + 1),
        ("expression contact_key_a < contact_key_b", 1 + 2),
    }


def test_only_staging_holds_views_and_the_rest_reads_without_raw(
    main_build: tuple[Path, Path], tmp_path: Path
) -> None:
    """What publishing relies on: drop `staging`, and every other relation still reads alone."""
    published = tmp_path / "published.duckdb"
    shutil.copyfile(main_build[0], published)
    con = duckdb.connect(str(published))
    try:
        views = con.execute(
            "select distinct table_schema from information_schema.tables where table_type = 'VIEW'"
        ).fetchall()
        assert views == [("staging",)]
        con.execute("drop schema staging cascade")
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables order by all"
        ).fetchall()
        assert {schema for schema, _ in tables} == {"intermediate", "marts", "seeds", "semantic"}
        for schema, name in tables:
            con.execute(f"select count(*) from {schema}.{name}").fetchone()
    finally:
        con.close()


# --- optional entities absent ------------------------------------------------------


def test_optional_entities_empty_build_empty_marts(tmp_path: Path, world: dict) -> None:
    core = {
        "contacts": [c for c in world["contacts"] if c["source_system"] in ("web", "store")],
        "orders": [o for o in world["orders"] if o.get("source_system") in ("web", "store", None)],
    }
    build_path = build(tmp_path, core, VARS)
    counts = {
        name: query(build_path, f"select count(*) as n from marts.{name}")["n"].iloc[0]
        for name in MARTS
    }
    assert counts["fct_order_lines"] == counts["dim_products"] == counts["dim_stores"] == 0
    for name in (
        "fct_interactions",
        "service_kpis",
        "customer_service",
        "fct_campaign_members",
        "campaign_performance",
    ):
        assert counts[name] == 0, name
    assert counts["basket_product_pairs"] == counts["basket_category_pairs"] == 0
    assert counts["crm_kpis_monthly"] > 0 and counts["cohort_retention"] > 0
    assert counts["sales_by_region_period"] > 0  # regions fall back to the customer's
    assert counts["fct_orders"] > 0 and counts["customer_rfm"] > 0 and counts["dim_customers"] > 0
    # lifecycle and segment movement need only orders and contacts
    assert counts["customer_lifecycle"] == counts["dim_customers"]
    assert counts["customer_360"] == counts["dim_customers"]
    assert counts["customer_segment_history"] > 0 and counts["segment_movement"] > 0
    orders = query(build_path, "select * from marts.fct_orders")
    assert (orders["n_lines"] == 0).all() and orders["order_cost"].isna().all()


def test_empty_raw_store_builds_empty_marts(tmp_path: Path) -> None:
    build_path = build(tmp_path, {}, VARS)  # every raw table exists, without rows
    for name in MARTS:
        assert query(build_path, f"select count(*) as n from marts.{name}")["n"].iloc[0] == 0, name
