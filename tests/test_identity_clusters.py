"""Clustering guards, checked against brute force on small graphs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from crm.identity.clusters import DETERMINISTIC_SCORE, MANUAL_SCORE, cluster


def _keys(n: int) -> np.ndarray:
    return np.array([f"k{i:04d}" for i in range(n)], dtype=object)


def _groups(result, n: int) -> set[frozenset[int]]:
    by_key: dict[str, set[int]] = {}
    for node in range(n):
        by_key.setdefault(result.cluster_key[node], set()).add(node)
    return {frozenset(g) for g in by_key.values()}


def _brute_components(n: int, edges: list[tuple[int, int]]) -> set[frozenset[int]]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in edges:
        parent[find(a)] = find(b)
    groups: dict[int, set[int]] = {}
    for node in range(n):
        groups.setdefault(find(node), set()).add(node)
    return {frozenset(g) for g in groups.values()}


def test_plain_components_match_brute_force_union_find():
    rng = np.random.default_rng(3)
    n = 300
    left = rng.integers(0, n, 200)
    right = rng.integers(0, n, 200)
    result = cluster(n, left, right, np.full(200, 0.9), _keys(n), max_size=n)
    assert _groups(result, n) == _brute_components(n, list(zip(left, right, strict=True)))
    # each cluster is named by its smallest key, and sizes agree
    for group in _groups(result, n):
        names = {result.cluster_key[i] for i in group}
        assert names == {f"k{min(group):04d}"}
        assert all(result.cluster_size[i] == len(group) for i in group)
    assert (result.guard == "").all()


def test_a_weak_bridge_does_not_chain_two_large_groups():
    # two cliques of 30 joined by one weak link: 60 > max_size 40
    n = 60
    a = list(itertools.combinations(range(30), 2))
    b = list(itertools.combinations(range(30, 60), 2))
    edges = a + b + [(29, 30)]
    scores = [DETERMINISTIC_SCORE] * (len(a) + len(b)) + [0.97]
    left, right = np.array(edges).T
    result = cluster(n, left, right, np.array(scores), _keys(n), max_size=40)
    assert _groups(result, n) == {frozenset(range(30)), frozenset(range(30, 60))}
    assert set(result.guard) == {"size"}
    assert set(result.guard_level) == {0.99}  # the first level that drops the 0.97 bridge


def test_never_merge_pair_is_separated_keeping_the_strongest_links():
    # 0-1 strong, 1-2 weak, 2-3 strong; never merge 0 and 3
    left, right = np.array([0, 1, 2]), np.array([1, 2, 3])
    result = cluster(
        4,
        left,
        right,
        np.array([0.9999, 0.96, 0.9999]),
        _keys(4),
        never_left=np.array([0]),
        never_right=np.array([3]),
    )
    assert _groups(result, 4) == {frozenset({0, 1}), frozenset({2, 3})}
    assert set(result.guard) == {"never_merge"}


def test_never_merge_cuts_the_direct_link_and_keeps_the_rest():
    # 0-1 e-mail, 1-2 phone (both deterministic); never merge 1 and 2
    left, right = np.array([0, 1, 3]), np.array([1, 2, 4])
    scores = np.full(3, DETERMINISTIC_SCORE)
    result = cluster(
        5, left, right, scores, _keys(5), never_left=np.array([2]), never_right=np.array([1])
    )
    assert _groups(result, 5) == {frozenset({0, 1}), frozenset({2}), frozenset({3, 4})}
    assert (result.guard == "").all()  # no component had to be re-clustered


def test_never_merge_beats_deterministic_links_on_a_path():
    # 0-1-2 deterministic, never merge 0 and 2: no score level separates them
    # but dropping the deterministic links, so the component ends as singletons
    left, right = np.array([0, 1, 3]), np.array([1, 2, 4])
    scores = np.full(3, DETERMINISTIC_SCORE)
    result = cluster(
        5, left, right, scores, _keys(5), never_left=np.array([0]), never_right=np.array([2])
    )
    assert _groups(result, 5) == {frozenset({0}), frozenset({1}), frozenset({2}), frozenset({3, 4})}
    assert list(result.guard) == ["never_merge"] * 3 + ["", ""]


def test_manual_same_link_survives_deterministic_cuts():
    # 0=1 manual, 1-2 deterministic, 2-3 deterministic, never merge 0 and 3
    left, right = np.array([0, 1, 2]), np.array([1, 2, 3])
    scores = np.array([MANUAL_SCORE, DETERMINISTIC_SCORE, DETERMINISTIC_SCORE])
    result = cluster(
        4, left, right, scores, _keys(4), never_left=np.array([3]), never_right=np.array([0])
    )
    assert _groups(result, 4) == {frozenset({0, 1}), frozenset({2}), frozenset({3})}


@pytest.mark.parametrize("n", [0, 1])
def test_degenerate_inputs(n):
    result = cluster(n, np.array([], dtype=int), np.array([], dtype=int), np.array([]), _keys(n))
    assert len(result.cluster_key) == n


def _dates(*values: str) -> np.ndarray:
    return np.array(list(values), dtype=object)


def test_two_birth_dates_split_at_the_weakest_model_link():
    # A(1960) =0.999= B(?) -0.96- C(?) =0.999= D(1990): a father and son of one
    # name at one house, joined where neither record has a birth date
    left, right = np.array([0, 1, 2]), np.array([1, 2, 3])
    dates = _dates("1960-01-15", "", "", "1990-07-01")
    result = cluster(4, left, right, np.array([0.999, 0.96, 0.999]), _keys(4), birth_dates=dates)
    assert _groups(result, 4) == {frozenset({0, 1}), frozenset({2, 3})}
    assert set(result.guard) == {"birth_date_conflict"}
    assert set(result.guard_level) == {0.99}
    # without birth dates the guard does not run
    plain = cluster(4, left, right, np.array([0.999, 0.96, 0.999]), _keys(4))
    assert _groups(plain, 4) == {frozenset(range(4))}


@pytest.mark.parametrize(
    ("other", "conflict"),
    [
        ("1960-01-16", False),  # one digit mistyped
        ("1960-15-01", False),  # day and month swapped (as text)
        ("1960-10-15", False),  # two adjacent digits swapped
        ("1960-01-15", False),
        ("1960-01-28", False),  # one part differs: not decisive by default
        ("1961-01-16", True),  # different
        ("1990-07-01", True),
    ],
)
def test_a_typo_in_a_birth_date_is_no_conflict(other, conflict):
    dates = _dates("1960-01-15", other)
    result = cluster(2, np.array([0]), np.array([1]), np.array([0.97]), _keys(2), birth_dates=dates)
    assert (len(_groups(result, 2)) == 2) == conflict


def test_deterministic_links_are_not_cut_for_a_birth_date():
    # a shared e-mail joins two birth dates: kept, and marked
    dates = _dates("1960-01-15", "1990-07-01", "")
    left, right = np.array([0, 1]), np.array([1, 2])
    scores = np.array([DETERMINISTIC_SCORE, 0.97])
    result = cluster(3, left, right, scores, _keys(3), birth_dates=dates)
    assert _groups(result, 3) == {frozenset({0, 1}), frozenset({2})}
    assert set(result.guard) == {"birth_date_conflict"}
    assert list(result.guard_level) == [1.0, 1.0, 0.99]


def test_birth_date_guard_properties_on_random_graphs():
    """Final clusters refine the unguarded ones; a cluster keeps two birth dates
    only where deterministic links alone join them; clusters without two birth
    dates are untouched."""
    rng = np.random.default_rng(8)
    n = 400
    left, right = rng.integers(0, n, 500), rng.integers(0, n, 500)
    scores = np.where(rng.random(500) < 0.2, DETERMINISTIC_SCORE, rng.uniform(0.9, 1.0, 500))
    pool = ["1950-02-03", "1950-02-04", "1971-11-30", "1988-05-06", ""]
    dates = rng.choice(np.array(pool, dtype=object), n, p=[0.1, 0.1, 0.1, 0.1, 0.6])
    plain = _groups(cluster(n, left, right, scores, _keys(n), max_size=n), n)
    result = cluster(n, left, right, scores, _keys(n), max_size=n, birth_dates=dates)
    guarded = _groups(result, n)

    def conflicting(group) -> bool:
        known = sorted({dates[i] for i in group if dates[i]})
        return any(_plain_level(a, b) == "different" for a, b in itertools.combinations(known, 2))

    assert any(conflicting(g) for g in plain)  # the data gives the guard work
    for group in guarded:
        assert any(group <= p for p in plain)
        if conflicting(group):  # then deterministic links alone join it
            det = [
                (a, b)
                for a, b, s in zip(left, right, scores, strict=True)
                if s >= 1.0 and a in group and b in group
            ]
            assert group in _brute_components(n, det)
    for p in plain:
        if not conflicting(p):
            assert p in guarded


def _plain_level(a: str, b: str) -> str:
    """The model's birth-date levels, written out over two strings."""
    ya, ma, da = a.split("-")
    yb, mb, db = b.split("-")
    diff = [i for i in range(10) if a[i] != b[i]]
    adjacent_swap = (
        len(diff) == 2
        and diff[1] == diff[0] + 1
        and a[diff[0]] == b[diff[1]]
        and a[diff[1]] == b[diff[0]]
    )
    if a == b:
        return "exact"
    if ya == yb and ma == db and da == mb:
        return "day and month swapped"
    if len(diff) <= 1 or adjacent_swap:
        return "one digit differs"
    if (ya == yb and ma == mb) or (ya == yb and da == db) or (ma == mb and da == db):
        return "one part differs"
    return "different"


def test_birth_date_levels_match_the_plain_rules():
    from crm.identity.clusters import birth_date_levels

    rng = np.random.default_rng(5)
    base = ["1960-01-15", "1960-01-16", "1960-15-01", "1960-10-15", "1906-01-15", "1960-01-51"]
    randoms = [
        f"{rng.integers(1955, 1965)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}"
        for _ in range(60)
    ]
    pool = base + randoms
    a, b = zip(*itertools.product(pool, pool), strict=True)
    levels = birth_date_levels(np.array(a, dtype=object), np.array(b, dtype=object))
    assert list(levels) == [_plain_level(x, y) for x, y in zip(a, b, strict=True)]
    assert {
        "exact",
        "day and month swapped",
        "one digit differs",
        "one part differs",
        "different",
    } <= set(levels)


def test_decisive_levels_come_from_the_model():
    """Generated data: 'different' never happens to one person (decisive).
    Febrl: 7% of true pairs have another birth date (not decisive: no guard)."""
    from crm.identity import matching

    def settings(m_different: float) -> dict:
        levels = [
            {"is_null_level": True, "label_for_charts": "missing"},
            {"label_for_charts": "exact", "m_probability": 0.9, "u_probability": 1e-4},
            {"label_for_charts": "different", "m_probability": m_different, "u_probability": 0.99},
        ]
        return {"comparisons": [{"output_column_name": "birth_date", "comparison_levels": levels}]}

    assert matching.decisive_birth_date_levels(settings(1e-4)) == {"different"}
    assert matching.decisive_birth_date_levels(settings(0.074)) == frozenset()
    # with no decisive level the guard leaves a component with two birth dates alone
    dates = _dates("1960-01-15", "1990-07-01")
    kept = cluster(
        2,
        np.array([0]),
        np.array([1]),
        np.array([0.97]),
        _keys(2),
        birth_dates=dates,
        decisive_birth_date_levels=frozenset(),
    )
    assert len(_groups(kept, 2)) == 1
