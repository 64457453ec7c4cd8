"""The report's figures as inline SVG: line charts, the confusion heat map, a scatter plot
and a histogram.

Inline SVG rather than matplotlib PNGs: it needs no optional dependency (a report is
written by every install, as numrec-train finishes), stays sharp at any zoom and in print,
keeps the figures' text selectable and searchable (a class name in a 47-class heat map),
carries a tooltip per heat-map cell (``<title>``), and is a few kB per chart, written in
milliseconds. Each figure scales down with the page (``viewBox`` + ``max-width: 100%``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

import numpy as np

FONT = 11  # px, axis labels and ticks
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")


@dataclass
class Series:
    """One line of a chart: y values per x (None where there is none, e.g. no test split)."""

    name: str
    xs: list[float]
    ys: list[float | None]
    color: str
    dash: str = ""  # an SVG stroke-dasharray, so lines differ without colour too


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [low, high] (1, 2 or 5 times 10^k apart)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 12))
    return ticks


def _tick_text(value: float) -> str:
    return f"{value:g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"


class Frame:
    """A plot area: maps data coordinates to pixels and draws the axes, grid and labels."""

    def __init__(
        self,
        width: int,
        height: int,
        xs: tuple[float, float],
        ys: tuple[float, float],
        *,
        left: int = 52,
        bottom: int = 40,
        top: int = 30,
        right: int = 14,
        integer_x: bool = False,
    ) -> None:
        self.width, self.height = width, height
        self.left, self.right, self.top, self.bottom = left, right, top, bottom
        if integer_x:
            if xs[1] <= xs[0]:  # one epoch: its point in the middle, not on the edge
                xs = (xs[0] - 1, xs[0] + 1)
            ticks = nice_ticks(*xs, count=min(8, max(1, int(xs[1] - xs[0]))))
            self.x_ticks = [t for t in ticks if t == int(t)] or [xs[0]]
            self.x_range = (min(xs[0], self.x_ticks[0]), max(xs[1], self.x_ticks[-1]))
            if self.x_range[1] == self.x_range[0]:
                self.x_range = (self.x_range[0] - 1, self.x_range[1] + 1)
        else:
            self.x_ticks = nice_ticks(*xs)
            self.x_range = (self.x_ticks[0], self.x_ticks[-1])
        self.y_ticks = nice_ticks(*ys)
        self.y_range = (self.y_ticks[0], self.y_ticks[-1])

    def x(self, value: float) -> float:
        lo, hi = self.x_range
        return self.left + (value - lo) / (hi - lo) * (self.width - self.left - self.right)

    def y(self, value: float) -> float:
        lo, hi = self.y_range
        span = hi - lo if hi > lo else 1.0
        return (
            self.height - self.bottom - (value - lo) / span * (self.height - self.top - self.bottom)
        )

    def axes(self, title: str, x_label: str, y_label: str) -> list[str]:
        w, h, b = self.width, self.height, self.bottom
        parts = [f'<text x="{w / 2:.0f}" y="16" class="title">{escape(title)}</text>']
        for t in self.y_ticks:
            y = self.y(t)
            parts.append(
                f'<line x1="{self.left}" x2="{w - self.right}" y1="{y:.1f}" '
                f'y2="{y:.1f}" class="grid"/>'
            )
            parts.append(
                f'<text x="{self.left - 5}" y="{y + 4:.1f}" class="tick" '
                f'text-anchor="end">{_tick_text(t)}</text>'
            )
        for t in self.x_ticks:
            x = self.x(t)
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{h - b}" y2="{h - b + 4}" class="axis"/>'
            )
            parts.append(
                f'<text x="{x:.1f}" y="{h - b + 16}" class="tick" '
                f'text-anchor="middle">{_tick_text(t)}</text>'
            )
        parts += [
            f'<line x1="{self.left}" x2="{w - self.right}" y1="{h - b}" y2="{h - b}" '
            'class="axis"/>',
            f'<line x1="{self.left}" x2="{self.left}" y1="{self.top}" y2="{h - b}" class="axis"/>',
            f'<text x="{(self.left + w - self.right) / 2:.0f}" y="{h - 6}" class="label" '
            f'text-anchor="middle">{escape(x_label)}</text>',
            f'<text transform="translate(13 {(self.top + h - b) / 2:.0f}) rotate(-90)" '
            f'class="label" text-anchor="middle">{escape(y_label)}</text>',
        ]
        return parts


def _svg(width: float, height: float, parts: list[str], label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" role="img" aria-label="{escape(label)}">'
        + "".join(parts)
        + "</svg>"
    )


def line_chart(
    series: list[Series],
    title: str,
    x_label: str,
    y_label: str,
    *,
    mark_x: float | None = None,
    mark_label: str = "",
    width: int = 470,
    height: int = 300,
) -> str:
    """Lines with a point per x; ``mark_x`` draws a dashed vertical line (the best epoch)."""
    xs = [x for s in series for x, y in zip(s.xs, s.ys) if y is not None]
    ys = [y for s in series for y in s.ys if y is not None and math.isfinite(y)]
    if not xs or not ys:
        return ""
    frame = Frame(width, height, (min(xs), max(xs)), (min(ys), max(ys)), integer_x=True, top=46)
    parts = frame.axes(title, x_label, y_label)
    if mark_x is not None:
        x = frame.x(mark_x)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{frame.top}" '
            f'y2="{height - frame.bottom}" class="mark"/>'
        )
        anchor = "end" if x > width * 0.7 else "start"
        shift = -4 if anchor == "end" else 4
        # the label at the top or the bottom of the line: whichever is farther from the
        # curves where they cross it
        near = [frame.y(y) for s in series for sx, y in zip(s.xs, s.ys)
                if sx == mark_x and y is not None and math.isfinite(y)]  # fmt: skip
        top, bottom = frame.top + 11, height - frame.bottom - 5
        y = top
        if near and min(abs(v - bottom) for v in near) > min(abs(v - top) for v in near):
            y = bottom
        parts.append(
            f'<text x="{x + shift:.1f}" y="{y}" class="mark-label" '
            f'text-anchor="{anchor}">{escape(mark_label)}</text>'
        )
    for s in series:
        points = [
            (frame.x(x), frame.y(y))
            for x, y in zip(s.xs, s.ys)
            if y is not None and math.isfinite(y)
        ]
        if not points:
            continue
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{s.color}" stroke-width="2"{dash}/>'
        )
        if len(points) <= 60:  # markers only while they stay apart
            parts += [
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="{s.color}"/>' for x, y in points
            ]
    # the legend in a row between the title and the plot, where no line can run over it
    x = frame.left
    for s in series:
        if not any(y is not None for y in s.ys):
            continue
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        parts.append(
            f'<line x1="{x}" x2="{x + 22}" y1="30" y2="30" stroke="{s.color}" '
            f'stroke-width="2"{dash}/><text x="{x + 27}" y="34" '
            f'class="legend">{escape(s.name)}</text>'
        )
        x += 40 + 7 * len(s.name)
    return _svg(width, height, parts, title)


def _mix(share: float, rgb: tuple[int, int, int]) -> str:
    """White blended towards ``rgb`` by ``share`` (0..1)."""
    r, g, b = (round(255 + (c - 255) * share) for c in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def heat_map(counts: np.ndarray, names: list[str]) -> str:
    """The confusion matrix: rows true class, columns predicted, a count in every non-empty
    cell. Colour is the share of the true class: blue on the diagonal (right), orange off
    it (confused), on a square-root scale so that a 1 % confusion is still visible."""
    counts = np.asarray(counts, dtype=np.int64)
    k = len(names)
    # cells shrink with the classes so that the matrix fits a page (about 900 px): 47
    # classes (EMNIST balanced) get 18 px; beyond about 70 the counts are left to the
    # colours and the tooltips, as digits would no longer be legible
    cell = 44 if k <= 12 else 28 if k <= 26 else max(6, min(18, 880 // k))
    longest = max((len(n) for n in names), default=1)
    label_font = 11 if k <= 26 else min(9.0, max(5.0, 0.6 * cell))
    left = 34 + min(longest, 14) * label_font * 0.62
    slanted = longest * label_font * 0.62 > cell - 2  # upright while the names fit a cell
    top = 30 + (min(longest, 14) * label_font * 0.5 if slanted else label_font)
    # a slanted label of the last column reaches past the matrix: room for it on the right
    right = 10 + (min(longest, 14) * label_font * 0.62 * 0.64 if slanted else 0)
    width, height = left + k * cell + right, top + k * cell + 10
    totals = np.maximum(counts.sum(axis=1), 1)
    digits = len(str(int(counts.max()))) if counts.size else 1
    font = min(12.0, cell * 0.45, cell * 0.92 / (0.6 * digits))
    parts = [
        f'<text x="{left + k * cell / 2:.0f}" y="12" class="label" text-anchor="middle">'
        "predicted class</text>",
        f'<text transform="translate(11 {top + k * cell / 2:.0f}) rotate(-90)" class="label" '
        'text-anchor="middle">true class</text>',
    ]
    for j, name in enumerate(names):  # column labels, slanted so that long names fit
        x, y = left + j * cell + cell / 2, top - 5
        if slanted:
            parts.append(
                f'<text transform="translate({x:.1f} {y:.1f}) rotate(-50)" '
                f'font-size="{label_font}" class="name">{escape(name[:14])}</text>'
            )
        else:
            parts.append(
                f'<text x="{x:.1f}" y="{y:.1f}" font-size="{label_font}" '
                f'text-anchor="middle" class="name">{escape(name)}</text>'
            )
    for i, name in enumerate(names):
        y = top + i * cell + cell / 2 + label_font * 0.35
        parts.append(
            f'<text x="{left - 5:.1f}" y="{y:.1f}" font-size="{label_font}" '
            f'text-anchor="end" class="name">{escape(name[:14])}</text>'
        )
    for i in range(1, k, 2):  # every other row striped, so the eye can follow a row
        parts.append(f'<rect x="{left:.1f}" y="{top + i * cell:.1f}" width="{k * cell}" '
                     f'height="{cell}" fill="#f4f6f8"/>')  # fmt: skip
    # only the diagonal and the non-empty cells are drawn: a 47-class matrix is mostly
    # empty, and each drawn cell carries its tooltip
    for i, j in sorted({(c, c) for c in range(k)} | set(zip(*np.nonzero(counts)))):
        i, j = int(i), int(j)
        n = int(counts[i, j])
        share = n / totals[i]
        x, y = left + j * cell, top + i * cell
        if i == j:
            fill, strength = _mix(share, (31, 90, 170)), share
        else:
            strength = math.sqrt(share)
            fill = _mix(strength, (222, 92, 20))
        tip = f"true {names[i]}, predicted {names[j]}: {n} ({100 * share:.1f} % of {names[i]})"
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell}" height="{cell}" '
            f'fill="{fill}" class="cell"><title>{escape(tip)}</title></rect>'
        )
        if n and font >= 5.5:
            color = "#fff" if strength > 0.55 else "#222"
            parts.append(
                f'<text x="{x + cell / 2:.1f}" y="{y + cell / 2 + font * 0.35:.1f}" '
                f'font-size="{font:.1f}" fill="{color}" text-anchor="middle">'
                f"{n}</text>"
            )
    return _svg(width, height, parts, "confusion matrix")


def scatter(
    xs: np.ndarray,
    ys: np.ndarray,
    title: str,
    x_label: str,
    y_label: str,
    *,
    diagonal: bool = False,
    zero_line: bool = False,
    width: int = 420,
    height: int = 380,
) -> str:
    """Points (at most a few thousand: the caller samples); ``diagonal`` draws y = x."""
    xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    keep = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[keep], ys[keep]
    if not len(xs):
        return ""
    lo_x, hi_x, lo_y, hi_y = xs.min(), xs.max(), ys.min(), ys.max()
    if diagonal:  # the same range on both axes, so that y = x is the 45 degree line
        lo_x = lo_y = min(lo_x, lo_y)
        hi_x = hi_y = max(hi_x, hi_y)
    frame = Frame(width, height, (lo_x, hi_x), (lo_y, hi_y), left=58)
    parts = frame.axes(title, x_label, y_label)
    if diagonal:
        lo, hi = max(frame.x_range[0], frame.y_range[0]), min(frame.x_range[1], frame.y_range[1])
        parts.append(
            f'<line x1="{frame.x(lo):.1f}" y1="{frame.y(lo):.1f}" x2="{frame.x(hi):.1f}" '
            f'y2="{frame.y(hi):.1f}" class="mark"/>'
        )
    if zero_line and frame.y_range[0] < 0 < frame.y_range[1]:
        parts.append(
            f'<line x1="{frame.left}" x2="{width - frame.right}" y1="{frame.y(0):.1f}" '
            f'y2="{frame.y(0):.1f}" class="mark"/>'
        )
    parts += [
        f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="2" class="dot"/>'
        for x, y in zip(xs, ys)
    ]
    return _svg(width, height, parts, title)


def histogram(
    values: np.ndarray,
    title: str,
    x_label: str,
    bins: int = 30,
    *,
    width: int = 420,
    height: int = 380,
) -> str:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return ""
    counts, edges = np.histogram(values, bins=bins)
    frame = Frame(width, height, (edges[0], edges[-1]), (0, counts.max()), left=58)
    parts = frame.axes(title, x_label, "samples")
    for n, lo, hi in zip(counts, edges[:-1], edges[1:]):
        if n:
            x0, x1, y = frame.x(lo), frame.x(hi), frame.y(n)
            parts.append(
                f'<rect x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0 - 1, 1):.1f}" '
                f'height="{frame.y(0) - y:.1f}" class="bar"/>'
            )
    return _svg(width, height, parts, title)
