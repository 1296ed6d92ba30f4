"""Small SVG charts for self-contained HTML reports: grouped bars (a reference and a current distribution)
and lines over time. No plotting library, no script, nothing fetched: each chart is one ``<svg>`` element
whose every text is escaped, so a column named ``<script>`` is shown, never run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

__all__ = ["PALETTE", "Line", "bars", "lines", "nice_ticks"]

PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")
"""Line and bar colours, in order (colour-blind-safe enough to tell two to four series apart)."""

_WIDTH, _HEIGHT = 640, 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 16, 28, 44
_FONT = 'font-family="system-ui, sans-serif" font-size="11"'


@dataclass(frozen=True, slots=True)
class Line:
    """One series of a line chart: ``times`` in epoch milliseconds, ``values`` (NaN: a gap)."""

    label: str
    times: Sequence[int]
    values: Sequence[float]
    dashed: bool = False


def bars(
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    y_label: str = "share of rows",
) -> str:
    """Grouped vertical bars: one group per category (or bin), one bar per series.

    >>> svg = bars("amount", ["0-10", "10-20"], [("reference", [0.5, 0.5]), ("current", [0.2, 0.8])])
    >>> svg.startswith("<svg") and svg.count("<rect") == 5  # the background and four bars
    True
    """
    values = [value for _, shares in series for value in shares if math.isfinite(value)]
    top = nice_ticks(0.0, max(values, default=1.0) or 1.0)
    y_max = top[-1]
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM
    parts = [_open(title), *_y_axis(top, y_max, y_label)]
    count = max(len(categories), 1)
    group_w = plot_w / count
    bar_w = group_w * 0.8 / max(len(series), 1)
    for index, category in enumerate(categories):
        x0 = _LEFT + index * group_w + group_w * 0.1
        for position, (_, shares) in enumerate(series):
            value = shares[index] if index < len(shares) and math.isfinite(shares[index]) else 0.0
            height = plot_h * value / y_max
            parts.append(
                f'<rect x="{x0 + position * bar_w:.1f}" y="{_TOP + plot_h - height:.1f}" width="{bar_w:.1f}" '
                f'height="{height:.1f}" fill="{PALETTE[position % len(PALETTE)]}">'
                f"<title>{escape(category)}: {value:.4g}</title></rect>"
            )
    step = max(1, math.ceil(count / 12))  # at most about 12 labels fit under the axis
    for index in range(0, len(categories), step):
        x = _LEFT + (index + 0.5) * group_w
        parts.append(
            f'<text x="{x:.1f}" y="{_TOP + plot_h + 14}" text-anchor="middle" {_FONT}>'
            f"{escape(_shorten(categories[index]))}</text>"
        )
    parts.extend(_legend([label for label, _ in series], dashed=[False] * len(series)))
    parts.append("</svg>")
    return "".join(parts)


def lines(
    title: str,
    series: Sequence[Line],
    *,
    threshold: float | None = None,
    y_label: str = "",
) -> str:
    """Lines over time, with an optional dashed threshold; a NaN value breaks its line.

    >>> svg = lines("drift", [Line("amount", [0, 3_600_000], [0.1, 0.4])], threshold=0.2)
    >>> svg.count("<polyline")
    1
    """
    times = [time for line in series for time in line.times]
    values = [value for line in series for value in line.values if math.isfinite(value)]
    if threshold is not None:
        values.append(threshold)
    low = min(0.0, min(values, default=0.0))
    ticks = nice_ticks(low, max(values, default=1.0))
    y_min, y_max = ticks[0], ticks[-1]
    t_min, t_max = min(times, default=0), max(times, default=1)
    span = max(t_max - t_min, 1)
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM

    def x_of(time: int) -> float:
        return _LEFT + plot_w * (time - t_min) / span

    def y_of(value: float) -> float:
        return _TOP + plot_h * (1 - (value - y_min) / ((y_max - y_min) or 1.0))

    parts = [_open(title), *_y_axis(ticks, y_max, y_label, y_min=y_min)]
    if threshold is not None:
        y = y_of(threshold)
        parts.append(
            f'<line x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#c44e52" '
            f'stroke-dasharray="6 4"><title>threshold {threshold:.4g}</title></line>'
        )
    for position, line in enumerate(series):
        colour = PALETTE[position % len(PALETTE)]
        dash = ' stroke-dasharray="4 3"' if line.dashed else ""
        for run in _runs(line):
            points = " ".join(f"{x_of(time):.1f},{y_of(value):.1f}" for time, value in run)
            if len(run) > 1:
                parts.append(
                    f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"{dash}/>'
                )
            for time, value in run:
                parts.append(
                    f'<circle cx="{x_of(time):.1f}" cy="{y_of(value):.1f}" r="2.5" fill="{colour}">'
                    f"<title>{escape(line.label)} {_stamp(time)}: {value:.4g}</title></circle>"
                )
    if times:  # the first, middle and last time; the outer ones anchored inside the chart
        for time, anchor in ((t_min, "start"), (t_min + span // 2, "middle"), (t_max, "end")):
            parts.append(
                f'<text x="{x_of(time):.1f}" y="{_TOP + plot_h + 14}" text-anchor="{anchor}" {_FONT}>'
                f"{_stamp(time)}</text>"
            )
    parts.extend(_legend([line.label for line in series], dashed=[line.dashed for line in series]))
    parts.append("</svg>")
    return "".join(parts)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering ``low`` to ``high``.

    >>> nice_ticks(0, 0.37)
    [0.0, 0.1, 0.2, 0.3, 0.4]
    """
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        high = low + 1.0 if math.isfinite(low) else 1.0
        low = low if math.isfinite(low) else 0.0
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(factor * magnitude for factor in (1, 2, 2.5, 5, 10) if factor * magnitude >= raw)
    start = math.floor(low / step)
    stop = math.ceil(high / step)
    return [round(index * step, 12) for index in range(start, stop + 1)]


def _open(title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {_HEIGHT}" width="{_WIDTH}" '
        f'height="{_HEIGHT}" role="img" aria-label="{escape(title)}">'
        f'<rect width="{_WIDTH}" height="{_HEIGHT}" fill="#ffffff"/>'
        f'<text x="{_LEFT}" y="16" font-weight="600" {_FONT}>{escape(title)}</text>'
    )


def _y_axis(ticks: Sequence[float], y_max: float, label: str, *, y_min: float = 0.0) -> list[str]:
    plot_h = _HEIGHT - _TOP - _BOTTOM
    parts = []
    for tick in ticks:
        y = _TOP + plot_h * (1 - (tick - y_min) / ((y_max - y_min) or 1.0))
        parts.append(
            f'<line x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>'
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" {_FONT}>{tick:.3g}</text>'
        )
    if label:
        parts.append(
            f'<text transform="translate(12 {_TOP + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle" '
            f"{_FONT}>{escape(label)}</text>"
        )
    return parts


def _legend(labels: Sequence[str], *, dashed: Sequence[bool]) -> list[str]:
    parts = []
    x = float(_LEFT)
    y = _HEIGHT - 10
    for position, label in enumerate(labels):
        colour = PALETTE[position % len(PALETTE)]
        dash = ' stroke-dasharray="4 3"' if dashed[position] else ""
        parts.append(
            f'<line x1="{x}" x2="{x + 16}" y1="{y - 4}" y2="{y - 4}" stroke="{colour}" '
            f'stroke-width="3"{dash}/>'
            f'<text x="{x + 20}" y="{y}" {_FONT}>{escape(_shorten(label, 40))}</text>'
        )
        x += 30 + 6.2 * min(len(label), 40)
    return parts


def _runs(line: Line) -> list[list[tuple[int, float]]]:
    runs: list[list[tuple[int, float]]] = [[]]
    for time, value in sorted(zip(line.times, line.values, strict=True)):
        if math.isfinite(value):
            runs[-1].append((time, value))
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if run]


def _stamp(milliseconds: int) -> str:
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _shorten(text: str, limit: int = 14) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
