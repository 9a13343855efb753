"""Probabilistic identity matching: Splink (DuckDB backend) over the normalised contacts.

Layered after the deterministic rules (int_contact_links: shared e-mail, phone,
loyalty id): this scores pairs of contacts on name, birth date and address, with
e-mail, phone and loyalty id as further evidence, so persons whose records share
no key are still recognised.

The model is a folder: ``splink_model.json`` (Splink settings with the trained
m/u probabilities, and the weight corrections of crm/identity/train.py's
calibration) and, beside it, the FROZEN term-frequency tables
``tf_<column>.parquet`` computed at training time. A pair's score therefore
depends only on the two records and the model, never on the rest of the
refresh's data: an incremental refresh (only pairs with a new contact scored)
gives exactly the pairs and scores of a full re-link. Which model a build uses:
crm/identity/model_store.py (the warehouse's own, trained on its contacts; the
one shipped in crm/identity/model/ is for the demo and for too little data).

Features come from int_contacts_normalized (SQL): folded name keys, the canonical
first name via seeds/nicknames.csv, street name and house number, birth date
parts, and e-mail/phone/loyalty keys that are null when shared by too many
contacts (placeholders).

Splink scores in an in-memory catalog attached to the caller's DuckDB
(work_database: the caller's memory limit and temp directory bound it): its
``__splink__*`` tables never touch the warehouse file, and detaching the
catalog removes them all. Training's EM runs in a private connection on one
thread (private_connection), on the sample alone.

Pairs are kept from DEFAULT_MIN_PROBABILITY (0.5) up, for audit; they link at
the model's link threshold (train.choose_threshold; the shipped model:
RECOMMENDED_THRESHOLD).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

MODEL_DIR = Path(__file__).resolve().parent / "model"
MODEL_FILE = "splink_model.json"
FACTS_FILE = "training.json"
# The model file's weight corrections (train.decisive_calibration): per evidence
# pattern ("gamma,gamma,...") or per pattern and term-frequency band
# ("gamma,gamma,...|band", see train.tf_bands).
PATTERN_KEY = "crm_pattern_adjustments"
# A band is how far the term frequencies moved a pair's weight from its
# pattern's weight, floor(offset / TF_BAND_BITS), in bits (log2).
TF_BAND_BITS = 1.0
# The band of a correction that applies to every pair of its pattern (models
# trained before bands).
WHOLE_PATTERN = -(2**31)
MODEL_ENV = "CRM_IDENTITY_MODEL"
DEFAULT_MIN_PROBABILITY = 0.5
# The shipped demo model's link threshold (tuned on generated data at 10k and 1M
# contacts, BENCHMARKS.md); a trained model carries its own.
RECOMMENDED_THRESHOLD = 0.995

UNIQUE_ID = "contact_key"
# What predict_pairs returns: one row per scored pair.
PAIR_SCHEMA = pa.schema(
    [
        ("contact_key_l", pa.string()),
        ("contact_key_r", pa.string()),
        ("match_probability", pa.float64()),
        ("match_weight", pa.float64()),
        ("evidence", pa.string()),
        ("blocking_rule", pa.string()),
    ]
)

# Columns of int_contacts_normalized the model reads (plus is_new from the scope).
FEATURE_COLUMNS = (
    "contact_key",
    "source_system",
    "first_name_key",
    "first_name_canonical",
    "first_name_canonical_alt",
    "last_name_key",
    "name_tokens_sorted",
    "birth_date",
    "birth_year",
    "birth_month",
    "birth_day",
    "street_name",
    "house_number",
    "postal_code_normalized",
    "city_normalized",
    "email_match_key",
    "phone_match_key",
    "loyalty_id_match_key",
)
# Term frequencies are computed once, at training time, and frozen in the model.
TF_COLUMNS = ("first_name_key", "last_name_key", "postal_code_normalized")

# Blocking: which pairs get scored at all. Each rule is an equi-join on columns
# that together few records share (a birth date with a surname, one house), and
# every rule is capped: a key value shared by more records than the rule's cap
# (a common name in a big city) generates no pairs under that rule, so no block
# grows with the square of a common value and the pairs grow linearly with the
# records. Such records are still compared under the other rules. Pairs are
# scored once, by the first rule that finds them (Splink's match_key = the
# rule's position). The rules and caps were chosen by the true pairs each finds
# that no other does, against the pairs it costs, on the Febrl sets and on 1M
# generated contacts (BENCHMARKS.md, issue 13): a rule that found no pair alone
# on either is not here.
BLOCKING_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("birth_date+last_name", ("birth_date", "last_name_key")),
    ("birth_date+first_name", ("birth_date", "first_name_canonical")),
    ("birth_date+postal_code", ("birth_date", "postal_code_normalized")),
    ("postal_code+last_name", ("postal_code_normalized", "last_name_key")),
    ("address", ("postal_code_normalized", "street_name", "house_number")),
    # the same house (in the same city) without a postal code on one side
    ("street+last_name", ("street_name", "house_number", "city_normalized", "last_name_key")),
    (
        "street+first_name",
        ("street_name", "house_number", "city_normalized", "first_name_canonical"),
    ),
    # first and last name swapped, and moved
    ("birth_date+name_tokens", ("birth_date", "name_tokens_sorted")),
    # typos in the postal code or the street, or no street at all
    ("birth_date+city", ("birth_date", "city_normalized")),
    ("name_tokens+city", ("name_tokens_sorted", "city_normalized")),
    ("birth_date+house", ("birth_date", "house_number")),
    ("first_name+street", ("first_name_canonical", "street_name", "house_number")),
    ("first_name+house+city", ("first_name_canonical", "house_number", "city_normalized")),
    ("last_name+city", ("last_name_key", "city_normalized")),
    ("name", ("first_name_key", "last_name_key")),
    ("house+postal_code", ("house_number", "postal_code_normalized")),
    ("street+postal_code", ("street_name", "postal_code_normalized")),
)
# A birth date or a house number makes a key selective: its blocks are small
# unless something is odd (a default birth date, a big building), so their cap
# is higher than that of keys of names and places only.
SELECTIVE_COLUMNS = frozenset({"birth_date", "house_number"})
SELECTIVE_BLOCK_CAP = 20
BLOCK_CAP = 10


def block_cap(columns: Sequence[str]) -> int:
    """The most records that may share a rule's key for the rule to pair them."""
    return SELECTIVE_BLOCK_CAP if SELECTIVE_COLUMNS & set(columns) else BLOCK_CAP


def block_size_column(i: int) -> str:
    return f"block_size_{i}"


def blocking_rule_sql(i: int, columns: Sequence[str]) -> str:
    """Equal, non-null values on both sides; at most block_cap records share the key
    (bit i of the record's block_bits says so: one integer column, so that scoring
    does not carry every rule's block size through its candidate pairs, and a
    cheap test where each rule re-checks the rules before it)."""
    sql = " and ".join(f"l.{c} = r.{c}" for c in columns)
    return sql + f" and (l.block_bits & {1 << i}) <> 0"


def block_bits_sql(signature: str = "block_signature") -> str:
    """The block signature as an integer: bit i set where character i + 1 is '1'
    (null where the signature is)."""
    bits = " + ".join(
        f"(case when substr({signature}, {i + 1}, 1) = '1' then {1 << i} else 0 end)"
        for i in range(len(BLOCKING_RULES))
    )
    return f"(case when {signature} is not null then {bits} end)"


def block_sizes_sql(relation: str, rows: str = "") -> str:
    """``relation``'s columns plus, per blocking rule, the count of records sharing
    its key (1 where a key column is null: such a record shares its key with none),
    the block_signature (block_signature_sql) and the block_bits the blocking
    rules read (block_bits_sql).

    One hash aggregate per rule joined back on the key: a third of the time of a
    window per rule, which sorts the whole input once per rule.

    ``rows``: an ORDER BY ... LIMIT clause choosing the records that get their sizes
    (training's sample), counted over all of ``relation``. Then the input is not
    copied: each count reads only its key columns, and only the chosen records are
    joined (at 4.35M contacts and a 300k sample, ~4x less work than sizing every
    record and sampling after).
    """
    ctes, sizes, joins = [], [], []
    for i, (_, columns) in enumerate(BLOCKING_RULES):
        keys = ", ".join(columns)
        filled = " and ".join(f"{c} is not null" for c in columns)
        ctes.append(
            f"crm_block_{i} as (select {keys}, count(*) as n "
            f"from crm_block_input where {filled} group by {keys})"
        )
        sizes.append(f"coalesce(crm_block_{i}.n, 1) as {block_size_column(i)}")
        on = " and ".join(f"crm_block_{i}.{c} = crm_block_input.{c}" for c in columns)
        joins.append(f"left join crm_block_{i} on {on}")
    if rows:
        head = (
            f"with crm_block_input as not materialized (select * from {relation}), "
            f"crm_block_rows as materialized (select * from crm_block_input {rows}), "
        )
        joins = [j.replace("crm_block_input.", "crm_block_rows.") for j in joins]
        chosen = "crm_block_rows"
    else:
        head = f"with crm_block_input as materialized (select * from {relation}), "
        chosen = "crm_block_input"
    sized = (
        head
        + ", ".join(ctes)
        + f" select {chosen}.*, {', '.join(sizes)} from {chosen} "
        + " ".join(joins)
    )
    signed = f"select *, {block_signature_sql()} as block_signature from ({sized})"
    return f"select *, {block_bits_sql()} as block_bits from ({signed})"


def block_signature_sql() -> str:
    """One character per blocking rule: '1' where the rule pairs the record with
    others of its key (the key is filled and its block within the cap), else '0'.

    A block that crosses its cap changes the signature of every record in it, so
    an incremental refresh re-scores their pairs (int_contacts_scope) and gives
    what a full re-link gives.
    """
    bits = []
    for i, (_, columns) in enumerate(BLOCKING_RULES):
        filled = " and ".join(f"{c} is not null" for c in columns)
        bits.append(
            f"case when {filled} and {block_size_column(i)} <= {block_cap(columns)} "
            "then '1' else '0' end"
        )
    return " || ".join(bits)


def contact_blocks_sql(contacts: str) -> str:
    """Per contact of the table or view ``contacts``: its block sizes and signature."""
    sizes = ", ".join(block_size_column(i) for i in range(len(BLOCKING_RULES)))
    # only the key columns: the aggregates and joins carry nothing else
    keys = sorted({c for _, rule in BLOCKING_RULES for c in rule})
    columns = ", ".join([UNIQUE_ID, *keys])
    return (
        f"select contact_key, {sizes}, block_signature "
        f"from ({block_sizes_sql(f'(select {columns} from {contacts})')})"
    )


def contact_blocks_relation(
    con: duckdb.DuckDBPyConnection, contacts: duckdb.DuckDBPyRelation
) -> duckdb.DuckDBPyRelation:
    """contact_blocks as a relation of ``con``, unsorted: a dbt Python model that
    returns it has the rows written by the engine, none through Python. It reads
    ``contacts`` through its SQL (relation.create_view would leave a view behind
    in the warehouse file)."""
    return con.sql(contact_blocks_sql(f"({contacts.sql_query()})"))


def contact_blocks(
    con: duckdb.DuckDBPyConnection, contacts: str | duckdb.DuckDBPyRelation
) -> pa.Table:
    """Per contact of ``contacts`` (a relation, or its name in ``con``): its block
    sizes and signature, sorted by contact_key."""
    name = contacts
    if not isinstance(contacts, str):
        name = "__crm_contact_blocks_input"
        contacts.create_view(name, replace=True)
    try:
        return con.execute(f"{contact_blocks_sql(name)} order by contact_key").to_arrow_table()
    finally:
        if name != contacts:
            con.execute(f"drop view if exists {name}")


INCREMENTAL_CONDITION = "(l.is_new or r.is_new)"


def _level(sql: str, label: str, **extra: Any) -> dict[str, Any]:
    return {"sql_condition": sql, "label_for_charts": label, **extra}


def _null(*columns: str) -> dict[str, Any]:
    sql = " or ".join(f"{c}_l is null or {c}_r is null" for c in columns)
    return _level(sql, "missing", is_null_level=True)


_CANONICAL_SETS_MEET = " or ".join(
    f"{a}_l = {b}_r"
    for a in ("first_name_canonical", "first_name_canonical_alt")
    for b in ("first_name_canonical", "first_name_canonical_alt")
)
# First and last name swapped, allowing a typo in each ('Shneider Klaus').
_NAMES_SWAPPED = (
    "jaro_winkler_similarity(first_name_key_l, last_name_key_r) >= 0.92 "
    "and jaro_winkler_similarity(last_name_key_l, first_name_key_r) >= 0.92"
)

# One name in the other field, the other name not ('Timothy Coffey' and
# 'Dominey Timothy'): the fields were swapped and one of them replaced.
_NAMES_CROSSED = "(first_name_key_l = last_name_key_r or last_name_key_l = first_name_key_r)"


# The same place: the postal codes agree, or one is missing and the cities agree.
_SAME_PLACE = (
    "(postal_code_normalized_l = postal_code_normalized_r "
    "or ((postal_code_normalized_l is null or postal_code_normalized_r is null) "
    "and city_normalized_l = city_normalized_r))"
)


def one_edit_sql(left: str, right: str) -> str:
    """``damerau_levenshtein(left, right) <= 1``, with a cheaper necessary test first.

    DuckDB's Damerau-Levenshtein distance costs about four times the plain
    Levenshtein distance, and it was most of scoring's time at 4.35M contacts.
    One edit or one swap of neighbours (both count bytes) is at most two plain
    edits, so pairs further apart than that skip the costly distance; the
    result is the same (tests/test_identity_comparisons.py).
    """
    return f"(levenshtein({left}, {right}) <= 2 and damerau_levenshtein({left}, {right}) <= 1)"


# Two of a birth date's three parts agree.
_TWO_DATE_PARTS = (
    "(birth_year_l = birth_year_r and birth_month_l = birth_month_r) "
    "or (birth_year_l = birth_year_r and birth_day_l = birth_day_r) "
    "or (birth_month_l = birth_month_r and birth_day_l = birth_day_r)"
)
# 'YYYY-MM-DD' one edit away: a digit changed or two neighbouring digits swapped
# within one part (the dashes stay, and both are valid dates), so the other two
# parts agree; that cheap test comes first where both years have four digits.
_DATE_ONE_EDIT = (
    f"(({_TWO_DATE_PARTS}) or birth_year_l not between 1000 and 9999 "
    "or birth_year_r not between 1000 and 9999) "
    "and damerau_levenshtein(cast(birth_date_l as varchar), cast(birth_date_r as varchar)) <= 1"
)


# A postal code one edit away, or a city spelled alike (in the same postal code
# area: its first two characters agree, or one side has no postal code).
_SIMILAR_PLACE = (
    f"({one_edit_sql('postal_code_normalized_l', 'postal_code_normalized_r')} "
    "or (jaro_winkler_similarity(city_normalized_l, city_normalized_r) >= 0.9 "
    "and coalesce(left(postal_code_normalized_l, 2) = left(postal_code_normalized_r, 2), true)))"
)


def comparisons() -> list[dict[str, Any]]:
    """The comparisons, most specific level first; labels become the pair's evidence."""
    return [
        {
            "output_column_name": "first_name",
            "comparison_description": "first name: folded key, nickname canonical form",
            "comparison_levels": [
                _null("first_name_key"),
                _level(
                    "first_name_key_l = first_name_key_r",
                    "exact",
                    tf_adjustment_column="first_name_key",
                    tf_adjustment_weight=1.0,
                ),
                _level(f"({_CANONICAL_SETS_MEET})", "nickname"),
                _level(_NAMES_SWAPPED, "swapped with last name"),
                _level(_NAMES_CROSSED, "one name in the other field"),
                _level(one_edit_sql("first_name_key_l", "first_name_key_r"), "typo"),
                _level(
                    "jaro_winkler_similarity(first_name_key_l, first_name_key_r) >= 0.88", "similar"
                ),
                _level("else", "different"),
            ],
        },
        {
            "output_column_name": "last_name",
            "comparison_description": "last name: folded key ('Müller' = 'Mueller')",
            "comparison_levels": [
                # swapped names are evidence once, in the first-name comparison
                _level(
                    "last_name_key_l is null or last_name_key_r is null "
                    f"or (last_name_key_l <> last_name_key_r "
                    f"and ({_NAMES_SWAPPED} or {_NAMES_CROSSED}))",
                    "missing or swapped",
                    is_null_level=True,
                ),
                _level(
                    "last_name_key_l = last_name_key_r",
                    "exact",
                    tf_adjustment_column="last_name_key",
                    tf_adjustment_weight=1.0,
                ),
                _level(one_edit_sql("last_name_key_l", "last_name_key_r"), "typo"),
                _level(
                    "jaro_winkler_similarity(last_name_key_l, last_name_key_r) >= 0.88", "similar"
                ),
                _level("else", "different"),
            ],
        },
        {
            "output_column_name": "birth_date",
            "comparison_description": "birth date and its parts",
            "comparison_levels": [
                _null("birth_date"),
                _level("birth_date_l = birth_date_r", "exact"),
                _level(
                    "birth_year_l = birth_year_r and birth_month_l = birth_day_r "
                    "and birth_day_l = birth_month_r",
                    "day and month swapped",
                ),
                # a mistyped digit or two swapped digits of YYYY-MM-DD
                _level(_DATE_ONE_EDIT, "one digit differs"),
                _level(_TWO_DATE_PARTS, "one part differs"),
                _level("else", "different"),
            ],
        },
        {
            "output_column_name": "address",
            "comparison_description": "street, house number, postal code, city",
            "comparison_levels": [
                _level(
                    "(street_name_l is null or street_name_r is null "
                    "or house_number_l is null or house_number_r is null) "
                    "and (postal_code_normalized_l is null or postal_code_normalized_r is null) "
                    "and (city_normalized_l is null or city_normalized_r is null)",
                    "missing",
                    is_null_level=True,
                ),
                _level(
                    f"street_name_l = street_name_r and house_number_l = house_number_r "
                    f"and {_SAME_PLACE}",
                    "same street and number",
                ),
                _level(
                    f"house_number_l = house_number_r "
                    f"and jaro_winkler_similarity(street_name_l, street_name_r) >= 0.9 "
                    f"and {_SAME_PLACE}",
                    "same number, similar street",
                ),
                # a Hauptstraße 12 in a place unknown on one side
                _level(
                    "street_name_l = street_name_r and house_number_l = house_number_r "
                    "and coalesce(postal_code_normalized_l = postal_code_normalized_r, true) "
                    "and coalesce(city_normalized_l = city_normalized_r, true)",
                    "same street and number, place unknown",
                ),
                # the same house with a typo in the postal code or the city
                _level(
                    f"house_number_l = house_number_r "
                    f"and jaro_winkler_similarity(street_name_l, street_name_r) >= 0.9 "
                    f"and {_SIMILAR_PLACE}",
                    "same house, place mistyped",
                ),
                _level(
                    "postal_code_normalized_l = postal_code_normalized_r",
                    "same postal code",
                    tf_adjustment_column="postal_code_normalized",
                    tf_adjustment_weight=1.0,
                ),
                _level("city_normalized_l = city_normalized_r", "same city"),
                _level(_SIMILAR_PLACE, "similar place"),
                _level("else", "different"),
            ],
        },
        {
            "output_column_name": "email",
            "comparison_description": "normalised e-mail (placeholders shared by many are null)",
            "comparison_levels": [
                _null("email_match_key"),
                _level("email_match_key_l = email_match_key_r", "exact"),
                _level(
                    "split_part(email_match_key_l, '@', 1) = split_part(email_match_key_r, '@', 1)",
                    "same local part",
                ),
                _level("else", "different"),
            ],
        },
        {
            "output_column_name": "phone",
            "comparison_description": "E.164 phone digits (placeholders shared by many are null)",
            "comparison_levels": [
                _null("phone_match_key"),
                _level("phone_match_key_l = phone_match_key_r", "exact"),
                _level(
                    "right(phone_match_key_l, 8) = right(phone_match_key_r, 8)",
                    "same last 8 digits",
                ),
                _level("else", "different"),
            ],
        },
        {
            "output_column_name": "loyalty_id",
            "comparison_description": "loyalty card number",
            "comparison_levels": [
                _null("loyalty_id_match_key"),
                _level("loyalty_id_match_key_l = loyalty_id_match_key_r", "exact"),
                _level("else", "different"),
            ],
        },
    ]


def base_settings() -> dict[str, Any]:
    """The untrained Splink settings (train.py fills in m, u and the prior)."""
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": UNIQUE_ID,
        "comparisons": comparisons(),
        "blocking_rules_to_generate_predictions": [
            {"blocking_rule": blocking_rule_sql(i, columns), "sql_dialect": "duckdb"}
            for i, (_, columns) in enumerate(BLOCKING_RULES)
        ],
        "additional_columns_to_retain": ["source_system"],
        "retain_matching_columns": True,
        "retain_intermediate_calculation_columns": False,
        "probability_two_random_records_match": 1e-4,
        "em_convergence": 0.0001,
        "max_iterations": 25,
        "linker_uid": "crm_identity",
    }


def default_model_path() -> Path:
    """The model file: $CRM_IDENTITY_MODEL, else crm/identity/model/splink_model.json."""
    override = os.environ.get(MODEL_ENV)
    return Path(override).expanduser().resolve() if override else MODEL_DIR / MODEL_FILE


def model_version(model_path: Path | str | None = None) -> str:
    """A short hash of the model file and its frozen term-frequency tables.

    Pairs carried over from the previous restricted output were scored by the model of
    that refresh; folding this version into each contact's scope fingerprint
    makes a retrained model re-score every pair automatically.
    """
    path = Path(model_path) if model_path else default_model_path()
    digest = hashlib.sha256()
    # the candidate pairs are part of the result: a change of the rules re-scores
    digest.update(json.dumps([BLOCKING_RULES, [block_cap(c) for _, c in BLOCKING_RULES]]).encode())
    for file in sorted([path, *path.parent.glob("tf_*.parquet")]):
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def tf_path(model_path: Path, column: str) -> Path:
    return Path(model_path).parent / f"tf_{column}.parquet"


@dataclass(frozen=True)
class _Connection:
    threads: int
    memory_limit: str
    temp_directory: str


def _settings_of(con: duckdb.DuckDBPyConnection) -> _Connection:
    threads, memory_limit, temp_directory = con.execute(
        "select current_setting('threads'), current_setting('memory_limit'), "
        "current_setting('temp_directory')"
    ).fetchone()
    return _Connection(int(threads), str(memory_limit), str(temp_directory or ""))


def private_connection(like: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for Splink's work tables, with the caller's resource limits."""
    config: dict[str, str] = {}
    if like is not None:
        s = _settings_of(like)
        config = {"threads": str(s.threads), "memory_limit": s.memory_limit}
        if s.temp_directory:
            config["temp_directory"] = s.temp_directory
    return duckdb.connect(":memory:", config=config)


class RelationQueries:
    """SQL over a DuckDB relation as the table `contacts_in`, run on the relation's
    own connection (an .execute() for code written against a connection): a
    build's contacts are counted where they are, without a view or a copy."""

    def __init__(self, relation: duckdb.DuckDBPyRelation, name: str = "contacts_in") -> None:
        self.relation = relation
        self.name = name

    def execute(self, sql: str) -> duckdb.DuckDBPyRelation:
        return self.relation.query(self.name, sql)


@contextmanager
def work_database(
    con: duckdb.DuckDBPyConnection,
) -> Iterator[tuple[str, duckdb.DuckDBPyConnection]]:
    """A scratch catalog for Splink's tables inside the caller's DuckDB: yields its
    name and a cursor whose default catalog it is. An in-memory database attached
    to the caller's instance shares that instance's memory limit and spills to its
    temp directory, so scoring is bounded by the one limit the warehouse sets; a
    private in-memory DuckDB had a limit of its own beside the caller's (about
    4 GB over the setting at 10M orders, session 15). Detached, with every table
    in it, when the block ends."""
    name = f"crm_work_{uuid.uuid4().hex[:12]}"
    setup = con.cursor()
    try:
        setup.execute(f"attach ':memory:' as {name}")
        work = con.cursor()
        try:
            work.execute(f"use {name}")
            yield name, work
        finally:
            work.close()
            setup.execute(f"detach database if exists {name}")
    finally:
        setup.close()


def _stage_input(
    con: duckdb.DuckDBPyConnection,
    target: str,
    contacts: str | duckdb.DuckDBPyRelation,
    scope: str | duckdb.DuckDBPyRelation | None,
    blocks: str | duckdb.DuckDBPyRelation | None = None,
    restrict: bool = False,
) -> int:
    """Create table ``target`` (qualified) with the feature columns plus is_new
    (contacts missing from the scope count as new) and the block bits from
    ``blocks`` (contact_blocks' table) when it is given, by SQL on ``con``, where
    the caller's names resolve: no row passes through Python. With ``restrict``
    (and a scope and blocks), only the contacts _near_new keeps. Returns its rows."""
    views: list[str] = []

    def name_of(obj: str | duckdb.DuckDBPyRelation, view: str) -> str:
        if isinstance(obj, str):
            return obj
        obj.create_view(view, replace=True)
        views.append(view)
        return view

    try:
        contacts_name = name_of(contacts, "__crm_identity_contacts")
        columns = ", ".join(f"contacts.{c}" for c in FEATURE_COLUMNS)
        if scope is None:
            sql = f"select {columns}, true as is_new from {contacts_name} as contacts"
        else:
            scope_name = name_of(scope, "__crm_identity_scope")
            sql = (
                f"select {columns}, coalesce(scope.is_new, true) as is_new "
                f"from {contacts_name} as contacts "
                f"left join {scope_name} as scope on contacts.contact_key = scope.contact_key"
            )
        if blocks is not None:
            blocks_name = name_of(blocks, "__crm_identity_blocks")
            sql = (
                f"select input.*, {block_bits_sql('blocks.block_signature')} as block_bits "
                f"from ({sql}) as input "
                f"left join {blocks_name} as blocks on input.contact_key = blocks.contact_key"
            )
        if blocks is not None and scope is not None and restrict:
            _near_new(con, sql, target)
        else:
            con.execute(f"create table {target} as {sql}")
        unsigned = "block_bits is null" if blocks is not None else "false"
        rows, missing = con.execute(
            f"select count(*), count(*) filter (where {unsigned}) from {target}"
        ).fetchone()
        if missing:
            raise ValueError(
                f"{missing} contact(s) have no block signature: the blocks table is stale "
                "(build int_contact_blocks with int_contacts_normalized)"
            )
        return rows
    finally:
        for view in views:
            con.execute(f"drop view if exists {view}")


# Below this share of new contacts, scoring reads only the new ones and their
# block neighbours (_near_new); above it the filter would keep most rows anyway.
NEAR_NEW_SHARE = 0.5


def _near_new(con: duckdb.DuckDBPyConnection, sql: str, target: str) -> None:
    """Create table ``target`` with the rows of ``sql`` (the scoring input:
    features, is_new, block_bits) that an incremental scoring can pair: the new
    contacts and, per blocking rule, the contacts sharing the rule's key with a
    new one where the rule pairs both (its bit set on both sides). Every
    candidate pair with a new member lies within these rows, and a pair's score
    reads only its two records (term frequencies are frozen in the model, block
    bits come from the whole blocks table), so scoring them gives exactly the
    pairs the whole input gives, without copying millions of unchanged contacts.
    """
    table = f"{target}_all"
    con.execute(f"create table {table} as {sql}")
    try:
        new, total, unsigned = con.execute(
            f"select count(*) filter (where is_new), count(*), "
            f"count(*) filter (where block_bits is null) from {table}"
        ).fetchone()
        # unsigned rows: keep them all, for the caller's stale-blocks error
        if unsigned or new >= NEAR_NEW_SHARE * total:
            con.execute(f"alter table {table} rename to {target.rsplit('.', 1)[-1]}")
            return
        near = [f"select contact_key from {table} where is_new"]
        for i, (_, columns) in enumerate(BLOCKING_RULES):
            keys = ", ".join(columns)
            bit = 1 << i
            on = " and ".join(f"input.{c} = new_keys.{c}" for c in columns)
            near.append(
                f"select input.contact_key from {table} as input "
                f"join (select distinct {keys} from {table} "
                f"where is_new and (block_bits & {bit}) <> 0) as new_keys on {on} "
                f"where (input.block_bits & {bit}) <> 0"
            )
        con.execute(
            f"create table {target} as "
            f"select * from {table} where contact_key in ({' union '.join(near)})"
        )
    finally:
        con.execute(f"drop table if exists {table}")


def _labels(linker) -> dict[str, list[tuple[int, str]]]:
    """Per comparison: (gamma value, label) of each level."""
    out = {}
    for comparison in linker._settings_obj.comparisons:
        out[comparison.output_column_name] = [
            (level.comparison_vector_value, level.label_for_charts)
            for level in comparison.comparison_levels
        ]
    return out


def _evidence_sql(labels: dict[str, list[tuple[int, str]]]) -> str:
    """A compact JSON object of the level each comparison reached, built in SQL."""
    parts = []
    for i, (name, levels) in enumerate(labels.items()):
        cases = " ".join(f"when {gamma} then '{label}'" for gamma, label in levels)
        prefix = "{" if i == 0 else ","
        parts.append(f"'{prefix}\"{name}\":\"' || (case gamma_{name} {cases} end) || '\"'")
    return " || ".join(parts) + " || '}'"


def level_weights(settings: dict[str, Any]) -> list[dict[int, float]]:
    """Per comparison (model order): log2(m/u) of each level by its gamma; the
    null level (gamma -1) weighs 0."""
    out = []
    for comparison in settings["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        weights = {-1: 0.0}
        for i, level in enumerate(levels):
            m, u = level.get("m_probability"), level.get("u_probability")
            weights[len(levels) - 1 - i] = math.log2(m / u) if m and u else 0.0
        out.append(weights)
    return out


def pattern_weight(weights: list[dict[int, float]], pattern: Sequence[int]) -> float:
    """An evidence pattern's log2 Bayes factor before term-frequency adjustments."""
    return sum(w.get(int(g), 0.0) for w, g in zip(weights, pattern, strict=True))


# A birth-date level is decisive against a cluster (crm/identity/clusters.py)
# when true pairs reach it at least 2**10 times less often than random pairs.
DECISIVE_BIRTH_DATE_BITS = -10.0


def decisive_birth_date_levels(settings: dict[str, Any]) -> frozenset[str]:
    """The birth-date comparison levels whose weight log2(m/u) in the model is
    at most DECISIVE_BIRTH_DATE_BITS: where the data say one person's records
    almost never differ that way."""
    out = set()
    for comparison in settings["comparisons"]:
        if comparison["output_column_name"] != "birth_date":
            continue
        for level in comparison["comparison_levels"]:
            m, u = level.get("m_probability"), level.get("u_probability")
            if level.get("is_null_level") or not m or not u:
                continue
            if math.log2(m / u) <= DECISIVE_BIRTH_DATE_BITS:
                out.add(level["label_for_charts"])
    return frozenset(out)


def adjustment_rows(settings: dict[str, Any]) -> list[tuple[str, int | None, float | None, float]]:
    """The model's weight corrections as (pattern, band, pattern weight, shift) rows;
    band and pattern weight are None for a correction of the whole pattern."""
    adjustments = settings.get(PATTERN_KEY) or {}
    weights = level_weights(settings)
    rows = []
    for key, shift in adjustments.items():
        pattern, _, band = key.partition("|")
        if band:
            base = pattern_weight(weights, [int(g) for g in pattern.split(",")])
            rows.append((pattern, int(band), base, float(shift)))
        else:
            rows.append((pattern, None, None, float(shift)))
    return rows


def load_model(model_path: Path | str | None = None) -> tuple[dict[str, Any], dict[str, pa.Table]]:
    """The trained settings and the frozen term-frequency tables."""
    path = Path(model_path) if model_path else default_model_path()
    if not path.exists():
        raise FileNotFoundError(
            f"identity model not found: {path} (train one with "
            f"`python -m crm.identity.train`, or set {MODEL_ENV})"
        )
    settings = json.loads(path.read_text(encoding="utf-8"))
    tf_tables = {}
    for column in TF_COLUMNS:
        p = tf_path(path, column)
        if not p.exists():
            raise FileNotFoundError(f"frozen term frequencies missing beside the model: {p}")
        tf_tables[column] = pq.read_table(p)
    return settings, tf_tables


def predict_pairs(
    con: duckdb.DuckDBPyConnection,
    contacts_table: str | duckdb.DuckDBPyRelation,
    scope_table: str | duckdb.DuckDBPyRelation | None = None,
    model_path: Path | str | None = None,
    full: bool = False,
    min_probability: float = DEFAULT_MIN_PROBABILITY,
    blocks: str | duckdb.DuckDBPyRelation | None = None,
) -> pa.Table:
    """Score candidate pairs of contacts with the trained model.

    contacts_table: a table/view name in ``con`` or a relation with the feature
    columns of int_contacts_normalized. scope_table: int_contacts_scope
    (contact_key, is_new); None = every contact is new. With ``full`` False only
    pairs with at least one new contact are scored (``(l.is_new or r.is_new)``
    is added to every blocking rule), which gives exactly the rows a full run
    gives for those pairs. blocks: the block signature of every contact
    (contact_blocks, the int_contact_blocks model), computed here when not given.

    Returns one row per scored pair with match_probability >= min_probability,
    sorted: contact_key_l < contact_key_r, match_probability, match_weight,
    evidence (JSON: the level of each comparison), blocking_rule (the first rule
    that generated the pair).
    """
    settings, tf_tables = load_model(model_path)
    adjustments = adjustment_rows(settings)
    settings.pop(PATTERN_KEY, None)
    prior = settings["probability_two_random_records_match"]
    # The candidate rules are this code's, whatever the model file was trained with.
    rules = [blocking_rule_sql(i, columns) for i, (_, columns) in enumerate(BLOCKING_RULES)]
    if not full:
        rules = [f"({rule}) and {INCREMENTAL_CONDITION}" for rule in rules]
    settings["blocking_rules_to_generate_predictions"] = [
        {"blocking_rule": rule, "sql_dialect": "duckdb"} for rule in rules
    ]
    # keys, levels and weights are all the result needs: every further column is
    # carried through tens of millions of candidate pairs
    settings["additional_columns_to_retain"] = []

    with work_database(con) as (database, work):
        staged = _stage_input(
            con,
            f"{database}.main.crm_identity_staged",
            contacts_table,
            scope_table,
            blocks,
            restrict=not full,
        )
        if staged < 2:
            return PAIR_SCHEMA.empty_table()
        return _score(work, settings, tf_tables, adjustments, prior, min_probability, blocks)


def _score(work, settings, tf_tables, adjustments, prior, min_probability, blocks) -> pa.Table:
    """predict_pairs' scoring of crm_identity_staged in the work database."""
    # imported only when there is something to score (~0.5 s of a refresh's fixed cost)
    from splink import DuckDBAPI, Linker

    if blocks is not None:
        work.execute("alter table crm_identity_staged rename to crm_identity_input")
    else:
        work.execute("create table crm_identity_input as " + block_sizes_sql("crm_identity_staged"))
        work.execute("drop table crm_identity_staged")
    db_api = DuckDBAPI(connection=work)
    df = db_api.register("crm_identity_input")
    linker = Linker(df, settings, log_level=None, validate_settings=False)
    for i, (column, table) in enumerate(tf_tables.items()):
        work.register(f"__crm_identity_tf_{i}_arrow", table)
        work.execute(
            f"create table crm_identity_tf_{i} as select * from __crm_identity_tf_{i}_arrow"
        )
        linker.table_management.register_term_frequency_lookup(
            db_api.register(f"crm_identity_tf_{i}"), column
        )
    quiet_splink()
    # a correction may raise a pattern's weight: let through what it could lift
    lift = max([0.0, *(row[-1] for row in adjustments)])
    min_weight = (
        math.log2(min_probability / (1 - min_probability)) if 0 < min_probability < 1 else None
    )
    predictions = linker.inference.predict(
        threshold_match_weight=None if min_weight is None else min_weight - lift,
        warning_mode="never",
    )
    rule_names = " ".join(f"when '{i}' then '{name}'" for i, (name, _) in enumerate(BLOCKING_RULES))
    labels = _labels(linker)
    pattern = " || ',' || ".join(f"cast(gamma_{name} as varchar)" for name in labels)
    # Corrections join on equality (a hash join: scoring stays linear). A pair's
    # band is how far the term frequencies moved its weight from its pattern's
    # weight (train.tf_bands); a whole-pattern correction has band WHOLE_PATTERN.
    work.execute("create table crm_identity_pattern_weights (pattern varchar, base double)")
    work.execute(
        "create table crm_identity_adjustments (pattern varchar, band bigint, adjustment double)"
    )
    if adjustments:
        work.executemany(
            "insert into crm_identity_pattern_weights values (?, ?)",
            sorted({(row[0], row[2]) for row in adjustments}, key=lambda r: r[0]),
        )
        work.executemany(
            "insert into crm_identity_adjustments values (?, ?, ?)",
            [
                (pat, WHOLE_PATTERN if band is None else band, shift)
                for pat, band, _, shift in adjustments
            ],
        )
    logit_prior = math.log2(prior / (1 - prior))
    return (
        work.execute(
            f"""
        with banded as (
            select
                predictions.*,
                {pattern} as crm_pattern,
                coalesce(
                    floor(
                        (predictions.match_weight - {logit_prior!r} - weights.base)
                        / {TF_BAND_BITS!r}
                    ),
                    {WHOLE_PATTERN}
                ) as crm_band
            from {predictions.physical_name} as predictions
            left join crm_identity_pattern_weights as weights
                on {pattern} = weights.pattern
        ),

        scored as (
            select
                banded.*,
                banded.match_weight + coalesce(adjustments.adjustment, 0) as weight
            from banded
            left join crm_identity_adjustments as adjustments
                on banded.crm_pattern = adjustments.pattern
                and banded.crm_band = adjustments.band
        )

        select
            {UNIQUE_ID}_l as contact_key_l,
            {UNIQUE_ID}_r as contact_key_r,
            1 / (1 + pow(2, -weight)) as match_probability,
            weight as match_weight,
            {_evidence_sql(labels)} as evidence,
            case cast(match_key as varchar) {rule_names} end as blocking_rule
        from scored
        where 1 / (1 + pow(2, -weight)) >= {float(min_probability)!r}
        order by contact_key_l, contact_key_r
        """
        )
        .to_arrow_table()
        .cast(PAIR_SCHEMA)
    )


def quiet_splink() -> None:
    """Splink logs every SQL step at INFO; a refresh wants warnings only. EM warns
    of each comparison level a training block does not observe: expected (the
    email block has no pair with two e-mails), and training fills such levels in
    (train._complete), so those warnings are dropped."""
    logging.getLogger("splink").setLevel(logging.WARNING)
    logging.getLogger("splink.internals.expectation_maximisation").setLevel(logging.ERROR)


def blocking_rule_names() -> Sequence[str]:
    return [name for name, _ in BLOCKING_RULES]
