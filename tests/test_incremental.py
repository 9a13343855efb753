"""An incremental refresh equals a full one: a chain of daily refreshes, compared table by table.

Two homes start from one published warehouse. Each day the same files arrive in
both and as_of moves on; home A refreshes incrementally, home B with
`crm refresh --full`. After every day each table of both restricted outputs
(marts, intermediate tables and the identity state) must hold the same rows,
apart from columns that say when or how long something ran.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from crm.identity import matching
from crm.incremental import compare_warehouses
from tests.conftest import Env

pytestmark = pytest.mark.e2e

D0 = "2025-12-20"


def _sql(con: duckdb.DuckDBPyConnection, sql: str, target: Path) -> None:
    """Write a query's rows into an inbox file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"copy ({sql}) to '{target}' (format parquet)")


def _mode(env: Env) -> str:
    with duckdb.connect(str(env.restricted), read_only=True) as con:
        return con.execute("select refresh_mode from meta.warehouse_info").fetchone()[0]


def _analytics_written(env: Env) -> str:
    with duckdb.connect(str(env.warehouse), read_only=True) as con:
        return con.execute("select written from meta.analytics_info").fetchone()[0]


def _tested_changed_keys_only(env: Env) -> bool:
    """Whether the last build's column checks of fct_orders read only the replaced keys."""
    run = env.home / "dbt-target" / "run" / "crm" / "models" / "marts" / "sales"
    sql = (run / "_sales__models.yml" / "column_checks_fct_orders.sql").read_text()
    return "int_changed_orders" in sql


def _parsed_whole(env: Env) -> bool:
    """Whether the last refresh made dbt parse the whole project again."""
    log = max((env.home / "runs").glob("*.log"))
    return "Unable to do partial parsing" in log.read_text()


CAP = 20  # var identity_max_contacts_per_value's default


def _shared_match_keys(env: Env) -> list[tuple[int, int]]:
    """(records with the shared e-mail, those with it as their match key)."""
    with duckdb.connect(str(env.restricted), read_only=True) as con:
        return con.execute(
            "select count(*), count(email_match_key) from intermediate.int_contacts_normalized "
            "where email_normalized = 'info@shop.example'"
        ).fetchall()


NAME_RULE = [name for name, _ in matching.BLOCKING_RULES].index("name")
NAME_CAP = matching.block_cap(matching.BLOCKING_RULES[NAME_RULE][1])


def _namesakes_paired_by_name(env: Env) -> tuple[int, int]:
    """(namesake records, those the blocking rule on the name pairs)."""
    with duckdb.connect(str(env.restricted), read_only=True) as con:
        return con.execute(
            "select count(*), count(*) filter (where substr(b.block_signature, ?, 1) = '1') "
            "from intermediate.int_contact_blocks b "
            "join intermediate.int_contacts_normalized c using (contact_key) "
            "where c.source_contact_id like 'namesake-%'",
            [NAME_RULE + 1],
        ).fetchone()


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """Demo data as CSV, to cut into an initial inbox and daily drops."""
    root = tmp_path_factory.mktemp("generated")
    Env(root).crm(
        "generate", "--customers", "300", "--seed", "11", "--format", "csv",
        "--truth", str(root / "truth"),
    )  # fmt: skip
    return root


def test_daily_incremental_refreshes_equal_full_ones(generated: Path, tmp_path: Path):
    source = generated / "inbox"
    a = Env(tmp_path / "a")
    con = duckdb.connect()
    orders = f"read_csv('{source}/orders/*.csv', all_varchar = true)"
    lines = f"read_csv('{source}/order_lines/*.csv', all_varchar = true)"
    contacts = f"read_csv('{source}/contacts/*.csv', all_varchar = true, union_by_name = true)"
    products = f"read_csv('{source}/products/*.csv', all_varchar = true)"
    # held back, to arrive on day 1: the orders of day 1 and a few late ones from June
    con.execute(
        f"create table held as select order_id from {orders} "
        f"where cast(ordered_at as timestamptz) >= timestamptz '{D0} 12:00:00+00' "
        f"or (ordered_at like '2025-06-1%' and order_id like '%3')"
    )
    held = con.execute("select count(*) from held").fetchone()[0]
    assert held >= 5  # the day brings orders and late ones
    for entity in (
        "campaign_touches",
        "campaigns",
        "contacts",
        "interactions",
        "products",
        "stores",
    ):
        shutil.copytree(source / entity, a.inbox / entity)
    _sql(con, f"select * from {orders} where order_id not in (select order_id from held)",
         a.inbox / "orders" / "orders.parquet")  # fmt: skip
    _sql(con, f"select * from {lines} where order_id not in (select order_id from held)",
         a.inbox / "order_lines" / "order_lines.parquet")  # fmt: skip
    a.crm("refresh", as_of=D0)
    assert _mode(a) == "full"  # the first publication
    b = Env(tmp_path / "b")
    shutil.copytree(a.root, b.root)

    def day(as_of: str, drops: dict[str, str]) -> None:
        for name, sql in drops.items():
            for env in (a, b):
                _sql(con, sql, env.inbox / name)
        a.crm("refresh", as_of=as_of)
        b.crm("refresh", "--full", as_of=as_of)
        assert (_mode(a), _mode(b)) == ("incremental", "full")
        # as_of reaches dbt at run time: a new day is no reason to re-parse the project
        assert not _parsed_whole(a), as_of
        # the analytics file: a patched copy of the last one, equal to one written whole
        assert (_analytics_written(a), _analytics_written(b)) == ("patched", "whole")
        # the tests of replaced keys judge those rows; the others were judged before
        assert (_tested_changed_keys_only(a), _tested_changed_keys_only(b)) == (True, False)
        assert compare_warehouses(a.restricted, b.restricted) == [], as_of
        assert compare_warehouses(a.warehouse, b.warehouse) == [], as_of

    # Day 1: the day's orders and late-arriving ones (placed in June), a new contact
    # record of an existing person (x's e-mail), and a manual decision that it is the
    # same person as y: x's and y's customers merge.
    bridged, x, y = con.execute(
        f"select x.source_system, x.source_contact_id, y.source_contact_id from {contacts} x "
        f"join {contacts} y on x.source_system = y.source_system "
        "and x.email <> y.email and x.last_name <> y.last_name "
        "order by 1, 2, 3 limit 1"
    ).fetchone()
    bridge = (
        f"select * replace ('bridge-1' as source_contact_id, "
        "'2025-12-21T08:00:00Z' as created_at, '2025-12-21T08:00:00Z' as updated_at) "
        f"from {contacts} where source_system = '{bridged}' and source_contact_id = '{x}' limit 1"
    )
    same = (
        f"select '{bridged}' as source_system_a, 'bridge-1' as source_contact_id_a, "
        f"'{bridged}' as source_system_b, '{y}' as source_contact_id_b, "
        "'same' as decision, 'one person, says the call centre' as reason"
    )

    # n new records (ids prefix-<first + 1>...) with only the given name and e-mail
    def alike(prefix: str, n: int, first: int, created: str, name: str, email: str) -> str:
        return (
            f"select * replace ('{prefix}-' || (row_number() over (order by source_contact_id) "
            f"+ {first}) as source_contact_id, {name}, {email} as email, "
            "null as phone, null as birth_date, null as address_line1, null as address_line2, "
            "null as postal_code, null as city, null as loyalty_id, "
            f"'{created}' as created_at, '{created}' as updated_at) "
            f"from (select * from {contacts} where source_system = '{bridged}' "
            f"and source_contact_id not in ('{x}', '{y}') order by source_contact_id limit {n})"
        )

    # and CAP new records with nothing but one shared e-mail: within the cap, so
    # it links them into one customer; one more on day 2 makes the e-mail a
    # placeholder for all of them, and they split
    def sharing(n: int, first: int, created: str) -> str:
        name = "'Info' as first_name, 'Shared' || source_contact_id as last_name"
        return alike("shared", n, first, created, name, "'info@shop.example'")

    # and NAME_CAP records of one name, nothing else: the blocking rule on the
    # name pairs them; one more on day 2 takes the block over the rule's cap, and
    # the block signatures of day 1's records change although they did not
    def namesakes(n: int, first: int, created: str) -> str:
        name = "'Blocky' as first_name, 'Crosser' as last_name"
        return alike("namesake", n, first, created, name, "null")

    day(
        "2025-12-21",
        {
            "orders/day1.parquet": f"select * from {orders} where order_id in (select * from held)",
            "order_lines/day1.parquet": f"select * from {lines} "
            "where order_id in (select * from held)",
            "contacts/day1_bridge.parquet": bridge,
            "contacts/day1_shared.parquet": sharing(CAP, 0, "2025-12-21T08:00:00Z"),
            "contacts/day1_namesakes.parquet": namesakes(NAME_CAP, 0, "2025-12-21T08:00:00Z"),
            "identity_overrides/day1.parquet": same,
        },
    )
    assert _shared_match_keys(a) == [(CAP, CAP)]
    assert _namesakes_paired_by_name(a) == (NAME_CAP, NAME_CAP)
    with duckdb.connect(str(a.restricted), read_only=True) as restricted:
        merged = restricted.execute(
            "select count(distinct customer_id) from intermediate.int_contacts_resolved "
            "where source_system = ? and source_contact_id in (?, ?, 'bridge-1')",
            [bridged, x, y],
        ).fetchone()[0]
    assert merged == 1  # the new record and the decision made one customer of two
    # Day 2: returns (new versions of completed orders), one contact record
    # corrected to another person's details (its customer merges into theirs,
    # its orders move), and a product's new unit cost.
    returned = (
        f"select * replace ('returned' as status) from {orders} "
        "where status = 'completed' and order_id like '%7' limit 6"
    )
    pair = con.execute(
        f"select x.source_system, x.source_contact_id, y.source_contact_id from {contacts} x "
        f"join {contacts} y on x.source_system = y.source_system "
        "and x.email is not null and y.email is not null and x.email <> y.email "
        "and x.last_name <> y.last_name "
        f"where x.source_contact_id in (select source_contact_id from {orders}) "
        "order by x.source_contact_id, y.source_contact_id limit 1"
    ).fetchone()
    system, moved, target = pair
    corrected = (
        f"select y.* replace ('{moved}' as source_contact_id, "
        "'2025-12-21T09:00:00Z' as updated_at) "
        f"from {contacts} y where y.source_system = '{system}' "
        f"and y.source_contact_id = '{target}'"
    )
    repriced = (
        f"select * replace (cast(cast(unit_cost as double) * 1.1 as varchar) as unit_cost) "
        f"from {products} where product_id in (select product_id from {lines} limit 2)"
    )
    day(
        "2025-12-22",
        {
            "orders/day2_returns.parquet": returned,
            f"contacts/day2_{system}.parquet": corrected,
            "products/day2.parquet": repriced,
            "contacts/day2_shared.parquet": sharing(1, CAP, "2025-12-22T08:00:00Z"),
            "contacts/day2_namesakes.parquet": namesakes(1, NAME_CAP, "2025-12-22T08:00:00Z"),
        },
    )
    assert _namesakes_paired_by_name(a) == (NAME_CAP + 1, 0)
    # the value crossed the cap: the match keys of day 1's records, unchanged
    # themselves, are gone too
    assert _shared_match_keys(a) == [(CAP + 1, 0)]
    # Day 3: no new file, as_of moves on (orders already loaded become visible).
    day("2025-12-24", {})
