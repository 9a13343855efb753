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

Only contacts with an edge enter Python, as integers (their rank by key, so the
smallest node of a cluster is its smallest key); a contact without one is its
own cluster. Keys are mapped back in SQL and the result is returned as a
relation: no contact key passes through Python.
"""

import numpy as np
import pyarrow as pa

from crm.identity.clusters import cluster
from crm.identity.matching import decisive_birth_date_levels, load_model

NODES = "__crm_cluster_nodes"
RESULT = "__crm_cluster_result"


def _cluster(n_nodes, links, never, birth_dates, max_size, decisive) -> pa.Table:
    """Per node: the smallest node of its cluster, the cluster's size, guard and level."""
    if n_nodes == 0:
        return pa.table(
            {
                "node": pa.array([], pa.int64()),
                "cluster_node": pa.array([], pa.int64()),
                "n_cluster_contacts": pa.array([], pa.int64()),
                "guard": pa.array([], pa.string()),
                "guard_level": pa.array([], pa.float64()),
            }
        )
    result = cluster(
        n_nodes,
        np.asarray(links["l"], dtype=np.int64),
        np.asarray(links["r"], dtype=np.int64),
        np.asarray(links["edge_score"], dtype=np.float64),
        np.arange(n_nodes, dtype=np.int64),  # a cluster's key: its smallest node
        max_size=max_size,
        never_left=np.asarray(never["l"], dtype=np.int64),
        never_right=np.asarray(never["r"], dtype=np.int64),
        birth_dates=np.asarray(birth_dates, dtype=object),
        decisive_birth_date_levels=decisive,
    )
    guard = np.where(result.guard == "", None, result.guard)
    return pa.table(
        {
            "node": pa.array(np.arange(n_nodes, dtype=np.int64)),
            "cluster_node": pa.array(result.cluster_key.astype(np.int64)),
            "n_cluster_contacts": pa.array(result.cluster_size.astype(np.int64)),
            "guard": pa.array(guard, type=pa.string()),
            "guard_level": pa.array(result.guard_level, type=pa.float64(), from_pandas=True),
        }
    )


def model(dbt, session):
    dbt.config(materialized="table")
    # A plain dbt.config.get("<literal>") call: dbt's parser does not see one
    # inside an expression (int(... or 50) silently always gave 50).
    max_size = dbt.config.get("max_cluster_size", 50)
    max_size = int(max_size)

    contacts = f"({dbt.ref('int_contacts_normalized').sql_query()})"
    edges = f"({dbt.ref('int_identity_edges').sql_query()})"
    overrides = f"({dbt.ref('int_identity_overrides').sql_query()})"
    # the contacts with an edge, numbered in key order
    session.execute(
        f"""
        create or replace temp table {NODES} as
        select
            contacts.contact_key,
            coalesce(strftime(contacts.birth_date, '%Y-%m-%d'), '') as birth_date,
            row_number() over (order by contacts.contact_key) - 1 as node
        from {contacts} as contacts
        where contacts.contact_key in (
            select contact_key_l from {edges} union select contact_key_r from {edges}
        )
        """
    )

    def pairs(relation: str, columns: str = "") -> dict[str, np.ndarray]:
        # pairs of two known nodes (overrides may name records not (yet) loaded)
        return session.execute(
            f"""
            select l.node as l, r.node as r{columns}
            from {relation} as pairs
            join {NODES} as l on pairs.contact_key_l = l.contact_key
            join {NODES} as r on pairs.contact_key_r = r.contact_key
            """
        ).fetchnumpy()

    links = pairs(edges, ", pairs.edge_score")
    never = pairs(f"(select * from {overrides} where decision = 'never')")
    nodes = session.execute(f"select birth_date from {NODES} order by node").fetchnumpy()
    n_nodes = len(nodes["birth_date"])
    # the birth-date differences the model learned to be decisive (often none)
    model_path = dbt.ref("int_identity_model").project("model_path").fetchone()[0]
    settings, _ = load_model(model_path)
    result = _cluster(
        n_nodes,
        links,
        never,
        nodes["birth_date"],
        max_size,
        decisive_birth_date_levels(settings),
    )
    session.register(RESULT, result)
    return session.sql(
        f"""
        select
            contacts.contact_key,
            contacts.source_system,
            contacts.source_contact_id,
            coalesce(cluster_nodes.contact_key, contacts.contact_key) as cluster_key,
            coalesce(result.n_cluster_contacts, 1) as n_cluster_contacts,
            result.guard,
            result.guard_level
        from {contacts} as contacts
        left join {NODES} as nodes on contacts.contact_key = nodes.contact_key
        left join {RESULT} as result on nodes.node = result.node
        left join {NODES} as cluster_nodes on result.cluster_node = cluster_nodes.node
        """
    )
