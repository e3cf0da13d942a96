"""Charts as inline SVG text: line charts over dates and horizontal bar charts.

Hand-built rather than drawn by a library: the page must open from disk with no network
and no script to run, the output must be the same bytes for the same numbers (testable),
and two chart kinds do not justify a dependency. Every mark carries its exact value
(``data-value``, the text a report prints) and a ``<title>`` the browser shows on hover;
floats are used for geometry only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from html import escape
from typing import Any

import attrs

Number = Decimal | int
PALETTE = ("#2f6fb3", "#e07b28", "#3a9a5b", "#b6403a", "#7d5bb0", "#8c6d3f", "#d0589c", "#6b7b8c",
           "#a5a52a", "#2aa5b5", "#1b4f72", "#f0b323", "#145a32", "#f1948a", "#4a235a", "#85929e")
ANOMALY_COLOUR = "#d11a1a"


@attrs.frozen(kw_only=True, slots=True)
class Marker:
    """A point to ring on a line chart: series ``series`` at date ``x``, with a note."""

    series: str
    x: str
    note: str


def nice_step(top: float, ticks: int = 4) -> float:
    """A round step (1, 2 or 5 times a power of ten) that covers ``top`` in about ``ticks``."""
    if top <= 0:
        return 1.0
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def plain(value: Number) -> str:
    """A number with thousands separators, as a person reads it (exact, not rounded)."""
    return f"{value:,}"


def _attr(text: object) -> str:
    return escape(str(text), quote=True)


def _axis_label(value: float, step: float) -> str:
    return f"{value:,.0f}" if step >= 1 else f"{value:,.2f}"


def _svg(width: int, height: int, label: str, body: list[str]) -> str:
    return (f'<svg viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="{_attr(label)}" font-family="system-ui, sans-serif" '
            f'font-size="11">' + "".join(body) + "</svg>")


def _empty(width: int, label: str) -> str:
    text = f'<text class="empty" x="{width / 2:.0f}" y="34" text-anchor="middle" fill="#777">no data in this range</text>'
    return _svg(width, 60, label, [text])


def line_chart(series: Mapping[str, Sequence[tuple[str, Number]]], *, label: str, unit: str,
               markers: Sequence[Marker] = (), show: Callable[[Any], str] = plain,
               width: int = 560, height: int = 250) -> str:
    """One line per series over shared dates (each series lists the same dates in order);
    ``markers`` ring the named points in red."""
    xs = list(dict.fromkeys(x for points in series.values() for x, _ in points))
    if not xs:
        return _empty(width, label)
    left, top, bottom = 64, 12, 40
    right = min(max(32 + 6 * max(len(name) for name in series), 96), 200)  # room for the legend
    height = max(height, top + bottom + 16 * (len(series) + 1))
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((float(v) for points in series.values() for _, v in points), default=0.0)
    step = nice_step(peak)
    y_max = step * max(1, math.ceil(peak / step))

    def px(i: int) -> float:
        return left + (plot_w / 2 if len(xs) == 1 else plot_w * i / (len(xs) - 1))

    def py(v: float) -> float:
        return top + plot_h * (1 - v / y_max)

    middle = top + plot_h / 2
    body = [(f'<text x="12" y="{middle:.1f}" transform="rotate(-90 12 {middle:.1f})" text-anchor="middle" '
            f'fill="#555">{escape(unit)}</text>')]
    for k in range(round(y_max / step) + 1):
        tick = k * step
        body.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{py(tick):.1f}" y2="{py(tick):.1f}" '
                    f'stroke="#e3e3e3"/><text x="{left - 6}" y="{py(tick) + 4:.1f}" text-anchor="end" '
                    f'fill="#555">{_axis_label(tick, step)}</text>')
    every = max(1, math.ceil(len(xs) / 10))
    for i, x in enumerate(xs):
        if i % every == 0 or (i == len(xs) - 1 and i % every > every / 2):  # the last, unless crowded
            body.append(f'<text x="{px(i):.1f}" y="{top + plot_h + 16}" text-anchor="middle" fill="#555">'
                        f'{escape(x[5:] if len(x) == 10 else x)}</text>')
    index = {x: i for i, x in enumerate(xs)}
    where: dict[tuple[str, str], tuple[float, float]] = {}
    for n, (name, points) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        coords = [(px(index[x]), py(float(v))) for x, v in points]
        body.append(f'<polyline class="line" data-series="{_attr(name)}" fill="none" stroke="{colour}" '
                    f'stroke-width="2" points="' + " ".join(f"{a:.1f},{b:.1f}" for a, b in coords) + '"/>')
        for (x, v), (a, b) in zip(points, coords):
            where[(name, x)] = (a, b)
            body.append(f'<circle class="mark" data-series="{_attr(name)}" data-x="{_attr(x)}" '
                        f'data-value="{_attr(v)}" cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{colour}">'
                        f'<title>{escape(f"{name}, {x}: {show(v)} {unit}")}</title></circle>')
        body.append(f'<rect x="{left + plot_w + 12}" y="{top + 4 + 16 * n}" width="10" height="10" fill="{colour}"/>'
                    f'<text x="{left + plot_w + 26}" y="{top + 13 + 16 * n}" fill="#333">{escape(name)}</text>')
    for m in markers:
        if (m.series, m.x) in where:
            a, b = where[(m.series, m.x)]
            body.append(f'<circle class="anomaly" data-series="{_attr(m.series)}" data-x="{_attr(m.x)}" '
                        f'cx="{a:.1f}" cy="{b:.1f}" r="8" fill="none" stroke="{ANOMALY_COLOUR}" stroke-width="2">'
                        f'<title>{escape(m.note)}</title></circle>')
    if markers:
        n = len(series)
        body.append(f'<circle cx="{left + plot_w + 17}" cy="{top + 9 + 16 * n}" r="5" fill="none" '
                    f'stroke="{ANOMALY_COLOUR}" stroke-width="2"/>'
                    f'<text x="{left + plot_w + 26}" y="{top + 13 + 16 * n}" fill="#333">anomaly</text>')
    return _svg(width, height, label, body)


def bar_chart(bars: Sequence[tuple[str, Number]], *, label: str, unit: str, show: Callable[[Any], str] = plain,
              width: int = 560, colour: str = PALETTE[0]) -> str:
    """Horizontal bars, one per ``(label, value)``, in the order given, the value at the end."""
    if not bars:
        return _empty(width, label)
    left, right, row = 170, 110, 20
    height = 24 + row * len(bars)
    plot_w = width - left - right
    peak = max(float(v) for _, v in bars) or 1.0
    body = []
    for i, (name, value) in enumerate(bars):
        y = 8 + i * row
        w = max(plot_w * float(value) / peak, 0.0)
        text = f"{show(value)} {unit}".strip()
        body.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end" fill="#333">{escape(name)}</text>'
                    f'<rect class="mark" data-label="{_attr(name)}" data-value="{_attr(value)}" x="{left}" y="{y + 2}" '
                    f'width="{max(w, 1.0):.1f}" height="{row - 6}" fill="{colour}"><title>{escape(f"{name}: {text}")}'
                    f'</title></rect><text x="{left + w + 6:.1f}" y="{y + 13}" fill="#333">{escape(text)}</text>')
    return _svg(width, height, label, body)
