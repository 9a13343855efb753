"""Offline HTML pages with inline SVG charts: what `crm identity report` and the refresh
report draw with.

Every chart is one ``<svg>`` string (no JavaScript, no external resource), the same
bytes for the same inputs. Each mark carries a ``<title>`` (the browser's tooltip)
and the value it draws in a ``data-value`` attribute, so a reader can hover for the
number and a test can read it back. Cells and bars are escaped here; text passed
in as ``html`` is trusted (already escaped by the caller).
"""

from __future__ import annotations

import html
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# -- formatting --------------------------------------------------------------------------


def esc(value: Any) -> str:
    """HTML-escaped text of ``value`` ('' for None)."""
    return html.escape("" if value is None else str(value), quote=True)


def svg_num(x: float) -> str:
    """An SVG coordinate: one decimal."""
    return f"{x:.1f}"


def tick(x: float) -> str:
    """An axis tick's label."""
    return f"{x:g}"


def nice_step(raw: float) -> float:
    """The smallest of 1, 2, 5 x 10^k at least ``raw``."""
    if not raw > 0:
        return 1.0
    base = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if raw <= multiple * base:
            return multiple * base
    return 10 * base


def ticks(lo: float, hi: float, step: float) -> list[float]:
    """lo, lo + step, ..., hi."""
    n = int(round((hi - lo) / step))
    return [lo + i * step for i in range(n + 1)]


def nice_range(values: Sequence[float], *, include_zero: bool = True, n: int = 8):
    """(lo, hi, step): an axis range on whole steps that holds every value."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if include_zero:
        finite.append(0.0)
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    step = nice_step((hi - lo) / n) if hi > lo else nice_step(abs(hi) or 1.0)
    lo, hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
    if hi <= lo:
        hi = lo + step
    return lo, hi, step


def fmt_count(n: int | None) -> str:
    return "n/a" if n is None else f"{n:,}"


def fmt_number(x: float | None, digits: int = 2) -> str:
    """Thousands separated, ``digits`` decimals; 'n/a' for None or NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:,.{digits}f}"


def fmt_percent(x: float | None, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{100 * x:.{digits}f}%"


def _open(width: float, height: float, label: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {svg_num(width)} {svg_num(height)}" '
        f'width="{svg_num(width)}" height="{svg_num(height)}" role="img" '
        f'aria-label="{esc(label)}">'
    )


def _value_attr(value: float | None) -> str:
    return "" if value is None else f' data-value="{value!r}"'


def _x_grid(
    x: Callable[[float], float],
    lo: float,
    hi: float,
    step: float,
    top: float,
    height: float,
    label: Callable[[float], str] = tick,
) -> str:
    """Vertical grid lines with their tick labels above the plot."""
    return "".join(
        f'<line class="grid" x1="{svg_num(x(t))}" y1="{svg_num(top - 4)}" '
        f'x2="{svg_num(x(t))}" y2="{svg_num(height - 4)}"/>'
        f'<text class="tick" x="{svg_num(x(t))}" y="{svg_num(top - 8)}" '
        f'text-anchor="middle">{esc(label(t))}</text>'
        for t in ticks(lo, hi, step)
    )


def _x_zero(x: Callable[[float], float], top: float, height: float) -> str:
    return (
        f'<line class="zero" x1="{svg_num(x(0.0))}" y1="{svg_num(top - 4)}" '
        f'x2="{svg_num(x(0.0))}" y2="{svg_num(height - 4)}"/>'
    )


def value_text(right: float, baseline: float, text: str) -> str:
    """A value written right-aligned at the end of a chart's row."""
    return (
        f'<text class="value" x="{svg_num(right)}" y="{svg_num(baseline)}" '
        f'text-anchor="end">{esc(text)}</text>'
    )


def signed_bar(
    x: Callable[[float], float],
    value: float,
    top: float,
    height: float,
    title: str,
    positive: str = "pos",
) -> str:
    """A horizontal bar from zero to ``value``: right in class ``positive`` (green) when
    positive, left in red when negative; ``title`` its tooltip."""
    x0, x1 = sorted((x(0.0), x(value)))
    tone = positive if value >= 0 else "neg"
    return (
        f'<rect class="{tone}" x="{svg_num(x0)}" y="{svg_num(top)}" '
        f'width="{svg_num(max(x1 - x0, 0.5))}" height="{svg_num(height)}"'
        f"{_value_attr(value)}><title>{esc(title)}</title></rect>"
    )


def _row_label(right: float, baseline: float, name: str) -> str:
    return (
        f'<text x="{svg_num(right)}" y="{svg_num(baseline)}" text-anchor="end">{esc(name)}</text>'
    )


class _RowChart:
    """The frame of a chart with one row per item over a shared value axis: labels on
    the left, the plot, values on the right, a tick grid above."""

    def __init__(
        self,
        values: Sequence[float],
        n_rows: int,
        *,
        label_w: float,
        plot_w: float,
        value_w: float,
        row_h: float,
        n_ticks: int = 8,
    ) -> None:
        self.lo, self.hi, self.step = nice_range(values, n=n_ticks)
        self.label_w, self.plot_x, self.plot_w = label_w, label_w + 10, plot_w
        self.row_h, self.top = row_h, 22.0
        self.width = self.plot_x + plot_w + value_w
        self.height = self.top + n_rows * row_h + 6

    def x(self, v: float) -> float:
        return self.plot_x + (v - self.lo) / (self.hi - self.lo) * self.plot_w

    def row_top(self, i: int) -> float:
        return self.top + i * self.row_h

    def begin(self, label: str, tick_label: Callable[[float], str] = tick) -> list[str]:
        return [
            _open(self.width, self.height, label),
            _x_grid(self.x, self.lo, self.hi, self.step, self.top, self.height, tick_label),
        ]

    def end(self, parts: list[str]) -> str:
        return "".join(parts) + _x_zero(self.x, self.top, self.height) + "</svg>"


# -- charts ------------------------------------------------------------------------------


def hbar_chart(
    rows: Sequence[tuple[str, float | None]],
    *,
    label: str,
    fmt: Callable[[float | None], str] = fmt_number,
    label_width: float = 180.0,
    plot_width: float = 420.0,
) -> str:
    """Horizontal bars, one per (label, value); negative values go left of zero (red)."""
    frame = _RowChart(
        [v for _, v in rows if v is not None],
        len(rows),
        label_w=label_width,
        plot_w=plot_width,
        value_w=110.0,
        row_h=20.0,
    )
    parts = frame.begin(label)
    for i, (name, value) in enumerate(rows):
        y = frame.row_top(i)
        parts.append(_row_label(frame.label_w, y + 14, name))
        if value is not None and math.isfinite(value):
            parts.append(signed_bar(frame.x, value, y + 3, 14, f"{name}: {fmt(value)}", "bar"))
        parts.append(value_text(frame.width - 4, y + 14, fmt(value)))
    return frame.end(parts)


def line_chart(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None], str]],
    *,
    label: str,
    y_label: str = "",
    fmt: Callable[[float | None], str] = fmt_number,
    every: int = 1,
) -> str:
    """Lines over categorical x positions; ``series`` is (name, values, css class).
    Every ``every``-th category is labelled on the x axis; a legend names the series."""
    left_m, right_m, top_m, bottom_m, plot_w, plot_h = 64.0, 16.0, 28.0, 40.0, 760.0, 220.0
    width, height = left_m + plot_w + right_m, top_m + plot_h + bottom_m
    values = [v for _, vs, _ in series for v in vs if v is not None]
    lo, hi, step = nice_range(values, n=5)
    n = max(len(categories), 1)

    def x(i: int) -> float:
        return left_m + (i + 0.5) / n * plot_w

    def y(v: float) -> float:
        return top_m + plot_h - (v - lo) / (hi - lo) * plot_h

    parts = [_open(width, height, label)]
    for t in ticks(lo, hi, step):
        parts.append(
            f'<line class="grid" x1="{svg_num(left_m)}" y1="{svg_num(y(t))}" '
            f'x2="{svg_num(left_m + plot_w)}" y2="{svg_num(y(t))}"/>'
            f'<text class="tick" x="{svg_num(left_m - 6)}" y="{svg_num(y(t) + 4)}" '
            f'text-anchor="end">{esc(tick(t))}</text>'
        )
    for i, name in enumerate(categories):
        if i % every == 0:
            parts.append(
                f'<text class="tick" x="{svg_num(x(i))}" y="{svg_num(top_m + plot_h + 16)}" '
                f'text-anchor="middle">{esc(name)}</text>'
            )
    if y_label:
        parts.append(f'<text class="tick" x="4" y="{svg_num(top_m - 12)}">{esc(y_label)}</text>')
    legend_x = left_m + plot_w
    for name, vs, css in reversed(series):
        legend_x -= 14 + 7 * len(name)
        parts.append(
            f'<rect class="{css}" x="{svg_num(legend_x)}" y="{svg_num(top_m - 20)}" '
            f'width="10" height="10"/><text class="tick" x="{svg_num(legend_x + 13)}" '
            f'y="{svg_num(top_m - 11)}">{esc(name)}</text>'
        )
        points = [(i, v) for i, v in enumerate(vs) if v is not None and math.isfinite(v)]
        path = " ".join(f"{svg_num(x(i))},{svg_num(y(v))}" for i, v in points)
        parts.append(f'<polyline class="line {css}" points="{path}"/>')
        for i, v in points:
            parts.append(
                f'<circle class="{css}" cx="{svg_num(x(i))}" cy="{svg_num(y(v))}" r="2.5"'
                f"{_value_attr(v)}><title>{esc(name)}, {esc(categories[i])}: "
                f"{esc(fmt(v))}</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


def heatmap(
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    values: Sequence[Sequence[float | None]],
    *,
    label: str,
    fmt: Callable[[float | None], str] = fmt_number,
    row_title: str = "",
    col_title: str = "",
    show_values: bool = True,
    cell: float = 30.0,
) -> str:
    """A matrix of cells shaded by value (light = low, dark = high; empty cells blank),
    each cell's value in its tooltip and, when ``show_values``, written in it."""
    finite = [v for row in values for v in row if v is not None and math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    span = (hi - lo) or 1.0
    label_w, top = 90.0, 40.0
    cell_h = 18.0
    width = label_w + len(col_labels) * cell + 10
    height = top + len(row_labels) * cell_h + 10
    parts = [_open(width, height, label)]
    if col_title:
        parts.append(f'<text class="tick" x="{svg_num(label_w)}" y="12">{esc(col_title)}</text>')
    if row_title:
        parts.append(f'<text class="tick" x="0" y="12">{esc(row_title)}</text>')
    step = max(1, math.ceil(len(col_labels) * 28 / (len(col_labels) * cell)))
    for j, name in enumerate(col_labels):
        if j % step == 0:
            parts.append(
                f'<text class="tick" x="{svg_num(label_w + (j + 0.5) * cell)}" '
                f'y="{svg_num(top - 6)}" text-anchor="middle">{esc(name)}</text>'
            )
    for i, (name, row) in enumerate(zip(row_labels, values, strict=True)):
        y = top + i * cell_h
        parts.append(
            f'<text class="tick" x="{svg_num(label_w - 6)}" y="{svg_num(y + cell_h - 5)}" '
            f'text-anchor="end">{esc(name)}</text>'
        )
        for j, v in enumerate(row):
            if v is None or not math.isfinite(v):
                continue
            share = (v - lo) / span
            # a single blue hue: lightness 96% (lowest) to 30% (highest)
            light = 96 - 66 * share
            text_class = "cell-dark" if light < 60 else "cell-light"
            x = label_w + j * cell
            parts.append(
                f'<rect class="cell" x="{svg_num(x)}" y="{svg_num(y)}" width="{svg_num(cell - 1)}" '
                f'height="{svg_num(cell_h - 1)}" style="fill:hsl(212,55%,{light:.0f}%)"'
                f"{_value_attr(v)}><title>{esc(name)}, {esc(col_labels[j])}: "
                f"{esc(fmt(v))}</title></rect>"
            )
            if show_values:
                parts.append(
                    f'<text class="{text_class}" x="{svg_num(x + cell / 2)}" '
                    f'y="{svg_num(y + cell_h - 5)}" text-anchor="middle">{esc(fmt(v))}</text>'
                )
    parts.append("</svg>")
    return "".join(parts)


def interval_chart(
    rows: Sequence[tuple[str, float | None, float | None, float | None]],
    *,
    label: str,
    fmt: Callable[[float | None], str] = fmt_number,
    tick_label: Callable[[float], str] = tick,
) -> str:
    """A forest plot: per row (label, estimate, lower, upper) a dot and its interval,
    a line at zero. Rows without an estimate show 'n/a'; ``tick_label`` writes the
    axis' ticks."""
    values = [v for _, e, lo_, hi_ in rows for v in (e, lo_, hi_) if v is not None]
    frame = _RowChart(
        values, len(rows), label_w=230.0, plot_w=400.0, value_w=190.0, row_h=22.0, n_ticks=6
    )
    x = frame.x
    parts = frame.begin(label, tick_label)
    for i, (name, estimate, lower, upper) in enumerate(rows):
        mid = frame.row_top(i) + frame.row_h / 2
        parts.append(_row_label(frame.label_w, mid + 4, name))
        if lower is not None and upper is not None:
            parts.append(
                f'<line class="interval" x1="{svg_num(x(lower))}" y1="{svg_num(mid)}" '
                f'x2="{svg_num(x(upper))}" y2="{svg_num(mid)}"/>'
            )
        text = "n/a"
        if estimate is not None:
            text = f"{fmt(estimate)} [{fmt(lower)}, {fmt(upper)}]"
            tone = "bar"
            if lower is not None and lower > 0:
                tone = "pos"
            elif upper is not None and upper < 0:
                tone = "neg"
            parts.append(
                f'<circle class="{tone}" cx="{svg_num(x(estimate))}" cy="{svg_num(mid)}" r="4"'
                f"{_value_attr(estimate)}><title>{esc(name)}: {esc(text)}</title></circle>"
            )
        parts.append(value_text(frame.width - 4, mid + 4, text))
    return frame.end(parts)


def box_chart(
    rows: Sequence[tuple[str, Sequence[float | None]]],
    *,
    label: str,
    fmt: Callable[[float | None], str] = fmt_number,
) -> str:
    """Per row (label, [p10, p25, p50, p75, p90]): whiskers p10-p90, a box p25-p75 and
    the median; a line at zero."""
    values = [v for _, qs in rows for v in qs if v is not None]
    frame = _RowChart(
        values, len(rows), label_w=120.0, plot_w=480.0, value_w=220.0, row_h=24.0, n_ticks=6
    )
    x = frame.x
    parts = frame.begin(label)
    for i, (name, qs) in enumerate(rows):
        y = frame.row_top(i)
        mid = y + frame.row_h / 2
        parts.append(_row_label(frame.label_w, mid + 4, name))
        text = "n/a"
        if len(qs) == 5 and all(q is not None for q in qs):
            p10, p25, p50, p75, p90 = (float(q) for q in qs)
            title = (
                f"{name}: p10 {fmt(p10)}, p25 {fmt(p25)}, median {fmt(p50)}, "
                f"p75 {fmt(p75)}, p90 {fmt(p90)}"
            )
            parts.append(
                f'<line class="interval" x1="{svg_num(x(p10))}" y1="{svg_num(mid)}" '
                f'x2="{svg_num(x(p90))}" y2="{svg_num(mid)}"/>'
                f'<rect class="box" x="{svg_num(x(p25))}" y="{svg_num(y + 4)}" '
                f'width="{svg_num(max(x(p75) - x(p25), 0.5))}" height="{svg_num(frame.row_h - 8)}">'
                f"<title>{esc(title)}</title></rect>"
                f'<line class="median" x1="{svg_num(x(p50))}" y1="{svg_num(y + 3)}" '
                f'x2="{svg_num(x(p50))}" y2="{svg_num(y + frame.row_h - 3)}"{_value_attr(p50)}/>'
            )
            text = f"median {fmt(p50)} ({fmt(p10)} to {fmt(p90)})"
        parts.append(value_text(frame.width - 4, mid + 4, text))
    return frame.end(parts)


# -- the page ----------------------------------------------------------------------------

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; color: #1d232b; margin: 2em auto;
       max-width: 1200px; padding: 0 1.5em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #d5dae0; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border: 1px solid #d5dae0; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f1f3f6; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
nav a { margin-right: 1em; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; }
dt { font-weight: 600; }
dd { margin: 0; }
.note { color: #56606b; max-width: 60em; }
.warn { color: #8a4b00; }
svg.chart { font: 11px system-ui, sans-serif; display: block; margin: 0.6em 0; max-width: 100%;
            height: auto; }
svg .grid { stroke: #e6e9ed; }
svg .zero, svg .axis { stroke: #56606b; }
svg .head { font-weight: 600; }
svg .pos { fill: #3a8a50; stroke: #3a8a50; }
svg .neg { fill: #c0473f; stroke: #c0473f; }
svg .bar { fill: #4a78a8; stroke: #4a78a8; }
svg .alt { fill: #d08a2e; stroke: #d08a2e; }
svg .box { fill: #c9d9ea; stroke: #4a78a8; }
svg .median { stroke: #1d232b; stroke-width: 2; }
svg .interval { stroke: #56606b; stroke-width: 2; }
svg polyline.line { fill: none; stroke-width: 2; }
svg .tick { fill: #56606b; }
svg .cell-light { fill: #1d232b; font-size: 9px; }
svg .cell-dark { fill: #ffffff; font-size: 9px; }
svg line.marker { stroke: #c0473f; stroke-width: 2; stroke-dasharray: 4 3; }
svg text.marker { fill: #c0473f; }
footer { margin-top: 3em; padding-top: 0.8em; border-top: 1px solid #d5dae0; color: #56606b; }
"""


def table(head: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    """A table of already escaped cells; ``numeric`` columns are right-aligned."""
    numeric = numeric or set()

    def cls(i: int) -> str:
        return ' class="num"' if i in numeric else ""

    out = ["<table><thead><tr>"]
    out += [f"<th{cls(i)}>{h}</th>" for i, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def write_atomic(out: Path, text: str, *, mode: int) -> None:
    """Replace ``out`` atomically with ``text`` (a new file of ``mode``, fsynced, renamed
    over the old one), so a reader sees the old page or the new one, never half."""
    parent = out.parent
    if not parent.exists():
        parent.mkdir(mode=0o700, parents=True)
        os.chmod(parent, 0o700)  # mkdir's mode goes through the umask
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
