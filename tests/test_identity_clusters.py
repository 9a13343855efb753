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
