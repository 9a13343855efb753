"""Each contact's blocks: how many contacts share each blocking rule's key.

Grain: one row per contact (contact_key) of int_contacts_normalized.
block_size_<i>: the records sharing rule i's key (crm/identity/matching.py
BLOCKING_RULES, in order; 1 where a key column is null); a rule pairs records
only when its block is within the rule's cap. block_signature: one character
per rule, '1' where the rule pairs this contact with others of its key.
int_contacts_scope folds the signature into the fingerprint, so a block that
crosses its cap re-scores its contacts' pairs and an incremental refresh gives
what a full re-link gives; int_contact_match_pairs reads the signature instead
of counting again.
"""

from crm.identity.matching import contact_blocks_relation


def model(dbt, session):
    dbt.config(materialized="table")
    contacts = dbt.ref("int_contacts_normalized")
    # a relation: the engine writes the table, no row passes through Python
    return contact_blocks_relation(session, contacts)
