"""Clustering identity links into customers, with guards against bad merges.

Connected components over the links (deterministic keys, Splink pairs above the
match threshold, manual "same person" overrides) make the customers. One wrong
link can chain thousands of people into one component, and a manual "never
merge" pair must hold even when a path of links joins the two records. So every
component is checked (after the direct links between never-merge pairs are
removed); an invalid one (more than `max_size` records, or holding
both records of a never-merge pair) is re-clustered from its own links at
stepwise stricter score levels, keeping the strongest evidence, until its parts
are valid. Parts still invalid at the strictest level become singletons.

A person has one birth date, if the data say so: where the model learned that
one person's records almost never carry two birth dates at some comparison
level (matching.decisive_birth_date_levels: true pairs show it at least 1,000
times less often than random pairs; on generated data 'different', on the
Febrl sets, whose birth dates have errors, none), a component holding two
records whose dates reach such a level is two people joined by a weak model
link (the same name at the same house, a father and son, where neither pair
has a birth date). Such a component is re-clustered the same way from its
model links only (CONFLICT_LEVELS); deterministic and manual links are never
cut for it, so what they join stays.

Edge scores: Splink pairs score their match probability (< 1); deterministic
links MANUAL_SCORE > DETERMINISTIC_SCORE > 1, so they are cut last.

Everything is vectorised (scipy connected components per level): the cost is a
few passes over the links, not a loop over records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

DETERMINISTIC_SCORE = 2.0
MANUAL_SCORE = 3.0
# Score levels tried, in order, for a component that fails a guard.
GUARD_LEVELS = (0.95, 0.99, 0.999, 0.9999, 1.5, 2.5)
# Score levels for a component holding two birth dates; 1.0 keeps only the
# deterministic and manual links, and what they join is accepted.
CONFLICT_LEVELS = (0.95, 0.99, 0.999, 0.9999, 1.0)


@dataclass(frozen=True)
class Clusters:
    cluster_key: np.ndarray  # per node: the smallest key of its final component
    cluster_size: np.ndarray  # per node: records in its final component
    # per node: '' or why its first component was split ('size', 'never_merge',
    # 'birth_date_conflict')
    guard: np.ndarray
    guard_level: np.ndarray  # per node: the score level that made it valid (nan if none needed)


def _components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n)).tocsr()
    return connected_components(graph, directed=False)[1]


def _invalid(
    labels: np.ndarray, active: np.ndarray, max_size: int, never_l: np.ndarray, never_r: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per label: too large, and holding a never-merge pair (only labels of active nodes)."""
    size = np.bincount(labels[active], minlength=labels.max() + 1 if len(labels) else 0)
    too_large = size > max_size
    broken = np.zeros_like(too_large)
    if len(never_l):
        same = (labels[never_l] == labels[never_r]) & active[never_l] & active[never_r]
        broken[labels[never_l][same]] = True
    return too_large, broken


def birth_date_levels(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The model's birth-date comparison level (matching.base_settings) of each
    pair of dates 'YYYY-MM-DD', evaluated in the model's order."""
    x = np.array(list(a), dtype="S10").view(np.uint8).reshape(-1, 10)
    y = np.array(list(b), dtype="S10").view(np.uint8).reshape(-1, 10)
    year = (x[:, :4] == y[:, :4]).all(axis=1)
    month = (x[:, 5:7] == y[:, 5:7]).all(axis=1)
    day = (x[:, 8:10] == y[:, 8:10]).all(axis=1)
    differ = x != y
    n_differ = differ.sum(axis=1)
    # two adjacent characters swapped counts as one edit (Damerau)
    first = differ.argmax(axis=1)
    rows = np.arange(len(x))
    nxt = np.minimum(first + 1, 9)
    transposed = (
        (n_differ == 2)
        & differ[rows, nxt]
        & (x[rows, first] == y[rows, nxt])
        & (x[rows, nxt] == y[rows, first])
    )
    return np.select(
        [
            n_differ == 0,
            year & (x[:, 5:7] == y[:, 8:10]).all(axis=1) & (x[:, 8:10] == y[:, 5:7]).all(axis=1),
            (n_differ <= 1) | transposed,
            (year & month) | (year & day) | (month & day),
        ],
        ["exact", "day and month swapped", "one digit differs", "one part differs"],
        default="different",
    )


def birth_date_conflicts(
    labels: np.ndarray, active: np.ndarray, birth_dates: np.ndarray, decisive: frozenset[str]
) -> np.ndarray:
    """Per label: holds two active records whose birth dates ('YYYY-MM-DD', '' if
    unknown) reach a comparison level in ``decisive``."""
    bad = np.zeros(labels.max() + 1 if len(labels) else 0, dtype=bool)
    known = np.flatnonzero(active & (birth_dates != ""))
    if not len(known) or not decisive:
        return bad
    # only labels with two distinct dates can conflict: pair their records
    frame = pd.DataFrame({"label": labels[known], "date": birth_dates[known]})
    frame = frame.drop_duplicates()
    frame = frame[frame.duplicated("label", keep=False)]
    if frame.empty:
        return bad
    pairs = frame.merge(frame, on="label")
    pairs = pairs[pairs["date_x"] < pairs["date_y"]]
    level = birth_date_levels(pairs["date_x"].to_numpy(), pairs["date_y"].to_numpy())
    bad[pairs["label"].to_numpy()[np.isin(level, list(decisive))]] = True
    return bad


def cluster(
    n_nodes: int,
    left: np.ndarray,
    right: np.ndarray,
    score: np.ndarray,
    keys: np.ndarray,
    *,
    max_size: int = 50,
    never_left: np.ndarray | None = None,
    never_right: np.ndarray | None = None,
    levels: tuple[float, ...] = GUARD_LEVELS,
    birth_dates: np.ndarray | None = None,
    decisive_birth_date_levels: frozenset[str] = frozenset({"different"}),
) -> Clusters:
    """Cluster nodes 0..n-1 (keys sorted ascending) over edges (left, right, score).

    The caller passes only edges at or above its match threshold. birth_dates:
    per node 'YYYY-MM-DD' or '' (unknown); when given, the birth-date guard runs
    for pairs of dates at the levels in decisive_birth_date_levels (the model's
    labels, matching.decisive_birth_date_levels).
    """
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    score = np.asarray(score, dtype=np.float64)
    never_l = np.asarray(never_left if never_left is not None else [], dtype=np.int64)
    never_r = np.asarray(never_right if never_right is not None else [], dtype=np.int64)

    if len(never_l):
        # A 'never' decision first removes the direct links between the pair:
        # usually the one wrong link it was made about.
        pair_code = np.minimum(left, right) * n_nodes + np.maximum(left, right)
        never_code = np.minimum(never_l, never_r) * n_nodes + np.maximum(never_l, never_r)
        direct = np.isin(pair_code, never_code)
        left, right, score = left[~direct], right[~direct], score[~direct]

    labels = _components(n_nodes, left, right)
    everyone = np.ones(n_nodes, dtype=bool)
    too_large, broken = _invalid(labels, everyone, max_size, never_l, never_r)
    guard = np.full(n_nodes, "", dtype=object)
    guard[too_large[labels]] = "size"
    guard[broken[labels]] = "never_merge"
    guard_level = np.full(n_nodes, np.nan)

    pending = (too_large | broken)[labels]  # nodes still in an invalid component
    final = labels.copy()
    next_label = labels.max() + 1 if n_nodes else 0
    for level in levels:
        if not pending.any():
            break
        keep = pending[left] & pending[right] & (score >= level)
        sub = _components(n_nodes, left[keep], right[keep])
        bad_large, bad_broken = _invalid(sub, pending, max_size, never_l, never_r)
        still = pending & (bad_large | bad_broken)[sub]
        settled = pending & ~still
        final[settled] = sub[settled] + next_label  # fresh label space per level
        guard_level[settled] = level
        next_label += sub.max() + 1
        pending = still
    if pending.any():  # nothing but singletons is safe
        idx = np.flatnonzero(pending)
        final[idx] = next_label + np.arange(len(idx))
        next_label += len(idx)

    if birth_dates is not None and n_nodes:
        dates = np.asarray(birth_dates, dtype=object)
        _, final = np.unique(final, return_inverse=True)
        decisive = frozenset(decisive_birth_date_levels)
        pending = birth_date_conflicts(final, everyone, dates, decisive)[final]
        guard[pending] = "birth_date_conflict"
        # the links of the components the first guards left, no others
        inside = final[left] == final[right]
        next_label = final.max() + 1
        for level in CONFLICT_LEVELS:
            if not pending.any():
                break
            keep = inside & pending[left] & pending[right] & (score >= level)
            sub = _components(n_nodes, left[keep], right[keep])
            if level < 1.0:
                still = pending & birth_date_conflicts(sub, pending, dates, decisive)[sub]
            else:
                still = np.zeros(n_nodes, dtype=bool)
            settled = pending & ~still
            final[settled] = sub[settled] + next_label
            guard_level[settled] = level
            next_label += sub.max() + 1
            pending = still

    # Name each component by its smallest key: nodes are in key order, so the
    # first node of a label is its smallest.
    _, dense = np.unique(final, return_inverse=True)
    _, first = np.unique(dense, return_index=True)
    return Clusters(
        cluster_key=keys[first[dense]],
        cluster_size=np.bincount(dense)[dense],
        guard=guard,
        guard_level=guard_level,
    )
