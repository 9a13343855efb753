"""Probabilistic identity matching (Splink) against the generator's ground truth.

One generated world of ~10k contacts (default noise, records without e-mail and
phone included) plus a few hand-made records, refreshed into a warehouse in a
temporary folder. The figures are recomputed here from the truth file, not read
back from the models that produced them.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from crm.identity import evaluate as ev
from crm.identity import matching
from crm.identity.train import train_model
from tests.conftest import Env

pytestmark = pytest.mark.e2e

PERSONS = 6000  # ~10.5k contact records

CONTACT_COLUMNS = [
    "source_system",
    "source_contact_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "birth_date",
    "address_line1",
    "postal_code",
    "city",
    "country",
]

# Hand-made records: different people who look alike, and empty records.
NAMESAKES = [
    # same name and birth year, different addresses, no shared contact details
    [
        "manual",
        "N1",
        "Thomas",
        "Müller",
        "",
        "",
        "1980-03-14",
        "Hauptstraße 12",
        "10115",
        "Berlin",
        "DE",
    ],
    [
        "manual",
        "N2",
        "Thomas",
        "Müller",
        "",
        "",
        "1980-09-02",
        "Bahnhofstraße 7",
        "80331",
        "München",
        "DE",
    ],
    # same name and birth year in the same postal code (so they are compared)
    [
        "manual",
        "N3",
        "Sabine",
        "Schmidt",
        "",
        "",
        "1975-01-20",
        "Gartenstraße 3",
        "50667",
        "Köln",
        "DE",
    ],
    [
        "manual",
        "N4",
        "Sabine",
        "Schmidt",
        "",
        "",
        "1975-06-11",
        "Lindenstraße 40",
        "50667",
        "Köln",
        "DE",
    ],
    # one household: same surname and address, other first names and birth dates
    [
        "manual",
        "N5",
        "Peter",
        "Wagner",
        "",
        "",
        "1961-04-30",
        "Rosenweg 5",
        "20095",
        "Hamburg",
        "DE",
    ],
    [
        "manual",
        "N6",
        "Petra",
        "Wagner",
        "",
        "",
        "1963-12-01",
        "Rosenweg 5",
        "20095",
        "Hamburg",
        "DE",
    ],
]
EMPTY = [["manual", f"E{i}"] + [""] * (len(CONTACT_COLUMNS) - 2) for i in range(1, 6)]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Env:
    env = Env(tmp_path_factory.mktemp("identity"))
    env.crm("generate", "--customers", str(PERSONS), "--seed", "7", "--truth", str(env.truth))
    extra = env.inbox / "contacts" / "contacts_manual.csv"
    with extra.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CONTACT_COLUMNS)
        writer.writerows(NAMESAKES + EMPTY)
    env.crm("refresh")
    return env


def _con(env: Env) -> duckdb.DuckDBPyConnection:
    # the normalised contacts are personal data: in the restricted output only
    return duckdb.connect(str(env.restricted), read_only=True)


def _build_model(env: Env) -> tuple[str, float]:
    """The model file the refresh linked with, and its link threshold."""
    with _con(env) as con:
        path, origin, threshold = con.execute(
            "select model_path, model_origin, link_threshold from intermediate.int_identity_model"
        ).fetchone()
    # ~10k contact records: the first refresh trained the warehouse's own model
    assert origin == "trained"
    assert Path(path).is_relative_to(env.home / "identity" / "model")
    return path, threshold


def _features(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """The normalised contacts in an in-memory connection the test may write to."""
    data = con.execute("select * from intermediate.int_contacts_normalized").to_arrow_table()
    mem = duckdb.connect()
    mem.register("features_arrow", data)
    mem.execute("create table contacts as select * from features_arrow")
    return mem


def _pairs_of(table: pa.Table, keys: set[str]) -> list[tuple[str, str, float]]:
    rows = table.to_pylist()
    return [
        (r["contact_key_l"], r["contact_key_r"], r["match_probability"])
        for r in rows
        if r["contact_key_l"] in keys or r["contact_key_r"] in keys
    ]


def test_precision_and_recall_at_10k_contacts(world: Env):
    with _con(world) as con:
        keys = con.execute(
            "select contact_key from intermediate.int_contacts_normalized"
        ).fetchnumpy()["contact_key"]
        pairs = con.execute(
            "select contact_key_l, contact_key_r, match_probability "
            "from intermediate.int_contact_match_pairs"
        ).to_arrow_table()
        links = con.execute(
            "select contact_key_a, contact_key_b from intermediate.int_contact_links"
        ).to_arrow_table()
    truth = ev.truth_keys(world.truth)
    _, threshold = _build_model(world)
    assert len(keys) > 10_000
    # records without e-mail and phone are part of the test
    assert (pa.compute.sum(pa.compute.is_null(pairs.column("contact_key_l"))).as_py() or 0) == 0
    result = ev.evaluate(keys, pairs, links, truth, threshold)
    deterministic = ev.evaluate_deterministic_only(keys, links, truth)
    assert result["precision"] >= 0.99, result
    assert result["recall"] >= 0.97, result
    assert result["recall"] > deterministic["recall"] + 0.2, (result, deterministic)
    assert result["split_share"] < 0.05, result
    assert result["merge_share"] < 0.01, result


def test_namesakes_with_other_addresses_stay_apart(world: Env):
    with _con(world) as con:
        pairs = con.execute("select * from intermediate.int_contact_match_pairs").to_arrow_table()
        mem = _features(con)
    model, threshold = _build_model(world)
    every = matching.predict_pairs(mem, "contacts", None, model, full=True, min_probability=0.0)
    manual = {f"manual:N{i}" for i in range(1, 7)}
    # the two Thomas Müller (other cities) are not even candidates
    assert not [p for p in _pairs_of(every, {"manual:N1"}) if "manual:N2" in p]
    # the two Sabine Schmidt (one postal code) and the household are scored, and apart
    scored = {(left, right): p for left, right, p in _pairs_of(every, manual)}
    assert ("manual:N3", "manual:N4") in scored
    assert ("manual:N5", "manual:N6") in scored
    # far below the threshold: not even kept as a candidate pair (< 0.5)
    among = {pair: p for pair, p in scored.items() if set(pair) <= manual}
    assert max(among.values()) < matching.DEFAULT_MIN_PROBABILITY, among
    # and nothing links them in the warehouse's pairs above the threshold
    strong = [p for p in _pairs_of(pairs, manual) if p[2] >= threshold]
    assert not [p for p in strong if p[0] in manual and p[1] in manual]


def test_contacts_without_identifying_fields_match_nothing(world: Env):
    empty = {f"manual:E{i}" for i in range(1, 6)}
    with _con(world) as con:
        stubs = {
            r[0]
            for r in con.execute(
                "select contact_key from intermediate.int_contacts_normalized "
                "where not has_contact_record"
            ).fetchall()
        }
        mem = _features(con)
    model, _ = _build_model(world)
    every = matching.predict_pairs(mem, "contacts", None, model, full=True, min_probability=0.0)
    assert _pairs_of(every, empty | stubs) == []
    keys = mem.execute("select contact_key from contacts").fetchnumpy()["contact_key"]
    labels = ev.cluster_labels(
        keys, [(every.column("contact_key_l").to_numpy(), every.column("contact_key_r").to_numpy())]
    )
    label_of = dict(zip(keys, labels, strict=True))
    assert len({label_of[k] for k in empty}) == len(empty)


def test_block_signatures_of_the_build_equal_the_python_reference(world: Env):
    """int_contact_blocks (SQL, from macro identity_blocking_rules) gives every
    contact the signature matching.contact_blocks_sql computes from
    BLOCKING_RULES; with some blocks over their cap, or the check would be weak."""
    with _con(world) as con:
        mem = _features(con)
        built = con.execute(
            "select contact_key, block_signature from intermediate.int_contact_blocks"
        ).fetchall()
    reference = mem.execute(
        f"select contact_key, block_signature from ({matching.contact_blocks_sql('contacts')})"
    ).fetchall()
    assert sorted(built) == sorted(reference)
    # every rule pairs some contacts; some contacts have a rule over its cap
    signatures = [s for _, s in built]
    assert all(any(s[i] == "1" for s in signatures) for i in range(len(matching.BLOCKING_RULES)))
    over_cap = mem.execute(
        f"select count(*) from ({matching.contact_blocks_sql('contacts')}) where "
        + " or ".join(
            f"{matching.block_size_column(i)} > {matching.block_cap(columns)}"
            for i, (_, columns) in enumerate(matching.BLOCKING_RULES)
        )
    ).fetchone()[0]
    assert over_cap > 0


@pytest.mark.parametrize("share", [2, 20])
def test_incremental_scoring_equals_full(world: Env, share: int):
    """One contact in ``share`` is new: a half scores the whole input, a
    twentieth only the new contacts and their block neighbours (_near_new)."""
    with _con(world) as con:
        mem = _features(con)
    keys = mem.execute("select contact_key from contacts").fetchnumpy()["contact_key"]
    is_new = [hashlib.md5(k.encode()).digest()[0] % share == 0 for k in keys]
    mem.register("scope_arrow", pa.table({"contact_key": keys, "is_new": is_new}))
    mem.execute("create table scope as select * from scope_arrow")
    mem.execute("create table blocks as " + matching.contact_blocks_sql("contacts"))
    new = {k for k, n in zip(keys, is_new, strict=True) if n}

    model, _ = _build_model(world)  # with its calibrated patterns
    full = matching.predict_pairs(mem, "contacts", "scope", model, full=True, blocks="blocks")
    incremental = matching.predict_pairs(
        mem, "contacts", "scope", model, full=False, blocks="blocks"
    )
    # the rows scoring reads: all of them, or a small part around the new ones
    with matching.work_database(mem) as (database, _):
        read = matching._stage_input(
            mem, f"{database}.main.staged", "contacts", "scope", "blocks", restrict=True
        )
    if share == 2:
        assert read == len(keys)
    else:
        assert len(new) < read < len(keys) / 2
    touched = [
        i
        for i, (left, right) in enumerate(
            zip(
                full.column("contact_key_l").to_pylist(),
                full.column("contact_key_r").to_pylist(),
                strict=True,
            )
        )
        if left in new or right in new
    ]
    assert 0 < incremental.num_rows < full.num_rows
    assert incremental.equals(full.take(touched))


def test_predictions_are_deterministic(world: Env, monkeypatch):
    with _con(world) as con:
        mem = _features(con)
    model, _ = _build_model(world)
    seen = []
    score = matching._score

    def spy(work, *args):
        seen.append(
            work.execute(
                "select current_database(), (select list(database_name order by database_name) "
                "from duckdb_databases() where not internal) from (select 1)"
            ).fetchone()
        )
        return score(work, *args)

    monkeypatch.setattr(matching, "_score", spy)
    first = matching.predict_pairs(mem, "contacts", None, model, full=True)
    second = matching.predict_pairs(mem, "contacts", None, model, full=True)
    assert first.num_rows > 5000
    assert first.equals(second)
    # Splink worked in a catalog attached to the caller's DuckDB (one memory
    # limit for both), not in a DuckDB of its own, and a new one each time
    (work_1, databases_1), (work_2, _) = seen
    assert work_1.startswith("crm_work_") and work_1 != work_2
    assert databases_1 == sorted(["memory", work_1])
    # detached afterwards: none of its tables is left in the caller's
    tables = mem.execute(
        "select database_name || '.' || table_name from duckdb_tables() "
        "union all select view_name from duckdb_views() where not internal"
    ).fetchall()
    assert sorted(t for (t,) in tables) == ["features_arrow", "memory.contacts"]


def test_training_is_reproducible(world: Env, tmp_path: Path):
    first = train_model(world.restricted, tmp_path / "a", seed=3, u_max_pairs=2e6)
    second = train_model(world.restricted, tmp_path / "b", seed=3, u_max_pairs=2e6)
    for path in sorted(first.parent.iterdir()):
        if path.name == matching.FACTS_FILE:
            continue
        assert path.read_bytes() == (second.parent / path.name).read_bytes(), path.name
    # the training facts differ only in when it ran and how long it took
    facts = [json.loads((p.parent / matching.FACTS_FILE).read_text()) for p in (first, second)]
    for f in facts:
        f.pop("trained_at")
        f.pop("seconds")
    assert facts[0] == facts[1]
    with _con(world) as con:
        mem = _features(con)
    pairs = matching.predict_pairs(mem, "contacts", None, first, full=True)
    assert pairs.num_rows > 5000
