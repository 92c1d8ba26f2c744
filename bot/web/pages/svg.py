"""Small hand-written SVG charts (lines with a y-axis from 0, sparklines, bars): fast, no CDN, no script.

Every label goes through `escape`; the rest is numbers we computed, so the result is safe to inline."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from markupsafe import Markup, escape

from bot.reports.format import day_label


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # None: no point (a day not reached yet)
    css: str  # class of the line: spent | ideal | budget
    dashed: bool = False


def nice_step(top: float, ticks: int = 4) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) that covers `top` in about `ticks` steps."""
    if top <= 0:
        return 1.0
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def line_chart(days: Sequence[date], series: Sequence[Series], label: Callable[[float], str],
               title: str, width: int = 720, height: int = 260) -> Markup:
    """Lines over continuous days; the y-axis starts at 0 and is labelled with `label` (money or tokens)."""
    left, right, top_pad, bottom = 64, 12, 28, 36
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    top = max([v for s in series for v in s.values if v is not None] + [0.0])
    step = nice_step(top)
    y_max = step * max(1, math.ceil(top / step)) if top > 0 else step * 4
    n = max(len(days) - 1, 1)

    def x(i: int) -> float:
        return left + plot_w * i / n

    def y(v: float) -> float:
        return top_pad + plot_h * (1 - v / y_max)

    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    tick = 0.0
    while tick <= y_max + step / 2:
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
                     f'<text class="ylabel" x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">'
                     f'{escape(label(tick))}</text>')
        tick += step
    every = max(1, math.ceil(len(days) / 7))  # at most ~7 day labels stay readable, also on a phone
    last = len(days) - 1
    for i, d in enumerate(days):
        # The last day is labelled unless it would sit on the label before it; anchored so it is not cut off.
        if i == last or (i % every == 0 and last - i >= every):
            anchor = "end" if i == last and i else "start" if i == 0 and last else "middle"
            parts.append(f'<text class="xlabel" x="{x(i):.1f}" y="{height - bottom + 18}" text-anchor="{anchor}">'
                         f'{escape(day_label(d))}</text>')
    for s in series:
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(s.values) if v is not None)
        if points:
            dash = ' stroke-dasharray="6 4"' if s.dashed else ""
            parts.append(f'<polyline class="line {escape(s.css)}" fill="none"{dash} points="{points}"/>')
    legend_x = left
    for s in series:
        parts.append(f'<rect class="key {escape(s.css)}" x="{legend_x}" y="8" width="12" height="4"/>'
                     f'<text class="legend" x="{legend_x + 16}" y="14">{escape(s.name)}</text>')
        legend_x += 24 + 7 * len(s.name)
    parts.append("</svg>")
    return Markup("".join(parts))


def sparkline(values: Sequence[float], limit: float | None = None, width: int = 90, height: int = 22) -> Markup:
    """Cumulative spend per day in a table cell; the budget, when it fits the scale, as a faint line."""
    if not values:
        return Markup("")
    top = max([*values, limit or 0, 1e-9])
    span, floor = height - 4, height - 2
    # The x positions are the same in every row of a table: formatted once per (days, width), not per row.
    points = " ".join([f"{x},{floor - span * v / top:.1f}" for x, v in zip(_spark_xs(len(values), width), values)])
    over = limit is not None and values[-1] > limit
    budget = ""
    if limit:
        by = floor - span * limit / top
        budget = f'<line class="spark-budget" x1="0" x2="{width}" y1="{by:.1f}" y2="{by:.1f}"/>'
    return Markup(f'<svg class="spark{" over" if over else ""}" viewBox="0 0 {width} {height}" width="{width}" '
                  f'height="{height}" aria-hidden="true" xmlns="http://www.w3.org/2000/svg">{budget}'
                  f'<polyline fill="none" points="{points}"/></svg>')


@lru_cache(maxsize=64)
def _spark_xs(count: int, width: int) -> tuple[str, ...]:
    n = max(count - 1, 1)
    return tuple(f"{width * i / n:.1f}" for i in range(count))


def bars(rows: Sequence[tuple[str, float]], label: Callable[[float], str], title: str, width: int = 720) -> Markup:
    """Horizontal bars, biggest first as given; the name on the left, the figure on the right."""
    if not rows:
        return Markup("")
    row_h, name_w, value_w = 24, 180, 90
    height = row_h * len(rows) + 8
    top = max(v for _, v in rows) or 1
    parts = [f'<svg class="chart bars" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for i, (name, value) in enumerate(rows):
        y0 = 4 + i * row_h
        w = (width - name_w - value_w) * value / top
        shown = name if len(name) <= 26 else name[:25] + "…"
        parts.append(f'<text class="legend" x="{name_w - 8}" y="{y0 + 15}" text-anchor="end">{escape(shown)}</text>'
                     f'<rect class="bar" x="{name_w}" y="{y0 + 3}" width="{max(w, 1):.1f}" height="{row_h - 8}"/>'
                     f'<text class="legend" x="{name_w + w + 6:.1f}" y="{y0 + 15}">{escape(label(value))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
