"""Capped blocking: a block that crosses its cap re-scores its pairs, so an
incremental refresh (carried pairs + pairs with a new contact) equals a full
re-link. Fast: feature tables built here, the shipped model, no dbt."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from crm.identity import matching
from tests.test_identity_training import features

NAME_RULE = [name for name, _ in matching.BLOCKING_RULES].index("name")
CAP = matching.block_cap(matching.BLOCKING_RULES[NAME_RULE][1])


def namesakes(n: int) -> pa.Table:
    """n records of one first and last name (only the 'name' rule pairs them)."""
    return features(
        [
            {
                "contact_key": f"web:{i:03d}",
                "source_system": "web",
                "first_name_key": "ann",
                "first_name_canonical": "ann",
                "last_name_key": "lee",
            }
            for i in range(n)
        ]
    )


def pair_set(table: pa.Table) -> set[tuple[str, str]]:
    return set(
        zip(
            table.column("contact_key_l").to_pylist(),
            table.column("contact_key_r").to_pylist(),
            strict=True,
        )
    )


def score(con, contacts: pa.Table, scope: pa.Table | None, full: bool) -> pa.Table:
    con.register("contacts", contacts)
    con.register("blocks", matching.contact_blocks(con, "contacts"))
    if scope is not None:
        con.register("scope", scope)
    return matching.predict_pairs(
        con,
        "contacts",
        "scope" if scope is not None else None,
        full=full,
        min_probability=0.0,
        blocks="blocks",
    )


def incremental(before: pa.Table, after: pa.Table, use_signature: bool) -> set[tuple[str, str]]:
    """What int_contact_match_pairs_all gives: pairs of two unchanged contacts
    carried from the previous build, plus pairs with a new contact scored now."""
    con = duckdb.connect()
    previous = score(con, before, None, full=True)
    old_sig = dict(
        zip(
            *matching.contact_blocks(con, "contacts")
            .select(["contact_key", "block_signature"])
            .to_pydict()
            .values(),
            strict=True,
        )
    )
    con.register("after_contacts", after)
    now = matching.contact_blocks(con, "after_contacts")
    keys = now.column("contact_key").to_pylist()
    signatures = now.column("block_signature").to_pylist()
    is_new = [
        key not in old_sig or (use_signature and old_sig[key] != sig)
        for key, sig in zip(keys, signatures, strict=True)
    ]
    scope = pa.table({"contact_key": keys, "is_new": is_new})
    new = {k for k, n in zip(keys, is_new, strict=True) if n}
    carried = {pair for pair in pair_set(previous) if not set(pair) & new}
    return carried | pair_set(score(con, after, scope, full=False))


def test_a_block_crossing_its_cap_is_rescored_like_a_full_relink():
    before, after = namesakes(CAP), namesakes(CAP + 1)
    con = duckdb.connect()
    # within the cap the rule pairs them all; one more and it pairs none
    assert len(pair_set(score(con, before, None, full=True))) == CAP * (CAP - 1) // 2
    full_after = pair_set(score(con, after, None, full=True))
    assert full_after == set()
    assert incremental(before, after, use_signature=True) == full_after
    # without the signature the old pairs would be carried: what the test guards
    assert incremental(before, after, use_signature=False) != full_after


def test_a_block_falling_back_under_its_cap_is_rescored_too():
    before, after = namesakes(CAP + 1), namesakes(CAP + 1).slice(1)
    full_after = pair_set(score(duckdb.connect(), after, None, full=True))
    assert len(full_after) == CAP * (CAP - 1) // 2
    assert incremental(before, after, use_signature=True) == full_after


def test_the_signature_marks_each_rule_that_pairs_the_record():
    con = duckdb.connect()
    con.register("contacts", namesakes(3))
    blocks = matching.contact_blocks(con, "contacts")
    signature = blocks.column("block_signature")[0].as_py()
    assert len(signature) == len(matching.BLOCKING_RULES)
    expected = ["0"] * len(matching.BLOCKING_RULES)
    expected[NAME_RULE] = "1"
    assert signature == "".join(expected)
    assert pc.all(pc.equal(blocks.column(matching.block_size_column(NAME_RULE)), 3)).as_py()


def test_the_scope_fingerprints_exactly_the_columns_scoring_reads():
    """int_contacts_scope marks a contact new (its pairs re-scored) when a column
    in identity_matched_columns changes: that list must be the feature columns
    predict_pairs reads, or a changed feature would keep a stale score."""
    macros = Path(__file__).resolve().parents[1] / "macros" / "identity_features.sql"
    body = macros.read_text().split("macro identity_matched_columns()", 1)[1]
    listed = re.findall(r"'([a-z_]+)'", body.split("]", 1)[0])
    assert listed == [c for c in matching.FEATURE_COLUMNS if c != matching.UNIQUE_ID]


def test_the_sql_blocking_rules_are_the_python_ones():
    """int_contact_blocks and int_changed_contact_blocks render the rules of
    macro identity_blocking_rules; scoring pairs by matching.BLOCKING_RULES and
    block_cap. A rule or cap changed on one side only would pair other records
    than the signatures say."""
    macros = Path(__file__).resolve().parents[1] / "macros" / "identity_features.sql"
    body = macros.read_text().split("macro identity_blocking_rules()", 1)[1]
    body = body.split("endmacro", 1)[0]
    listed = [
        (name, re.findall(r"'([a-z_]+)'", columns), int(cap))
        for name, columns, cap in re.findall(r"\('([^']+)', \[([^\]]+)\], (\d+)\)", body)
    ]
    assert listed == [
        (name, list(columns), matching.block_cap(columns))
        for name, columns in matching.BLOCKING_RULES
    ]
