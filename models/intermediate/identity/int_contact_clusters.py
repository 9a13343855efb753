"""Identity clusters: connected components of the identity edges, with guards.

Grain: one row per contact (contact_key).

Nodes are the contacts of int_contacts_normalized, edges the rows of
int_identity_edges (manual 'same' decisions, deterministic keys, Splink pairs
above the threshold). crm.identity.clusters.cluster computes the components and
re-clusters any component that is larger than var('identity_max_cluster_size')
or joins a 'never' pair of seeds/identity_overrides.csv at stricter score levels
(cutting the weakest evidence first), and any component holding two birth
dates that the model learned to be decisive (matching.decisive_birth_date_levels)
at stricter levels of its model links only, all vectorised with scipy.

cluster_key is the smallest contact_key of the final component; guard says
whether (and why) the contact's original component had to be split.
"""

import numpy as np
import pandas as pd
import pyarrow as pa

from crm.identity.clusters import cluster
from crm.identity.matching import decisive_birth_date_levels, load_model

SCHEMA = pa.schema(
    [
        ("contact_key", pa.string()),
        ("source_system", pa.string()),
        ("source_contact_id", pa.string()),
        ("cluster_key", pa.string()),
        ("n_cluster_contacts", pa.int64()),
        ("guard", pa.string()),
        ("guard_level", pa.float64()),
    ]
)


def model(dbt, session):
    dbt.config(materialized="table")
    # A plain dbt.config.get("<literal>") call: dbt's parser does not see one
    # inside an expression (int(... or 50) silently always gave 50).
    max_size = dbt.config.get("max_cluster_size", 50)
    max_size = int(max_size)

    contacts = (
        dbt.ref("int_contacts_normalized")
        .project(
            "contact_key, source_system, source_contact_id, "
            "coalesce(strftime(birth_date, '%Y-%m-%d'), '') as birth_date"
        )
        .order("contact_key")
        .df()
    )
    if contacts.empty:
        return SCHEMA.empty_table()
    # the birth-date differences the model learned to be decisive (often none)
    model_path = dbt.ref("int_identity_model").project("model_path").fetchone()[0]
    settings, _ = load_model(model_path)
    edges = dbt.ref("int_identity_edges").project("contact_key_l, contact_key_r, edge_score").df()
    never = (
        dbt.ref("int_identity_overrides")
        .filter("decision = 'never'")
        .project("contact_key_l, contact_key_r")
        .df()
    )

    keys = contacts["contact_key"].to_numpy(dtype=object)
    index = pd.Index(keys)

    def nodes(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        left = index.get_indexer(frame["contact_key_l"])
        right = index.get_indexer(frame["contact_key_r"])
        known = (left >= 0) & (right >= 0)  # overrides may name records not (yet) loaded
        return left[known], right[known], known

    left, right, known = nodes(edges)
    never_l, never_r, _ = nodes(never)
    result = cluster(
        len(keys),
        left,
        right,
        edges["edge_score"].to_numpy(dtype=np.float64)[known],
        keys,
        max_size=max_size,
        never_left=never_l,
        never_right=never_r,
        birth_dates=contacts["birth_date"].to_numpy(dtype=object),
        decisive_birth_date_levels=decisive_birth_date_levels(settings),
    )
    guard = np.where(result.guard == "", None, result.guard)
    return pa.table(
        {
            "contact_key": pa.array(keys, type=pa.string()),
            "source_system": pa.array(contacts["source_system"].to_numpy(dtype=object)),
            "source_contact_id": pa.array(contacts["source_contact_id"].to_numpy(dtype=object)),
            "cluster_key": pa.array(result.cluster_key, type=pa.string()),
            "n_cluster_contacts": pa.array(result.cluster_size.astype(np.int64)),
            "guard": pa.array(guard, type=pa.string()),
            "guard_level": pa.array(result.guard_level, type=pa.float64(), from_pandas=True),
        },
        schema=SCHEMA,
    )
