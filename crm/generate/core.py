"""``generate()``: the demo inbox and its ground truth, chunk by chunk."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from crm.contract import ENTITIES
from crm.privacy import private_umask

from . import _arrow as A
from ._context import Context
from .contacts import make_records
from .engagement import make_campaigns, make_interactions, make_touches
from .output import EXTENSIONS, InjectedLog, Sink
from .params import DEFAULT_HYPERPARAMETERS, SYSTEMS, merged, resolve_noise
from .persons import Persons, make_persons
from .sales import make_orders

# Every contract entity but manual identity decisions, which are operational
# input rather than exports to simulate.
GENERATED_ENTITIES = tuple(name for name in ENTITIES if name != "identity_overrides")

FILE_FORMATS = ("mixed", "csv", "parquet", "jsonl")
# In "mixed", each contact source exports its own way, as real systems do.
MIXED_CONTACTS = {
    "web": "csv",
    "store": "parquet",
    "call_center": "jsonl",
    "dealer": "csv.gz",
    "loyalty": "jsonl.gz",
}
MIXED_OTHERS = {
    "orders": "parquet",
    "order_lines": "parquet",
    "products": "csv",
    "stores": "csv",
    "interactions": "csv",
    "campaigns": "csv",
    "campaign_touches": "csv",
}
INJECTABLE = ("orders", "contacts")


def plan_files(file_format: str) -> dict[tuple[str, str], str]:
    """(entity, file name without extension) -> format, for every file a run writes."""
    if file_format not in FILE_FORMATS:
        raise ValueError(f"file_format must be one of {FILE_FORMATS}, got {file_format!r}")
    plan = {}
    for system in SYSTEMS:
        plan[("contacts", f"contacts_{system}")] = (
            MIXED_CONTACTS[system] if file_format == "mixed" else file_format
        )
    for entity, fmt in MIXED_OTHERS.items():
        plan[(entity, entity)] = fmt if file_format == "mixed" else file_format
    assert {e for e, _ in plan} == set(GENERATED_ENTITIES), "every exported entity gets a file"
    return plan


def generate(
    inbox: Path,
    truth: Path,
    customers: int = 1000,
    seed: int = 42,
    start: dt.date = dt.date(2023, 1, 1),
    end: dt.date = dt.date(2025, 12, 31),
    file_format: str = "mixed",
    bad_row_rate: float = 0.0,
    chunk_size: int = 200_000,
    progress: Callable[[str], None] | None = None,
    *,
    noise: dict[str, Any] | None = None,
    noise_profile: str = "default",
    hyperparameters: dict[str, Any] | None = None,
    overwrite: bool = False,
    bad_optional_values: bool = False,
) -> dict[str, Any]:
    """Write a synthetic CRM inbox (every contract entity) and its ground truth.

    ``customers`` true persons are generated in chunks of ``chunk_size`` and
    streamed to ``<inbox>/<entity>/<file>``; the data does not depend on the
    chunk size, and the same arguments give byte-identical files.
    ``noise_profile`` picks a preset of ``NOISE_PROFILES`` ("hard": OCR errors,
    phonetic spellings, initials, birth-date slips, sources without e-mail or
    phone, ...); ``noise`` and ``hyperparameters`` then override single entries
    of the resulting noise / ``DEFAULT_HYPERPARAMETERS``. Existing target files
    are an error unless ``overwrite`` (the inbox contract says dropped files are
    immutable).
    ``bad_optional_values`` adds, with ``bad_row_rate``, unparseable optional
    values to contacts text files (kind ``bad_optional``: the row must load with
    the value nulled and the problem recorded).
    Returns a summary: counts per entity, rows per file, injected rows.
    """
    if customers < 1:
        raise ValueError("customers must be at least 1")
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    if not start < end:
        raise ValueError("start must be before end")
    if not 0.0 <= bad_row_rate <= 0.5:
        raise ValueError("bad_row_rate must be between 0 and 0.5")
    noise_p = resolve_noise(noise_profile, noise)
    hp = merged(DEFAULT_HYPERPARAMETERS, hyperparameters)
    inbox, truth = Path(inbox), Path(truth)
    plan = plan_files(file_format)
    targets = [inbox / e / f"{name}{EXTENSIONS[fmt]}" for (e, name), fmt in plan.items()]
    truth_files = [
        truth / n
        for n in ("persons.parquet", "contacts.parquet", "injected.parquet", "params.json")
    ]
    existing = [str(p) for p in targets + truth_files if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{len(existing)} target file(s) exist, e.g. {existing[0]}; pass overwrite=True"
        )
    say = progress or (lambda _msg: None)
    private_umask()  # contacts and truth hold personal data: owner-only (crm/privacy.py)
    truth.mkdir(parents=True, exist_ok=True)

    ctx = Context(seed, customers, start, end, noise_p, hp)
    injected = InjectedLog(truth / "injected.parquet")
    sinks: dict[tuple[str, str], Sink] = {}
    writers: dict[str, pq.ParquetWriter] = {}
    try:
        for (entity, name), fmt in plan.items():
            rate = bad_row_rate if entity in INJECTABLE else 0.0
            sinks[(entity, name)] = Sink(
                ctx, inbox, entity, name, fmt, rate, injected, bad_optional_values
            )
        sinks[("stores", "stores")].write(pa.table(ctx.stores.table()))
        sinks[("products", "products")].write(pa.table(ctx.products.table()))
        campaigns = make_campaigns(ctx)
        sinks[("campaigns", "campaigns")].write(campaigns.table)

        counters: dict[str, int] = {}
        stats = _Totals()
        n_chunks = -(-customers // chunk_size)
        for c, lo in enumerate(range(0, customers, chunk_size)):
            hi = min(lo + chunk_size, customers)
            persons = make_persons(ctx, lo, hi)
            records = make_records(ctx, persons, counters)
            for s_idx, system in enumerate(SYSTEMS):
                sel = pa.array(records.system == s_idx)
                sinks[("contacts", f"contacts_{system}")].write(records.table.filter(sel))
            orders, person_stats = make_orders(ctx, persons, records, counters)
            sinks[("orders", "orders")].write(orders.table)
            sinks[("order_lines", "order_lines")].write(orders.lines)
            sinks[("interactions", "interactions")].write(
                make_interactions(ctx, persons, records, orders, counters)
            )
            sinks[("campaign_touches", "campaign_touches")].write(
                make_touches(ctx, records, campaigns)
            )
            _write_truth(writers, truth, "contacts.parquet", records.truth)
            _write_truth(
                writers,
                truth,
                "persons.parquet",
                _persons_truth(ctx, persons, records, person_stats),
            )
            stats.add(persons, records, orders, person_stats)
            say(f"chunk {c + 1}/{n_chunks}: persons {lo + 1}-{hi}, {orders.n} orders")
        for sink in sinks.values():
            sink.close()
        for writer in writers.values():
            writer.close()
        injected.close()
    except BaseException:
        for sink in sinks.values():
            sink.abort()
        for writer in writers.values():
            writer.close()
        injected.close()
        raise

    files = {sink.rel: sink.rows_out for sink in sinks.values()}
    counts: dict[str, int] = {"persons": customers}
    for sink in sinks.values():
        counts[sink.entity.name] = counts.get(sink.entity.name, 0) + sink.rows_in
    summary = {
        "seed": seed,
        "customers": customers,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "file_format": file_format,
        "bad_row_rate": bad_row_rate,
        "counts": counts,
        "files": files,
        "injected_rows": injected.rows,
        "facts": stats.facts(customers),
        "inbox": str(inbox),
        "truth": str(truth),
    }
    params = {
        **{k: v for k, v in summary.items() if k not in ("inbox", "truth")},
        "noise_profile": noise_profile,
        "noise": noise_p,
        "hyperparameters": hp,
    }
    (truth / "params.json").write_text(
        json.dumps(params, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    say(f"done: {counts['contacts']} contacts, {counts['orders']} orders, {injected.rows} bad rows")
    return summary


def _write_truth(
    writers: dict[str, pq.ParquetWriter], truth: Path, name: str, table: pa.Table
) -> None:
    if name not in writers:
        writers[name] = pq.ParquetWriter(truth / name, table.schema)
    writers[name].write_table(table)


def _persons_truth(ctx: Context, persons: Persons, records, stats) -> pa.Table:
    """The true person behind the records: clean fields and the process parameters."""
    t = ctx.tables
    n = persons.n
    n_records = np.bincount(records.person, minlength=n)
    systems = np.zeros((n, len(SYSTEMS)), dtype=bool)
    systems[records.person, records.system] = True
    no_orders = stats.n_orders == 0
    addr, old = persons.address, persons.old_address
    return pa.table(
        {
            "person_id": persons.person_id,
            "household_id": A.join("H", A.lpad_int(persons.household + 1, ctx.person_width)),
            "household_size": pa.array(persons.household_size),
            "first_name": t.first.values.take(persons.first_idx),
            "last_name": t.last.values.take(persons.last_idx),
            "gender": pa.array(np.where(persons.gender == 0, "m", "f"), pa.string()),
            "birth_date": A.dates(persons.birth_days),
            "email": persons.email,
            "phone": persons.phone,
            "address_line1": addr.line1,
            "address_line2": addr.line2,
            "city": addr.city,
            "postal_code": addr.postal_code,
            "region": addr.region,
            "country": addr.country,
            "moved": pa.array(persons.moved),
            "old_address_line1": old.line1,
            "old_postal_code": old.postal_code,
            "old_city": old.city,
            "loyalty_id": persons.loyalty_id,
            "n_records": pa.array(n_records),
            "n_systems": pa.array(systems.sum(axis=1)),
            "is_prospect": pa.array(~persons.buyer),
            "acquired_at": A.timestamps(ctx.seconds(persons.acquired)),
            "lambda": pa.array(persons.lam),
            "p": pa.array(persons.p),
            "mean_spend": pa.array(np.round(ctx.hp["gamma_gamma"]["p"] / persons.nu, 2)),
            "n_orders": pa.array(stats.n_orders),
            "n_completed": pa.array(stats.n_completed),
            "first_order_at": A.timestamps(stats.first_order, no_orders),
            "last_order_at": A.timestamps(stats.last_order, no_orders),
            "revenue": A.money(stats.revenue),
            "alive_at_end": A.bools(stats.alive_at_end, ~persons.buyer),
        }
    )


class _Totals:
    """Run-wide facts for params.json (the calibration can be checked there)."""

    def __init__(self) -> None:
        self.buyers = self.orders = self.person_orders = self.anonymous = 0
        self.loyalty = self.moved = self.records = self.households_shared = 0
        self.multi_system = 0

    def add(self, persons: Persons, records, orders, stats) -> None:
        self.buyers += int(persons.buyer.sum())
        self.orders += orders.n
        self.person_orders += int(stats.n_orders.sum())
        self.anonymous += int((orders.person < 0).sum())
        self.loyalty += int(persons.loyalty.sum())
        self.moved += int(persons.moved.sum())
        self.records += records.n
        self.households_shared += int((persons.household_size > 1).sum())
        systems = np.zeros((persons.n, len(SYSTEMS)), dtype=bool)
        systems[records.person, records.system] = True
        self.multi_system += int((systems.sum(axis=1) > 1).sum())

    def facts(self, customers: int) -> dict[str, float | int]:
        return {
            "buyers": self.buyers,
            "prospects": customers - self.buyers,
            "orders_per_buyer": round(self.person_orders / max(self.buyers, 1), 3),
            "anonymous_orders": self.anonymous,
            "anonymous_share": round(self.anonymous / max(self.orders, 1), 4),
            "loyalty_members": self.loyalty,
            "moved_persons": self.moved,
            "persons_sharing_address": self.households_shared,
            "persons_in_several_systems": self.multi_system,
            "records_per_person": round(self.records / customers, 3),
        }
