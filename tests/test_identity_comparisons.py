"""The comparison levels' cheaper forms give what the plain distance gives.

Scoring tests a cheap necessary condition before DuckDB's costly
Damerau-Levenshtein distance (crm/identity/matching.py one_edit_sql and the
birth-date level). Here both forms run on random values and on values one or
two edits apart, multi-byte characters included: they must agree on every pair.
Fast: DuckDB only, no dbt.
"""

from __future__ import annotations

import datetime as dt
import random

import duckdb
import pyarrow as pa

from crm.identity import matching

ALPHABET = list("abcdeilmnorstuy") + ["é", "ü", "ß", "中", "文"]


def _edit(word: str, rng: random.Random) -> str:
    """One random edit: change, insert, delete or swap neighbours."""
    i = rng.randrange(len(word) + 1)
    kind = rng.choice(["change", "insert", "delete", "swap"])
    if kind == "insert" or not word:
        return word[:i] + rng.choice(ALPHABET) + word[i:]
    i = min(i, len(word) - 1)
    if kind == "change":
        return word[:i] + rng.choice(ALPHABET) + word[i + 1 :]
    if kind == "delete":
        return word[:i] + word[i + 1 :]
    if i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word


def _random_word(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 9)))


def _random_day(rng: random.Random) -> dt.date:
    """Any day from 0001-01-01 to 9999-12-31."""
    return dt.date(1, 1, 1) + dt.timedelta(days=rng.randrange(0, 3_652_058))


def _string_pairs(n: int, seed: int = 7) -> pa.Table:
    rng = random.Random(seed)
    left, right = [], []
    for _ in range(n):
        word = _random_word(rng)
        other = word
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            other = _edit(other, rng)
        if rng.random() < 0.2:
            other = _random_word(rng)
        left.append(word)
        right.append(other)
    return pa.table({"a_l": left, "a_r": right})


def test_one_edit_equals_the_plain_distance_on_strings():
    con = duckdb.connect()
    con.register("pairs", _string_pairs(20_000))
    cheap = matching.one_edit_sql("a_l", "a_r")
    plain, fast, disagree, swaps = con.execute(
        f"""
        select
            count(*) filter (where damerau_levenshtein(a_l, a_r) <= 1),
            count(*) filter (where {cheap}),
            count(*) filter (where (damerau_levenshtein(a_l, a_r) <= 1) <> ({cheap})),
            count(*) filter (
                where damerau_levenshtein(a_l, a_r) = 1 and levenshtein(a_l, a_r) = 2
            )
        from pairs
        """
    ).fetchone()
    assert disagree == 0
    assert plain == fast
    # the sample holds pairs on both sides of the level, and swapped neighbours
    # (Damerau 1, plain 2): the case the cheap test must let through
    assert 0 < plain < 20_000
    assert swaps > 100
    # nulls reach no level in either form
    null_pair = matching.one_edit_sql("null", "'x'")
    assert con.execute(f"select {null_pair}").fetchone()[0] is None


def _date_pairs(n: int, seed: int = 11) -> pa.Table:
    """Random dates and, for most, a valid date one or two digit edits away."""
    rng = random.Random(seed)
    left, right = [], []
    while len(left) < n:
        day = _random_day(rng)
        if rng.random() < 0.5:
            day = dt.date(rng.randrange(1900, 2010), rng.randrange(1, 13), rng.randrange(1, 29))
        text = day.isoformat()
        other = text
        for _ in range(rng.choice([1, 1, 2])):
            digits = [i for i, ch in enumerate(other) if ch.isdigit()]
            i = rng.choice(digits)
            if rng.random() < 0.5 and i + 1 in digits:
                other = other[:i] + other[i + 1] + other[i] + other[i + 2 :]
            else:
                other = other[:i] + str(rng.randrange(10)) + other[i + 1 :]
        try:
            edited = dt.date.fromisoformat(other)
        except ValueError:
            continue
        if rng.random() < 0.2:
            edited = _random_day(rng)
        left.append(day)
        right.append(edited)
    return pa.table({"birth_date_l": left, "birth_date_r": right})


def test_the_birth_date_digit_level_equals_the_plain_distance():
    con = duckdb.connect()
    con.register("dates", _date_pairs(20_000))
    parts = ", ".join(
        f"{fn}(birth_date_{side}) as birth_{part}_{side}"
        for fn, part in (("year", "year"), ("month", "month"), ("day", "day"))
        for side in ("l", "r")
    )
    plain_sql = (
        "damerau_levenshtein(cast(birth_date_l as varchar), cast(birth_date_r as varchar)) <= 1"
    )
    plain, disagree, odd_years = con.execute(
        f"""
        with dated as (select *, {parts} from dates)
        select
            count(*) filter (where {plain_sql}),
            count(*) filter (where ({plain_sql}) <> ({matching._DATE_ONE_EDIT})),
            count(*) filter (where birth_year_l < 1000 and {plain_sql})
        from dated
        """
    ).fetchone()
    assert disagree == 0
    assert 1000 < plain < 20_000
    # years before 1000 (printed with leading zeros) are in the sample too
    assert odd_years > 0
