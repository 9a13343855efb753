"""Training the identity model on whatever shape the contacts have, and choosing it.

Fast: feature tables are built here (no dbt), in the columns of
int_contacts_normalized that the model reads.
"""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pyarrow as pa
import pytest
from scipy.optimize import brentq

from crm.identity import matching, model_store, train


def features(rows: list[dict]) -> pa.Table:
    """A features table: every FEATURE_COLUMN (null unless given) plus has_contact_record."""
    columns = {c: [r.get(c) for r in rows] for c in matching.FEATURE_COLUMNS}
    types = {c: pa.string() for c in matching.FEATURE_COLUMNS}
    types.update(
        birth_date=pa.date32(), birth_year=pa.int64(), birth_month=pa.int64(), birth_day=pa.int64()
    )
    table = pa.table({c: pa.array(v, type=types[c]) for c, v in columns.items()})
    return table.append_column("has_contact_record", pa.array([True] * len(rows)))


def email_only(n_persons: int = 900, seed: int = 1) -> pa.Table:
    """Persons known by an e-mail only; a third of them twice (same e-mail)."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_persons):
        for k in range(1 + int(rng.random() < 1 / 3)):
            rows.append(
                {
                    "contact_key": f"web:{p}-{k}",
                    "source_system": "web",
                    "email_match_key": f"person{p}@example.org",
                }
            )
    return features(rows)


def names_and_birth_dates(n_persons: int = 800, seed: int = 2) -> pa.Table:
    """Persons known by name and birth date; duplicates with a typo in one name."""
    rng = np.random.default_rng(seed)
    first = [f"first{i}" for i in range(60)]
    last = [f"family{i}" for i in range(300)]
    rows = []
    for p in range(n_persons):
        f, s = first[rng.integers(60)], last[rng.integers(300)]
        born = dt.date(1940, 1, 1) + dt.timedelta(days=int(rng.integers(0, 20000)))
        for k in range(1 + int(rng.random() < 0.4)):
            name = f if k == 0 or rng.random() < 0.7 else f[:-1] + "x"
            rows.append(
                {
                    "contact_key": f"shop:{p}-{k}",
                    "source_system": "shop",
                    "first_name_key": name,
                    "first_name_canonical": name,
                    "last_name_key": s,
                    "name_tokens_sorted": " ".join(sorted([name, s])),
                    "birth_date": born,
                    "birth_year": born.year,
                    "birth_month": born.month,
                    "birth_day": born.day,
                }
            )
    return features(rows)


def test_threshold_is_the_lowest_with_the_target_precision_brute_force():
    rng = np.random.default_rng(5)
    p = np.concatenate([rng.beta(20, 0.05, 400), rng.beta(0.3, 3, 600)])
    threshold, precision, recall = train.choose_threshold(p, target_precision=0.99)
    # brute force: every candidate threshold, the lowest whose kept pairs average >= target
    ok = [t for t in np.unique(p) if p[p >= t].mean() >= 0.99]
    expected = min(max(min(ok), train.THRESHOLD_FLOOR), train.THRESHOLD_CEILING)
    assert threshold == pytest.approx(expected)
    kept = p >= threshold
    assert precision == pytest.approx(p[kept].mean())
    assert recall == pytest.approx(p[kept].sum() / p.sum())
    # nothing to link: the ceiling, no estimates
    assert train.choose_threshold(np.array([])) == (train.THRESHOLD_CEILING, None, None)


def test_prior_is_the_fixed_point_of_expected_matches():
    rng = np.random.default_rng(9)
    log2_bf = np.concatenate([rng.normal(25, 3, 300), rng.normal(-5, 4, 5000)])
    all_pairs = 2000 * 1999 / 2
    prior = train.prior_fixed_point(log2_bf, all_pairs, start=1e-6)

    # an independent root finder on the same equation: lambda * N = sum p(lambda)
    def gap(lam: float) -> float:
        logit = log2_bf + math.log2(lam / (1 - lam))
        return lam * all_pairs - float((1 / (1 + np.exp2(-logit))).sum())

    assert prior == pytest.approx(brentq(gap, 1e-9, 0.4, xtol=1e-14), rel=1e-4)


def test_grouped_pairs_give_what_the_pairs_one_by_one_give():
    """Training reads candidate pairs grouped with counts: the same prior and threshold."""
    rng = np.random.default_rng(11)
    values = np.round(np.concatenate([rng.normal(25, 3, 40), rng.normal(-5, 4, 60)]), 1)
    counts = rng.integers(1, 30, len(values))
    expanded = np.repeat(values, counts)
    all_pairs = 900 * 899 / 2
    grouped_prior = train.prior_fixed_point(values, all_pairs, 1e-5, counts)
    assert grouped_prior == pytest.approx(
        train.prior_fixed_point(expanded, all_pairs, 1e-5), rel=1e-9
    )
    p, p_expanded = (train._probabilities(x, grouped_prior) for x in (values, expanded))
    grouped = train.choose_threshold(p, 0.99, counts)
    one_by_one = train.choose_threshold(p_expanded, 0.99)
    assert grouped == pytest.approx(one_by_one)
    # brute force on ties: a threshold keeps every pair at its value
    ok = [t for t in np.unique(p_expanded) if p_expanded[p_expanded >= t].mean() >= 0.99]
    assert grouped[0] == pytest.approx(
        min(max(min(ok), train.THRESHOLD_FLOOR), train.THRESHOLD_CEILING)
    )


def _plain_band(model, pattern, log2_bf):
    """A pair's term-frequency band, from the model's levels read one by one."""
    base = 0.0
    for comparison, gamma in zip(model["comparisons"], pattern, strict=True):
        if gamma == -1:
            continue
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        level = levels[len(levels) - 1 - gamma]
        base += math.log2(level["m_probability"] / level["u_probability"])
    return math.floor((log2_bf - base) / matching.TF_BAND_BITS)


def _calibration_one_pair_at_a_time(model, log2_bf, patterns, found_without, prior):
    """decisive_calibration's rule written plainly over single pairs (the reference)."""
    from scipy.stats import beta

    names = list(train.COMPARISON_COLUMNS)
    bands = [_plain_band(model, row, w) for row, w in zip(patterns, log2_bf, strict=True)]
    best: dict[str, tuple[int, float]] = {}
    logit_prior = math.log2(prior / (1 - prior))
    for name in train.DECISIVE:
        b = names.index(name)
        agree_levels, m_agree = train._agreeing_levels(model, name)
        missing = {(tuple(row), band) for row, band in zip(patterns, bands, strict=True)}
        for full, band in {(f, band) for f, band in missing if f[b] == -1}:
            reduced = [g for i, g in enumerate(full) if i != b]
            same = [
                i
                for i, row in enumerate(patterns)
                if [g for j, g in enumerate(row) if j != b] == reduced and bands[i] == band
            ]
            present = [i for i in same if patterns[i][b] != -1 and found_without[name][i]]
            if len(present) < train.CALIBRATION_MIN_PAIRS:
                continue
            agreeing = sum(patterns[i][b] in agree_levels for i in present)
            low, high = beta.ppf([0.025, 0.975], agreeing + 0.5, len(present) - agreeing + 0.5)
            low, high = (min(max(x / m_agree, 1e-9), 1 - 1e-9) for x in (low, high))
            mine = [
                i for i in range(len(patterns)) if tuple(patterns[i]) == full and bands[i] == band
            ]
            current = float(np.mean([log2_bf[i] for i in mine])) + logit_prior
            target = min(max(current, math.log2(low / (1 - low))), math.log2(high / (1 - high)))
            key = f"{','.join(str(g) for g in full)}|{band}"
            if key in best and best[key][0] >= len(present):
                continue
            shift = max(min(target - current, train.MAX_CALIBRATION_SHIFT), -20.0)
            best[key] = (len(present), round(shift, 6))
    return {k: s for k, (_, s) in sorted(best.items()) if s != 0}


def test_calibration_on_grouped_pairs_equals_the_plain_rule():
    model = json.loads((matching.MODEL_DIR / matching.MODEL_FILE).read_text())
    rng = np.random.default_rng(4)
    k = len(train.COMPARISON_COLUMNS)
    levels = [
        sum(not lv.get("is_null_level") for lv in c["comparison_levels"])
        for c in model["comparisons"]
    ]
    # few distinct patterns so that many share a reduced pattern; -1 = missing
    base = np.column_stack([rng.integers(-1, min(3, n), size=12) for n in levels])
    rows = base[rng.integers(0, 12, 3000)].copy()
    birth = list(train.COMPARISON_COLUMNS).index("birth_date")
    rows[:, birth] = rng.choice([-1, 0, 1, 3], size=3000, p=[0.4, 0.3, 0.1, 0.2])
    # a pair's weight: its pattern's, moved by term frequencies in three bands
    weights = matching.level_weights(model)
    log2_bf = np.array([matching.pattern_weight(weights, row) for row in rows])
    log2_bf += rng.choice([-1.5, 0.25, 2.75], size=3000)
    found = {name: rng.random(3000) < 0.8 for name in train.DECISIVE}
    reference = _calibration_one_pair_at_a_time(model, log2_bf, rows.tolist(), found, 1e-4)
    # the data is built so that some pattern moves, in more than one band
    assert len({key.split("|")[0] for key in reference}) < len(reference)
    # the same pairs grouped (pattern, flags, weight) with counts, as training reads them
    keys = np.column_stack([rows, *(found[n] for n in train.DECISIVE), log2_bf])
    unique, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    assert len(unique) < 3000
    grouped = train.Candidates(
        unique[:, -1],
        unique[:, :k].astype(np.int64),
        {n: unique[:, k + i].astype(bool) for i, n in enumerate(train.DECISIVE)},
        counts,
    )
    assert train.decisive_calibration(model, grouped, 1e-4) == pytest.approx(reference)


def test_too_little_data_is_skipped_with_a_reason_not_raised_elsewhere():
    one = features([{"contact_key": "web:1", "source_system": "web", "first_name_key": "ann"}])
    with pytest.raises(train.TrainingSkipped, match="1 contact record"):
        train.train(one)
    # enough records but no block with pairs: every block is named with why
    lonely = features(
        [
            {"contact_key": f"web:{i}", "source_system": "web", "first_name_key": f"n{i}"}
            for i in range(1200)
        ]
    )
    with pytest.raises(train.TrainingSkipped, match="birth_date\\+last_name: skipped: 0 pair"):
        train.train(lonely)


def test_email_only_contacts_train_on_the_email_block():
    model, _, facts = train.train(email_only())
    blocks = {b["block"]: b["status"] for b in facts.blocks}
    assert blocks["email"] == "used"
    assert blocks["birth_date+last_name"].startswith("skipped: 0 pair")
    assert set(facts.neutral) == {
        "first_name",
        "last_name",
        "birth_date",
        "address",
        "phone",
        "loyalty_id",
    }
    # a neutral comparison carries no evidence either way: m = u on every level
    for comparison in model["comparisons"]:
        if comparison["output_column_name"] in facts.neutral:
            for level in comparison["comparison_levels"]:
                if not level.get("is_null_level"):
                    assert level["m_probability"] == level["u_probability"]
    assert train.THRESHOLD_FLOOR <= facts.threshold <= train.THRESHOLD_CEILING


def test_names_and_birth_dates_train_on_the_name_blocks_and_link(tmp_path):
    data = names_and_birth_dates()
    model, tf_tables, facts = train.train(data)
    status = {b["block"]: b["status"] for b in facts.blocks}
    used = {name for name, s in status.items() if s == "used"}
    # the names from blocks on the birth date, the birth date from the name block
    assert {"birth_date+first_name", "birth_date", "name"} <= used
    # a block that would estimate nothing new is not run
    assert status["birth_date+last_name"].startswith("not needed")
    assert not used & {"email", "phone", "loyalty_id"}
    assert set(facts.neutral) == {"address", "email", "phone", "loyalty_id"}
    path = train.write_model(tmp_path, model, tf_tables, facts)
    con = __import__("duckdb").connect()
    con.register("contacts", data)
    pairs = matching.predict_pairs(con, "contacts", None, path, full=True).to_pylist()
    linked = {
        (p["contact_key_l"], p["contact_key_r"])
        for p in pairs
        if p["match_probability"] >= facts.threshold
    }
    persons = lambda key: key.split(":")[1].split("-")[0]  # noqa: E731
    true_pairs = {
        (a, b)
        for a in data.column("contact_key").to_pylist()
        for b in data.column("contact_key").to_pylist()
        if a < b and persons(a) == persons(b)
    }
    assert len(linked & true_pairs) / len(true_pairs) >= 0.95
    assert len(linked - true_pairs) <= 0.01 * len(linked)


def test_shape_changes_name_what_changed():
    trained = {"contacts": 1000, "sources": ["web"], "fill": {"email": 0.0, "birth_date": 0.6}}
    same = {"contacts": 2500, "fill": {"email": 0.004, "birth_date": 0.5}}
    assert model_store.shape_changes(trained, same, {"web": 1.0}) == []
    now = {"contacts": 3000, "fill": {"email": 0.4, "birth_date": 0.0}}
    reasons = model_store.shape_changes(trained, now, {"web": 0.9, "store": 0.1})
    assert reasons == [
        "contacts grew from 1000 to 3000",
        "email is now filled (0% -> 40%)",
        "birth_date is now empty (60% -> 0%)",
        "a new source system 'store' (10% of contacts)",
    ]


def test_a_build_trains_once_then_reuses_and_retrains_on_a_new_shape(tmp_path, monkeypatch):
    monkeypatch.delenv(matching.MODEL_ENV, raising=False)
    folder = tmp_path / "identity" / "model"
    data = email_only()
    first = model_store.prepare_build_model(data, folder, log=lambda m: None)
    assert first.origin == "trained"
    assert first.facts["trained_because"] == "the warehouse has no model of its own yet"
    assert (folder / matching.FACTS_FILE).exists()
    assert oct(folder.stat().st_mode & 0o777) == "0o700"  # names and postcodes in tf tables
    version = first.version
    # the same shape: the warehouse's model as it is, not trained again
    again = model_store.prepare_build_model(data, folder, log=lambda m: None)
    assert (again.origin, again.version) == ("warehouse", version)
    # asked for: trained again
    asked = model_store.prepare_build_model(data, folder, retrain=True, log=lambda m: None)
    assert asked.origin == "trained"
    assert asked.facts["trained_because"] == "a retrain was asked for"
    # a new source system with a tenth of the contacts: trained again, saying why
    store = email_only(150, seed=3).to_pylist()
    for row in store:
        row["contact_key"] = row["contact_key"].replace("web", "store")
        row["source_system"] = "store"
    grown = pa.concat_tables([data, pa.Table.from_pylist(store, schema=data.schema)])
    changed = model_store.prepare_build_model(grown, folder, log=lambda m: None)
    assert changed.origin == "trained"
    assert "a new source system 'store'" in changed.facts["trained_because"]


def test_too_little_data_links_with_the_shipped_model_and_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv(matching.MODEL_ENV, raising=False)
    one = features([{"contact_key": "web:1", "source_system": "web", "email_match_key": "a@b.c"}])
    chosen = model_store.prepare_build_model(one, tmp_path / "model", log=lambda m: None)
    assert chosen.origin == "shipped"
    assert chosen.path == matching.MODEL_DIR / matching.MODEL_FILE
    assert chosen.threshold == matching.RECOMMENDED_THRESHOLD
    assert chosen.note.startswith("not trained (1 contact record(s): too few")
    # a pinned model wins over everything
    monkeypatch.setenv(matching.MODEL_ENV, str(matching.MODEL_DIR / matching.MODEL_FILE))
    pinned = model_store.prepare_build_model(email_only(), tmp_path / "model", log=lambda m: None)
    assert pinned.origin == "pinned"
    assert not (tmp_path / "model").exists()


def test_training_facts_are_json_and_say_what_was_estimated():
    _, _, facts = train.train(names_and_birth_dates())
    data = json.loads(json.dumps(facts.as_dict()))
    assert data["profile"]["contacts"] > 1000
    assert data["profile"]["sources"] == ["shop"]
    assert 0 < data["prior"] < 1
    assert (
        data["estimated_precision"] >= train.TARGET_PRECISION
        or data["threshold"] == train.THRESHOLD_FLOOR
    )


def test_scoring_applies_each_correction_to_its_pattern_and_band(tmp_path):
    """predict_pairs adds a banded correction only where the pair's term
    frequencies put it in that band, and a whole-pattern correction everywhere."""
    import duckdb

    data = names_and_birth_dates()
    con = duckdb.connect()
    con.register("contacts", data)
    settings, tf_tables, _ = train.train(data)  # term frequencies of these names
    settings.pop(matching.PATTERN_KEY, None)
    plain = train.write_model(tmp_path / "plain", settings, tf_tables, {})
    before = matching.predict_pairs(con, "contacts", None, plain, full=True, min_probability=0)
    before = before.to_pylist()
    # each pair's pattern (gammas from the evidence labels) and band, computed here
    by_label = {
        c["output_column_name"]: {
            lv["label_for_charts"]: (-1 if lv.get("is_null_level") else i)
            for i, lv in enumerate(
                reversed([x for x in c["comparison_levels"] if not x.get("is_null_level")])
            )
        }
        | {lv["label_for_charts"]: -1 for lv in c["comparison_levels"] if lv.get("is_null_level")}
        for c in settings["comparisons"]
    }
    weights = matching.level_weights(settings)
    prior = settings["probability_two_random_records_match"]
    logit = math.log2(prior / (1 - prior))
    keyed = []
    for pair in before:
        evidence = json.loads(pair["evidence"])
        pattern = [
            by_label[c["output_column_name"]][evidence[c["output_column_name"]]]
            for c in settings["comparisons"]
        ]
        offset = pair["match_weight"] - logit - matching.pattern_weight(weights, pattern)
        keyed.append((train.pattern_key(pattern), math.floor(offset / matching.TF_BAND_BITS)))
    # the most common pattern seen in several bands: correct one of its bands;
    # and another pattern whole
    bands: dict[str, set[int]] = {}
    for pattern, band in keyed:
        bands.setdefault(pattern, set()).add(band)
    p1 = max((p for p in bands if len(bands[p]) > 1), key=lambda p: sum(k[0] == p for k in keyed))
    b1 = min(bands[p1])
    p2 = next(p for p, _ in keyed if p != p1)
    shifts = {f"{p1}|{b1}": 1.5, p2: -2.0}
    settings[matching.PATTERN_KEY] = shifts
    adjusted = train.write_model(tmp_path / "adjusted", settings, tf_tables, {})
    after = matching.predict_pairs(con, "contacts", None, adjusted, full=True, min_probability=0)
    after = {(p["contact_key_l"], p["contact_key_r"]): p["match_weight"] for p in after.to_pylist()}
    assert len(after) == len(before)
    moved = 0
    for pair, (pattern, band) in zip(before, keyed, strict=True):
        expected = pair["match_weight"] + shifts.get(f"{pattern}|{band}", shifts.get(pattern, 0.0))
        assert after[(pair["contact_key_l"], pair["contact_key_r"])] == pytest.approx(expected)
        moved += expected != pair["match_weight"]
    assert moved > 0


def test_the_same_data_gives_the_same_model_on_any_number_of_threads():
    """Counting runs on every thread, EM on one, and the sample is a seeded hash
    of the key: the model is the same on any number of threads, and the same
    whether the records come as Arrow or as a relation of the caller's DuckDB
    (counted there, never copied into Python whole)."""
    import duckdb

    data = names_and_birth_dates()
    half = data.num_rows // 2
    models = []
    for threads, as_relation in ((1, False), (3, False), (3, True)):
        like = duckdb.connect(config={"threads": str(threads)})
        records = like.from_arrow(data) if as_relation else data
        model, _, facts = train.train(records, like=like, max_contacts=half)
        models.append((json.dumps(model, sort_keys=True), facts.threshold, facts.prior))
        assert facts.sample == half and facts.profile.contacts == data.num_rows
        # nothing was attached to or left in the caller's DuckDB
        assert (
            like.execute("select count(*) from duckdb_databases() where not internal").fetchone()[0]
            == 1
        )
        assert like.execute("select count(*) from duckdb_tables()").fetchone()[0] == 0
    assert models[0] == models[1] == models[2]
