"""`crm identity report`: one offline HTML page on the identity model and the links it made.

The page shows the model (its file, origin, prior and, for a model trained
here, the training facts of ``training.json``), the match weight of every
comparison level (log2(m/u), as in Splink's match weights chart), the link
threshold with the model's own estimates of precision and recall at it, the
distribution of the scored pairs' match weights, the cluster sizes, the edges
by source, and the links nearest the threshold on either side with both
records side by side: what a person reviewing the matching wants to look at.

It reads the restricted output (read-only) and the model file only; it runs no
Splink. The page is one self-contained file (inline CSS and SVG, no JavaScript,
no external resource), the same bytes for the same inputs, and owner-only
(0600): the records in it are personal data.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from crm.charts import CSS as BASE_CSS
from crm.charts import (
    esc,
    fmt_count,
    nice_step,
    signed_bar,
    svg_num,
    table,
    tick,
    ticks,
    value_text,
    write_atomic,
)

PAIRS_TABLE = "intermediate.int_contact_match_pairs_all"
CONTACTS_TABLE = "intermediate.int_contacts_normalized"
CLUSTERS_TABLE = "intermediate.int_contact_clusters"
EDGES_TABLE = "intermediate.int_identity_edges"
TABLES = (PAIRS_TABLE, CONTACTS_TABLE, CLUSTERS_TABLE, EDGES_TABLE)
MATCH_SOURCES = ("manual", "deterministic", "splink")
REPORT_FILE = "identity_report.html"
DEFAULT_LIMIT = 20
# The weight histogram has at most about this many bins (each a whole number of bits).
MAX_WEIGHT_BINS = 40


class ReportError(RuntimeError):
    """The inputs cannot make a report (a table is missing, a bad argument): say why."""


# -- the model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LevelWeight:
    """One non-null comparison level of the model and its evidence."""

    comparison: str
    label: str
    m: float | None
    u: float | None
    tf_column: str | None = None

    @property
    def weight(self) -> float | None:
        """log2(m/u); None when either is unknown or zero (no finite weight)."""
        if self.m is None or self.u is None or self.m <= 0 or self.u <= 0:
            return None
        return math.log2(self.m / self.u)


def model_levels(model: dict[str, Any]) -> list[LevelWeight]:
    """The non-null levels of every comparison, in the model's order."""
    levels = []
    for comparison in model.get("comparisons") or []:
        name = str(comparison.get("output_column_name") or "")
        for level in comparison.get("comparison_levels") or []:
            if level.get("is_null_level"):
                continue
            levels.append(
                LevelWeight(
                    comparison=name,
                    label=str(level.get("label_for_charts") or level.get("sql_condition")),
                    m=_float_or_none(level.get("m_probability")),
                    u=_float_or_none(level.get("u_probability")),
                    tf_column=level.get("tf_adjustment_column"),
                )
            )
    return levels


def null_labels(model: dict[str, Any]) -> list[tuple[str, str]]:
    """(comparison, label) of the null levels, in the model's order: no evidence (weight 0)."""
    return [
        (str(comparison.get("output_column_name")), str(level.get("label_for_charts")))
        for comparison in model.get("comparisons") or []
        for level in comparison.get("comparison_levels") or []
        if level.get("is_null_level")
    ]


def log2_odds(p: float) -> float | None:
    """The match weight of a probability: log2(p / (1 - p)); None at 0 and 1."""
    if not 0 < p < 1:
        return None
    return math.log2(p / (1 - p))


def read_facts(model_path: Path) -> tuple[dict[str, Any], str | None]:
    """training.json beside the model ({} when absent) and a problem reading it, if any."""
    from crm.identity.matching import FACTS_FILE

    path = Path(model_path).parent / FACTS_FILE
    if not path.exists():
        return {}, None
    try:
        facts = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {}, f"{path} could not be read: {exc}"
    if not isinstance(facts, dict):
        return {}, f"{path} is not a JSON object"
    return facts, None


# -- the restricted output ---------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    contact_key: str
    source_system: str | None
    source_contact_id: str | None
    first_name: str | None
    last_name: str | None
    birth_date: Any
    postal_code: str | None
    city: str | None
    found: bool = True


@dataclass(frozen=True)
class Link:
    probability: float
    weight: float | None
    evidence: str | None
    left: Record
    right: Record
    same_cluster: bool | None


@dataclass(frozen=True)
class Estimates:
    pairs: int
    kept: int
    precision: float | None
    recall: float | None
    lowest_probability: float | None


@dataclass(frozen=True)
class Warehouse:
    estimates: Estimates
    weights: np.ndarray  # match weights of every scored pair (finite ones)
    origins: list[tuple[str, int]]  # pair_origin -> pairs
    cluster_sizes: list[tuple[int, int]]  # size -> clusters
    edges: list[tuple[str, int]]  # match_source -> edges
    kept: list[Link]  # weakest first
    rejected: list[Link]  # strongest first


def estimate(probabilities: np.ndarray, threshold: float) -> Estimates:
    """The model's own estimates at ``threshold`` (train.choose_threshold's definitions).

    precision = mean(p | p >= t); recall = sum(p | p >= t) / sum(p). Summed in
    sorted order, so the figures do not depend on the order the rows came in.
    """
    p = np.sort(np.asarray(probabilities, dtype=np.float64))
    kept = p[p >= threshold]
    total = float(p.sum()) if len(p) else 0.0
    return Estimates(
        pairs=int(len(p)),
        kept=int(len(kept)),
        precision=float(kept.mean()) if len(kept) else None,
        recall=float(kept.sum() / total) if total > 0 else None,
        lowest_probability=float(p[0]) if len(p) else None,
    )


_RECORD_COLUMNS = (
    "source_system",
    "source_contact_id",
    "first_name",
    "last_name",
    "birth_date",
    "postal_code",
    "city",
)


def _links_sql(kept: bool) -> str:
    side = ", ".join(
        f"{alias}.{c}" for alias in ("contact_l", "contact_r") for c in _RECORD_COLUMNS
    )
    where, order = (">=", "asc") if kept else ("<", "desc")
    return f"""
        select
            pairs.match_probability,
            pairs.match_weight,
            pairs.evidence,
            pairs.contact_key_l,
            pairs.contact_key_r,
            contact_l.contact_key is not null,
            contact_r.contact_key is not null,
            {side},
            cluster_l.cluster_key = cluster_r.cluster_key
        from {PAIRS_TABLE} as pairs
        left join {CONTACTS_TABLE} as contact_l
            on pairs.contact_key_l = contact_l.contact_key
        left join {CONTACTS_TABLE} as contact_r
            on pairs.contact_key_r = contact_r.contact_key
        left join {CLUSTERS_TABLE} as cluster_l
            on pairs.contact_key_l = cluster_l.contact_key
        left join {CLUSTERS_TABLE} as cluster_r
            on pairs.contact_key_r = cluster_r.contact_key
        where pairs.match_probability {where} ?
        order by
            pairs.match_probability {order},
            pairs.match_weight {order} nulls last,
            pairs.contact_key_l,
            pairs.contact_key_r
        limit ?
    """


def _link(row: tuple) -> Link:
    probability, weight, evidence, key_l, key_r, found_l, found_r = row[:7]
    n = len(_RECORD_COLUMNS)
    values_l, values_r = row[7 : 7 + n], row[7 + n : 7 + 2 * n]
    return Link(
        probability=float(probability),
        weight=None if weight is None else float(weight),
        evidence=evidence,
        left=Record(key_l, *values_l, found=bool(found_l)),
        right=Record(key_r, *values_r, found=bool(found_r)),
        same_cluster=row[-1],
    )


def read_warehouse(restricted: Path, threshold: float, limit: int) -> Warehouse:
    """Everything the page shows from the restricted output (opened read-only)."""
    con = duckdb.connect(str(restricted), read_only=True)
    try:
        present = {
            f"{schema}.{name}"
            for schema, name in con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
        missing = [table for table in TABLES if table not in present]
        if missing:
            raise ReportError(
                f"{restricted} has no {', '.join(missing)}: it is not a built restricted "
                "output (run `crm refresh`)"
            )
        scores = con.execute(
            f"select match_probability, coalesce(match_weight, cast('nan' as double)) "
            f"from {PAIRS_TABLE} where match_probability is not null"
        ).fetchnumpy()
        probabilities, weights = (np.asarray(v, dtype=np.float64) for v in scores.values())
        origins = con.execute(
            f"select coalesce(pair_origin, '(none)'), count(*) from {PAIRS_TABLE} "
            "group by 1 order by 1"
        ).fetchall()
        cluster_sizes = con.execute(
            f"""
            select size, count(*) as clusters
            from (select cluster_key, count(*) as size from {CLUSTERS_TABLE} group by cluster_key)
            group by size
            order by size
            """
        ).fetchall()
        edges = dict(
            con.execute(
                f"select coalesce(match_source, '(none)'), count(*) from {EDGES_TABLE} group by 1"
            ).fetchall()
        )
        kept = [_link(r) for r in con.execute(_links_sql(True), [threshold, limit]).fetchall()]
        rejected = [_link(r) for r in con.execute(_links_sql(False), [threshold, limit]).fetchall()]
    finally:
        con.close()
    return Warehouse(
        estimates=estimate(probabilities, threshold),
        weights=np.sort(weights[np.isfinite(weights)]),
        origins=[(str(o), int(n)) for o, n in origins],
        cluster_sizes=[(int(s), int(n)) for s, n in cluster_sizes],
        edges=[(s, int(edges.pop(s, 0))) for s in MATCH_SOURCES]
        + sorted((str(s), int(n)) for s, n in edges.items()),
        kept=kept,
        rejected=rejected,
    )


# -- formatting --------------------------------------------------------------------------


def _float_or_none(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def fmt_weight(weight: float | None) -> str:
    return "n/a" if weight is None else f"{weight:+.2f}"


def fmt_probability(p: float | None) -> str:
    """Up to 8 decimals, trailing zeros dropped (0.995, 0.99999998)."""
    if p is None:
        return "n/a"
    text = f"{p:.8f}".rstrip("0").rstrip(".")
    return text or "0"


def fmt_share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def fmt_mu(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _fmt_g(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"


# -- charts (inline SVG) -----------------------------------------------------------------


def weights_chart(levels: list[LevelWeight], prior_weight: float | None) -> str:
    """Horizontal bars of each level's match weight: positive right, negative left."""
    rows: list[tuple[str, str, float | None]] = [("bar", "prior (starting weight)", prior_weight)]
    for comparison, group in groupby(levels, key=lambda level: level.comparison):
        rows.append(("head", comparison, None))
        rows.extend(("bar", level.label, level.weight) for level in group)
    finite = [w for kind, _, w in rows if kind == "bar" and w is not None]
    lo, hi = min([0.0, *finite]), max([0.0, *finite])
    step = nice_step((hi - lo) / 10)
    lo, hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
    if hi == lo:
        hi = lo + step
    label_w, plot_x, plot_w, value_w, row_h, top = 250.0, 260.0, 460.0, 70.0, 18.0, 22.0
    width = plot_x + plot_w + value_w
    height = top + len(rows) * row_h + 6

    def x(w: float) -> float:
        return plot_x + (w - lo) / (hi - lo) * plot_w

    parts = [
        f'<svg class="chart" viewBox="0 0 {svg_num(width)} {svg_num(height)}" '
        f'width="{svg_num(width)}" height="{svg_num(height)}" role="img" '
        'aria-label="match weight of each comparison level">'
    ]
    for t in ticks(lo, hi, step):
        parts.append(
            f'<line class="grid" x1="{svg_num(x(t))}" y1="{svg_num(top - 4)}" '
            f'x2="{svg_num(x(t))}" y2="{svg_num(height - 4)}"/>'
            f'<text class="tick" x="{svg_num(x(t))}" y="{svg_num(top - 8)}" '
            f'text-anchor="middle">{esc(tick(t))}</text>'
        )
    for i, (kind, text, weight) in enumerate(rows):
        y = top + i * row_h
        mid = svg_num(y + row_h / 2 + 4)
        if kind == "head":
            parts.append(f'<text class="head" x="0" y="{mid}">{esc(text)}</text>')
            continue
        parts.append(f'<text x="{svg_num(label_w)}" y="{mid}" text-anchor="end">{esc(text)}</text>')
        if weight is not None:
            parts.append(signed_bar(x, weight, y + 3, row_h - 6, f"{text}: {fmt_weight(weight)}"))
        parts.append(value_text(width - 4, y + row_h / 2 + 4, fmt_weight(weight)))
    parts.append(
        f'<line class="zero" x1="{svg_num(x(0.0))}" y1="{svg_num(top - 4)}" '
        f'x2="{svg_num(x(0.0))}" y2="{svg_num(height - 4)}"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _bars_svg(
    counts: list[int],
    lefts: list[float],
    step: float,
    lo: float,
    hi: float,
    *,
    label: str,
    ticks: list[float],
    titles: list[str],
    marker: tuple[float, str] | None = None,
    show_counts: bool = False,
) -> str:
    """Vertical bars over [lo, hi] with an x axis, optionally a marked value."""
    left_m, right_m, top_m, bottom_m, plot_w, plot_h = 56.0, 16.0, 24.0, 36.0, 720.0, 200.0
    width, height = left_m + plot_w + right_m, top_m + plot_h + bottom_m
    top_count = max(counts, default=0) or 1

    def x(v: float) -> float:
        return left_m + (v - lo) / (hi - lo) * plot_w

    def y(c: float) -> float:
        return top_m + plot_h - c / top_count * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {svg_num(width)} {svg_num(height)}" '
        f'width="{svg_num(width)}" height="{svg_num(height)}" role="img" '
        f'aria-label="{esc(label)}">',
        f'<line class="axis" x1="{svg_num(left_m)}" y1="{svg_num(y(0))}" '
        f'x2="{svg_num(left_m + plot_w)}" y2="{svg_num(y(0))}"/>',
        f'<text class="tick" x="{svg_num(left_m - 6)}" y="{svg_num(y(0) + 4)}" '
        'text-anchor="end">0</text>',
        f'<text class="tick" x="{svg_num(left_m - 6)}" y="{svg_num(y(top_count) + 4)}" '
        f'text-anchor="end">{esc(fmt_count(top_count))}</text>',
    ]
    for t in ticks:
        parts.append(
            f'<text class="tick" x="{svg_num(x(t))}" y="{svg_num(y(0) + 16)}" '
            f'text-anchor="middle">{esc(tick(t))}</text>'
        )
    parts.append(
        f'<text class="tick" x="{svg_num(left_m + plot_w / 2)}" y="{svg_num(height - 4)}" '
        f'text-anchor="middle">{esc(label)}</text>'
    )
    for count, left, title in zip(counts, lefts, titles, strict=True):
        if not count:
            continue
        x0, x1 = x(left), x(left + step)
        parts.append(
            f'<rect class="bar" x="{svg_num(x0 + 1)}" y="{svg_num(y(count))}" '
            f'width="{svg_num(max(x1 - x0 - 2, 1.0))}" '
            f'height="{svg_num(y(0) - y(count))}"><title>{esc(title)}</title></rect>'
        )
        if show_counts:
            parts.append(
                f'<text class="tick" x="{svg_num((x0 + x1) / 2)}" '
                f'y="{svg_num(y(count) - 3)}" text-anchor="middle">{esc(fmt_count(count))}</text>'
            )
    if marker is not None:
        value, text = marker
        # the label on the side of the line with room for it
        right = x(value) < left_m + plot_w * 0.6
        anchor, dx = ("start", 4) if right else ("end", -4)
        parts.append(
            f'<line class="marker" x1="{svg_num(x(value))}" y1="{svg_num(top_m - 10)}" '
            f'x2="{svg_num(x(value))}" y2="{svg_num(y(0))}"/>'
            f'<text class="marker" x="{svg_num(x(value) + dx)}" y="{svg_num(top_m - 12)}" '
            f'text-anchor="{anchor}">{esc(text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def weight_histogram(weights: np.ndarray, threshold: float) -> str:
    """Pairs per match-weight bin, the threshold's weight marked."""
    if not len(weights):
        return '<p class="note">No scored pairs.</p>'
    marked = log2_odds(threshold)
    values = [float(weights[0]), float(weights[-1])]
    if marked is not None:
        values.append(marked)
    step = max(1.0, nice_step((max(values) - min(values)) / MAX_WEIGHT_BINS))
    lo = math.floor(min(values) / step) * step
    hi = math.ceil(max(values) / step) * step
    if hi <= lo:
        hi = lo + step
    edges = np.array(ticks(lo, hi, step))
    counts, _ = np.histogram(weights, bins=edges)
    lefts = [float(e) for e in edges[:-1]]
    titles = [
        f"weight {tick(left)} to {tick(left + step)}: {fmt_count(int(c))} pairs"
        for left, c in zip(lefts, counts, strict=True)
    ]
    marker = None
    if marked is not None:
        marker = (marked, f"threshold {threshold:g} (weight {fmt_weight(marked)})")
    return _bars_svg(
        [int(c) for c in counts],
        lefts,
        step,
        lo,
        hi,
        label="match weight (bits)",
        ticks=ticks(lo, hi, nice_step((hi - lo) / 12)),
        titles=titles,
        marker=marker,
    )


def cluster_histogram(sizes: list[tuple[int, int]]) -> str:
    """Clusters per size, one bar per size from 1 to the largest."""
    if not sizes:
        return '<p class="note">No clusters.</p>'
    by_size = dict(sizes)
    largest = max(by_size)
    counts = [by_size.get(s, 0) for s in range(1, largest + 1)]
    lefts = [s - 0.5 for s in range(1, largest + 1)]
    titles = [f"{s} contact(s): {fmt_count(c)} clusters" for s, c in enumerate(counts, 1)]
    step = max(1.0, nice_step(largest / 12))
    return _bars_svg(
        counts,
        lefts,
        1.0,
        0.5,
        largest + 0.5,
        label="contacts per cluster",
        ticks=sorted({1.0, *(k * step for k in range(1, int(largest // step) + 1))}),
        titles=titles,
        show_counts=largest <= 30,
    )


# -- the page ----------------------------------------------------------------------------

CSS = (
    BASE_CSS
    + """
ul.ev { list-style: none; margin: 0; padding: 0; font-size: 12px; }
ul.ev li.pos b { color: #1f6b33; }
ul.ev li.neg b { color: #a1302a; }
ul.ev li.null { color: #8a939c; }
.rec { font-size: 13px; white-space: nowrap; }
.rec .key { font-family: ui-monospace, monospace; font-size: 12px; }
"""
)


def _model_section(
    model_path: Path,
    origin: str | None,
    model: dict[str, Any],
    facts: dict[str, Any],
    facts_problem: str | None,
) -> str:
    prior = _float_or_none(model.get("probability_two_random_records_match"))
    items = [("model file", esc(model_path))]
    if origin:
        items.append(("origin", esc(origin)))
    prior_text = "n/a" if prior is None else f"{prior:.6g}"
    prior_weight = None if prior is None else log2_odds(prior)
    items.append(
        (
            "prior",
            f"{esc(prior_text)} (probability that two random records are one person; "
            f"match weight {esc(fmt_weight(prior_weight))})",
        )
    )
    if facts.get("trained_at"):
        items.append(("trained at", esc(facts["trained_at"])))
    for key, name in (
        ("seed", "seed"),
        ("training_sample", "contacts trained on"),
        ("candidate_pairs", "candidate pairs at training"),
        ("seconds", "training time (s)"),
    ):
        if facts.get(key) is not None:
            items.append((name, esc(facts[key])))
    out = ['<section id="model"><h2>Model</h2><dl>']
    out += [f"<dt>{name}</dt><dd>{value}</dd>" for name, value in items]
    out.append("</dl>")
    if facts_problem:
        out.append(f'<p class="warn">{esc(facts_problem)}</p>')
    if not facts:
        out.append(
            '<p class="note" id="no-facts">No training facts (training.json) beside the '
            "model: it was not trained by <code>crm identity train</code> (the demo model "
            "shipped with the package has none).</p>"
        )
        out.append("</section>")
        return "".join(out)

    profile = facts.get("profile") if isinstance(facts.get("profile"), dict) else {}
    if profile:
        out.append("<h3>Training data profile</h3><dl>")
        if profile.get("contacts") is not None:
            out.append(f"<dt>contacts</dt><dd>{esc(profile['contacts'])}</dd>")
        sources = profile.get("sources")
        if sources:
            text = ", ".join(map(str, sources)) if isinstance(sources, list) else sources
            out.append(f"<dt>sources</dt><dd>{esc(text)}</dd>")
        out.append("</dl>")
        fill = profile.get("fill")
        if isinstance(fill, dict) and fill:
            rows = []
            for name, share in fill.items():
                value = _float_or_none(share)
                rows.append([esc(name), esc("n/a" if value is None else f"{value:.1%}")])
            out.append(table(["comparison", "contacts with its columns filled"], rows, {1}))
    blocks = facts.get("training_blocks")
    if isinstance(blocks, list) and blocks:
        out.append("<h3>Training blocks</h3>")
        rows = []
        for block in blocks:
            block = block if isinstance(block, dict) else {"block": block}
            rows.append(
                [esc(block.get("block")), esc(block.get("pairs")), esc(block.get("status"))]
            )
        out.append(table(["block", "pairs", "status"], rows, {1}))
        used = sum(1 for b in blocks if isinstance(b, dict) and b.get("status") == "used")
        out.append(
            f'<p class="note">{used} of {len(blocks)} training block(s) used for the '
            "m probabilities (expectation maximisation); the others were skipped for the "
            "reason given.</p>"
        )
    neutral = facts.get("neutral_comparisons")
    if neutral is not None:
        text = ", ".join(map(str, neutral)) if isinstance(neutral, list) else str(neutral)
        out.append(
            '<p id="neutral">Neutral comparisons (columns nearly empty in the training data; '
            f"m = u, no evidence either way): {esc(text or 'none')}</p>"
        )
    out.append("</section>")
    return "".join(out)


def _weights_section(model: dict[str, Any]) -> str:
    levels = model_levels(model)
    prior = _float_or_none(model.get("probability_two_random_records_match"))
    prior_weight = None if prior is None else log2_odds(prior)
    rows = []
    for level in levels:
        label = esc(level.label)
        if level.tf_column:
            label += f' <span class="note">(term-frequency adjusted: {esc(level.tf_column)})</span>'
        rows.append(
            [
                esc(level.comparison),
                label,
                esc(fmt_mu(level.m)),
                esc(fmt_mu(level.u)),
                esc(fmt_weight(level.weight)),
            ]
        )
    nulls = null_labels(model)
    null_text = ", ".join(f"{c}: {label}" for c, label in nulls) or "none"
    return (
        '<section id="weights"><h2>Match weights</h2>'
        '<p class="note">Each comparison level\'s weight of evidence, log2(m/u): m is the '
        "share of true matches at that level, u the share of random pairs. A pair's match "
        "weight is the prior's weight plus one level's weight per comparison (a "
        "term-frequency adjusted level weighs more for a rare value, less for a common "
        "one); its probability is 2^w / (1 + 2^w). Null levels weigh 0 and are not drawn ("
        f"{esc(null_text)}).</p>"
        + weights_chart(levels, prior_weight)
        + table(["comparison", "level", "m", "u", "weight log2(m/u)"], rows, {2, 3, 4})
        + "</section>"
    )


def _threshold_section(threshold: float, data: Warehouse, facts: dict[str, Any]) -> str:
    est = data.estimates
    origins = ", ".join(f"{fmt_count(n)} {o}" for o, n in data.origins) or "none"
    rows = [
        [
            "threshold",
            f'<span id="threshold-now">{esc(f"{threshold:g}")}</span>',
            esc(_fmt_g(_float_or_none(facts.get("threshold")))),
        ],
        [
            "estimated precision",
            f'<span id="precision-now">{esc(fmt_share(est.precision))}</span>',
            f'<span id="precision-training">'
            f"{esc(fmt_share(_float_or_none(facts.get('estimated_precision'))))}</span>",
        ],
        [
            "estimated recall",
            f'<span id="recall-now">{esc(fmt_share(est.recall))}</span>',
            f'<span id="recall-training">'
            f"{esc(fmt_share(_float_or_none(facts.get('estimated_recall'))))}</span>",
        ],
        [
            "pairs",
            f'<span id="pairs-kept">{esc(fmt_count(est.kept))}</span> kept of '
            f"{esc(fmt_count(est.pairs))} stored",
            esc(
                f"{fmt_count(int(facts['candidate_pairs']))} candidate pairs"
                if isinstance(facts.get("candidate_pairs"), int)
                else "n/a"
            ),
        ],
    ]
    return (
        '<section id="threshold"><h2>Threshold and estimated precision and recall</h2>'
        f"<p>Links are kept at match probability &ge; {esc(f'{threshold:g}')} "
        f"(match weight &ge; {esc(fmt_weight(log2_odds(threshold)))}).</p>"
        + table(["", "at this threshold, from the stored pairs", "at training"], rows)
        + '<p class="note">These are the model\'s own estimates, computed from its match '
        "probabilities, not measured against ground truth: precision = mean(p) of the pairs "
        "kept, recall = sum(p) of the pairs kept / sum(p) of all stored pairs. The stored "
        "pairs are those the matcher kept for audit (lowest stored probability: "
        f"{esc(fmt_probability(est.lowest_probability))}); the training-time figures count "
        f"every candidate pair. Stored pairs by origin: {esc(origins)}.</p>"
        "</section>"
    )


def _histogram_section(threshold: float, data: Warehouse) -> str:
    return (
        '<section id="weight-histogram"><h2>Match weights of the scored pairs</h2>'
        f'<p class="note">{esc(fmt_count(len(data.weights)))} stored pairs by match weight; '
        "the dashed line is the threshold.</p>"
        + weight_histogram(data.weights, threshold)
        + "</section>"
    )


def _clusters_section(data: Warehouse) -> str:
    rows = [
        [esc(size), esc(fmt_count(n)), esc(fmt_count(size * n))] for size, n in data.cluster_sizes
    ]
    edge_rows = [[esc(source), esc(fmt_count(n))] for source, n in data.edges]
    splink_edges = dict(data.edges).get("splink", 0)
    note = ""
    if splink_edges != data.estimates.kept:
        note = (
            f'<p class="warn" id="edges-mismatch">The identity edges hold '
            f"{esc(fmt_count(splink_edges))} Splink link(s) but "
            f"{esc(fmt_count(data.estimates.kept))} stored pair(s) reach this threshold: "
            "the last refresh linked at another threshold (another model's, or the dbt var "
            "identity_match_threshold).</p>"
        )
    return (
        '<section id="clusters"><h2>Clusters and edges</h2>'
        + cluster_histogram(data.cluster_sizes)
        + '<div id="cluster-sizes">'
        + table(["contacts per cluster", "clusters", "contacts"], rows, {0, 1, 2})
        + "</div><h3>Identity edges by source</h3>"
        + '<div id="edge-sources">'
        + table(["match source", "edges"], edge_rows, {1})
        + "</div>"
        + note
        + "</section>"
    )


def _evidence(text: str | None, weights: dict[tuple[str, str], float | None], nulls) -> str:
    try:
        levels = json.loads(text) if text else {}
    except ValueError:
        levels = None
    if not isinstance(levels, dict):
        return f"<code>{esc(text)}</code>"
    items = []
    for comparison, label in levels.items():
        key = (str(comparison), str(label))
        if key in nulls:
            items.append(f'<li class="null">{esc(comparison)}: {esc(label)}</li>')
            continue
        weight = weights.get(key)
        tone = "" if weight is None else (' class="pos"' if weight >= 0 else ' class="neg"')
        suffix = "" if weight is None else f" {esc(fmt_weight(weight))}"
        items.append(f"<li{tone}>{esc(comparison)}: <b>{esc(label)}</b>{suffix}</li>")
    return '<ul class="ev">' + "".join(items) + "</ul>"


def _record(record: Record) -> str:
    key = f"{record.source_system}:{record.source_contact_id}" if record.found else ""
    if not record.found:
        return (
            f'<div class="rec"><span class="key">{esc(record.contact_key)}</span><br>'
            '<span class="warn">record not found</span></div>'
        )
    name = " ".join(v for v in (record.first_name, record.last_name) if v) or "–"
    birth = record.birth_date
    birth = "–" if birth is None else getattr(birth, "isoformat", lambda: str(birth))()
    place = " ".join(str(v) for v in (record.postal_code, record.city) if v) or "–"
    return (
        f'<div class="rec"><span class="key">{esc(key)}</span><br>{esc(name)}<br>'
        f"born {esc(birth)}<br>{esc(place)}</div>"
    )


def _links_section(
    section_id: str, title: str, note: str, links: list[Link], model: dict[str, Any]
) -> str:
    weights = {(level.comparison, level.label): level.weight for level in model_levels(model)}
    nulls = set(null_labels(model))
    rows = []
    for i, link in enumerate(links, 1):
        same = {True: "yes", False: "no", None: "–"}[link.same_cluster]
        rows.append(
            [
                esc(i),
                esc(fmt_probability(link.probability)),
                esc(fmt_weight(link.weight)),
                _evidence(link.evidence, weights, nulls),
                _record(link.left),
                _record(link.right),
                esc(same),
            ]
        )
    body = (
        table(
            ["#", "probability", "weight", "evidence", "record", "record", "same cluster"],
            rows,
            {0, 1, 2},
        )
        if rows
        else '<p class="note">None.</p>'
    )
    return f'<section id="{section_id}"><h2>{title}</h2><p class="note">{note}</p>{body}</section>'


def render(
    *,
    model_path: Path,
    origin: str | None,
    model: dict[str, Any],
    facts: dict[str, Any],
    facts_problem: str | None,
    threshold: float,
    data: Warehouse,
    limit: int,
) -> str:
    """The page (a str), from what write_report read."""
    t = esc(f"{threshold:g}")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Identity model report</title>"
        f"<style>{CSS}</style></head><body>"
        "<h1>Identity model report</h1>"
        '<p class="note">The probabilistic identity model (Splink) and the links it made in '
        "the restricted output. Deterministic links (shared e-mail, phone, loyalty id) and "
        "manual decisions are counted under Clusters and edges.</p>"
        + _model_section(model_path, origin, model, facts, facts_problem)
        + _weights_section(model)
        + _threshold_section(threshold, data, facts)
        + _histogram_section(threshold, data)
        + _clusters_section(data)
        + _links_section(
            "weakest-kept",
            f"The {limit} weakest links kept",
            f"Pairs at or above the threshold ({t}), lowest probability first: the links "
            "most likely to be wrong. <em>same cluster</em>: no when a cluster guard cut "
            "the link.",
            data.kept,
            model,
        )
        + _links_section(
            "strongest-rejected",
            f"The {limit} strongest links rejected",
            f"Pairs below the threshold ({t}), highest probability first: the matches most "
            "likely missed. <em>same cluster</em>: yes when other evidence linked them.",
            data.rejected,
            model,
        )
        + "<footer>This page holds personal data (names, birth dates, addresses) from the "
        "restricted output: it is written owner-only (mode 0600). Keep it that way; do not "
        "publish, share or attach it. Made by <code>crm identity report</code>.</footer>"
        "</body></html>\n"
    )


def write_report(
    restricted: Path,
    model_path: Path,
    threshold: float,
    out: Path,
    *,
    limit: int = DEFAULT_LIMIT,
    origin: str | None = None,
) -> Path:
    """Write the identity report for ``restricted`` and ``model_path`` to ``out`` (0600).

    ``threshold``: the link threshold (pairs at or above it are kept); ``limit``:
    how many of the weakest kept and the strongest rejected links to show;
    ``origin``: a line saying where the model comes from (ModelChoice.describe()).
    Returns ``out``.
    """
    restricted, model_path, out = Path(restricted), Path(model_path), Path(out)
    if not 0 <= threshold <= 1:
        raise ReportError(f"the threshold must be a probability between 0 and 1, got {threshold}")
    if limit < 0:
        raise ReportError(f"the limit must be 0 or more, got {limit}")
    if not restricted.exists():
        raise FileNotFoundError(f"restricted output not found: {restricted}")
    model = json.loads(Path(model_path).read_text(encoding="utf-8"))
    if not isinstance(model, dict):
        raise ReportError(f"{model_path} is not a Splink settings JSON object")
    facts, facts_problem = read_facts(model_path)
    data = read_warehouse(restricted, threshold, limit)
    page = render(
        model_path=model_path,
        origin=origin,
        model=model,
        facts=facts,
        facts_problem=facts_problem,
        threshold=threshold,
        data=data,
        limit=limit,
    )
    write_atomic(out, page, mode=0o600)
    return out


def last_build_model(restricted: Path) -> tuple[Path, float, str] | None:
    """The model the last refresh linked with (intermediate.int_identity_model): its
    file, its link threshold and a line saying where it came from."""
    con = duckdb.connect(str(restricted), read_only=True)
    try:
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'intermediate' and table_name = 'int_identity_model'"
        ).fetchone()[0]
        if not exists:
            return None
        path, threshold, origin, note = con.execute(
            "select model_path, link_threshold, model_origin, model_note "
            "from intermediate.int_identity_model"
        ).fetchone()
    finally:
        con.close()
    return Path(path), float(threshold), f"{origin}: {note}"


def run(settings, out: str | Path | None = None, limit: int = DEFAULT_LIMIT) -> int:
    """`crm identity report`: the model a refresh links with, the restricted output."""
    from crm.identity.model_store import resolve

    restricted = settings.restricted
    if not restricted.exists():
        print(
            f"crm identity report: {restricted} does not exist; run `crm refresh` first "
            "(the report reads the scored pairs and clusters of the restricted output)",
            file=sys.stderr,
        )
        return 2
    used = last_build_model(restricted)
    if used is not None:
        model_path, threshold, origin = used
    else:  # an output built before int_identity_model existed
        choice = resolve(settings.home)
        model_path, threshold, origin = choice.path, choice.threshold, choice.describe()
    # the refresh links at the model's threshold unless the operator set the dbt var
    override = settings.dbt_vars.get("identity_match_threshold")
    threshold = float(threshold if override is None else override)
    target = Path(out) if out else settings.home / "restricted" / REPORT_FILE
    try:
        path = write_report(restricted, model_path, threshold, target, limit=limit, origin=origin)
    except (ReportError, FileNotFoundError, ValueError, duckdb.Error) as exc:
        print(f"crm identity report: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0
