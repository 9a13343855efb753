"""Service interactions, marketing campaigns and campaign touches."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from . import _arrow as A
from . import vocab
from ._context import Context
from ._random import combine
from .contacts import Records
from .params import SYSTEMS
from .persons import Persons
from .sales import Orders

INTERACTION_CHANNELS = ["phone", "email", "web", "chat", "fax", "store"]
INTERACTION_TYPES = ["complaint", "inquiry", "repair", "feedback"]
# Channel probabilities by the system of the contact record (rows follow SYSTEMS).
CHANNEL_BY_SYSTEM = np.array(
    [
        [0.10, 0.40, 0.25, 0.25, 0.00, 0.00],  # web
        [0.30, 0.10, 0.00, 0.00, 0.00, 0.60],  # store
        [0.80, 0.15, 0.00, 0.00, 0.05, 0.00],  # call_center
        [0.60, 0.10, 0.00, 0.00, 0.00, 0.30],  # dealer
        [0.40, 0.40, 0.20, 0.00, 0.00, 0.00],  # loyalty
    ]
)
# Hours to resolve (mean) and handling cost range in cents, by channel.
RESOLVE_HOURS = np.array([6.0, 40.0, 30.0, 1.0, 60.0, 2.0])
# Hours to the first answer (mean), by channel: the phone, chat and store
# answer at once, written channels within a working day or two.
FIRST_RESPONSE_HOURS = np.array([0.05, 10.0, 8.0, 0.02, 20.0, 0.1])
COST_RANGE = np.array([[400, 1200], [300, 800], [100, 400], [200, 600], [600, 1000], [500, 1500]])
SATISFACTION = {
    "complaint": [0.35, 0.30, 0.20, 0.10, 0.05],
    "other": [0.03, 0.07, 0.20, 0.35, 0.35],
}
INTERACTION_BIT = 1 << 22
CAMPAIGN_CHANNELS = ["email", "email", "direct_mail", "email", "sms"]
COST_PER_CONTACT = {"email": 0.02, "sms": 0.08, "direct_mail": 0.85}  # EUR
EVENTS = ["sent", "opened", "clicked", "converted"]


def make_interactions(
    ctx: Context, persons: Persons, records: Records, orders: Orders, counters: dict[str, int]
) -> pa.Table:
    """Service contacts of about 20% of buying persons, often about one of their orders."""
    rng, cfg = ctx.rng, ctx.hp["interactions"]
    buyers = np.flatnonzero(persons.buyer)
    pid = persons.pid[buyers]
    has = rng.uniform("i.has", pid) < cfg["buyer_share"]
    who = buyers[has]
    count = 1 + rng.choice("i.count", persons.pid[who], cfg["per_person"])
    person = np.repeat(who, count)
    j = np.arange(len(person)) - np.repeat(np.cumsum(count) - count, count)
    key = combine(persons.pid[person], j + INTERACTION_BIT)
    n = len(key)

    rec_start = np.searchsorted(records.person, np.arange(persons.n))
    rec_count = np.bincount(records.person, minlength=persons.n)
    record = rec_start[person] + np.floor(rng.uniform("i.rec", key) * rec_count[person]).astype(
        np.int64
    )
    system = records.system[record]
    cdf = np.cumsum(CHANNEL_BY_SYSTEM, axis=1)
    cdf[:, -1] = 1.0
    channel = np.minimum(
        rng.choice_rows("i.channel", key, cdf[system]), len(INTERACTION_CHANNELS) - 1
    )
    itype = rng.choice("i.type", key, [0.20, 0.45, 0.15, 0.20])

    # About one of the person's orders (real orders are person-major in the chunk).
    real = np.flatnonzero(orders.person >= 0)
    o_start = np.searchsorted(orders.person[real], np.arange(persons.n))
    o_count = np.bincount(orders.person[real], minlength=persons.n)
    nth = np.floor(rng.uniform("i.order", key) * o_count[person]).astype(np.int64)
    order = real[o_start[person] + nth]
    opened = orders.seconds[order] + np.floor(rng.exponential("i.delay", key, 4.0 * 86_400)).astype(
        np.int64
    )
    opened = np.minimum(opened, ctx.t_end - 3_600)
    with_order = rng.uniform("i.with_order", key) < np.where(itype == 3, 0.3, cfg["with_order"])

    resolved = rng.uniform("i.resolved", key) < cfg["resolved"]
    resolve_secs = np.floor(
        rng.exponential("i.resolve", key, RESOLVE_HOURS[channel] * 3600.0)
    ).astype(np.int64)
    resolved_at = opened + 300 + resolve_secs
    # First answer: never after the resolution; some open cases got none yet,
    # and some sources do not record it.
    response_secs = 30 + np.floor(
        rng.exponential("i.response", key, FIRST_RESPONSE_HOURS[channel] * 3600.0)
    ).astype(np.int64)
    first_response_at = np.where(
        resolved, np.minimum(opened + response_secs, resolved_at), opened + response_secs
    )
    no_response = (~resolved & (rng.uniform("i.responded", key) < 0.3)) | (
        rng.uniform("i.response_present", key) >= cfg["first_response_present"]
    )
    status = np.where(resolved, 0, np.where(rng.uniform("i.escalated", key) < 0.3, 2, 1))
    complaint = itype == 0
    score_u = rng.uniform("i.score", key)
    score = np.where(
        complaint,
        np.searchsorted(np.cumsum(SATISFACTION["complaint"]), score_u, side="right"),
        np.searchsorted(np.cumsum(SATISFACTION["other"]), score_u, side="right"),
    )
    score = np.minimum(score, 4) + 1
    score_missing = ~resolved | (rng.uniform("i.score_present", key) >= cfg["satisfaction_present"])
    lo, hi = COST_RANGE[channel, 0], COST_RANGE[channel, 1]
    cost = lo + np.floor(rng.uniform("i.cost", key) * (hi - lo)).astype(np.int64)
    cost = cost + np.where(
        itype == 2, 2_000 + np.floor(rng.uniform("i.repair", key) * 6_000).astype(np.int64), 0
    )
    unknown = rng.uniform("i.unknown", key) < cfg["unknown_contact"]

    first_no = counters.get("interactions", 0)
    counters["interactions"] = first_no + n
    return pa.table(
        {
            "interaction_id": A.join(
                "INT", A.lpad_int(first_no + 1 + np.arange(n), ctx.order_width)
            ),
            "source_system": pa.array(SYSTEMS, pa.string()).take(system),
            "source_contact_id": A.null_where(records.source_contact_id.take(record), unknown),
            "channel": pa.array(INTERACTION_CHANNELS, pa.string()).take(channel),
            "type": pa.array(INTERACTION_TYPES, pa.string()).take(itype),
            "opened_at": A.timestamps(opened),
            "resolved_at": A.timestamps(resolved_at, ~resolved),
            "first_response_at": A.timestamps(first_response_at, no_response),
            "status": pa.array(["closed", "open", "escalated"], pa.string()).take(status),
            "satisfaction_score": pa.array(score.astype(np.int64), mask=score_missing),
            "order_id": A.null_where(orders.order_id.take(order), ~with_order),
            "handling_cost": A.money(cost),
        }
    )


@dataclass
class Campaigns:
    channel: list[str]
    start: np.ndarray  # epoch seconds
    end: np.ndarray
    table: pa.Table


def make_campaigns(ctx: Context) -> Campaigns:
    """About ten campaigns spread over the window; cost scales with the expected audience."""
    rng, cfg = ctx.rng, ctx.hp["campaigns"]
    n = int(cfg["count"])
    idx = np.arange(n)
    centre = (idx + 0.5) / n * ctx.n_days + (
        rng.uniform("c.jitter", idx) - 0.5
    ) * ctx.n_days / n * 0.5
    start_day = np.clip(np.floor(centre), 0, ctx.n_days - 2).astype(np.int64)
    duration = 14 + rng.integers("c.duration", idx, 0, 15)
    start = ctx.t_start + start_day * 86_400 + 8 * 3_600
    end = np.minimum(start + duration * 86_400, ctx.t_end - 1)
    channels = [CAMPAIGN_CHANNELS[i % len(CAMPAIGN_CHANNELS)] for i in range(n)]
    names = []
    for i in range(n):  # a handful of campaigns
        day = ctx.start + dt.timedelta(days=int(start_day[i]))
        label = {"email": "", "sms": " SMS", "direct_mail": " Mailing"}[channels[i]]
        names.append(f"{vocab.SEASON_NAMES[day.month]} {day.year}{label}")
    # Expected audience: records per person x opted-in x audience share.
    expected = ctx.customers * 1.7 * 0.35 * cfg["audience"]
    per_contact = np.array([COST_PER_CONTACT[c] for c in channels])
    fixed = 1_500 + np.floor(rng.uniform("c.fixed", idx) * 3_500)
    cost = np.round((fixed + per_contact * expected) * 100).astype(np.int64)
    table = pa.table(
        {
            "campaign_id": A.join("CMP", A.lpad_int(idx + 1, 2)),
            "name": pa.array(names, pa.string()),
            "channel": pa.array(channels, pa.string()),
            "started_at": A.timestamps(start),
            "ended_at": A.timestamps(end),
            "cost": A.money(cost),
        }
    )
    return Campaigns(channel=channels, start=start, end=end, table=table)


def make_touches(ctx: Context, records: Records, campaigns: Campaigns) -> pa.Table:
    """Campaign funnel events per source record; hold-out members get 'sent' rows marked control.

    For control members, 'sent' means "selected, then held out": nothing was
    sent, so they never open or click, but they can convert (the baseline).
    """
    rng, cfg = ctx.rng, ctx.hp["campaigns"]
    tbl = records.table
    opted_in = tbl.column("marketing_opt_in").fill_null(False).to_numpy(zero_copy_only=False)
    has_email = tbl.column("email").is_valid().to_numpy(zero_copy_only=False)
    has_phone = tbl.column("phone").is_valid().to_numpy(zero_copy_only=False)
    reachable = {"email": has_email, "sms": has_phone, "direct_mail": np.ones(records.n, bool)}
    parts = []
    for c, channel in enumerate(campaigns.channel):  # ~10 campaigns
        eligible = opted_in & reachable[channel] & (records.created < campaigns.start[c])
        member = eligible & (rng.uniform(f"t.{c}.member", records.key) < cfg["audience"])
        rec = np.flatnonzero(member)
        key = records.key[rec]
        control = rng.uniform(f"t.{c}.control", key) < cfg["control"]
        sent = campaigns.start[c] + np.floor(rng.uniform(f"t.{c}.sent", key) * 86_400).astype(
            np.int64
        )
        if channel == "email":
            opened = ~control & (rng.uniform(f"t.{c}.open", key) < cfg["open"])
            clicked = opened & (rng.uniform(f"t.{c}.click", key) < cfg["click_email"])
        elif channel == "sms":
            opened = np.zeros(len(rec), bool)
            clicked = ~control & (rng.uniform(f"t.{c}.click", key) < cfg["click_sms"])
        else:
            opened = clicked = np.zeros(len(rec), bool)
        converted = (clicked & (rng.uniform(f"t.{c}.conv", key) < cfg["convert_click"])) | (
            rng.uniform(f"t.{c}.base", key) < cfg["convert_base"]
        )
        open_at = (
            sent
            + 60
            + np.floor(rng.exponential(f"t.{c}.open_at", key, 12 * 3_600)).astype(np.int64)
        )
        click_at = (
            np.where(opened, open_at, sent)
            + 30
            + np.floor(rng.exponential(f"t.{c}.click_at", key, 3_600)).astype(np.int64)
        )
        window = campaigns.end[c] + 7 * 86_400 - sent
        conv_at = (
            sent + 120 + np.floor(rng.uniform(f"t.{c}.conv_at", key) * window).astype(np.int64)
        )
        conv_at = np.where(clicked, np.maximum(conv_at, click_at + 60), conv_at)
        for e, (mask, at) in enumerate(
            [
                (np.ones(len(rec), bool), sent),
                (opened, open_at),
                (clicked, click_at),
                (converted, conv_at),
            ]
        ):
            sel = np.flatnonzero(mask)
            parts.append(
                (rec[sel], np.full(len(sel), c), np.full(len(sel), e), at[sel], control[sel])
            )
    rec = np.concatenate([p[0] for p in parts])
    camp = np.concatenate([p[1] for p in parts])
    event = np.concatenate([p[2] for p in parts])
    at = np.concatenate([p[3] for p in parts])
    control = np.concatenate([p[4] for p in parts])
    order = np.lexsort((event, camp, rec))
    rec, camp, event, at, control = rec[order], camp[order], event[order], at[order], control[order]
    at = np.minimum(at, ctx.t_end - 1)
    return pa.table(
        {
            "campaign_id": campaigns.table.column("campaign_id").combine_chunks().take(camp),
            "source_system": pa.array(SYSTEMS, pa.string()).take(records.system[rec]),
            "source_contact_id": records.source_contact_id.take(rec),
            "touched_at": A.timestamps(at),
            "event": pa.array(EVENTS, pa.string()).take(event),
            "is_control": pa.array(control),
        }
    )
