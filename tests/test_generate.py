"""The demo data generator: layout, contract columns, reproducibility, noise, truth.

Files are read back with DuckDB as plain text (every column VARCHAR), the way
an independent reader sees them, not through the generator's own code.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import math
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from crm import cli
from crm.contract import ENTITIES
from crm.generate import (
    DEFAULT_HYPERPARAMETERS,
    DEFAULT_NOISE,
    NOISE_PROFILES,
    SYSTEMS,
    generate,
    plan_files,
)
from crm.generate.core import GENERATED_ENTITIES
from crm.generate.params import resolve_noise
from crm.generate.vocab import OCR_CONFUSIONS

SEED = 7


def _run(base: Path, **kwargs) -> dict:
    return generate(base / "inbox", base / "truth", **{"seed": SEED, **kwargs})


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> tuple[Path, dict]:
    """A clean run in the mixed layout: every format of the contract at once."""
    base = tmp_path_factory.mktemp("mixed")
    return base, _run(base, customers=3000, chunk_size=3000)


@pytest.fixture(scope="module")
def dirty(tmp_path_factory) -> tuple[Path, dict]:
    """Plain CSV with bad rows injected, bad optional values included."""
    base = tmp_path_factory.mktemp("dirty")
    kwargs = {"file_format": "csv", "bad_row_rate": 0.03, "bad_optional_values": True}
    return base, _run(base, customers=800, **kwargs)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    with duckdb.connect() as connection:
        yield connection


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    """The single value a query returns."""
    return con.execute(sql, params or []).fetchone()[0]


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _text(path: Path) -> str:
    """SQL for the file's rows, every contract column as VARCHAR, in file order."""
    cols = ENTITIES[path.parent.name].column_names
    spec = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in cols) + "}"
    if path.name.endswith((".csv", ".csv.gz")):
        return (
            f"read_csv('{path}', header=true, auto_detect=false, columns={spec}, "
            "delim=',', quote='\"', escape='\"')"
        )
    if path.name.endswith((".jsonl", ".jsonl.gz")):
        return f"read_json('{path}', format='newline_delimited', columns={spec})"
    casts = ", ".join(f'"{c}"::VARCHAR AS "{c}"' for c in cols)
    return f"(SELECT {casts} FROM read_parquet('{path}'))"


def _entity(inbox: Path, entity: str) -> str:
    """SQL for all files of an entity (as text)."""
    parts = [f"SELECT * FROM {_text(p)}" for p in sorted((inbox / entity).iterdir())]
    return "(" + " UNION ALL ".join(parts) + ")"


def _truth(base: Path, name: str) -> str:
    return f"read_parquet('{base / 'truth' / name}')"


def _lines(path: Path) -> list[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as f:
        return f.read().split("\n")[:-1]


def _declared_columns(path: Path) -> list[str]:
    """The columns a file declares: CSV header, Parquet schema, union of JSONL keys."""
    if path.name.endswith(".parquet"):
        return pq.read_schema(path).names
    lines = _lines(path)
    if ".csv" in path.name:
        return lines[0].split(",")
    keys: dict[str, None] = {}
    for line in lines:
        keys.update(dict.fromkeys(json.loads(line)))
    return list(keys)


# --- layout and contract ------------------------------------------------------------


def test_every_entity_is_written_in_the_planned_formats(mixed):
    base, summary = mixed
    written = {str(p.relative_to(base / "inbox")) for p in _files(base / "inbox")}
    assert written == set(summary["files"])
    assert {name.split("/")[0] for name in written} == set(GENERATED_ENTITIES)
    assert {
        "contacts/contacts_web.csv",
        "contacts/contacts_store.parquet",
        "contacts/contacts_call_center.jsonl",
        "contacts/contacts_dealer.csv.gz",
        "contacts/contacts_loyalty.jsonl.gz",
        "orders/orders.parquet",
        "order_lines/order_lines.parquet",
        "products/products.csv",
    } <= written
    assert not list((base / "inbox").rglob(".*"))  # no partial files left behind
    for fmt in ("csv", "parquet", "jsonl"):
        assert set(plan_files(fmt).values()) == {fmt}


def test_every_file_has_exactly_the_contract_columns(mixed):
    base, _ = mixed
    for path in _files(base / "inbox"):
        expected = ENTITIES[path.parent.name].column_names
        declared = _declared_columns(path)
        if path.name.endswith((".jsonl", ".jsonl.gz")):  # null values are left out
            assert sorted(declared) == sorted(expected), path
        else:
            assert declared == expected, path


def test_row_counts_match_the_summary_and_params(mixed, con):
    base, summary = mixed
    for rel, rows in summary["files"].items():
        assert _one(con, f"SELECT count(*) FROM {_text(base / 'inbox' / rel)}") == rows, rel
    assert summary["counts"]["persons"] == 3000
    assert summary["counts"]["products"] == DEFAULT_HYPERPARAMETERS["products"]
    assert summary["counts"]["stores"] == DEFAULT_HYPERPARAMETERS["stores"]
    params = json.loads((base / "truth" / "params.json").read_text())
    assert params["counts"] == summary["counts"] and params["seed"] == SEED
    assert params["hyperparameters"]["bgnbd"] == DEFAULT_HYPERPARAMETERS["bgnbd"]
    assert params["noise"] == DEFAULT_NOISE


def test_keys_are_unique_and_required_values_present(mixed, con):
    base, _ = mixed
    for name in GENERATED_ENTITIES:
        entity = ENTITIES[name]
        rel = _entity(base / "inbox", name)
        key = ", ".join(entity.key)
        dupes = f"SELECT count(*) FROM (SELECT {key} FROM {rel} GROUP BY ALL HAVING count(*) > 1)"
        assert _one(con, dupes) == 0, name
        missing = " OR ".join(f"{c} IS NULL" for c in entity.required)
        assert _one(con, f"SELECT count(*) FROM {rel} WHERE {missing}") == 0, name


def test_text_values_follow_the_contract_spelling(mixed, con):
    base, _ = mixed
    web = base / "inbox/contacts/contacts_web.csv"
    not_a_date = "NOT regexp_full_match(birth_date, '\\d{4}-\\d{2}-\\d{2}')"
    assert _one(con, f"SELECT count(*) FROM {_text(web)} WHERE {not_a_date}") == 0
    stamps = [
        r[0]
        for r in con.sql(
            f"SELECT created_at FROM {_text(web)} WHERE created_at IS NOT NULL"
        ).fetchall()
    ]
    assert any(s.endswith("Z") for s in stamps)
    assert any(s.endswith(("+01:00", "+02:00")) for s in stamps)
    assert any(len(s) == 19 for s in stamps)  # no zone: UTC by the contract
    assert all(dt.datetime.fromisoformat(s.replace("Z", "+00:00")) for s in stamps)
    totals = con.sql(f"SELECT order_total FROM {_entity(base / 'inbox', 'orders')}").fetchall()
    assert all(len(t[0].split(".")[1]) == 2 for t in totals)
    assert any('"' in line for line in _lines(web)[1:])  # values with a comma are quoted


# --- reproducibility and chunking ------------------------------------------------------


def _contents(base: Path) -> dict[str, bytes]:
    return {str(p.relative_to(base)): p.read_bytes() for p in _files(base)}


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    kwargs = {"customers": 400, "bad_row_rate": 0.02}
    _run(tmp_path / "a", **kwargs)
    _run(tmp_path / "b", **kwargs)
    generate(tmp_path / "c/inbox", tmp_path / "c/truth", seed=SEED + 1, **kwargs)
    a, b, c = _contents(tmp_path / "a"), _contents(tmp_path / "b"), _contents(tmp_path / "c")
    assert a == b
    assert a.keys() == c.keys()
    for rel in ("inbox/contacts/contacts_web.csv", "inbox/orders/orders.parquet"):
        assert a[rel] != c[rel], rel
    assert a["truth/persons.parquet"] != c["truth/persons.parquet"]


def test_chunk_size_does_not_change_the_data(tmp_path):
    kwargs = {"customers": 1000, "bad_row_rate": 0.02}
    one = _run(tmp_path / "one", chunk_size=1000, **kwargs)
    many = _run(tmp_path / "many", chunk_size=137, **kwargs)
    assert one["counts"] == many["counts"] and one["files"] == many["files"]
    truth = ["persons.parquet", "contacts.parquet", "injected.parquet", "params.json"]
    paths = [f"inbox/{rel}" for rel in one["files"]] + [f"truth/{name}" for name in truth]
    for rel in paths:
        a, b = tmp_path / "one" / rel, tmp_path / "many" / rel
        if a.name.endswith(".parquet"):  # row groups follow the chunks, the content must not
            assert pq.read_table(a).equals(pq.read_table(b)), rel
        elif rel != "truth/params.json":
            assert a.read_bytes() == b.read_bytes(), rel


def test_existing_files_are_not_overwritten_by_accident(tmp_path):
    _run(tmp_path, customers=50)
    with pytest.raises(FileExistsError):
        _run(tmp_path, customers=50)
    _run(tmp_path, customers=60, overwrite=True)
    assert json.loads((tmp_path / "truth/params.json").read_text())["customers"] == 60


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="file_format"):
        _run(tmp_path, file_format="xml")
    with pytest.raises(ValueError, match="unknown parameter"):
        _run(tmp_path, noise={"emial_missing": 0.1})
    with pytest.raises(ValueError, match="start"):
        _run(tmp_path, start=dt.date(2025, 1, 1), end=dt.date(2024, 1, 1))


# --- what the data looks like ----------------------------------------------------------


def test_noise_is_applied_at_about_the_configured_rates(mixed, con):
    base, _ = mixed
    truth = pq.read_table(base / "truth/contacts.parquet").to_pandas()
    observed = {
        "email_missing": truth.email_missing.mean(),
        "phone_missing": truth.phone_missing.mean(),
        "name_typo": (truth.typo_first_name | truth.typo_last_name).mean(),
        "nickname": truth.nickname.mean(),
        "swapped_names": truth.swapped_names.mean(),
        "birth_date_missing": truth.birth_date_missing.mean(),
        "email_case": truth.email_case_changed[~truth.email_missing].mean(),
        "postal_code_missing": truth.postal_code_missing.mean(),
    }
    for name, rate in observed.items():
        expected = DEFAULT_NOISE[name]
        assert abs(rate - expected) < max(0.25 * expected, 0.012), (name, rate, expected)
    assert truth.phone_format.nunique() >= 6

    # ... and the noise is really in the files.
    contacts = _entity(base / "inbox", "contacts")
    no_email = _one(con, f"SELECT avg((email IS NULL)::INT) FROM {contacts}")
    assert abs(no_email - DEFAULT_NOISE["email_missing"]) < 0.05
    assert _one(con, f"SELECT count(*) FROM {contacts} WHERE email = upper(email)") > 0
    phones = [r[0] for r in con.sql(f"SELECT phone FROM {contacts} WHERE phone <> ''").fetchall()]
    starts = {next(s for s in ("+", "00", "(", "0") if p.startswith(s)) for p in phones}
    assert starts == {"+", "00", "(", "0"}
    assert any("-" in p for p in phones) and any(" " not in p for p in phones)


def test_persons_appear_in_several_systems_and_twice_in_one(mixed, con):
    base, _ = mixed
    persons = pq.read_table(base / "truth/persons.parquet").to_pandas()
    contacts = pq.read_table(base / "truth/contacts.parquet").to_pandas()
    assert persons.n_systems.between(1, 4).all()
    assert 0.35 < (persons.n_systems > 1).mean() < 0.65
    assert 0.015 < (persons.n_records > persons.n_systems).mean() < 0.05  # ~3%: twice in one
    assert set(contacts.person_id) == set(persons.person_id)
    assert set(contacts.source_system) == set(SYSTEMS)
    assert not contacts.duplicated(["source_system", "source_contact_id"]).any()
    assert not contacts.source_contact_id.str.contains("P0").any()  # never the person id
    # Loyalty cards are shared by the systems that know them.
    shared = f"""SELECT count(*) FROM (
        SELECT loyalty_id FROM {_entity(base / "inbox", "contacts")} WHERE loyalty_id IS NOT NULL
        GROUP BY 1 HAVING count(DISTINCT source_system) > 1)"""
    assert _one(con, shared) > 100
    members = persons.loyalty_id.notna().mean()
    assert abs(members - DEFAULT_HYPERPARAMETERS["population"]["loyalty_member"]) < 0.04


def test_households_and_namesakes_exist(mixed):
    base, _ = mixed
    persons = pq.read_table(base / "truth/persons.parquet").to_pandas()
    assert 0.15 < (persons.household_size > 1).mean() < 0.25
    assert persons.household_size.max() == 4
    households = persons[persons.household_size > 1].groupby("household_id")
    assert (households.address_line1.nunique() == 1).all()
    assert (households.size() == households.household_size.first()).all()
    assert (households.last_name.nunique() == 1).mean() > 0.5  # often the same last name
    year = persons.birth_date.map(lambda d: d.year)
    namesakes = persons.assign(year=year).groupby(["first_name", "last_name", "year"]).size()
    assert (namesakes > 1).sum() > 5  # different people, same name and birth year
    assert persons.email.is_unique
    assert set(persons.country) == {"DE", "AT", "CH", "NL", "FR", "BE"}
    assert 0.07 < persons.moved.mean() < 0.13


def test_order_totals_are_the_sum_of_their_lines(mixed, con):
    base, _ = mixed
    inbox = base / "inbox"
    orders, lines = _entity(inbox, "orders"), _entity(inbox, "order_lines")
    mismatched = f"""SELECT count(*) FROM {orders} o LEFT JOIN (
            SELECT order_id,
                   sum(unit_price::DECIMAL(18,2) * quantity::INT
                       - coalesce(discount::DECIMAL(18,2), 0)) AS total,
                   count(*) AS n, min(line_number::INT) AS lo, max(line_number::INT) AS hi
            FROM {lines} GROUP BY 1) l USING (order_id)
        WHERE l.total IS DISTINCT FROM o.order_total::DECIMAL(18,2)
           OR n NOT BETWEEN 1 AND 4 OR lo <> 1 OR hi <> n"""
    assert _one(con, mismatched) == 0
    orphans = f"SELECT count(*) FROM {lines} WHERE order_id NOT IN (SELECT order_id FROM {orders})"
    assert _one(con, orphans) == 0
    no_margin = f"""SELECT count(*) FROM {lines} l JOIN {_entity(inbox, "products")} p
        USING (product_id) WHERE p.unit_cost::DECIMAL(18,2) >= l.unit_price::DECIMAL(18,2)"""
    assert _one(con, no_margin) == 0


def test_orders_follow_the_buying_process(mixed, con):
    base, summary = mixed
    orders = _entity(base / "inbox", "orders")
    persons = pq.read_table(base / "truth/persons.parquet").to_pandas()
    buyers = persons[~persons.is_prospect]
    assert 0.2 < persons.is_prospect.mean() < 0.3
    assert (persons[persons.is_prospect].n_orders == 0).all() and (buyers.n_orders >= 1).all()
    assert 4.0 < buyers.n_orders.mean() < 6.0  # ~5 orders per buying person
    assert summary["facts"]["orders_per_buyer"] == pytest.approx(buyers.n_orders.mean(), abs=1e-3)
    completed = f"""SELECT avg((coalesce(lower(status), 'completed')
        IN ('completed', 'complete', 'paid'))::INT) FROM {orders}"""
    assert 0.85 < _one(con, completed) < 0.95
    by_month = dict(
        con.sql(
            f"SELECT month(ordered_at::TIMESTAMP), count(*) FROM {orders} GROUP BY 1"
        ).fetchall()
    )
    assert by_month[12] == max(by_month.values())  # December peak
    first, last = con.sql(
        f"SELECT min(ordered_at::TIMESTAMP), max(ordered_at::TIMESTAMP) FROM {orders}"
    ).fetchone()
    assert first.date() >= dt.date(2023, 1, 1) and last.date() <= dt.date(2025, 12, 31)
    # The channel agrees with the system of the buyer's record; store orders have a store.
    inconsistent = f"""SELECT count(*) FROM {orders} WHERE NOT (
            (source_system = 'web' AND channel = 'web')
         OR (source_system IN ('store', 'loyalty') AND channel = 'store' AND store_id IS NOT NULL)
         OR (source_system = 'call_center' AND channel = 'phone')
         OR (source_system = 'dealer' AND channel = 'dealer'))
        OR (channel <> 'store' AND store_id IS NOT NULL)"""
    assert _one(con, inconsistent) == 0


def test_anonymous_orders_exist_and_every_other_order_maps_to_a_person(mixed, con):
    base, _ = mixed
    con.sql(f"CREATE TABLE o AS SELECT * FROM {_entity(base / 'inbox', 'orders')}")
    con.sql(f"CREATE TABLE c AS SELECT * FROM {_truth(base, 'contacts.parquet')}")
    con.sql(f"CREATE TABLE p AS SELECT * FROM {_truth(base, 'persons.parquet')}")
    anonymous = _one(con, "SELECT avg((source_contact_id IS NULL)::INT) FROM o")
    assert 0.03 < anonymous < 0.07
    walk_ins = "SELECT count(*) FROM o WHERE source_contact_id IS NULL AND store_id IS NOT NULL"
    assert _one(con, walk_ins) == _one(
        con, "SELECT count(*) FROM o WHERE source_contact_id IS NULL"
    )
    unmapped = """SELECT count(*) FROM o LEFT JOIN c USING (source_system, source_contact_id)
        WHERE o.source_contact_id IS NOT NULL AND c.person_id IS NULL"""
    assert _one(con, unmapped) == 0
    wrong_count = """SELECT count(*) FROM p LEFT JOIN (
            SELECT c.person_id, count(*) AS n FROM o JOIN c USING (source_system, source_contact_id)
            GROUP BY 1) x USING (person_id)
        WHERE coalesce(x.n, 0) <> p.n_orders"""
    assert _one(con, wrong_count) == 0


def test_interactions_and_campaign_funnels(mixed, con):
    base, _ = mixed
    inbox = base / "inbox"
    interactions, touches = _entity(inbox, "interactions"), _entity(inbox, "campaign_touches")
    persons = pq.read_table(base / "truth/persons.parquet").to_pandas()
    people = f"""SELECT count(DISTINCT person_id) FROM {interactions}
        JOIN {_truth(base, "contacts.parquet")} USING (source_system, source_contact_id)"""
    assert 0.13 < _one(con, people) / (~persons.is_prospect).sum() < 0.22  # ~20% of buyers
    order_ids = f"SELECT order_id FROM {_entity(inbox, 'orders')}"
    checks = [
        f"order_id NOT IN ({order_ids})",
        "satisfaction_score::INT NOT BETWEEN 1 AND 5",
        "resolved_at::TIMESTAMPTZ < opened_at::TIMESTAMPTZ",
        "first_response_at::TIMESTAMPTZ < opened_at::TIMESTAMPTZ",
        "first_response_at::TIMESTAMPTZ > resolved_at::TIMESTAMPTZ",
    ]
    for check in checks:
        assert _one(con, f"SELECT count(*) FROM {interactions} WHERE {check}") == 0, check
    responded = f"SELECT avg((first_response_at IS NOT NULL)::INT) FROM {interactions}"
    assert 0.75 < _one(con, responded) < 0.95  # ~90% recorded, some open cases unanswered
    events = dict(
        con.sql(f"SELECT event || '/' || is_control, count(*) FROM {touches} GROUP BY 1").fetchall()
    )
    assert "opened/true" not in events and "clicked/true" not in events  # held out
    assert events["opened/false"] > 0 and events["clicked/false"] > 0
    assert events["converted/false"] > 0
    assert 0.05 < events["sent/true"] / (events["sent/true"] + events["sent/false"]) < 0.15
    assert _one(con, f"SELECT count(cost) FROM {_entity(inbox, 'campaigns')}") == 10


# --- bad rows ------------------------------------------------------------------------


def test_injected_rows_are_recorded_and_present_in_the_files(dirty, con):
    base, summary = dirty
    injected = pq.read_table(base / "truth/injected.parquet").to_pandas()
    assert len(injected) == summary["injected_rows"] > 20
    assert set(injected.entity) == {"orders", "contacts"}
    kinds = {"missing_required", "bad_timestamp", "bad_number", "bad_optional", "exact_duplicate"}
    assert set(injected.kind) == kinds
    assert set(injected.expected) == {"quarantine", "duplicate", "loaded"}
    for file, rows in injected.groupby("file"):
        path = base / "inbox" / file
        lines = _lines(path)
        table = con.sql(f"SELECT * FROM {_text(path)}").fetchall()
        columns = ENTITIES[path.parent.name].column_names
        assert len(lines) - 1 == len(table) == summary["files"][file]
        for row in rows.itertuples():
            values = dict(zip(columns, table[row.row_number - 2], strict=True))  # header: line 1
            if row.kind == "exact_duplicate":
                assert lines[row.row_number - 1] == lines[row.row_number - 2]
            elif row.kind == "missing_required":
                assert values[row.column] is None
            else:
                assert values[row.column] == row.value
    # Rows in the file = generated rows + repeats.
    repeats = injected[(injected.kind == "exact_duplicate") & (injected.entity == "orders")]
    assert summary["files"]["orders/orders.csv"] == summary["counts"]["orders"] + len(repeats)


def test_injected_values_really_break_the_contract(dirty, con):
    base, _ = dirty
    injected = pq.read_table(base / "truth/injected.parquet").to_pandas()
    types = {
        "order_total": "DECIMAL(18,2)",
        "ordered_at": "TIMESTAMPTZ",
        "birth_date": "DATE",
        "created_at": "TIMESTAMPTZ",
    }
    for row in injected[injected.value.notna()].itertuples():
        assert _one(con, f"SELECT TRY_CAST(? AS {types[row.column]})", [row.value]) is None, row
    # Every other order row parses.
    orders = _text(base / "inbox/orders/orders.csv")
    broken = f"""SELECT count(*) FROM {orders} WHERE order_id IS NULL
        OR TRY_CAST(order_total AS DECIMAL(18,2)) IS NULL
        OR TRY_CAST(ordered_at AS TIMESTAMPTZ) IS NULL"""
    in_orders = injected[injected.entity == "orders"]
    assert _one(con, broken) == (in_orders.expected == "quarantine").sum()


def test_bad_optional_values_only_on_request(mixed, tmp_path):
    _run(tmp_path, customers=500, file_format="csv", bad_row_rate=0.05)
    injected = pq.read_table(tmp_path / "truth/injected.parquet").to_pandas()
    kinds = {"missing_required", "bad_timestamp", "bad_number", "exact_duplicate"}
    assert set(injected.kind) == kinds
    assert set(injected.expected) == {"quarantine", "duplicate"}
    assert pq.read_table(mixed[0] / "truth/injected.parquet").num_rows == 0  # clean run


def test_parquet_files_get_only_typed_breakage(tmp_path):
    summary = _run(tmp_path, customers=300, file_format="parquet", bad_row_rate=0.05)
    injected = pq.read_table(tmp_path / "truth/injected.parquet").to_pandas()
    assert set(injected.kind) == {"missing_required", "exact_duplicate"}
    orders = pq.read_table(tmp_path / "inbox/orders/orders.parquet")
    assert orders.num_rows == summary["files"]["orders/orders.parquet"]
    rows = injected[injected.file == "orders/orders.parquet"]
    assert len(rows) > 0
    for row in rows.itertuples():
        this = orders.slice(row.row_number - 1, 1).to_pylist()[0]  # Parquet rows are 1-based
        if row.kind == "missing_required":
            assert this[row.column] is None
        else:
            assert this == orders.slice(row.row_number - 2, 1).to_pylist()[0]


# --- harder noise (off by default, on in the "hard" profile) ----------------------------

# The hard profile with larger rates, so that a few thousand records measure each one.
HARDER = {
    "ocr_error": 0.10,
    "phonetic_variant": 0.10,
    "first_name_initial": 0.10,
    "birth_date_typo": 0.10,
    "birth_date_day_month_swapped": 0.30,
    "house_number_missing": 0.10,
    "swapped_fields": 0.10,
}
HARDER_NOISE = {**DEFAULT_NOISE, **NOISE_PROFILES["hard"], **HARDER}
NEW_TRUTH_FLAGS = [
    "email_not_collected",
    "phone_not_collected",
    "first_name_initial",
    "birth_date_typo",
    "birth_date_day_month_swapped",
    "house_number_missing",
]
NEW_TRUTH_FIELDS = ["phonetic_variant_field", "ocr_error_field", "swapped_fields"]
HOUSE_NUMBER = r"(?:^\d+[a-z]? )|(?: \d+[a-z]?$)"


@pytest.fixture(scope="module")
def harder(tmp_path_factory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("harder")
    return base, _run(base, customers=4000, chunk_size=1500, noise_profile="hard", noise=HARDER)


@pytest.fixture(scope="module")
def harder_rows(harder):
    """Every contacts row as written (text), with its truth and the true person's values."""
    base, _ = harder
    sql = f"""
        SELECT c.*, t.* EXCLUDE (source_system, source_contact_id, created_at),
            p.first_name AS true_first, p.last_name AS true_last,
            strftime(p.birth_date, '%Y-%m-%d') AS true_birth,
            CASE WHEN t.old_address THEN p.old_address_line1 ELSE p.address_line1 END
                AS true_line1,
            CASE WHEN t.old_address THEN p.old_city ELSE p.city END AS true_city,
            CASE WHEN t.old_address THEN p.old_postal_code ELSE p.postal_code END AS true_postal
        FROM {_entity(base / "inbox", "contacts")} c
        JOIN {_truth(base, "contacts.parquet")} t USING (source_system, source_contact_id)
        JOIN {_truth(base, "persons.parquet")} p USING (person_id)
        ORDER BY source_system, source_contact_id"""
    with duckdb.connect() as con:
        rows = con.sql(sql).df()
    # The true first name is written in last_name where the names were swapped.
    rows["first_out"] = rows.first_name.where(~rows.swapped_names, rows.last_name)
    rows["last_out"] = rows.last_name.where(~rows.swapped_names, rows.first_name)
    return rows


def _near(observed: float, expected: float, n: int, what: str) -> None:
    """Within 4 binomial standard errors of the configured rate."""
    tolerance = 4 * math.sqrt(expected * (1 - expected) / n) + 0.002
    assert abs(observed - expected) <= tolerance, (what, observed, expected, n)


def _fold(values) -> np.ndarray:
    """Case-folded text (last_name_upper writes MÜLLER)."""
    return np.array([v.casefold() if isinstance(v, str) else None for v in values], dtype=object)


def test_harder_noise_is_off_by_default(mixed):
    base, _ = mixed
    truth = pq.read_table(base / "truth/contacts.parquet").to_pandas()
    assert not truth[NEW_TRUTH_FLAGS].any().any()
    assert truth[NEW_TRUTH_FIELDS].isna().all().all()
    params = json.loads((base / "truth/params.json").read_text())
    assert params["noise_profile"] == "default"
    assert NOISE_PROFILES["default"] == {}
    new_knobs = [*HARDER, "source_without_email", "source_without_phone"]
    assert all(DEFAULT_NOISE[k] in (0.0, []) for k in new_knobs)


def test_default_output_is_pinned(tmp_path):
    """A default run writes exactly these bytes (text files: no library version inside).

    The digest is the generator's before the harder noise existed: new kinds of
    noise are off by default and draw on streams of their own. A deliberate
    change to the default data updates it.
    """
    kwargs = {"file_format": "csv", "bad_row_rate": 0.02, "bad_optional_values": True}
    _run(tmp_path, customers=300, **kwargs)
    digest = hashlib.sha256()
    for path in _files(tmp_path / "inbox"):
        digest.update(str(path.relative_to(tmp_path / "inbox")).encode() + b"\0")
        digest.update(path.read_bytes())
    assert digest.hexdigest() == (
        "888aad62968b13c3ab92992a281f9635480fa45db05290721791c123ff8d20fe"
    )


def test_initials_and_birth_date_slips_in_the_files(harder_rows):
    rows = harder_rows
    n = len(rows)
    initial = rows.first_out.str.fullmatch(r".\.?")
    assert (initial == rows.first_name_initial).all()
    same_letter = _fold(rows.first_out.str[0]) == _fold(rows.true_first.str[0])
    assert same_letter[initial & (rows.ocr_error_field != "first_name")].all()
    assert rows.first_out[initial].str.endswith(".").mean() > 0.5  # "J." more often than "J"
    _near(initial.mean(), HARDER["first_name_initial"], n, "first_name_initial")

    present = rows.birth_date.notna().to_numpy()
    assert (present == ~rows.birth_date_missing).all()
    written = np.array(rows.birth_date.fillna("0000-00-00"), dtype="<U10")
    true = np.array(rows.true_birth, dtype="<U10")
    digits_changed = written.view(np.uint32).reshape(n, 10) != true.view(np.uint32).reshape(n, 10)
    typo = present & (digits_changed.sum(axis=1) == 1)
    assert (typo == rows.birth_date_typo).all()
    assert all(dt.date.fromisoformat(d) <= dt.date(2025, 12, 31) for d in written[typo])
    day, month = rows.true_birth.str[8:10].astype(int), rows.true_birth.str[5:7].astype(int)
    swapped = present & (
        rows.birth_date
        == rows.true_birth.str[:5] + rows.true_birth.str[8:10] + "-" + rows.true_birth.str[5:7]
    )
    swapped &= day != month
    assert (swapped == rows.birth_date_day_month_swapped).all()
    untouched = present & ~typo & ~swapped
    assert (rows.birth_date[untouched] == rows.true_birth[untouched]).all()
    _near(typo[present].mean(), HARDER["birth_date_typo"], present.sum(), "birth_date_typo")
    eligible = present & ~typo & (day <= 12) & (day != month)
    _near(
        swapped[eligible].mean(),
        HARDER["birth_date_day_month_swapped"],
        eligible.sum(),
        "birth_date_day_month_swapped",
    )


def test_street_and_place_noise_in_the_files(harder_rows):
    rows = harder_rows
    n = len(rows)
    city_postal = (rows.city == rows.true_postal) | (rows.postal_code == rows.true_city)
    street_city = (rows.address_line1 == rows.true_city) | rows.address_line1.isna()
    assert (city_postal.fillna(False) == (rows.swapped_fields == "city_postal_code")).all()
    assert (street_city.fillna(False) == (rows.swapped_fields == "street_city")).all()
    assert rows.city[city_postal.fillna(False)].str.fullmatch(r"\d{4,5}( [A-Z]{2})?").mean() > 0.9
    _near(rows.swapped_fields.notna().mean(), HARDER["swapped_fields"], n, "swapped_fields")
    assert (rows.swapped_fields == "city_postal_code").sum() / rows.swapped_fields.count() > 0.5

    # OCR confusions can hit house numbers (15 -> l5): those rows are left out here.
    kept = (rows.ocr_error_field != "address_line1") & (rows.swapped_fields != "street_city")
    no_number = ~rows.address_line1.str.contains(HOUSE_NUMBER, regex=True)
    assert (no_number[kept] == rows.house_number_missing[kept]).all()
    _near(no_number[kept].mean(), HARDER["house_number_missing"], kept.sum(), "house_number")


def test_phonetic_variants_and_ocr_errors_in_the_files(harder_rows):
    rows = harder_rows
    n = len(rows)
    fields = {  # field -> (as written, truly, rows no other noise touched in that field)
        "first_name": (
            rows.first_out,
            rows.true_first,
            ~(rows.nickname | rows.first_name_initial | rows.typo_first_name),
        ),
        "last_name": (rows.last_out, rows.true_last, ~rows.typo_last_name),
        "address_line1": (
            rows.address_line1,
            rows.true_line1,
            ~(rows.street_abbreviated | rows.house_number_missing)
            & (rows.swapped_fields != "street_city"),
        ),
    }
    for field, (written, true, clean) in fields.items():
        written, true, clean = _fold(written), true.to_numpy(dtype=object), clean.to_numpy()
        ocr = (rows.ocr_error_field == field).to_numpy()
        phonetic = (rows.phonetic_variant_field == field).to_numpy()
        untouched = clean & ~ocr & ~phonetic
        assert (written[untouched] == _fold(true[untouched])).all(), field
        respelled = clean & phonetic & ~ocr
        assert (written[respelled] != _fold(true[respelled])).all(), field
        assert respelled.sum() > 30 or field == "address_line1", field
        # An OCR error is one confusion of the table, at its first occurrence.
        scanned = clean & ocr & ~phonetic
        assert scanned.sum() > 30, field
        for w, t in zip(written[scanned], true[scanned], strict=True):
            one_confusion = any(t.replace(a, b, 1).casefold() == w for a, b in OCR_CONFUSIONS)
            assert one_confusion, (field, t, w)
    assert set(rows.ocr_error_field.dropna()) == {"first_name", "last_name", "address_line1"}
    assert set(rows.phonetic_variant_field.dropna()) == {"first_name", "last_name"}
    _near(rows.ocr_error_field.notna().mean(), HARDER["ocr_error"], n, "ocr_error")
    _near(rows.phonetic_variant_field.notna().mean(), HARDER["phonetic_variant"], n, "phonetic")
    last = rows[(rows.phonetic_variant_field == "last_name") & ~rows.last_name_upper]
    pairs = set(zip(last.true_last, last.last_out, strict=True))
    known = {("Meyer", "Meier"), ("Meier", "Meyer"), ("Meyer", "Maier"), ("Meier", "Mayer")}
    known |= {("Schmidt", "Schmitt"), ("Schmidt", "Schmid"), ("Schmitt", "Schmidt")}
    assert pairs & known


def test_sources_without_email_or_phone(harder_rows):
    rows = harder_rows
    hard = NOISE_PROFILES["hard"]
    assert len(hard["source_without_email"]) >= 2 and len(hard["source_without_phone"]) >= 2
    no_email = rows.source_system.isin(hard["source_without_email"])
    no_phone = rows.source_system.isin(hard["source_without_phone"])
    assert rows.email[no_email].isna().all() and rows.phone[no_phone].isna().all()
    assert (rows.email_not_collected == no_email).all()
    assert (rows.phone_not_collected == no_phone).all()
    assert (rows.email_missing == rows.email.isna()).all()
    assert (rows.phone_missing == rows.phone.isna()).all()
    # Elsewhere the usual gaps, at the hard profile's rates.
    for column, collected in (("email", ~no_email), ("phone", ~no_phone)):
        rate = HARDER_NOISE[f"{column}_missing"]
        observed = rows[column][collected].isna().mean()
        _near(observed, rate, collected.sum(), f"{column}_missing")


def test_hard_profile_is_reproducible_and_independent_of_chunks(tmp_path, con):
    kwargs = {"customers": 400, "noise_profile": "hard"}
    _run(tmp_path / "a", **kwargs)
    _run(tmp_path / "b", **kwargs)
    _run(tmp_path / "c", chunk_size=97, **kwargs)
    generate(tmp_path / "d/inbox", tmp_path / "d/truth", seed=SEED + 1, **kwargs)
    a, b, d = _contents(tmp_path / "a"), _contents(tmp_path / "b"), _contents(tmp_path / "d")
    assert a == b
    assert a["inbox/contacts/contacts_web.csv"] != d["inbox/contacts/contacts_web.csv"]
    for rel in a:
        x, y = tmp_path / "a" / rel, tmp_path / "c" / rel
        if rel.endswith(".parquet"):
            assert pq.read_table(x).equals(pq.read_table(y)), rel
        elif rel != "truth/params.json":
            assert x.read_bytes() == y.read_bytes(), rel
    params = json.loads((tmp_path / "a/truth/params.json").read_text())
    assert params["noise_profile"] == "hard" and params["noise"] == resolve_noise("hard")
    contacts = _entity(tmp_path / "a/inbox", "contacts")
    emails = dict(
        con.sql(f"SELECT source_system, count(email) FROM {contacts} GROUP BY 1").fetchall()
    )
    for system in SYSTEMS:
        assert (emails[system] == 0) == (system in NOISE_PROFILES["hard"]["source_without_email"])
    # The default profile is the same as no profile.
    plain = _run(tmp_path / "e", customers=400)
    explicit = _run(tmp_path / "f", customers=400, noise_profile="default", noise={})
    assert plain == {**explicit, "inbox": plain["inbox"], "truth": plain["truth"]}
    assert _contents(tmp_path / "e/inbox") == _contents(tmp_path / "f/inbox")


def test_noise_profile_and_overrides_are_checked(tmp_path):
    with pytest.raises(ValueError, match="noise profile"):
        _run(tmp_path, noise_profile="harder")
    with pytest.raises(ValueError, match="source_without_email"):
        _run(tmp_path, noise={"source_without_email": ["shop"]})
    with pytest.raises(ValueError, match="source_without_phone"):
        _run(tmp_path, noise={"source_without_phone": "web"})
    noise = resolve_noise("hard", {"source_without_email": [], "ocr_error": 0.2})
    assert noise["source_without_email"] == [] and noise["ocr_error"] == 0.2
    assert noise["phonetic_variant"] == NOISE_PROFILES["hard"]["phonetic_variant"]
    assert set(NOISE_PROFILES["hard"]) <= set(DEFAULT_NOISE)


def test_cli_noise_profile_and_overrides(tmp_path, monkeypatch, capsys):
    for name in ("CRM_INBOX", "CRM_WAREHOUSE", "CRM_AS_OF"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CRM_HOME", str(tmp_path))
    assert tuple(NOISE_PROFILES) == cli.NOISE_PROFILES  # the parser's choices
    with pytest.raises(SystemExit):
        cli.main(["generate", "--help"])
    assert "--noise-profile {default,hard}" in capsys.readouterr().out

    bad = ["generate", "--customers", "50", "--noise", '{"ocr_eror": 0.1}']
    assert cli.main(bad) == 2
    assert "unknown parameter 'ocr_eror'" in capsys.readouterr().err
    assert not (tmp_path / "inbox").exists()
    with pytest.raises(SystemExit):
        cli.main(["generate", "--noise", "[0.1]"])

    argv = ["generate", "--customers", "200", "--noise-profile", "hard"]
    assert cli.main([*argv, "--noise", '{"ocr_error": 0.2, "source_without_phone": []}']) == 0
    params = json.loads((tmp_path / "truth/params.json").read_text())
    assert params["noise_profile"] == "hard"
    assert params["noise"] == resolve_noise("hard", {"ocr_error": 0.2, "source_without_phone": []})
