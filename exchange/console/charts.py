"""Charts as inline SVG: figures in, SVG text out, nothing else.

Pure functions, so a page draws a chart without a library or a script and a test reads the
SVG as text. Each chart carries a <title> and an aria-label; the page puts the same figures
in a table beside it for readers who cannot see the drawing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

WIDTH = 640
PLOT_HEIGHT = 200
MARGIN_LEFT = 64
MARGIN_RIGHT = 16
MARGIN_TOP = 12
AXIS_ROOM = 24
LEGEND_ROOM = 22
# Colours told apart with common colour blindness (Okabe and Ito's palette).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
MAX_AXIS_LABELS = 12

Series = tuple[str, Sequence[float]]
Format = Callable[[float], str]


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^k at or above `value` (> 0): a round top for an axis."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value * (1 - 1e-9):
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop ends at 10


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _attr(value: float) -> str:
    return f"{value:.1f}"


def _open(title: str, height: float, chart: str) -> list[str]:
    label = escape(title, quote=True)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{chart}" role="img" '
        f'aria-label="{label}" viewBox="0 0 {WIDTH} {_attr(height)}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
    ]


def _empty(title: str, chart: str) -> str:
    parts = _open(title, PLOT_HEIGHT / 2, chart)
    parts.append(
        f'<text class="empty" x="{WIDTH / 2}" y="{PLOT_HEIGHT / 4}" text-anchor="middle">No data</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def _legend(names: Sequence[str], y: float) -> list[str]:
    parts, x = [], float(MARGIN_LEFT)
    for i, name in enumerate(names):
        colour = PALETTE[i % len(PALETTE)]
        parts.append(f'<rect x="{_attr(x)}" y="{_attr(y - 9)}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{_attr(x + 14)}" y="{_attr(y)}">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return parts


def _is_empty(labels: Sequence[str], series: Sequence[Series]) -> bool:
    return not labels or not series


def _ticks(low: float, high: float, to_y: Callable[[float], float], fmt: Format) -> list[str]:
    """Gridlines and labels at the axis' bottom, middle and top, and at zero between them."""
    values = sorted({low, (low + high) / 2, high, *((0.0,) if low < 0 < high else ())})
    parts = []
    for value in values:
        y = to_y(value)
        stroke = "#555" if value == 0 else "#ddd"
        parts.append(
            f'<line class="{"zero" if value == 0 else "grid"}" '
            f'x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{_attr(y)}" y2="{_attr(y)}" '
            f'stroke="{stroke}"/>'
        )
        parts.append(
            f'<text class="tick" x="{MARGIN_LEFT - 4}" y="{_attr(y + 4)}" text-anchor="end">'
            f"{escape(fmt(value))}</text>"
        )
    return parts


def _x_labels(labels: Sequence[str], centre: Callable[[int], float], y: float) -> list[str]:
    every = max(1, math.ceil(len(labels) / MAX_AXIS_LABELS))
    return [
        f'<text class="x-label" x="{_attr(centre(i))}" y="{_attr(y)}" text-anchor="middle">'
        f"{escape(label)}</text>"
        for i, label in enumerate(labels)
        if i % every == 0
    ]


def stacked_bars(title: str, labels: Sequence[str], series: Sequence[Series], fmt: Format = _number) -> str:
    """A bar per label, each series stacked on the one before; values must not be negative."""
    if _is_empty(labels, series):
        return _empty(title, "stacked")
    totals = [sum(values[i] for _, values in series) for i in range(len(labels))]
    top = nice_ceiling(max(totals))
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    band = plot_width / len(labels)
    bottom = MARGIN_TOP + PLOT_HEIGHT

    def to_y(value: float) -> float:
        return bottom - value / top * PLOT_HEIGHT

    def centre(i: int) -> float:
        return MARGIN_LEFT + band * (i + 0.5)

    parts = _open(title, bottom + AXIS_ROOM + LEGEND_ROOM, "stacked")
    parts += _ticks(0.0, top, to_y, fmt)
    for i, label in enumerate(labels):
        base = 0.0
        for s, (name, values) in enumerate(series):
            value = values[i]
            if value <= 0:
                continue
            y_top, y_base = to_y(base + value), to_y(base)
            parts.append(
                f'<rect class="bar" x="{_attr(centre(i) - band * 0.4)}" y="{_attr(y_top)}" '
                f'width="{_attr(band * 0.8)}" height="{_attr(y_base - y_top)}" '
                f'fill="{PALETTE[s % len(PALETTE)]}">'
                f"<title>{escape(f'{label} {name}: {fmt(value)}')}</title></rect>"
            )
            base += value
    parts += _x_labels(labels, centre, bottom + 16)
    parts += _legend([name for name, _ in series], bottom + AXIS_ROOM + 14)
    parts.append("</svg>")
    return "\n".join(parts)


def horizontal_bars(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    maximum: float | None = None,
    fmt: Format = _number,
) -> str:
    """A group of bars per label, one per series, growing right from zero to `maximum`
    (default: a round number above the largest value); values must not be negative."""
    if _is_empty(labels, series):
        return _empty(title, "horizontal")
    left = 180
    bar = 12
    row = bar * len(series) + 10
    top = maximum if maximum is not None else nice_ceiling(max(max(v, default=0) for _, v in series))
    plot_width = WIDTH - left - MARGIN_RIGHT - 48
    height = MARGIN_TOP + row * len(labels) + LEGEND_ROOM + 8
    parts = _open(title, height, "horizontal")
    parts.append(
        f'<line class="zero" x1="{left}" x2="{left}" y1="{MARGIN_TOP}" '
        f'y2="{_attr(MARGIN_TOP + row * len(labels))}" stroke="#555"/>'
    )
    for i, label in enumerate(labels):
        y = MARGIN_TOP + row * i
        shown = label if len(label) <= 28 else label[:27] + "…"
        parts.append(
            f'<text class="y-label" x="{left - 6}" y="{_attr(y + row / 2 + 2)}" text-anchor="end">'
            f"{escape(shown)}</text>"
        )
        for s, (name, values) in enumerate(series):
            value = min(values[i], top)
            length = value / top * plot_width if top else 0.0
            y_bar = y + 4 + bar * s
            parts.append(
                f'<rect class="bar" x="{left}" y="{_attr(y_bar)}" width="{_attr(length)}" height="{bar - 2}" '
                f'fill="{PALETTE[s % len(PALETTE)]}">'
                f"<title>{escape(f'{label} {name}: {fmt(values[i])}')}</title></rect>"
            )
            parts.append(
                f'<text class="value" x="{_attr(left + length + 4)}" y="{_attr(y_bar + bar - 3)}">'
                f"{escape(fmt(values[i]))}</text>"
            )
    parts += _legend([name for name, _ in series], height - 8)
    parts.append("</svg>")
    return "\n".join(parts)


def line_chart(title: str, labels: Sequence[str], series: Sequence[Series], fmt: Format = _number) -> str:
    """A line per series across the labels, with a dot at each value; negative values go below
    a zero line. One label draws a dot per series at the middle."""
    if _is_empty(labels, series):
        return _empty(title, "line")
    values = [v for _, vs in series for v in vs]
    high = nice_ceiling(max(values)) if max(values) > 0 else 0.0
    low = -nice_ceiling(-min(values)) if min(values) < 0 else 0.0
    if high == low:
        high = 1.0
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT - 16
    bottom = MARGIN_TOP + PLOT_HEIGHT

    def to_y(value: float) -> float:
        return bottom - (value - low) / (high - low) * PLOT_HEIGHT

    def to_x(i: int) -> float:
        if len(labels) == 1:
            return MARGIN_LEFT + 8 + plot_width / 2
        return MARGIN_LEFT + 8 + plot_width * i / (len(labels) - 1)

    parts = _open(title, bottom + AXIS_ROOM + LEGEND_ROOM, "line")
    parts += _ticks(low, high, to_y, fmt)
    for s, (name, vs) in enumerate(series):
        colour = PALETTE[s % len(PALETTE)]
        points = " ".join(f"{_attr(to_x(i))},{_attr(to_y(v))}" for i, v in enumerate(vs))
        if len(vs) > 1:
            parts.append(
                f'<polyline class="line" fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>'
            )
        for i, v in enumerate(vs):
            parts.append(
                f'<circle class="point" cx="{_attr(to_x(i))}" cy="{_attr(to_y(v))}" r="3" fill="{colour}">'
                f"<title>{escape(f'{labels[i]} {name}: {fmt(v)}')}</title></circle>"
            )
    parts += _x_labels(labels, to_x, bottom + 16)
    parts += _legend([name for name, _ in series], bottom + AXIS_ROOM + 14)
    parts.append("</svg>")
    return "\n".join(parts)
