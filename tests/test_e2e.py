"""End to end: generated inbox -> `crm refresh` -> published warehouse, in a temp folder.

Every figure checked here is recomputed by other means (pandas over the raw
store, the generator's ground truth, file line counts), not read back from the
model that produced it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import Env
from tests.conftest import read_only as _ro

AS_OF = "2025-12-31"
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Env:
    env = Env(tmp_path_factory.mktemp("e2e"))
    env.crm(
        "generate",
        "--customers",
        "800",
        "--seed",
        "7",
        "--bad-row-rate",
        "0.01",
        "--truth",
        str(env.truth),
    )
    env.crm("refresh")
    return env


def _fingerprint(env: Env) -> dict[str, object]:
    """Row counts and content hashes of every mart in the published warehouse."""
    with _ro(env.warehouse) as con:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts' order by 1"
            ).fetchall()
        ]
        return {
            t: con.execute(
                # fit_seconds is how long a fit took: the one column a rerun may change
                f"select count(*), sum(hash(columns(c -> c <> 'fit_seconds'))) "
                f"from (select * from marts.{t})"
            ).fetchone()
            for t in tables
        }


def test_published_warehouse_is_self_contained(built: Env):
    assert built.warehouse.exists()
    assert not Path(str(built.warehouse) + ".wal").exists()
    with _ro(built.warehouse) as con:
        schemas = {r[0] for r in con.execute("select schema_name from duckdb_schemas()").fetchall()}
        assert "staging" not in schemas  # views over the raw store would break for readers
        marts = {
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts'"
            ).fetchall()
        }
        assert {"dim_customers", "customer_xref", "fct_orders", "customer_rfm"} <= marts
        # Every view a reader can see must resolve without the raw store attached.
        for schema, view in con.execute(
            "select schema_name, view_name from duckdb_views() where not internal"
        ).fetchall():
            con.execute(f"select * from {schema}.{view} limit 1")
        n_orders, n_after = con.execute(
            f"select count(*), count(*) filter (where ordered_at >= date '{AS_OF}' + 1) "
            "from marts.fct_orders"
        ).fetchone()
        assert n_orders > 1000 and n_after == 0
        info = con.execute("select as_of from meta.warehouse_info").fetchone()
        assert str(info[0]) == AS_OF


def _ntile(keys: pd.DataFrame, ascending: list[bool], n: int = 5) -> pd.Series:
    """NTILE(n) over an ORDER BY, computed without SQL: sort, then split into n runs
    whose sizes differ by at most one, the larger runs first."""
    order = keys.sort_values(list(keys.columns), ascending=ascending, kind="mergesort").index
    size = len(order)
    base, extra = divmod(size, n)
    sizes = [base + (1 if i < extra else 0) for i in range(n)]
    tiles = np.repeat(np.arange(1, n + 1), sizes)
    return pd.Series(tiles, index=order).reindex(keys.index)


def test_rfm_matches_independent_computation(built: Env):
    settings_raw = built.home / "raw.duckdb"
    with _ro(settings_raw) as raw:
        orders = raw.execute(
            "select order_id, source_system, source_contact_id, ordered_at, order_total, "
            "coalesce(status, 'completed') as status, _loaded_at, _row_number from orders"
        ).df()
    with _ro(built.warehouse) as con:
        xref = con.execute(
            "select source_system, source_contact_id, customer_id from marts.customer_xref"
        ).df()
        rfm = con.execute("select * from marts.customer_rfm").df().set_index("customer_id")

    orders = orders.sort_values(["order_id", "_loaded_at", "_row_number"]).drop_duplicates(
        "order_id", keep="last"
    )
    orders = orders[
        (orders.status == "completed") & (orders.ordered_at.dt.date <= pd.Timestamp(AS_OF).date())
    ]
    orders = orders.merge(xref, on=["source_system", "source_contact_id"], how="inner")
    orders["day"] = orders.ordered_at.dt.normalize()
    per = orders.groupby("customer_id").agg(
        first_day=("day", "min"),
        last_day=("day", "max"),
        n_days=("day", "nunique"),
        n_orders=("order_id", "count"),
        monetary=("order_total", lambda s: float(s.sum())),
    )
    per["frequency"] = per.n_days - 1
    per["recency_days"] = (pd.Timestamp(AS_OF) - per.last_day).dt.days

    assert set(per.index) == set(rfm.index)
    rfm = rfm.loc[per.index]
    np.testing.assert_array_equal(rfm.frequency.to_numpy(), per.frequency.to_numpy())
    np.testing.assert_array_equal(rfm.recency_days.to_numpy(), per.recency_days.to_numpy())
    np.testing.assert_allclose(rfm.monetary.astype(float), per.monetary, rtol=1e-9)

    keys = per.reset_index()
    r = _ntile(
        keys[["recency_days", "frequency", "monetary", "customer_id"]], [False, True, True, True]
    )
    f = _ntile(
        keys[["frequency", "monetary", "recency_days", "customer_id"]], [True, True, False, True]
    )
    m = _ntile(keys[["monetary", "frequency", "customer_id"]], [True, True, True])
    scored = rfm.loc[keys.customer_id]
    np.testing.assert_array_equal(scored.r_score.to_numpy(), r.to_numpy())
    np.testing.assert_array_equal(scored.f_score.to_numpy(), f.to_numpy())
    np.testing.assert_array_equal(scored.m_score.to_numpy(), m.to_numpy())
    assert rfm.rfm_segment.notna().all()
    assert {"Champions", "Lost"} & set(rfm.rfm_segment)


def test_quarantine_reconciles_with_injected_rows(built: Env):
    injected = pd.read_parquet(built.truth / "injected.parquet")
    bad = injected[injected.kind != "exact_duplicate"]
    assert len(bad) > 0
    with _ro(built.home / "raw.duckdb") as raw:
        quarantine = raw.execute(
            "select entity, file_name, row_number, reason from quarantine"
        ).df()
        duplicates = raw.execute("select entity, file_name, row_number from duplicates").df()
        ledger = raw.execute("select * from load_ledger where status = 'loaded'").df()
    got = set(zip(quarantine.entity, quarantine.file_name, quarantine.row_number, strict=True))
    for row in bad.itertuples():
        assert (row.entity, row.file, row.row_number) in got, row
    assert len(quarantine) == len(bad)
    assert quarantine.reason.str.len().gt(10).all()
    dups = injected[injected.kind == "exact_duplicate"]
    assert len(duplicates) == len(dups)
    assert (
        ledger.rows_in_file == ledger.rows_loaded + ledger.rows_quarantined + ledger.rows_duplicate
    ).all()
    # rows_in_file is what the file really holds: count CSV and JSONL lines ourselves.
    for row in ledger.itertuples():
        path = built.inbox / row.file_name
        if path.suffix in (".csv", ".jsonl"):
            with open(path, "rb") as handle:
                lines = sum(1 for line in handle if line.strip())
            assert row.rows_in_file == lines - (1 if path.suffix == ".csv" else 0), path


def test_second_refresh_of_same_files_changes_nothing(built: Env):
    before = _fingerprint(built)
    with _ro(built.home / "raw.duckdb") as raw:
        ledger_before = raw.execute("select count(*) from load_ledger").fetchone()
        orders_before = raw.execute("select count(*) from orders").fetchone()
    built.crm("refresh")
    with _ro(built.home / "raw.duckdb") as raw:
        assert raw.execute("select count(*) from orders").fetchone() == orders_before
        assert raw.execute("select count(*) from load_ledger").fetchone() == ledger_before
    assert _fingerprint(built) == before


def test_status_reports_loads_quarantine_and_publication(built: Env):
    out = built.crm("status").stdout
    assert "published" in out and AS_OF in out
    assert "orders" in out and "quarantine" in out


def test_reader_keeps_working_during_refresh_and_sees_new_data_on_reconnect(built_env: Env):
    crm_env = built_env
    reader = _ro(crm_env.warehouse)
    old_count = reader.execute("select count(*) from marts.fct_orders").fetchone()[0]
    extra = crm_env.inbox / "orders" / "late-orders.csv"
    extra.write_text(
        "order_id,ordered_at,order_total,channel\n"
        "LATE-1,2025-12-30T10:00:00Z,10.00,web\nLATE-2,2025-12-30T11:00:00+01:00,20.00,web\n"
    )
    crm_env.crm("refresh")  # must not be blocked by the open reader
    assert reader.execute("select count(*) from marts.fct_orders").fetchone()[0] == old_count
    reader.close()
    with _ro(crm_env.warehouse) as fresh:
        assert fresh.execute("select count(*) from marts.fct_orders").fetchone()[0] == old_count + 2
        ordered_at = fresh.execute(
            "select ordered_at from marts.fct_orders where order_id = 'LATE-2'"
        ).fetchone()[0]
        assert ordered_at.hour == 10  # 11:00+01:00 is 10:00 UTC


def test_as_of_replays_the_past(crm_env: Env):
    crm_env.crm("generate", "--customers", "300", "--seed", "4", "--truth", str(crm_env.truth))
    crm_env.crm("refresh", as_of="2024-06-30")
    with _ro(crm_env.warehouse) as con:
        latest = con.execute("select max(ordered_at) from marts.fct_orders").fetchone()[0]
        as_of = con.execute("select distinct as_of from marts.customer_rfm").fetchall()
    assert latest.date() <= pd.Timestamp("2024-06-30").date()
    assert [str(a[0]) for a in as_of] == ["2024-06-30"]


def test_resolved_customers_match_the_ground_truth(built: Env):
    """Pairwise precision/recall of customer_xref's clusters against the generator's
    true persons, records without e-mail and phone included."""
    from crm.identity.evaluate import score_clusters, truth_keys

    with _ro(built.warehouse) as con:
        xref = con.execute(
            "select source_system || ':' || source_contact_id as contact_key, customer_id "
            "from marts.customer_xref where has_contact_record"
        ).df()
    scores = score_clusters(
        xref.contact_key.to_numpy(),
        xref.customer_id.to_numpy(),
        truth_keys(built.truth / "contacts.parquet"),
    )
    assert scores["contacts"] > 1000
    assert scores["precision"] >= 0.99, scores
    assert scores["recall"] >= 0.97, scores


def test_households_group_people_at_one_address_without_merging_them(built: Env):
    """The generator's true households: members must stay separate customers (a
    household is a grouping, not a merge) and mostly share one household_id."""
    with _ro(built.warehouse) as con:
        pairs = con.execute(f"""
            with person_customer as (
                select truth.person_id, min(xref.customer_id) as customer_id
                from '{built.truth / "contacts.parquet"}' as truth
                inner join marts.customer_xref as xref
                    on truth.source_system = xref.source_system
                    and truth.source_contact_id = xref.source_contact_id
                group by truth.person_id
            ),
            members as (
                select persons.household_id as true_household, person_customer.*,
                       customers.household_id
                from person_customer
                inner join '{built.truth / "persons.parquet"}' as persons
                    on person_customer.person_id = persons.person_id
                inner join marts.dim_customers as customers
                    on person_customer.customer_id = customers.customer_id
            )
            select count(*),
                   avg(case when a.customer_id = b.customer_id then 1.0 else 0.0 end),
                   avg(case when a.household_id = b.household_id then 1.0 else 0.0 end)
            from members as a
            inner join members as b
                on a.true_household = b.true_household and a.person_id < b.person_id
        """).fetchone()
        totals = con.execute(
            "select (select sum(n_customers) from marts.dim_households), "
            "count(household_id) from marts.dim_customers"
        ).fetchone()
    n_pairs, merged, grouped = pairs
    assert n_pairs >= 30
    assert merged < 0.03, pairs  # people at one address stay separate customers
    assert grouped > 0.6, pairs  # and are recognised as one household
    assert totals[0] == totals[1]


def test_published_warehouse_carries_the_quality_gate_results(built: Env):
    with _ro(built.warehouse) as con:
        run_id = con.execute("select run_id from meta.warehouse_info").fetchone()[0]
        runs = con.execute(
            "select suite, success, blocks, batch_rows from meta.quality_runs where run_id = ?",
            [run_id],
        ).df()
        failed = con.execute(
            "select count(*) from meta.quality_results where run_id = ? and not success", [run_id]
        ).fetchone()[0]
    assert {"marts.customer_rfm", "marts.customer_clv", "reconciliation.warehouse"} <= set(
        runs["suite"]
    )
    assert runs["success"].all() and not runs["blocks"].any() and failed == 0
    assert (runs.loc[runs["suite"] == "reconciliation.warehouse", "batch_rows"] == 1).all()
    assert (built.warehouse.parent / "data_docs" / "index.html").exists()


def test_refresh_report_shows_the_marts_numbers_and_opens_offline(built: Env, tmp_path: Path):
    """The page every refresh writes beside the warehouse: each number read back from
    it (in the file and in Chromium) equals the mart's, it loads nothing from outside,
    and `crm report` writes the same bytes again."""
    import re

    from tests.browser import offline_page

    page_file = built.warehouse.parent / "refresh_report.html"
    html = page_file.read_text(encoding="utf-8")
    assert page_file.stat().st_size < 3_000_000  # aggregates only, capped cohorts/campaigns

    def spans(attribute: str) -> dict[str, str]:
        return dict(re.findall(rf'<span data-{attribute}="([^"]+)">([^<]*)</span>', html))

    with _ro(built.warehouse) as con:
        month = con.execute(
            "select * from marts.crm_kpis_monthly where is_complete_month "
            "order by month_start desc limit 1"
        ).df()
        rfm = con.execute("select rfm_segment from marts.customer_rfm").df()
        clv = con.execute("select value_tier from marts.customer_clv").df()
        lifecycle = con.execute("select lifecycle_movement from marts.customer_lifecycle").df()
        lift = con.execute("select campaign_id, lift from marts.campaign_performance").df()
    kpi = spans("kpi")
    assert kpi["n_orders"] == f"{int(month['n_orders'][0]):,}"
    assert kpi["n_new_customers"] == f"{int(month['n_new_customers'][0]):,}"
    assert kpi["retention_rate"] == f"{100 * month['retention_rate'][0]:.1f}%"
    assert spans("rfm") == {k: f"{v:,}" for k, v in rfm["rfm_segment"].value_counts().items()}
    tiers = clv["value_tier"].dropna().value_counts()
    assert spans("tier") == {k: f"{v:,}" for k, v in tiers.items()}
    moves = lifecycle["lifecycle_movement"].fillna("none (no purchase yet)").value_counts()
    assert spans("movement") == {k: f"{v:,}" for k, v in moves.items()}
    shown = spans("lift")
    assert shown and set(shown) <= set(lift["campaign_id"])
    for campaign, value in lift.dropna().itertuples(index=False):
        if campaign in shown:
            assert shown[campaign] == f"{100 * value:+.1f} pp"

    with offline_page(("file://",)) as (page, traffic):
        page.goto(page_file.as_uri())
        assert page.title() == "Refresh report 2025-12-31"
        assert page.locator("svg.chart").count() >= 9
        assert page.locator('[data-kpi="n_orders"]').inner_text() == kpi["n_orders"]
        page.screenshot(path=str(tmp_path / "refresh_report.png"), full_page=True)
    assert traffic.outside == [] and traffic.errors == []
    assert (tmp_path / "refresh_report.png").stat().st_size > 50_000

    again = tmp_path / "again.html"
    built.crm("report", "--out", str(again))
    assert again.read_bytes() == page_file.read_bytes()


def test_a_report_that_cannot_be_written_fails_the_run_after_publishing(built: Env):
    """The report comes after the publication: when it fails, `crm refresh` fails and
    says the new warehouse *was* published (not that the old one is unchanged)."""
    page = built.warehouse.parent / "refresh_report.html"
    with _ro(built.warehouse) as con:
        before = con.execute("select published_at from meta.warehouse_info").fetchone()[0]
    page.unlink()
    page.mkdir()  # os.replace cannot put a file over a directory
    try:
        result = built.crm("refresh", check=False)
    finally:
        page.rmdir()
    assert result.returncode == 1
    assert "the warehouse was published" in result.stderr and "refresh_report" in result.stderr
    with _ro(built.warehouse) as con:
        after = con.execute("select published_at from meta.warehouse_info").fetchone()[0]
    assert after > before


def test_the_documented_connection_routes_read_the_warehouse(built: Env, tmp_path: Path):
    """docs/querying.md's Python snippet and DuckDB CLI command, run as written with
    the warehouse's path put in, read the published file (read-only)."""
    import re
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    page = (repo / "docs" / "querying.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", page, re.S).group(1)
    code = snippet.replace("data/warehouse.duckdb", str(built.warehouse))
    code += "\nprint(len(rfm))\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    with _ro(built.warehouse) as con:
        run_id = con.execute("select run_id from meta.warehouse_info").fetchone()[0]
        n_rfm = con.execute("select count(*) from marts.customer_rfm").fetchone()[0]
        top = con.execute(
            "select customer_id from marts.customer_value order by revenue desc limit 5"
        ).fetchall()
    assert AS_OF in result.stdout and result.stdout.split()[-1] == str(n_rfm)

    query = re.search(r"Top customers with their golden record:\n\n```sql\n(.*?)```", page, re.S)
    (tmp_path / "top_customers.sql").write_text(query.group(1))
    command = re.search(r"\n(\.venv/bin/duckdb -readonly .*)\n", page).group(1)
    command = command.replace(".venv/bin/", f"{repo}/.venv/bin/")
    command = command.replace("data/warehouse.duckdb", str(built.warehouse))
    cli = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert cli.returncode == 0, cli.stderr
    assert all(customer_id in cli.stdout for (customer_id,) in top)
    assert run_id  # the file read is a published generation
