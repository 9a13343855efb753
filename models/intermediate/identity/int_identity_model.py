"""The identity model this build links with, trained here when the warehouse needs it.

Grain: one row (this build). crm.identity.model_store.prepare_build_model
decides: a model pinned by CRM_IDENTITY_MODEL; else the warehouse's own model
($CRM_HOME/identity/model: var('identity_model_dir'), which `crm refresh`
sets, read through int_identity_model_folder) unless it is missing, a
retrain is asked for (var('identity_retrain')) or the contacts changed shape
since it was trained, in which case it is trained on this build's contacts and
written there; too little data keeps the model there was (the shipped demo
model at first). int_contacts_scope folds model_version into every contact's
fingerprint (a new model re-scores every pair), int_contact_match_pairs scores
with model_path and int_identity_edges links at link_threshold unless
var('identity_match_threshold') is set.
"""

import json

import pyarrow as pa

from crm.identity.model_store import prepare_build_model

SCHEMA = pa.schema(
    [
        ("model_path", pa.string()),
        ("model_version", pa.string()),
        ("model_origin", pa.string()),
        ("model_note", pa.string()),
        ("model_reason", pa.string()),
        ("trained_at", pa.string()),
        ("link_threshold", pa.float64()),
        ("training_estimated_precision", pa.float64()),
        ("training_estimated_recall", pa.float64()),
        ("training_contacts", pa.int64()),
        ("training_facts", pa.string()),
    ]
)


def _flag(value) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


def model(dbt, session):
    dbt.config(materialized="table")
    # The folder differs per CRM_HOME: a run var, read by a SQL model when it
    # runs, so that one parsed project serves every home (orchestration/dbt_runner.py).
    (model_dir,) = dbt.ref("int_identity_model_folder").fetchone()
    retrain = dbt.config.get("identity_retrain", False)
    contacts = dbt.ref("int_contacts_normalized")
    chosen = prepare_build_model(contacts, model_dir or None, retrain=_flag(retrain), like=session)
    facts = chosen.facts
    profile = facts.get("profile") or {}
    row = {
        "model_path": str(chosen.path),
        "model_version": chosen.version,
        "model_origin": chosen.origin,
        "model_note": chosen.note,
        # why the model is what it is, the same in every refresh that uses it
        "model_reason": facts.get("trained_because") or chosen.note,
        "trained_at": facts.get("trained_at"),
        "link_threshold": chosen.threshold,
        "training_estimated_precision": facts.get("estimated_precision"),
        "training_estimated_recall": facts.get("estimated_recall"),
        "training_contacts": profile.get("contacts"),
        "training_facts": json.dumps(facts, sort_keys=True) if facts else None,
    }
    return pa.Table.from_pylist([row], schema=SCHEMA)
