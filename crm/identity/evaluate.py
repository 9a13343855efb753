"""Score identity matching against the demo generator's ground truth.

For tuning and testing the matcher only: the warehouse's own clustering
(int_contact_clusters: guards, never-merge overrides, stable ids) is another
component. Here the clusters are plain connected components of the
deterministic links plus the scored pairs at or above a threshold.

Figures (``evaluate``):
- pairwise precision: of the record pairs the clusters put together, the share
  that are one true person; pairwise recall: of the true persons' record pairs,
  the share the clusters put together;
- split_share: of the true persons with two or more records, the share whose
  records end up in more than one cluster;
- merge_share: of the resolved clusters, the share that hold records of more
  than one true person.

    .venv/bin/python -m crm.identity.evaluate --warehouse W.duckdb --truth truth/ \\
        [--threshold 0.9] [--model PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def _pairs(n: np.ndarray) -> float:
    n = n.astype(np.float64)
    return float((n * (n - 1) / 2).sum())


def truth_keys(truth: str | Path | pd.DataFrame) -> pd.DataFrame:
    """contact_key -> person_id from the generator's truth/contacts.parquet (or its frame)."""
    if isinstance(truth, pd.DataFrame) and "contact_key" in truth:
        return truth[["contact_key", "person_id"]]
    if not isinstance(truth, pd.DataFrame):
        path = Path(truth)
        if path.is_dir():
            path = path / "contacts.parquet"
        truth = pd.read_parquet(path, columns=["source_system", "source_contact_id", "person_id"])
    return pd.DataFrame(
        {
            "contact_key": truth["source_system"] + ":" + truth["source_contact_id"],
            "person_id": truth["person_id"],
        }
    )


def cluster_labels(
    contact_keys: np.ndarray,
    edges: list[tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """Connected-component label per contact key, over the given edge lists (key arrays)."""
    index = pd.Index(contact_keys)
    left_parts, right_parts = [], []
    for left, right in edges:
        a, b = index.get_indexer(left), index.get_indexer(right)
        ok = (a >= 0) & (b >= 0)
        left_parts.append(a[ok])
        right_parts.append(b[ok])
    left = np.concatenate(left_parts) if left_parts else np.array([], dtype=np.int64)
    right = np.concatenate(right_parts) if right_parts else np.array([], dtype=np.int64)
    n = len(index)
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    return connected_components(graph.tocsr(), directed=False)[1]


def score_clusters(
    contact_keys: np.ndarray, labels: np.ndarray, truth: pd.DataFrame
) -> dict[str, Any]:
    """Pairwise precision/recall, split and merge shares of a clustering vs the truth."""
    frame = pd.DataFrame({"contact_key": contact_keys, "cluster": labels}).merge(
        truth, on="contact_key", how="inner"
    )
    cluster_sizes = frame.groupby("cluster").size().to_numpy()
    person_sizes = frame.groupby("person_id").size().to_numpy()
    cell_sizes = frame.groupby(["cluster", "person_id"]).size().to_numpy()
    predicted, true, hits = _pairs(cluster_sizes), _pairs(person_sizes), _pairs(cell_sizes)
    clusters_per_person = frame.groupby("person_id")["cluster"].nunique()
    persons_per_cluster = frame.groupby("cluster")["person_id"].nunique()
    multi = frame.groupby("person_id").size() >= 2
    return {
        "contacts": int(len(frame)),
        "persons": int(len(person_sizes)),
        "clusters": int(len(cluster_sizes)),
        "true_pairs": int(true),
        "predicted_pairs": int(predicted),
        "correct_pairs": int(hits),
        "precision": hits / predicted if predicted else 1.0,
        "recall": hits / true if true else 1.0,
        "split_share": float((clusters_per_person[multi] > 1).mean()) if multi.any() else 0.0,
        "persons_split": int((clusters_per_person > 1).sum()),
        "merge_share": float((persons_per_cluster > 1).mean()),
        "clusters_merged": int((persons_per_cluster > 1).sum()),
    }


def _column(table: Any, name: str) -> np.ndarray:
    if isinstance(table, pa.Table):
        return table.column(name).to_numpy(zero_copy_only=False)
    return np.asarray(table[name])


def evaluate(
    contact_keys: Any,
    pairs: Any,
    links: Any,
    truth: str | Path | pd.DataFrame,
    threshold: float = 0.9,
) -> dict[str, Any]:
    """Cluster (deterministic links + pairs >= threshold) and score against the truth.

    contact_keys: every contact (array-like); pairs: predicted pairs
    (contact_key_l, contact_key_r, match_probability); links: deterministic
    links (contact_key_a, contact_key_b), or None; truth: the generator's truth
    folder / contacts.parquet, or a frame from ``truth_keys``.
    """
    keys = np.asarray(contact_keys, dtype=object)
    truth_frame = truth_keys(truth)
    probability = _column(pairs, "match_probability")
    keep = probability >= threshold
    edges = [(_column(pairs, "contact_key_l")[keep], _column(pairs, "contact_key_r")[keep])]
    if links is not None:
        edges.append((_column(links, "contact_key_a"), _column(links, "contact_key_b")))
    result = score_clusters(keys, cluster_labels(keys, edges), truth_frame)
    result["threshold"] = threshold
    return result


def evaluate_deterministic_only(contact_keys: Any, links: Any, truth: Any) -> dict[str, Any]:
    keys = np.asarray(contact_keys, dtype=object)
    edges = [(_column(links, "contact_key_a"), _column(links, "contact_key_b"))]
    return score_clusters(keys, cluster_labels(keys, edges), truth_keys(truth))


def main(argv: list[str] | None = None) -> int:
    import duckdb

    from crm.identity.matching import predict_pairs

    parser = argparse.ArgumentParser(prog="python -m crm.identity.evaluate")
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--truth", required=True)
    parser.add_argument("--model", default=None)
    parser.add_argument("--threshold", type=float, action="append")
    args = parser.parse_args(argv)
    con = duckdb.connect(args.warehouse, read_only=True)
    try:
        keys = con.execute(
            "select contact_key from intermediate.int_contacts_normalized"
        ).fetchnumpy()["contact_key"]
        links = con.execute(
            "select contact_key_a, contact_key_b from intermediate.int_contact_links"
        ).to_arrow_table()
        pairs = predict_pairs(
            con, "intermediate.int_contacts_normalized", None, args.model, full=True
        )
    finally:
        con.close()
    truth = truth_keys(args.truth)
    out = {"deterministic_only": evaluate_deterministic_only(keys, links, truth)}
    for threshold in args.threshold or [0.9]:
        out[str(threshold)] = evaluate(keys, pairs, links, truth, threshold)
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
