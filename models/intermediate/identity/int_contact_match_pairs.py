"""Probabilistic identity matching: pairs of contacts scored by the Splink model.

Grain: one row per scored pair (contact_key_l < contact_key_r) with
match_probability >= var('identity_min_pair_probability'): the pair's
match_probability and match_weight, its evidence (JSON: the level each
comparison reached, e.g. {"first_name":"nickname","birth_date":"exact",...})
and blocking_rule (the candidate rule that found it).

Scored this refresh: only pairs with at least one new contact
(int_contacts_scope.is_new); pairs of two unchanged contacts are carried over
from the previous restricted output by int_contact_match_pairs_all. A pair's score
depends only on its two records and the model file (term frequencies are
frozen in it), so this equals a full re-link (var identity_full_relink) for
those pairs. The model: the one int_identity_model chose for this build (the
warehouse's own, trained on its contacts; a pinned CRM_IDENTITY_MODEL; or the
shipped demo model for data too small to train on).
"""

from crm.identity.matching import DEFAULT_MIN_PROBABILITY, PAIR_SCHEMA, predict_pairs


def _flag(value) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


def model(dbt, session):
    dbt.config(materialized="table")
    full = _flag(dbt.config.get("identity_full_relink", False))
    min_probability = dbt.config.get("identity_min_pair_probability", None)
    min_probability = DEFAULT_MIN_PROBABILITY if min_probability is None else float(min_probability)
    # the model int_identity_model chose (and perhaps trained) for this build
    model_path = dbt.ref("int_identity_model").project("model_path").fetchone()[0]
    contacts = dbt.ref("int_contacts_normalized")
    scope = dbt.ref("int_contacts_scope")
    pairs = predict_pairs(
        session,
        contacts,
        scope,
        model_path=model_path,
        full=full,
        min_probability=min_probability,
        blocks=dbt.ref("int_contact_blocks"),
    )
    return pairs.cast(PAIR_SCHEMA)
