"""Orders and order lines from a buy-till-you-die process (BG/NBD + Gamma-Gamma).

Per buying person: the first purchase at the acquisition date; repeat
purchases as a Poisson process at rate lambda, thinned by a month-of-year
weight (December peak); after every purchase the person drops out with
probability p, i.e. they make at most K ~ Geometric(p) repeat purchases.
Vectorised: draw the number of candidate events in the person's window, place
them uniformly, thin them, sort, and keep the first K.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from . import _arrow as A
from ._context import Context
from ._random import combine
from .contacts import Records
from .params import SYSTEMS
from .persons import Persons

# Channel of an order placed through a contact of each system, and the opening
# hours (UTC, roughly local) orders of that channel fall in.
SYSTEM_CHANNEL = {
    "web": "web",
    "store": "store",
    "call_center": "phone",
    "dealer": "dealer",
    "loyalty": "store",
}
CHANNEL_HOURS = {
    "web": (6.0, 24.0),
    "store": (8.0, 19.0),
    "phone": (7.0, 19.0),
    "dealer": (8.0, 17.0),
}
CHANNELS = ["web", "store", "phone", "dealer"]
STATUSES = ["completed", "returned", "cancelled"]
STATUS_VARIANTS = {
    "completed": ["Completed", "COMPLETED", "complete", "paid"],
    "returned": ["Returned", "refunded", "RETURNED"],
    "cancelled": ["canceled", "Cancelled", "CANCELLED"],
}
ANON_BIT = 1 << 23  # sub-id offset of anonymous orders spawned next to a person's order


@dataclass
class Orders:
    n: int
    person: np.ndarray  # local person index, -1 for anonymous orders
    k: np.ndarray  # order number within the person (0 = first purchase)
    seconds: np.ndarray  # ordered_at, epoch seconds
    order_id: pa.Array
    record: np.ndarray  # index into the chunk's records, -1 for anonymous
    status: np.ndarray  # index into STATUSES
    total: np.ndarray  # cents
    table: pa.Table
    lines: pa.Table


@dataclass
class PersonStats:
    """Per person of the chunk: what the truth file reports about their orders."""

    n_orders: np.ndarray
    n_completed: np.ndarray
    first_order: np.ndarray  # epoch seconds or -1
    last_order: np.ndarray
    revenue: np.ndarray  # cents, completed orders
    alive_at_end: np.ndarray


def purchase_times(
    ctx: Context, persons: Persons
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(person, k, day, alive) of every purchase: person-major, chronological within a person."""
    rng = ctx.rng
    buyers = np.flatnonzero(persons.buyer)
    pid = persons.pid[buyers]
    t0 = persons.acquired[buyers]
    window = ctx.n_days - t0
    mu = persons.lam[buyers] * ctx.max_day_weight * window
    n_cand = np.minimum(rng.poisson("o.n", pid, mu), 20_000)
    owner = np.repeat(np.arange(len(buyers)), n_cand)
    j = np.arange(len(owner)) - np.repeat(np.cumsum(n_cand) - n_cand, n_cand)
    ckey = combine(pid[owner], j)
    day = t0[owner] + rng.uniform("o.t", ckey) * window[owner]
    weight = ctx.day_weight[np.minimum(day.astype(np.int64), ctx.n_days - 1)]
    keep = rng.uniform("o.thin", ckey) * ctx.max_day_weight < weight
    owner, day = owner[keep], day[keep]
    order = np.lexsort((day, owner))
    owner, day = owner[order], day[order]
    accepted = np.bincount(owner, minlength=len(buyers))
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(accepted) - accepted, accepted)
    k_max = persons.k_max[buyers]
    repeat = rank < k_max[owner]
    alive = accepted < k_max  # dropout not reached within the window

    person = np.concatenate([buyers, buyers[owner[repeat]]])
    k = np.concatenate([np.zeros(len(buyers), np.int64), rank[repeat] + 1])
    days = np.concatenate([t0, day[repeat]])
    order = np.lexsort((k, person))
    alive_all = np.zeros(persons.n, dtype=bool)
    alive_all[buyers] = alive
    return person[order], k[order], days[order], alive_all


def make_orders(
    ctx: Context, persons: Persons, records: Records, counters: dict[str, int]
) -> tuple[Orders, PersonStats]:
    rng, hp = ctx.rng, ctx.hp
    person, k, days, alive = purchase_times(ctx, persons)
    n_real = len(person)
    okey = combine(persons.pid[person], k)

    # Anonymous walk-in sales, each placed right after a person's order.
    share = hp["anonymous_order_share"]
    spawn = rng.uniform("o.anon", okey) < share / (1.0 - share)
    src = np.flatnonzero(spawn)
    akey = combine(persons.pid[person[src]], k[src] + ANON_BIT)
    anon_days = np.clip(
        days[src] + rng.uniform("o.anon_t", akey) * 20.0 - 10.0, 0.0, ctx.n_days - 1e-6
    )
    position = np.concatenate([2 * np.arange(n_real), 2 * src + 1])
    order = np.argsort(position, kind="stable")
    is_anon = np.concatenate([np.zeros(n_real, bool), np.ones(len(src), bool)])[order]
    key = np.concatenate([okey, akey])[order]
    o_person = np.concatenate([person, np.full(len(src), -1)])[order]
    o_k = np.concatenate([k, k[src] + ANON_BIT])[order]
    o_days = np.concatenate([days, anon_days])[order]
    n = len(key)

    # Which of the person's records placed the order -> system, channel, store.
    rec_start = np.searchsorted(records.person, np.arange(persons.n))
    rec_count = np.bincount(records.person, minlength=persons.n)
    safe_person = np.maximum(o_person, 0)
    record = rec_start[safe_person] + np.floor(
        rng.uniform("o.rec", key) * rec_count[safe_person]
    ).astype(np.int64)
    record = np.where(is_anon, -1, record)
    system = np.where(is_anon, SYSTEMS.index("store"), records.system[np.maximum(record, 0)])
    channel_of_system = np.array([CHANNELS.index(SYSTEM_CHANNEL[s]) for s in SYSTEMS])
    channel = channel_of_system[system]
    stores = ctx.stores
    home = persons.home_store[safe_person]
    at_home = ~is_anon & (rng.uniform("o.home", key) < hp["home_store"])
    store = np.where(at_home, home, stores.random_store(ctx, "o.store", key))
    store_null = channel != CHANNELS.index("store")

    # Time of day by channel (opening hours for stores, dealers, the call centre).
    opens = np.array([CHANNEL_HOURS[c][0] for c in CHANNELS])[channel]
    closes = np.array([CHANNEL_HOURS[c][1] for c in CHANNELS])[channel]
    whole = np.floor(o_days)
    hours = opens + (o_days - whole) * (closes - opens)
    seconds = ctx.t_start + (whole * 86_400 + np.floor(hours * 3600)).astype(np.int64)

    status = rng.choice("o.status", key, [hp["status"][s] for s in STATUSES])
    status_text = pa.array(STATUSES, pa.string()).take(status)
    variant = rng.uniform("o.status_variant", key) < hp["status_variant"]
    variant_pick = rng.uniform("o.status_variant_pick", key)
    for s_idx, s in enumerate(STATUSES):
        mask = variant & (status == s_idx)
        options = pa.array(STATUS_VARIANTS[s], pa.string())
        choice = np.floor(variant_pick[mask] * len(options)).astype(np.int64)
        status_text = A.replace_at(status_text, mask, options.take(choice))
    status_missing = (
        (status == 0) & ~variant & (rng.uniform("o.status_missing", key) < hp["status_missing"])
    )
    status_text = A.null_where(status_text, status_missing)
    currency = A.null_where(
        A.pick(np.zeros(n, np.int64), ["EUR"]),
        rng.uniform("o.currency", key) >= hp["currency_present"],
    )

    # Spend: Gamma-Gamma around the person's mean; anonymous buyers draw a nu.
    gg = hp["gamma_gamma"]
    nu = np.where(is_anon, 0.0, persons.nu[safe_person])
    anon_nu = rng.gamma("o.anon_nu", key, gg["q"], 1.0 / gg["gamma"])
    nu = np.where(is_anon, anon_nu, nu)
    value = np.clip(rng.gamma("o.value", key, gg["p"], 1.0 / nu), 1.0, 50_000.0)

    lines, total = _make_lines(ctx, key, value)

    first_no = counters.get("orders", 0)
    counters["orders"] = first_no + n
    order_id = A.join("O", A.lpad_int(first_no + 1 + np.arange(n), ctx.order_width))
    contact_id = A.null_where(records.source_contact_id.take(np.maximum(record, 0)), is_anon)
    line_order = lines.pop("order")
    lines = {"order_id": order_id.take(line_order), **lines}

    table = pa.table(
        {
            "order_id": order_id,
            "source_system": pa.array(SYSTEMS, pa.string()).take(system),
            "source_contact_id": contact_id,
            "ordered_at": A.timestamps(seconds),
            "order_total": A.money(total),
            "currency": currency,
            "status": status_text,
            "channel": pa.array(CHANNELS, pa.string()).take(channel),
            "store_id": A.null_where(stores.store_id.take(store), store_null),
        }
    )
    orders = Orders(
        n=n,
        person=o_person,
        k=o_k,
        seconds=seconds,
        order_id=order_id,
        record=record,
        status=status,
        total=total,
        table=table,
        lines=pa.table(lines),
    )
    return orders, _person_stats(persons.n, orders, alive)


def _make_lines(
    ctx: Context, key: np.ndarray, value: np.ndarray
) -> tuple[dict[str, pa.Array], np.ndarray]:
    """1-4 lines per order whose products roughly add up to the drawn order value.

    The order value is split over the lines; each line takes a product priced
    near its share (divided by the quantity). The order total is then the
    exact sum of the lines, so totals and lines always agree.
    """
    rng, hp, products = ctx.rng, ctx.hp, ctx.products
    n = len(key)
    n_lines = 1 + rng.choice("l.n", key, hp["lines_per_order"])
    order = np.repeat(np.arange(n), n_lines)
    starts = np.cumsum(n_lines) - n_lines
    line_no = np.arange(len(order)) - starts[order] + 1
    lkey = key[order] * np.uint64(8) + line_no.astype(np.uint64)  # wraps: fine for hashing
    share = 0.5 + rng.uniform("l.share", lkey)
    share /= np.add.reduceat(share, starts)[order]
    quantity = 1 + rng.choice("l.qty", lkey, hp["quantity"])
    target = value[order] * share / quantity * 100.0
    sorted_price = products.price[products.by_price]
    # Lines of one order step through neighbouring price ranks, so they rarely
    # repeat a product.
    offset = 2 * line_no - 5 - rng.integers("l.jitter", lkey, 0, 2)
    pos = np.searchsorted(sorted_price, target) + offset
    product = products.by_price[np.clip(pos, 0, len(sorted_price) - 1)]
    unit = products.price[product]
    gross = unit * quantity
    discounted = rng.uniform("l.disc", lkey) < hp["line_discount"]
    discount = np.where(
        discounted, np.round(gross * (0.05 + 0.20 * rng.uniform("l.disc_pct", lkey))), 0
    ).astype(np.int64)
    total = np.add.reduceat(gross - discount, starts)
    lines = {
        "order": order,
        "line_number": pa.array(line_no.astype(np.int64)),
        "product_id": products.product_id.take(product),
        "quantity": pa.array(quantity.astype(np.int64)),
        "unit_price": A.money(unit),
        "discount": A.money(discount, ~discounted),
    }
    return lines, total


def _person_stats(n_persons: int, orders: Orders, alive: np.ndarray) -> PersonStats:
    real = orders.person >= 0
    person = orders.person[real]
    completed = orders.status[real] == 0
    n_orders = np.bincount(person, minlength=n_persons)
    n_completed = np.bincount(person[completed], minlength=n_persons)
    revenue = np.bincount(
        person[completed], weights=orders.total[real][completed], minlength=n_persons
    )
    first = np.full(n_persons, np.iinfo(np.int64).max)
    last = np.full(n_persons, -1, dtype=np.int64)
    np.minimum.at(first, person, orders.seconds[real])
    np.maximum.at(last, person, orders.seconds[real])
    first = np.where(n_orders > 0, first, -1)
    return PersonStats(
        n_orders=n_orders,
        n_completed=n_completed,
        first_order=first,
        last_order=last,
        revenue=np.round(revenue).astype(np.int64),
        alive_at_end=alive,
    )
