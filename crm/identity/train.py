"""Train the identity model on a warehouse's own contacts (unsupervised).

A warehouse links its contacts with a model trained on those contacts: the
first refresh trains it, a refresh retrains it when the data has changed shape
(crm/identity/model_store.py), and `crm identity train` retrains on demand.
The model the package ships (crm/identity/model/) only serves the demo and
data too small to train on.

No labels: real users have none. The steps, each robust to the shape of the
data (any subset of the optional contact columns may be empty):
1. profile: how many contacts, which sources, the share of contacts that carry
   each comparison's columns. A comparison whose columns are (nearly) empty is
   left neutral (m = u: no evidence either way) and reported;
2. term frequencies of first name, last name and postal code (frozen in the
   model, so a pair's score never depends on the rest of a refresh);
3. u probabilities from a seeded random sample of record pairs (non-matches);
4. m probabilities by expectation maximisation in training blocks chosen from
   the columns that carry values: shared e-mail, phone or loyalty id (nearly
   all one person), and name/birth-date blocks (birth date with last name,
   birth date with first name, full name with postal code). Each block
   estimates every comparison but its own columns. A block with too few pairs
   is skipped and reported, one with too many (a quadratic common value) too;
5. the prior (probability that two random records match): the expected number
   of matches among all candidate pairs (the sum of their match probabilities)
   over all pairs, iterated to a fixed point in numpy;
6. the link threshold: the lowest match probability at which the model's own
   estimate of the precision of the links it keeps is at least the target
   (TARGET_PRECISION), with the estimated precision and recall recorded.

Same data + seed -> the same model (one DuckDB thread, seeded sampling,
parameters rounded to 12 significant digits). Too little data (no training
block with enough pairs) trains nothing: `TrainingSkipped` says why, and the
refresh links with the deterministic keys and the shipped model.

    crm identity train            # retrain on the restricted output, into $CRM_HOME
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from crm.identity import matching

CONTACTS_TABLE = "intermediate.int_contacts_normalized"
U_MAX_PAIRS = 2e6
SIGNIFICANT_DIGITS = 12
# A level the training data never shows (no pair of one person with two phones)
# has no estimate; this stands in: rare among matches.
M_UNOBSERVED = 1e-3
# No level's m or u below this: a level EM drives to zero (every pair of one
# person in the demo data has one phone) would otherwise veto a link with
# hundreds of bits against it; real people do have two phones.
MIN_PROBABILITY = 1e-4
# The model's estimated precision of the links it keeps, at the threshold.
TARGET_PRECISION = 0.995
# The threshold never goes below this: a link must be at least 9:1 likely, as a
# wrong merge (two people's orders, value and consent in one customer) costs
# more than a missed one (one person counted twice until more evidence comes).
THRESHOLD_FLOOR = 0.9
THRESHOLD_CEILING = 0.999
# Fewer contacts than this, or no training block with MIN_BLOCK_PAIRS pairs:
# too little data to learn from.
MIN_CONTACTS = 1000
MIN_BLOCK_PAIRS = 20
# A training block with more pairs than this holds a value shared by very many
# records; EM on it would cost the square of that value's count.
MAX_BLOCK_PAIRS = 5e6
# Larger populations are trained on a seeded random sample of this many contacts:
# the m and u probabilities do not need every record, and a uniform sample of
# records keeps the share of pairs that match (both records of a matching pair
# are drawn as often as both of any pair), so the prior needs no rescaling.
# Term frequencies come from every record.
MAX_TRAINING_CONTACTS = 300_000
# Candidate pairs are grouped by evidence pattern and weight rounded down to
# this many decimals (log2 units; down, so that every pair of a group the
# threshold keeps is kept when scored): the prior and threshold read the groups.
WEIGHT_DECIMALS = 3
# A comparison counts as carrying evidence when this share of contacts fill it.
MIN_FILL = 0.01
PRIOR_ITERATIONS = 50
# Calibration (decisive_calibration): the comparisons that nearly decide a pair
# where both records have them, with their levels that count as agreeing; the
# pairs with the field on both sides a pattern needs; the largest correction
# (log2 odds).
DECISIVE = {
    "birth_date": ("exact", "one digit differs", "day and month swapped"),
    "email": ("exact",),
    "phone": ("exact", "same last 8 digits"),
    "loyalty_id": ("exact",),
}
CALIBRATION_MIN_PAIRS = 10
MAX_CALIBRATION_SHIFT = 20.0


class TrainingSkipped(Exception):
    """Too little data to train on; the message says why (never a failed refresh)."""


@dataclass(frozen=True)
class TrainingBlock:
    name: str
    columns: tuple[str, ...]  # equal and non-null on both sides

    @property
    def sql(self) -> str:
        return " and ".join(f"l.{c} = r.{c}" for c in self.columns)


# Blocks on a shared contact key come first: nearly every pair in them is one
# person. Blocks on names and birth dates also hold household members and
# namesakes, whom EM may count as matches (a household shares name and
# address), so they are used only for the comparisons no key block estimates.
KEY_BLOCKS = (
    TrainingBlock("email", ("email_match_key",)),
    TrainingBlock("phone", ("phone_match_key",)),
    TrainingBlock("loyalty_id", ("loyalty_id_match_key",)),
)
NAME_BLOCKS = (
    TrainingBlock("birth_date+last_name", ("birth_date", "last_name_key")),
    TrainingBlock("birth_date+first_name", ("birth_date", "first_name_canonical")),
    TrainingBlock(
        "name+postal_code", ("first_name_key", "last_name_key", "postal_code_normalized")
    ),
    # the name comparisons read both name columns (swapped names): only a block
    # without a name estimates them when no contact key is filled
    TrainingBlock("birth_date+postal_code", ("birth_date", "postal_code_normalized")),
    TrainingBlock("birth_date+city", ("birth_date", "city_normalized")),
    # last resorts when nothing else is filled: the birth date for the names,
    # the name for the birth date
    TrainingBlock("birth_date", ("birth_date",)),
    TrainingBlock("name", ("first_name_key", "last_name_key")),
)
TRAINING_BLOCKS = KEY_BLOCKS + NAME_BLOCKS

# Every column each comparison reads: a training block on any of them cannot
# estimate the comparison (Splink leaves it out of that EM session).
COMPARISON_INPUTS = {
    "first_name": {
        "first_name_key",
        "first_name_canonical",
        "first_name_canonical_alt",
        "last_name_key",
    },
    "last_name": {"last_name_key", "first_name_key"},
    "birth_date": {"birth_date", "birth_year", "birth_month", "birth_day"},
    "address": {"street_name", "house_number", "postal_code_normalized", "city_normalized"},
    "email": {"email_match_key"},
    "phone": {"phone_match_key"},
    "loyalty_id": {"loyalty_id_match_key"},
}


def estimates(block: TrainingBlock) -> set[str]:
    """The comparisons an EM session on ``block`` estimates."""
    return {name for name, cols in COMPARISON_INPUTS.items() if not cols & set(block.columns)}


# The columns each comparison reads: it carries evidence when they are filled.
COMPARISON_COLUMNS = {
    "first_name": ("first_name_key",),
    "last_name": ("last_name_key",),
    "birth_date": ("birth_date",),
    "address": ("street_name", "postal_code_normalized", "city_normalized"),
    "email": ("email_match_key",),
    "phone": ("phone_match_key",),
    "loyalty_id": ("loyalty_id_match_key",),
}


@dataclass
class Profile:
    """The shape of the data a model was trained on (and a refresh compares with)."""

    contacts: int
    sources: list[str]
    fill: dict[str, float]  # per comparison: share of contacts with its columns

    def as_dict(self) -> dict[str, Any]:
        return {"contacts": self.contacts, "sources": self.sources, "fill": self.fill}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        return cls(int(data["contacts"]), list(data["sources"]), dict(data["fill"]))


@dataclass
class TrainingFacts:
    profile: Profile
    seed: int
    sample: int = 0
    blocks: list[dict[str, Any]] = field(default_factory=list)
    neutral: list[str] = field(default_factory=list)
    prior: float = 0.0
    threshold: float = 0.0
    estimated_precision: float | None = None
    estimated_recall: float | None = None
    candidate_pairs: int = 0
    calibrated_patterns: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "profile": self.profile.as_dict(),
            "seed": self.seed,
            "training_sample": self.sample,
            "training_blocks": self.blocks,
            "neutral_comparisons": self.neutral,
            "prior": self.prior,
            "threshold": self.threshold,
            "estimated_precision": self.estimated_precision,
            "estimated_recall": self.estimated_recall,
            "candidate_pairs": self.candidate_pairs,
            "calibrated_patterns": self.calibrated_patterns,
            "seconds": self.seconds,
        }


def _round(value: Any) -> Any:
    if isinstance(value, float) and value != 0 and math.isfinite(value):
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


def profile_data(work: duckdb.DuckDBPyConnection, table: str = "crm_identity_input") -> Profile:
    """Contacts, sources and per-comparison fill rates of a features table."""
    fills = ", ".join(
        "avg(case when "
        + " or ".join(f"{c} is not null" for c in cols)
        + f" then 1.0 else 0.0 end) as {name}"
        for name, cols in COMPARISON_COLUMNS.items()
    )
    row = work.execute(f"select count(*), {fills} from {table}").fetchone()
    sources = [
        r[0]
        for r in work.execute(
            f"select distinct source_system from {table} order by source_system"
        ).fetchall()
    ]
    fill = {
        name: round(float(v or 0.0), 4) for name, v in zip(COMPARISON_COLUMNS, row[1:], strict=True)
    }
    return Profile(int(row[0]), sources, fill)


def block_pairs(work: duckdb.DuckDBPyConnection, block: TrainingBlock, table: str) -> int:
    """Record pairs a training block generates: sum of n(n-1)/2 over its key values."""
    cols = ", ".join(block.columns)
    not_null = " and ".join(f"{c} is not null" for c in block.columns)
    value = work.execute(
        f"select coalesce(sum(n * (n - 1) / 2), 0) from "
        f"(select count(*) as n from {table} where {not_null} group by {cols})"
    ).fetchone()[0]
    return int(value)


def term_frequencies(work: duckdb.DuckDBPyConnection, column: str, table: str) -> pa.Table:
    """Share of the non-null values of ``column`` that equal each value (Splink's tf_ column)."""
    return work.execute(
        f"""
        select
            {column},
            cast(count(*) as double) / sum(count(*)) over () as tf_{column}
        from {table}
        where {column} is not null
        group by {column}
        order by {column}
        """
    ).to_arrow_table()


def _levels(model: dict[str, Any]):
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if not level.get("is_null_level"):
                yield comparison["output_column_name"], level


def _complete(model: dict[str, Any], neutral: set[str], u_max_pairs: float) -> None:
    """Neutral comparisons get m = u (weight 0); unobserved levels the stand-ins."""
    for name, level in _levels(model):
        u = level.get("u_probability")
        if not isinstance(u, float):
            u = 0.5 / u_max_pairs
            level["u_probability"] = u
        if name in neutral:
            level["m_probability"] = u
            continue
        if not isinstance(level.get("m_probability"), float):
            level["m_probability"] = M_UNOBSERVED
        level["m_probability"] = max(level["m_probability"], MIN_PROBABILITY)


@dataclass
class Candidates:
    """Every candidate pair of the training data (the prediction blocking rules),
    grouped: one row per evidence pattern, blocking facts and weight (rounded down
    to WEIGHT_DECIMALS), with the number of pairs it stands for."""

    log2_bf: np.ndarray  # log2 Bayes factor, prior removed
    patterns: np.ndarray  # (rows x comparisons) level (gamma) reached, -1 = missing
    # per decisive comparison: a blocking rule that does not read it finds the pair
    found_without: dict[str, np.ndarray]
    counts: np.ndarray  # pairs per row

    @property
    def pairs(self) -> int:
        return int(self.counts.sum())


def _candidates(linker, work: duckdb.DuckDBPyConnection) -> Candidates:
    """Score every candidate pair and group them in DuckDB (memory: the groups, not the pairs)."""
    prior = linker._settings_obj._probability_two_random_records_match
    predictions = linker.inference.predict(warning_mode="never")
    gammas = [f"p.gamma_{name}" for name in COMPARISON_COLUMNS]
    found = []
    for name in DECISIVE:
        rules = [
            f"({matching.blocking_rule_sql(i, columns)})"
            for i, (_, columns) in enumerate(matching.BLOCKING_RULES)
            if not set(columns) & COMPARISON_INPUTS[name]
        ]
        found.append(f"({' or '.join(rules) or 'false'})")
    keys = [
        f"floor(p.match_weight * {10**WEIGHT_DECIMALS}) / {10**WEIGHT_DECIMALS} as match_weight",
        *gammas,
        *(f"{sql} as found_without_{name}" for sql, name in zip(found, DECISIVE, strict=True)),
    ]
    result = work.execute(
        f"""
        select {", ".join(keys)}, count(*) as pairs
        from {predictions.physical_name} as p
        inner join crm_identity_input as l on p.contact_key_l = l.contact_key
        inner join crm_identity_input as r on p.contact_key_r = r.contact_key
        group by all
        order by all
        """
    ).fetchnumpy()
    predictions.drop_table_from_database_and_remove_from_cache()
    log2_bf = np.asarray(result["match_weight"], dtype=np.float64) - math.log2(prior / (1 - prior))
    patterns = np.zeros((len(log2_bf), len(COMPARISON_COLUMNS)), dtype=np.int64)
    for i, name in enumerate(COMPARISON_COLUMNS):
        patterns[:, i] = np.asarray(result[f"gamma_{name}"], dtype=np.int64)
    return Candidates(
        log2_bf,
        patterns,
        {name: np.asarray(result[f"found_without_{name}"], dtype=bool) for name in DECISIVE},
        np.asarray(result["pairs"], dtype=np.int64),
    )


def pattern_key(pattern: Sequence[int]) -> str:
    return ",".join(str(int(g)) for g in pattern)


def _agreeing_levels(model: dict[str, Any], name: str) -> tuple[set[int], float]:
    """A decisive comparison's gammas that count as agreeing, and their summed m."""
    comparison = next(c for c in model["comparisons"] if c["output_column_name"] == name)
    levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
    agree, m = set(), 0.0
    for i, level in enumerate(levels):
        if level["label_for_charts"] in DECISIVE[name]:
            agree.add(len(levels) - 1 - i)
            m += level["m_probability"]
    return agree, min(max(m, 0.5), 1.0)


def tf_bands(model: dict[str, Any], candidates: Candidates) -> np.ndarray:
    """Each candidate row's term-frequency band: how far the term frequencies
    moved its weight from its evidence pattern's weight, in steps of
    matching.TF_BAND_BITS (scoring computes the same band in SQL)."""
    names = [c["output_column_name"] for c in model["comparisons"]]
    assert names == list(COMPARISON_COLUMNS), names
    base = np.zeros(len(candidates.log2_bf))
    for i, weights in enumerate(matching.level_weights(model)):
        lookup = np.zeros(max(weights) + 2)
        for gamma, weight in weights.items():
            lookup[gamma + 1] = weight
        base += lookup[candidates.patterns[:, i] + 1]
    return np.floor((candidates.log2_bf - base) / matching.TF_BAND_BITS).astype(np.int64)


def calibration_key(pattern: Sequence[int], band: int) -> str:
    """The model file's key of a correction (matching.PATTERN_KEY)."""
    return f"{pattern_key(pattern)}|{int(band)}"


def decisive_calibration(
    model: dict[str, Any], candidates: Candidates, prior: float
) -> dict[str, float]:
    """Weight corrections (log2 odds) for evidence patterns that lack a decisive field.

    A birth date, an e-mail, a phone or a loyalty id nearly decides a pair
    where both records have one. So among the candidate pairs that share every
    other comparison level (the same 'reduced' pattern) and have the field on
    both sides, the share that agree estimates how many pairs of that pattern
    are one person: pi = agreeing / (m_agree * all). Where the field is
    missing, a pair of that pattern is one person with that probability, if the
    field's absence says nothing about it. The model takes its comparisons as
    independent and cannot know this: a household (other first names, or a
    father and son of one name, same last name and house) is many pairs that
    agree on several fields at once and show other birth dates or e-mails where
    they have them; a data set of typo-ridden duplicates shows the same ones.

    Pairs are told apart by their term-frequency band as well (tf_bands): how
    much a name's frequency says depends on the rest of the evidence (a common
    name says little in one city and nearly nothing against a shared house), so
    each band of a pattern is calibrated on the same band of its reduced
    pattern.

    The share's 95% interval (Jeffreys) decides: the model's value for the
    pattern and band stands unless it lies outside, then it moves to the nearer
    bound. Only pairs that a blocking rule without the field finds are counted
    (the birth-date rules would favour agreeing pairs), and only patterns with
    CALIBRATION_MIN_PAIRS such pairs. Where several fields could calibrate a
    pattern, the one with the most pairs does.

    Returns per full pattern and band (calibration_key): the shift of its log2 odds.
    """
    # scipy.stats takes ~1.5 s to import: only a training build pays for it
    from scipy.stats import beta

    if not len(candidates.log2_bf):
        return {}
    counts = candidates.counts
    # the band is the last column: a pattern's bands are calibrated apart
    patterns = np.column_stack([candidates.patterns, tf_bands(model, candidates)])
    logit_prior = math.log2(prior / (1 - prior))
    # per full pattern and band: its pairs and their mean weight
    fulls, full_of = np.unique(patterns, axis=0, return_inverse=True)
    full_of = full_of.ravel()
    full_pairs = np.bincount(full_of, weights=counts)
    full_mean = np.bincount(full_of, weights=counts * candidates.log2_bf) / full_pairs + logit_prior
    best: dict[str, tuple[int, float]] = {}
    for name in DECISIVE:
        b = list(COMPARISON_COLUMNS).index(name)
        agree_levels, m_agree = _agreeing_levels(model, name)
        gamma_b = patterns[:, b]
        _, reduced_of = np.unique(np.delete(patterns, b, axis=1), axis=0, return_inverse=True)
        reduced_of = reduced_of.ravel()
        present = (gamma_b != -1) & candidates.found_without[name]
        agreeing = present & np.isin(gamma_b, list(agree_levels))
        size = int(reduced_of.max()) + 1
        total = np.bincount(reduced_of, weights=counts * present, minlength=size)
        agree = np.bincount(reduced_of, weights=counts * agreeing, minlength=size)
        # the full patterns missing the field, each with its reduced pattern
        missing = np.unique(full_of[gamma_b == -1])
        reduced_of_full = np.zeros(len(fulls), dtype=np.int64)
        reduced_of_full[full_of] = reduced_of
        for f in missing:
            k = reduced_of_full[f]
            n, agreeing_n = int(round(total[k])), int(round(agree[k]))
            if n < CALIBRATION_MIN_PAIRS:
                continue
            low, high = beta.ppf([0.025, 0.975], agreeing_n + 0.5, n - agreeing_n + 0.5)
            low, high = (min(max(x / m_agree, 1e-9), 1 - 1e-9) for x in (low, high))
            current = float(full_mean[f])
            target = min(max(current, math.log2(low / (1 - low))), math.log2(high / (1 - high)))
            key = calibration_key(fulls[f][:-1], fulls[f][-1])
            if key in best and best[key][0] >= n:
                continue
            shift = max(min(target - current, MAX_CALIBRATION_SHIFT), -MAX_CALIBRATION_SHIFT)
            best[key] = (n, round(shift, 6))
    return {key: shift for key, (_, shift) in sorted(best.items()) if shift != 0}


def _shifted(model: dict[str, Any], candidates: Candidates, shifts: dict[str, float]) -> np.ndarray:
    if not shifts:
        return candidates.log2_bf
    patterns = np.column_stack([candidates.patterns, tf_bands(model, candidates)])
    fulls, full_of = np.unique(patterns, axis=0, return_inverse=True)
    by_full = np.array(
        [shifts.get(calibration_key(row[:-1], row[-1]), 0.0) for row in fulls], dtype=np.float64
    )
    return candidates.log2_bf + by_full[full_of.ravel()]


def _probabilities(log2_bf: np.ndarray, prior: float) -> np.ndarray:
    logit = log2_bf + math.log2(prior / (1 - prior))
    return 1.0 / (1.0 + np.exp2(-np.clip(logit, -1000, 1000)))


def prior_fixed_point(
    log2_bf: np.ndarray, all_pairs: float, start: float, counts: np.ndarray | None = None
) -> float:
    """lambda = (expected matches among the candidate pairs) / all pairs, to a fixed point.

    counts: how many pairs each log2_bf stands for (default one each).
    """
    prior = min(max(start, 1e-12), 0.5)
    weights = np.ones(len(log2_bf)) if counts is None else np.asarray(counts, dtype=np.float64)
    for _ in range(PRIOR_ITERATIONS):
        expected = float((_probabilities(log2_bf, prior) * weights).sum())
        new = min(max(expected / all_pairs, 1e-12), 0.5)
        if abs(new - prior) <= 1e-6 * prior:
            return new
        prior = new
    return prior


def choose_threshold(
    probabilities: np.ndarray,
    target_precision: float = TARGET_PRECISION,
    counts: np.ndarray | None = None,
) -> tuple[float, float | None, float | None]:
    """The lowest probability whose kept pairs have an estimated precision >= target.

    Estimated precision of the pairs kept at t: mean(p | p >= t); estimated
    recall: sum(p | p >= t) / sum(p) over all candidate pairs (matches that no
    blocking rule finds are not counted). counts: how many pairs each
    probability stands for (default one each). Returns (threshold, precision,
    recall).
    """
    p = np.asarray(probabilities, dtype=np.float64)
    n = np.ones(len(p)) if counts is None else np.asarray(counts, dtype=np.float64)
    order = np.argsort(-p, kind="stable")
    p, n = p[order], n[order]
    if not len(p) or (p * n).sum() <= 0:
        return THRESHOLD_CEILING, None, None
    precision = np.cumsum(p * n) / np.cumsum(n)
    # ties: a threshold keeps every pair at its value, so judge at each value's last row
    last_of_value = np.append(p[1:] != p[:-1], True)
    ok = np.flatnonzero((precision >= target_precision) & last_of_value)
    # the longest prefix of the sorted pairs that is still precise enough
    threshold = float(p[int(ok.max())]) if len(ok) else THRESHOLD_CEILING
    threshold = min(max(threshold, THRESHOLD_FLOOR), THRESHOLD_CEILING)
    kept = p >= threshold
    kept_pairs = float(n[kept].sum())
    est_precision = float((p * n)[kept].sum() / kept_pairs) if kept_pairs else None
    est_recall = float((p * n)[kept].sum() / (p * n).sum())
    return threshold, est_precision, est_recall


def _training_data(source: duckdb.DuckDBPyConnection | str | Path) -> pa.Table:
    columns = ", ".join(matching.FEATURE_COLUMNS)
    sql = f"select {columns} from {CONTACTS_TABLE} where has_contact_record order by contact_key"
    if isinstance(source, duckdb.DuckDBPyConnection):
        return source.execute(sql).to_arrow_table()
    con = duckdb.connect(str(source), read_only=True)
    try:
        return con.execute(sql).to_arrow_table()
    finally:
        con.close()


def _count_and_sample(
    data: pa.Table | duckdb.DuckDBPyRelation,
    like: duckdb.DuckDBPyConnection | None,
    seed: int,
    max_contacts: int,
    log,
) -> tuple[Profile, dict[str, pa.Table], pa.Table]:
    """The profile, the term frequencies and the block sizes of every record,
    counted where the records are: a relation (a build's contacts) is queried on
    its own connection, under that instance's memory limit, never copied into
    Python whole. Returns them with the training sample (at most
    ``max_contacts`` records, with their block sizes): the lowest values of a
    seeded hash of the key, the same on any number of threads.
    """
    own = None
    if not isinstance(data, duckdb.DuckDBPyRelation):
        own = matching.private_connection(like)
        data = own.from_arrow(data)
    try:
        records = matching.RelationQueries(data, "training_records")
        profile = profile_data(records, "training_records")
        if profile.contacts < MIN_CONTACTS:
            raise TrainingSkipped(
                f"{profile.contacts} contact record(s): too few to learn from "
                f"(at least {MIN_CONTACTS})"
            )
        tf_tables = {
            column: term_frequencies(records, column, "training_records")
            for column in matching.TF_COLUMNS
        }
        # the block sizes (as the bits the capped candidate rules read,
        # matching.block_cap), counted on every record as scoring counts them,
        # so that a sample's candidate pairs are a uniform thinning of the full
        # data's
        rows = ""
        if profile.contacts > max_contacts:
            log(
                f"identity training: a random sample of {max_contacts} of "
                f"{profile.contacts} contacts"
            )
            rows = f"order by hash(contact_key, {int(seed)}), contact_key limit {max_contacts}"
        sized = f"({matching.block_sizes_sql('training_records', rows)}) as sized"
        sample = records.execute(f"select * from {sized}").to_arrow_table()
    finally:
        if own is not None:
            own.close()
    return profile, tf_tables, sample


def train(
    data: pa.Table | duckdb.DuckDBPyRelation,
    seed: int = 42,
    *,
    u_max_pairs: float = U_MAX_PAIRS,
    target_precision: float = TARGET_PRECISION,
    max_contacts: int = MAX_TRAINING_CONTACTS,
    like: duckdb.DuckDBPyConnection | None = None,
    log=None,
) -> tuple[dict[str, Any], dict[str, pa.Table], TrainingFacts]:
    """Train on the feature columns of int_contacts_normalized (contact records only).

    Returns the Splink settings with the trained parameters, the frozen term
    frequency tables and the training facts. Raises TrainingSkipped when there
    is too little data to learn from. ``like``: a connection whose memory limit,
    temp directory and thread count the work connection takes (EM itself runs
    on one thread, so the same data gives the same model).
    """
    import time

    from splink import DuckDBAPI, Linker

    started = time.monotonic()
    log = log or (lambda message: None)
    profile, tf_tables, sampled = _count_and_sample(data, like, seed, max_contacts, log)
    sample = sampled.num_rows
    log(
        f"identity training: profile, term frequencies and block sizes counted, "
        f"{sample} records sampled ({time.monotonic() - started:.1f} s)"
    )
    # Counting is exact on any number of threads; EM uses one, since parallel
    # float sums would differ run to run, and DuckDB's threads setting is global
    # to an instance: EM gets a private one, holding the sample alone.
    work = matching.private_connection(like)
    threads = work.execute("select current_setting('threads')").fetchone()[0]
    try:
        work.execute("set threads = 1")
        work.register("__training_sample", sampled)
        work.execute(
            "create table crm_identity_input as "
            "select * from __training_sample order by contact_key"
        )
        work.unregister("__training_sample")
        del sampled

        neutral = [name for name, share in profile.fill.items() if share < MIN_FILL]
        blocks = []
        covered: set[str] = set(neutral)
        for block in TRAINING_BLOCKS:
            n_pairs = block_pairs(work, block, "crm_identity_input")
            if n_pairs < MIN_BLOCK_PAIRS:
                status = f"skipped: {n_pairs} pair(s), fewer than {MIN_BLOCK_PAIRS}"
            elif n_pairs > MAX_BLOCK_PAIRS:
                status = f"skipped: {n_pairs} pairs, more than {int(MAX_BLOCK_PAIRS)}"
            elif block in NAME_BLOCKS and estimates(block) <= covered:
                status = "not needed: earlier blocks estimate its comparisons"
            else:
                status = "used"
                covered |= estimates(block)
            blocks.append({"block": block.name, "pairs": n_pairs, "status": status})
        used = [
            b for b, info in zip(TRAINING_BLOCKS, blocks, strict=True) if info["status"] == "used"
        ]
        if not used:
            raise TrainingSkipped(
                "no training block has enough record pairs ("
                + "; ".join(f"{b['block']}: {b['status']}" for b in blocks)
                + ")"
            )

        db_api = DuckDBAPI(connection=work)
        df = db_api.register("crm_identity_input")
        linker = Linker(df, matching.base_settings(), log_level=logging.WARNING)
        matching.quiet_splink()
        for i, column in enumerate(matching.TF_COLUMNS):
            work.register(f"__tf_{i}_arrow", tf_tables[column])
            work.execute(f"create table crm_identity_tf_{i} as select * from __tf_{i}_arrow")
            linker.table_management.register_term_frequency_lookup(
                db_api.register(f"crm_identity_tf_{i}"), column
            )

        n = sample
        log(f"identity training: training blocks sized ({time.monotonic() - started:.1f} s)")
        linker.training.estimate_u_using_random_sampling(
            max_pairs=min(u_max_pairs, n * (n - 1) / 2),
            seed=seed,
            min_count_per_level=None,
            num_chunks=1,
        )
        log(f"identity training: u estimated ({time.monotonic() - started:.1f} s)")
        for block, info in zip(TRAINING_BLOCKS, blocks, strict=True):
            if info["status"] != "used":
                continue
            log(f"identity training: EM on {block.name} ({info['pairs']} pairs)")
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(
                    block.sql, estimate_without_term_frequencies=True
                )
            except Exception as error:  # noqa: BLE001 - a block that cannot train is reported
                info["status"] = f"skipped: {type(error).__name__}: {str(error)[:200]}"
        if not any(info["status"] == "used" for info in blocks):
            raise TrainingSkipped(
                "no training block could be estimated ("
                + "; ".join(f"{b['block']}: {b['status']}" for b in blocks)
                + ")"
            )

        model = linker.misc.save_model_to_json()
        _complete(model, set(neutral), u_max_pairs)
        # Score every candidate pair once with the completed parameters, then fix
        # the prior in numpy: expected matches among candidates / all pairs.
        scorer = Linker(df, model, log_level=logging.WARNING, validate_settings=False)
        for i, column in enumerate(matching.TF_COLUMNS):
            scorer.table_management.register_term_frequency_lookup(
                db_api.register(f"crm_identity_tf_{i}"), column
            )
        # scoring sums nothing in floating point: every thread may help
        work.execute(f"set threads = {int(threads)}")
        candidates = _candidates(scorer, work)
        counts = candidates.counts
        all_pairs = n * (n - 1) / 2
        prior = prior_fixed_point(
            candidates.log2_bf, all_pairs, model["probability_two_random_records_match"], counts
        )
        shifts = decisive_calibration(model, candidates, prior)
        log2_bf = _shifted(model, candidates, shifts)
        prior = prior_fixed_point(log2_bf, all_pairs, prior, counts)
        probabilities = _probabilities(log2_bf, prior)
        threshold, est_precision, est_recall = choose_threshold(
            probabilities, target_precision, counts
        )

        model["probability_two_random_records_match"] = prior
        model["linker_uid"] = "crm_identity"
        # applied by matching.predict_pairs to Splink's weights (not a Splink setting)
        model[matching.PATTERN_KEY] = shifts
        model = _round(model)
        facts = TrainingFacts(
            profile=profile,
            seed=seed,
            sample=sample,
            blocks=blocks,
            neutral=neutral,
            prior=_round(prior),
            threshold=_round(threshold),
            estimated_precision=_round(est_precision),
            estimated_recall=_round(est_recall),
            candidate_pairs=candidates.pairs,
            calibrated_patterns=len(shifts),
            seconds=round(time.monotonic() - started, 2),
        )
        return model, tf_tables, facts
    finally:
        work.close()


def write_model(
    out_dir: str | Path,
    model: dict[str, Any],
    tf_tables: dict[str, pa.Table],
    facts: TrainingFacts | dict[str, Any],
) -> Path:
    """Write the model files into ``out_dir`` (created); return the model file's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / matching.MODEL_FILE
    model_path.write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")
    for column, table in tf_tables.items():
        pq.write_table(table, matching.tf_path(model_path, column), compression="zstd")
    facts_dict = facts.as_dict() if isinstance(facts, TrainingFacts) else facts
    (out / matching.FACTS_FILE).write_text(
        json.dumps(facts_dict, indent=2) + "\n", encoding="utf-8"
    )
    return model_path


def train_model(
    warehouse: duckdb.DuckDBPyConnection | str | Path,
    out_dir: str | Path,
    seed: int = 42,
    *,
    u_max_pairs: float = U_MAX_PAIRS,
) -> Path:
    """Train on a built warehouse's normalised contacts and write the model into ``out_dir``."""
    from crm.identity.model_store import replace_model_dir

    model, tf_tables, facts = train(_training_data(warehouse), seed, u_max_pairs=u_max_pairs)
    return replace_model_dir(
        Path(out_dir), lambda folder: write_model(folder, model, tf_tables, facts)
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m crm.identity.train", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--warehouse", required=True, help="a built warehouse file (read-only)")
    parser.add_argument("--out", required=True, help="model folder")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    try:
        path = train_model(args.warehouse, args.out, args.seed)
    except TrainingSkipped as why:
        print(
            f"identity model not trained: {why}. The refresh keeps linking with the "
            "deterministic keys (e-mail, phone, loyalty id) and the model it used so far.",
            file=sys.stderr,
        )
        return 0
    facts = json.loads((path.parent / matching.FACTS_FILE).read_text(encoding="utf-8"))
    print(f"identity model written: {path}", file=sys.stderr)
    for block in facts["training_blocks"]:
        print(f"  training block {block['block']}: {block['status']}", file=sys.stderr)
    if facts["neutral_comparisons"]:
        print(
            "  no evidence (columns empty): " + ", ".join(facts["neutral_comparisons"]),
            file=sys.stderr,
        )
    print(
        f"  link threshold {facts['threshold']:g}: estimated precision "
        f"{facts['estimated_precision']}, recall {facts['estimated_recall']} "
        f"({facts['candidate_pairs']} candidate pairs, {facts['seconds']} s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
