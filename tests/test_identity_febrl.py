"""Identity resolution on data nobody here made: the Febrl person records.

Each data set goes through the inbox as contacts and a plain `crm refresh`
(default settings, no manual training): the first refresh must train the
warehouse's own model and link the true duplicates. Scored by pairwise
precision and recall of the published customer_xref against the Febrl truth
(rec-N-org and rec-N-dup-K are one person). Attribution: tests/fixtures/febrl/.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest

from crm.identity import matching
from crm.identity.evaluate import score_clusters
from tests.conftest import Env

pytestmark = pytest.mark.e2e

FEBRL = Path(__file__).parent / "fixtures" / "febrl"
CONTACT_COLUMNS = [
    "source_system",
    "source_contact_id",
    "first_name",
    "last_name",
    "birth_date",
    "address_line1",
    "address_line2",
    "city",
    "postal_code",
    "region",
]


def febrl_rows(dataset: str) -> list[dict[str, str]]:
    """The records in contract v1's contact columns (the fixture README's mapping)."""
    with (FEBRL / f"{dataset}.csv").open(newline="", encoding="utf-8") as f:
        records = [{k.strip(): v.strip() for k, v in row.items()} for row in csv.DictReader(f)]
    rows = []
    for r in records:
        dob = r["date_of_birth"]
        rows.append(
            {
                "source_system": "febrl",
                "source_contact_id": r["rec_id"],
                "first_name": r["given_name"],
                "last_name": r["surname"],
                "birth_date": f"{dob[:4]}-{dob[4:6]}-{dob[6:]}" if len(dob) == 8 else "",
                "address_line1": f"{r['street_number']} {r['address_1']}".strip(),
                "address_line2": r["address_2"],
                "city": r["suburb"],
                "postal_code": r["postcode"],
                "region": r["state"],
            }
        )
    return rows


def write_inbox(env: Env, rows: list[dict[str, str]], columns: list[str]) -> None:
    contacts = env.inbox / "contacts"
    contacts.mkdir(parents=True, exist_ok=True)
    with (contacts / "febrl.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    # a few orders: the core marts need some
    orders = env.inbox / "orders"
    orders.mkdir(parents=True, exist_ok=True)
    with (orders / "orders.csv").open("w", newline="", encoding="utf-8") as f:
        f.write("order_id,source_system,source_contact_id,ordered_at,order_total\n")
        for i, row in enumerate(rows[:40]):
            buyer = f"{row['source_system']},{row['source_contact_id']}"
            f.write(f"o{i},{buyer},2025-03-0{1 + i % 9}T10:00:00,19.90\n")


def person_of(source_contact_id: str) -> str:
    return source_contact_id.split("-")[1]


def scores(env: Env) -> dict:
    with duckdb.connect(str(env.warehouse), read_only=True) as con:
        xref = con.execute(
            "select source_contact_id, customer_id from marts.customer_xref "
            "where has_contact_record"
        ).df()
    truth = xref[["source_contact_id"]].assign(
        contact_key=xref.source_contact_id, person_id=xref.source_contact_id.map(person_of)
    )[["contact_key", "person_id"]]
    result = score_clusters(xref.source_contact_id.to_numpy(), xref.customer_id.to_numpy(), truth)
    p, r = result["precision"], result["recall"]
    result["f1"] = 2 * p * r / (p + r)
    return result


def build_model(env: Env) -> dict:
    with duckdb.connect(str(env.restricted), read_only=True) as con:
        row = con.execute(
            "select model_origin, model_path, link_threshold, training_facts "
            "from intermediate.int_identity_model"
        ).fetchone()
    facts = json.loads(row[3]) if row[3] else {}
    return {"origin": row[0], "path": row[1], "threshold": row[2], "facts": facts}


@pytest.mark.parametrize("dataset", ["dataset1", "dataset2"])
def test_febrl_through_a_plain_refresh(tmp_path: Path, dataset: str):
    env = Env(tmp_path)
    rows = febrl_rows(dataset)
    write_inbox(env, rows, CONTACT_COLUMNS)
    result = env.crm("refresh")
    model = build_model(env)
    # the first refresh trained the warehouse's own model, under CRM_HOME
    assert model["origin"] == "trained", model
    assert Path(model["path"]).parent == env.home / "identity" / "model"
    assert "identity: trained model (the warehouse has no model of its own yet)" in result.stderr
    # e-mail, phone and loyalty id are empty here: no evidence either way
    assert set(model["facts"]["neutral_comparisons"]) == {"email", "phone", "loyalty_id"}
    got = scores(env)
    assert got["contacts"] == len(rows)
    # before issue 13 (the demo-trained model): F1 0.742 and 0.652
    assert got["f1"] >= 0.99, got


def test_names_and_birth_dates_only(tmp_path: Path):
    """Contacts with nothing but names and birth dates still train and link."""
    env = Env(tmp_path)
    rows = febrl_rows("dataset1")
    write_inbox(
        env, rows, ["source_system", "source_contact_id", "first_name", "last_name", "birth_date"]
    )
    env.crm("refresh")
    model = build_model(env)
    assert model["origin"] == "trained"
    assert set(model["facts"]["neutral_comparisons"]) == {"address", "email", "phone", "loyalty_id"}
    blocks = {b["block"]: b["status"] for b in model["facts"]["training_blocks"]}
    assert blocks["email"].startswith("skipped: 0 pair")
    # names from a birth-date block, the birth date from the name block
    assert blocks["birth_date+first_name"] == "used"
    assert blocks["name"] == "used"
    got = scores(env)
    # names and birth dates alone: far fewer true pairs are recoverable, none wrongly
    assert got["precision"] >= 0.99, got
    assert got["recall"] >= 0.6, got
    # the command retrains on demand and says what it learnt
    trained = env.crm("identity", "train")
    assert "identity model written" in trained.stderr
    assert "training block birth_date+first_name: used" in trained.stderr


def test_a_retrain_keeps_ids_and_records_the_merges_it_causes(tmp_path: Path):
    """The demo model first (pinned), then the warehouse's own: the new model merges
    many split persons; every customer the merges leave alone keeps its id, and
    customer_id_history names each id that merged into another."""
    env = Env(tmp_path)
    write_inbox(env, febrl_rows("dataset1"), CONTACT_COLUMNS)
    shipped = str(matching.MODEL_DIR / matching.MODEL_FILE)
    env.crm("refresh", CRM_IDENTITY_MODEL=shipped)
    assert build_model(env)["origin"] == "pinned"
    before = _xref(env)
    env.crm("refresh")
    assert build_model(env)["origin"] == "trained"
    after = _xref(env)
    assert scores(env)["recall"] > 0.95
    merged = before.merge(after, on="source_contact_id", suffixes=("_before", "_after"))
    moved = merged[merged.customer_id_before != merged.customer_id_after]
    assert len(moved) > 100  # the demo model had left these persons split
    # an id whose records all stay together keeps its id
    untouched = merged[~merged.customer_id_before.isin(moved.customer_id_before)]
    assert (untouched.customer_id_before == untouched.customer_id_after).all()
    with duckdb.connect(str(env.warehouse), read_only=True) as con:
        history = con.execute(
            "select customer_id, related_customer_id from marts.customer_id_history "
            "where event = 'merged_into'"
        ).df()
    gone = set(moved.customer_id_before) - set(after.customer_id)
    assert gone and gone == set(history.customer_id)
    # each merged id points at the id its records now have
    now = dict(zip(merged.customer_id_before, merged.customer_id_after, strict=True))
    assert all(now[old] == new for old, new in history.itertuples(index=False))


def _xref(env: Env):
    with duckdb.connect(str(env.warehouse), read_only=True) as con:
        return con.execute(
            "select source_contact_id, customer_id from marts.customer_xref "
            "where has_contact_record"
        ).df()


def test_email_only_contacts_and_a_single_contact_refresh(tmp_path: Path):
    """Other shapes a first refresh must take: e-mails only (trained on the e-mail
    block), and one contact (too little to learn from: the demo model, said)."""
    env = Env(tmp_path / "email")
    rows = [
        {
            "source_system": "web" if i % 3 else "store",
            "source_contact_id": f"c{i}",
            "email": f"Person{i // 2}@Example.org" if i % 2 else f"person{i // 2}@example.org ",
        }
        for i in range(1300)
    ]
    write_inbox(env, rows, ["source_system", "source_contact_id", "email"])
    result = env.crm("refresh")
    model = build_model(env)
    assert model["origin"] == "trained"
    blocks = {b["block"]: b["status"] for b in model["facts"]["training_blocks"]}
    assert blocks["email"] == "used"
    assert "identity: trained model" in result.stderr
    # every pair of one e-mail is one customer: 650 customers of two records each
    with duckdb.connect(str(env.warehouse), read_only=True) as con:
        sizes = con.execute(
            "select customer_records, customers from marts.identity_cluster_sizes"
        ).fetchall()
    assert sizes == [(2, 650)]

    one = Env(tmp_path / "one")
    write_inbox(
        one,
        [{"source_system": "web", "source_contact_id": "w1", "first_name": "Ann"}],
        ["source_system", "source_contact_id", "first_name"],
    )
    result = one.crm("refresh")
    model = build_model(one)
    assert model["origin"] == "shipped"
    assert "not trained (1 contact record(s): too few" in result.stderr
    trained = one.crm("identity", "train")
    assert "identity model not trained: 1 contact record(s)" in trained.stderr
    assert not (one.home / "identity" / "model").exists()
