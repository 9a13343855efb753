"""The inbox side of data contract v1, as data: entities, columns, types, keys.

One definition serves the loader (parsing and per-row checks), the demo data
generator (what to write), the dbt sources (what raw tables exist) and the docs.
"""

from __future__ import annotations

from dataclasses import dataclass

# Logical types and the DuckDB type each one is stored as in the raw store.
RAW_TYPES = {
    "string": "VARCHAR",
    "timestamp": "TIMESTAMP",  # always UTC; offsets in the input are converted
    "date": "DATE",
    "money": "DECIMAL(18,4)",
    "number": "DECIMAL(18,4)",
    "integer": "BIGINT",
    "boolean": "BOOLEAN",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"
    required: bool = False
    # Allowed values after normalisation (lower-case, trimmed, synonyms mapped).
    allowed: tuple[str, ...] | None = None
    # Inclusive numeric range for integer/number columns.
    minimum: float | None = None
    maximum: float | None = None
    pii: bool = False

    @property
    def raw_type(self) -> str:
        return RAW_TYPES[self.type]


@dataclass(frozen=True)
class Entity:
    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    core: bool = False  # needed for the core marts

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


# Synonyms accepted for enumerated values; the stored value is the right side.
SYNONYMS = {
    "status": {
        "complete": "completed",
        "done": "completed",
        "paid": "completed",
        "canceled": "cancelled",
        "cancel": "cancelled",
        "refunded": "returned",
        "return": "returned",
    },
    "event": {"send": "sent", "open": "opened", "click": "clicked", "convert": "converted"},
}

ORDER_STATUSES = ("completed", "cancelled", "returned")
OVERRIDE_DECISIONS = ("same", "never", "revoke")
TOUCH_EVENTS = ("sent", "opened", "clicked", "converted")
INTERACTION_CHANNELS = ("phone", "email", "web", "chat", "fax", "store")
INTERACTION_TYPES = ("complaint", "inquiry", "repair", "feedback")

C = Column
ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        Entity(
            "contacts",
            key=("source_system", "source_contact_id"),
            core=True,
            columns=(
                C("source_system", required=True),
                C("source_contact_id", required=True),
                C("first_name", pii=True),
                C("last_name", pii=True),
                C("email", pii=True),
                C("phone", pii=True),
                C("birth_date", "date", pii=True),
                C("address_line1", pii=True),
                C("address_line2", pii=True),
                C("city"),
                C("postal_code", pii=True),
                C("region"),
                C("country"),
                C("loyalty_id", pii=True),
                C("marketing_opt_in", "boolean"),
                C("created_at", "timestamp"),
                C("updated_at", "timestamp"),
            ),
        ),
        Entity(
            "orders",
            key=("order_id",),
            core=True,
            columns=(
                C("order_id", required=True),
                C("source_system"),
                C("source_contact_id"),
                C("ordered_at", "timestamp", required=True),
                C("order_total", "money", required=True),
                C("currency"),
                C("status", allowed=ORDER_STATUSES),
                C("channel"),
                C("store_id"),
            ),
        ),
        Entity(
            "order_lines",
            key=("order_id", "line_number"),
            columns=(
                C("order_id", required=True),
                C("line_number", "integer", required=True, minimum=1),
                C("product_id", required=True),
                C("quantity", "number", required=True),
                C("unit_price", "money", required=True),
                C("discount", "money"),
            ),
        ),
        Entity(
            "products",
            key=("product_id",),
            columns=(
                C("product_id", required=True),
                C("name"),
                C("category"),
                C("brand"),
                C("unit_cost", "money"),
            ),
        ),
        Entity(
            "stores",
            key=("store_id",),
            columns=(
                C("store_id", required=True),
                C("name"),
                C("city"),
                C("region"),
                C("country"),
            ),
        ),
        Entity(
            "interactions",
            key=("interaction_id",),
            columns=(
                C("interaction_id", required=True),
                C("source_system", required=True),
                C("source_contact_id"),
                C("channel", allowed=INTERACTION_CHANNELS),
                C("type", allowed=INTERACTION_TYPES),
                C("opened_at", "timestamp", required=True),
                C("resolved_at", "timestamp"),
                # The first answer to the customer (an extension of contract v1).
                C("first_response_at", "timestamp"),
                C("status"),
                C("satisfaction_score", "integer", minimum=1, maximum=5),
                C("order_id"),
                C("handling_cost", "money"),
            ),
        ),
        Entity(
            # Manual identity decisions (an extension of contract v1): 'same' links
            # two source records, 'never' keeps them apart, 'revoke' withdraws an
            # earlier decision for the pair. The latest file's decision wins.
            "identity_overrides",
            key=(
                "source_system_a",
                "source_contact_id_a",
                "source_system_b",
                "source_contact_id_b",
            ),
            columns=(
                C("source_system_a", required=True),
                C("source_contact_id_a", required=True),
                C("source_system_b", required=True),
                C("source_contact_id_b", required=True),
                C("decision", required=True, allowed=OVERRIDE_DECISIONS),
                C("reason"),
                C("decided_by"),
                C("decided_at", "timestamp"),
            ),
        ),
        Entity(
            "campaigns",
            key=("campaign_id",),
            columns=(
                C("campaign_id", required=True),
                C("name"),
                C("channel"),
                C("started_at", "timestamp"),
                C("ended_at", "timestamp"),
                C("cost", "money"),
            ),
        ),
        Entity(
            "campaign_touches",
            key=("campaign_id", "source_system", "source_contact_id", "touched_at", "event"),
            columns=(
                C("campaign_id", required=True),
                C("source_system", required=True),
                C("source_contact_id", required=True),
                C("touched_at", "timestamp", required=True),
                C("event", required=True, allowed=TOUCH_EVENTS),
                C("is_control", "boolean"),
            ),
        ),
    )
}

# Columns every raw table carries besides the contract columns.
LINEAGE_COLUMNS = {
    "_load_id": "VARCHAR",  # the load that brought the row (one per file)
    "_file_name": "VARCHAR",  # path of the file relative to the inbox
    "_row_number": "BIGINT",  # CSV: physical line (header = 1); JSONL: line; Parquet: row (1-based)
    "_row_hash": "VARCHAR",  # hash of the contract values: exact repeats share it
    "_extra": "VARCHAR",  # JSON object of columns the contract does not know, or null
    "_loaded_at": "TIMESTAMP",
}

# .xlsx: an extension of contract v1 (the first sheet, or the one import settings name)
FILE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".jsonl", ".jsonl.gz", ".xlsx")
