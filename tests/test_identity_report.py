"""`crm identity report`: the offline HTML page on the identity model and its links.

A tiny restricted output is built here (no dbt): seven scored pairs around the
threshold 0.995, fifteen contacts in ten clusters, six identity edges.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import re
import shutil
import stat
from pathlib import Path

import duckdb
import pytest

from crm import cli
from crm.identity import matching
from crm.identity.report import write_report

SHIPPED_MODEL = matching.MODEL_DIR / matching.MODEL_FILE
THRESHOLD = 0.995
SCRIPT_NAME = "<script>alert(1)</script>"

EVIDENCE_STRONG = {
    "first_name": "exact",
    "last_name": "exact",
    "birth_date": "exact",
    "address": "same street and number",
    "email": "missing",
    "phone": "missing",
    "loyalty_id": "missing",
}
EVIDENCE_WEAK = {**EVIDENCE_STRONG, "birth_date": "missing", "address": "different"}
# (contact_key_l, contact_key_r, match_probability, evidence); the pair at exactly
# the threshold is kept, the two at 0.9 tie and are ordered by their keys.
PAIRS = [
    ("store:a", "web:a", 0.9999, EVIDENCE_STRONG),
    ("store:b", "web:b", THRESHOLD, EVIDENCE_STRONG),
    ("store:c", "web:c", 0.998, EVIDENCE_STRONG),
    ("store:d", "web:d", 0.99, EVIDENCE_WEAK),
    ("store:e", "web:e", 0.9, EVIDENCE_WEAK),
    ("dealer:g", "web:g", 0.9, EVIDENCE_WEAK),
    ("store:f", "web:f", 0.6, {**EVIDENCE_WEAK, "first_name": "typo"}),
]
KEPT_ORDER = [("store:b", "web:b"), ("store:c", "web:c"), ("store:a", "web:a")]
REJECTED_ORDER = [
    ("store:d", "web:d"),
    ("dealer:g", "web:g"),
    ("store:e", "web:e"),
    ("store:f", "web:f"),
]
CLUSTERS = {
    "store:a": "store:a",
    "web:a": "store:a",
    "store:b": "store:b",
    "web:b": "store:b",
    "store:c": "store:c",
    "web:c": "store:c",
    "store:d": "store:d",
    "web:d": "web:d",
    "store:e": "store:e",
    "web:e": "web:e",
    "dealer:g": "dealer:g",
    "web:g": "web:g",
    "loyalty:f": "loyalty:f",
    "store:f": "loyalty:f",
    "web:f": "loyalty:f",
}
BIRTH_DATES = {key: dt.date(1980, 1, 1 + i) for i, key in enumerate(sorted(CLUSTERS))}
# contacts per cluster -> clusters
CLUSTER_SIZES = {1: 6, 2: 3, 3: 1}
EDGES = [
    ("store:a", "web:a", "splink", 0.9999),
    ("store:b", "web:b", "splink", THRESHOLD),
    ("store:c", "web:c", "splink", 0.998),
    ("store:f", "web:f", "deterministic", None),
    ("loyalty:f", "store:f", "deterministic", None),
    ("loyalty:f", "web:f", "manual", None),
]
FACTS = {
    "trained_at": "2025-11-30T10:00:00+00:00",
    "profile": {
        "contacts": 4321,
        "sources": ["store", "web"],
        "fill": {"first_name": 1.0, "loyalty_id": 0.0},
    },
    "seed": 42,
    "training_blocks": [
        {"block": "email", "pairs": 1234, "status": "used"},
        {"block": "phone", "pairs": 3, "status": "skipped: 3 pair(s), fewer than 20"},
    ],
    "neutral_comparisons": ["loyalty_id"],
    "prior": 1.5e-05,
    "threshold": 0.99,
    "estimated_precision": 0.9951,
    "estimated_recall": 0.9712,
    "candidate_pairs": 5678,
    "seconds": 12.5,
}


def _weight(p: float) -> float:
    return math.log2(p / (1 - p))


def make_restricted(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema intermediate")
        con.execute(
            """
            create table intermediate.int_contact_match_pairs_all (
                contact_key_l varchar, contact_key_r varchar, match_probability double,
                match_weight double, evidence varchar, pair_origin varchar)
            """
        )
        con.executemany(
            "insert into intermediate.int_contact_match_pairs_all values (?, ?, ?, ?, ?, ?)",
            [(a, b, p, _weight(p), json.dumps(ev), "scored") for a, b, p, ev in PAIRS],
        )
        con.execute(
            """
            create table intermediate.int_contacts_normalized (
                contact_key varchar, source_system varchar, source_contact_id varchar,
                first_name varchar, last_name varchar, birth_date date, city varchar,
                postal_code varchar, email varchar, phone varchar)
            """
        )
        rows = []
        for key in sorted(CLUSTERS):
            source, contact_id = key.split(":")
            first = SCRIPT_NAME if key == "web:b" else f"First{contact_id.upper()}"
            rows.append(
                (
                    key,
                    source,
                    contact_id,
                    first,
                    f"Last{contact_id.upper()}",
                    BIRTH_DATES[key],
                    "Berlin",
                    "10115",
                    None,
                    None,
                )
            )
        con.executemany(
            "insert into intermediate.int_contacts_normalized values "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        con.execute(
            """
            create table intermediate.int_contact_clusters (
                contact_key varchar, cluster_key varchar, n_cluster_contacts bigint)
            """
        )
        members = {c: sum(1 for v in CLUSTERS.values() if v == c) for c in CLUSTERS.values()}
        con.executemany(
            "insert into intermediate.int_contact_clusters values (?, ?, ?)",
            [(key, c, members[c]) for key, c in CLUSTERS.items()],
        )
        con.execute(
            """
            create table intermediate.int_identity_edges (
                contact_key_l varchar, contact_key_r varchar, match_source varchar,
                match_probability double, edge_score double)
            """
        )
        con.executemany(
            "insert into intermediate.int_identity_edges values (?, ?, ?, ?, ?)",
            [(a, b, source, p, p or 2.0) for a, b, source, p in EDGES],
        )
    finally:
        con.close()
    return path


def model_with_facts(folder: Path, facts: dict | None = FACTS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / matching.MODEL_FILE
    shutil.copyfile(SHIPPED_MODEL, model)
    if facts is not None:
        (folder / matching.FACTS_FILE).write_text(json.dumps(facts), encoding="utf-8")
    return model


@pytest.fixture
def restricted(tmp_path: Path) -> Path:
    return make_restricted(tmp_path / "restricted" / "crm_restricted.duckdb")


def section(page: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', page, re.S)
    assert match, f"no section {section_id}"
    return match.group(1)


def table_rows(fragment: str) -> list[list[str]]:
    """The body rows of the tables in ``fragment``, each cell as plain text."""
    rows = []
    for body in re.findall(r"<tbody>(.*?)</tbody>", fragment, re.S):
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
            cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
            rows.append([html.unescape(re.sub(r"<[^>]+>", " ", c)).split() for c in cells])
    return [[" ".join(words) for words in row] for row in rows]


def link_keys(page: str, section_id: str) -> list[tuple[str, str]]:
    """(left, right) source:id of each link row, in page order."""
    return [(row[4].split()[0], row[5].split()[0]) for row in table_rows(section(page, section_id))]


def span(page: str, span_id: str) -> str:
    match = re.search(rf'<span id="{span_id}">(.*?)</span>', page)
    assert match, f"no span {span_id}"
    return match.group(1)


def test_page_is_owner_only_and_offline(restricted, tmp_path):
    out = tmp_path / "new" / "deeper" / "identity_report.html"
    assert write_report(restricted, SHIPPED_MODEL, THRESHOLD, out) == out
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.parent.stat().st_mode) == 0o700
    page = out.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page and " src=" not in page
    assert "<svg" in page
    footer = re.search(r"<footer>(.*?)</footer>", page, re.S).group(1)
    assert "personal data" in footer and "0600" in footer

    # an existing, readable report is replaced by an owner-only one
    out.chmod(0o644)
    write_report(restricted, SHIPPED_MODEL, THRESHOLD, out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [p.name for p in out.parent.iterdir()] == [out.name]


def test_values_are_escaped(restricted, tmp_path):
    page = write_report(restricted, SHIPPED_MODEL, THRESHOLD, tmp_path / "r.html").read_text()
    assert SCRIPT_NAME not in page
    assert html.escape(SCRIPT_NAME) in section(page, "weakest-kept")


def test_every_level_is_shown_with_its_weight(restricted, tmp_path):
    page = write_report(restricted, SHIPPED_MODEL, THRESHOLD, tmp_path / "r.html").read_text()
    weights = section(page, "weights")
    rows = table_rows(weights)
    model = json.loads(SHIPPED_MODEL.read_text())
    expected = [
        (c["output_column_name"], level["label_for_charts"], level)
        for c in model["comparisons"]
        for level in c["comparison_levels"]
        if not level.get("is_null_level")
    ]
    assert len(rows) == len(expected)
    for row, (comparison, label, level) in zip(rows, expected, strict=True):
        weight = math.log2(level["m_probability"] / level["u_probability"])
        assert row[0] == comparison
        assert row[1].split(" (term-frequency")[0] == label
        assert row[4] == f"{weight:+.2f}"
        # the chart draws the level with the same figure
        assert f">{html.escape(label)}</text>" in weights
    assert weights.count("<rect ") == len(expected) + 1  # and the prior
    prior = model["probability_two_random_records_match"]
    assert f"{math.log2(prior / (1 - prior)):+.2f}" in section(page, "model")


def test_threshold_and_the_models_own_estimates(restricted, tmp_path):
    page = write_report(restricted, SHIPPED_MODEL, THRESHOLD, tmp_path / "r.html").read_text()
    p = [pair[2] for pair in PAIRS]
    kept = [x for x in p if x >= THRESHOLD]
    assert span(page, "threshold-now") == "0.995"
    assert span(page, "pairs-kept") == "3"
    assert span(page, "precision-now") == f"{sum(kept) / len(kept):.4f}"
    assert span(page, "recall-now") == f"{sum(kept) / sum(p):.4f}"
    assert "not measured against ground truth" in section(page, "threshold")
    # the threshold's weight is marked on the histogram
    histogram = section(page, "weight-histogram")
    assert f"threshold 0.995 (weight {_weight(THRESHOLD):+.2f})" in histogram
    assert 'class="marker"' in histogram


def test_links_split_at_the_threshold_weakest_and_strongest_first(restricted, tmp_path):
    page = write_report(restricted, SHIPPED_MODEL, THRESHOLD, tmp_path / "r.html").read_text()
    assert link_keys(page, "weakest-kept") == KEPT_ORDER
    assert link_keys(page, "strongest-rejected") == REJECTED_ORDER
    first = table_rows(section(page, "weakest-kept"))[0]
    assert first[1] == "0.995"
    assert first[2] == f"{_weight(THRESHOLD):+.2f}"
    assert "first_name: exact" in first[3] and "birth_date: exact" in first[3]
    assert first[4] == (
        f"store:b FirstB LastB born {BIRTH_DATES['store:b'].isoformat()} 10115 Berlin"
    )
    assert first[6] == "yes"
    assert table_rows(section(page, "strongest-rejected"))[0][6] == "no"

    limited = write_report(restricted, SHIPPED_MODEL, THRESHOLD, tmp_path / "l.html", limit=2)
    page = limited.read_text()
    assert link_keys(page, "weakest-kept") == KEPT_ORDER[:2]
    assert link_keys(page, "strongest-rejected") == REJECTED_ORDER[:2]


def test_cluster_sizes_and_edges(restricted, tmp_path):
    page = write_report(restricted, SHIPPED_MODEL, THRESHOLD, tmp_path / "r.html").read_text()
    clusters = section(page, "clusters")
    sizes = re.search(r'<div id="cluster-sizes">(.*?)</div>', clusters, re.S).group(1)
    assert table_rows(sizes) == [
        [str(size), str(n), str(size * n)] for size, n in sorted(CLUSTER_SIZES.items())
    ]
    edges = re.search(r'<div id="edge-sources">(.*?)</div>', clusters, re.S).group(1)
    assert table_rows(edges) == [["manual", "1"], ["deterministic", "2"], ["splink", "3"]]
    # the splink edges agree with the pairs at this threshold: no warning
    assert "edges-mismatch" not in page
    other = write_report(restricted, SHIPPED_MODEL, 0.9, tmp_path / "o.html").read_text()
    assert 'id="edges-mismatch"' in other


def test_training_facts_are_shown(restricted, tmp_path):
    model = model_with_facts(tmp_path / "model")
    page = write_report(restricted, model, THRESHOLD, tmp_path / "r.html").read_text()
    facts = section(page, "model")
    assert "2025-11-30T10:00:00+00:00" in facts
    assert "4321" in facts and "store, web" in facts
    assert ["phone", "3", "skipped: 3 pair(s), fewer than 20"] in table_rows(facts)
    assert ["email", "1234", "used"] in table_rows(facts)
    assert "loyalty_id" in re.search(r'<p id="neutral">(.*?)</p>', facts, re.S).group(1)
    assert 'id="no-facts"' not in page
    assert span(page, "precision-training") == "0.9951"
    assert span(page, "recall-training") == "0.9712"


def test_works_without_training_facts(restricted, tmp_path):
    model = model_with_facts(tmp_path / "model", facts=None)
    page = write_report(restricted, model, THRESHOLD, tmp_path / "r.html").read_text()
    assert 'id="no-facts"' in page
    assert span(page, "precision-training") == "n/a"
    assert span(page, "precision-now") != "n/a"


def test_same_inputs_same_bytes(restricted, tmp_path):
    model = model_with_facts(tmp_path / "model")
    one = write_report(restricted, model, THRESHOLD, tmp_path / "one.html").read_bytes()
    two = write_report(restricted, model, THRESHOLD, tmp_path / "two.html").read_bytes()
    assert one == two


@pytest.fixture
def crm_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("CRM_HOME", str(home))
    for name in ("CRM_RESTRICTED", "CRM_IDENTITY_MODEL", "CRM_DBT_VARS", "CRM_WAREHOUSE"):
        monkeypatch.delenv(name, raising=False)
    return home


def test_cli_reports_with_the_warehouse_model(crm_home, capsys):
    make_restricted(crm_home / "restricted" / "crm_restricted.duckdb")
    # the warehouse's own model (crm identity train) and its threshold, 0.99
    model_with_facts(crm_home / "identity" / "model")
    assert cli.main(["identity", "report", "--limit", "3"]) == 0
    out = crm_home / "restricted" / "identity_report.html"
    assert capsys.readouterr().out.strip() == str(out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    page = out.read_text()
    assert span(page, "threshold-now") == "0.99"
    assert "the warehouse&#x27;s own model" in section(page, "model")
    # at 0.99 the pair at 0.99 is kept
    assert link_keys(page, "weakest-kept") == [("store:d", "web:d"), *KEPT_ORDER[:2]]


def test_cli_honours_the_dbt_var_threshold(crm_home, tmp_path, capsys, monkeypatch):
    make_restricted(crm_home / "restricted" / "crm_restricted.duckdb")
    monkeypatch.setenv("CRM_DBT_VARS", '{"identity_match_threshold": 0.9}')
    out = tmp_path / "elsewhere" / "report.html"
    assert cli.main(["identity", "report", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert span(out.read_text(), "threshold-now") == "0.9"


def test_cli_without_a_restricted_output(crm_home, capsys):
    assert cli.main(["identity", "report"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "crm refresh" in err
    assert not (crm_home / "restricted" / "identity_report.html").exists()


def test_cli_reports_the_model_the_last_refresh_used(crm_home, tmp_path, capsys):
    """The restricted output records the model and threshold its build linked with
    (int_identity_model): the report shows those, not whatever model is newest."""
    restricted = make_restricted(crm_home / "restricted" / "crm_restricted.duckdb")
    used = model_with_facts(tmp_path / "used-model")
    # a newer model trained since (crm identity train), with another threshold
    model_with_facts(crm_home / "identity" / "model")
    with duckdb.connect(str(restricted)) as con:
        con.execute(
            "create table intermediate.int_identity_model as select ? as model_path, "
            "0.95 as link_threshold, 'trained' as model_origin, "
            "'the warehouse has no model of its own yet' as model_note",
            [str(used)],
        )
    assert cli.main(["identity", "report"]) == 0
    page = Path(capsys.readouterr().out.strip()).read_text()
    assert span(page, "threshold-now") == "0.95"
    assert str(used) in section(page, "model")
    assert "trained: the warehouse has no model of its own yet" in section(page, "model")
