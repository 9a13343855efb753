"""Identity clusters: the connected components of the contact link graph.

Grain: one row per contact (contact_key). Every contact of
int_contacts_normalized is a node, every pair of int_contact_links an
undirected edge; scipy's connected_components labels the components in one
vectorised pass (no Python loop over rows). A contact without links is a
component of its own (a singleton).

cluster_key is the smallest contact_key ('<source_system>:<source_contact_id>',
binary/code-point order) of the component. It names the customer
(int_contacts_resolved derives customer_id = 'C' + md5(cluster_key)[:16]), so a
customer keeps its id when unrelated data arrives.
"""

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

SCHEMA = pa.schema(
    [
        ("contact_key", pa.string()),
        ("source_system", pa.string()),
        ("source_contact_id", pa.string()),
        ("cluster_key", pa.string()),
        ("n_cluster_contacts", pa.int64()),
    ]
)


def model(dbt, session):
    dbt.config(materialized="table")

    # Sorted by key, so node i's position orders keys: the first node of a
    # component in this order holds its smallest key.
    contacts = (
        dbt.ref("int_contacts_normalized")
        .project("contact_key, source_system, source_contact_id")
        .order("contact_key")
        .df()
    )
    links = dbt.ref("int_contact_links").project("contact_key_a, contact_key_b").df()

    n_contacts = len(contacts)
    if n_contacts == 0:
        return SCHEMA.empty_table()

    keys = contacts["contact_key"].to_numpy(dtype=object)
    node_of_key = pd.Index(keys)
    node_a = node_of_key.get_indexer(links["contact_key_a"])
    node_b = node_of_key.get_indexer(links["contact_key_b"])
    known = (node_a >= 0) & (node_b >= 0)
    graph = coo_matrix(
        (np.ones(int(known.sum()), dtype=np.int8), (node_a[known], node_b[known])),
        shape=(n_contacts, n_contacts),
    ).tocsr()

    n_components, labels = connected_components(graph, directed=False)
    # labels are 0..n_components-1; return_index gives each one's first node
    _, first_node = np.unique(labels, return_index=True)
    cluster_key = keys[first_node[labels]]
    cluster_size = np.bincount(labels, minlength=n_components)[labels]

    return pa.table(
        {
            "contact_key": pa.array(keys, type=pa.string()),
            "source_system": pa.array(
                contacts["source_system"].to_numpy(dtype=object), type=pa.string()
            ),
            "source_contact_id": pa.array(
                contacts["source_contact_id"].to_numpy(dtype=object), type=pa.string()
            ),
            "cluster_key": pa.array(cluster_key, type=pa.string()),
            "n_cluster_contacts": pa.array(cluster_size.astype(np.int64), type=pa.int64()),
        },
        schema=SCHEMA,
    )
