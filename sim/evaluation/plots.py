"""Small self-contained SVG plots for the report: a metric's mean and 95% CI against one parameter.

Hand-written SVG rather than a plotting library: the report must be one self-contained HTML file
(inline SVG needs no base64 and no script), the Markdown report links the same files, and the output
is deterministic text that tests can read. One chart kind is all the report needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import SupportsFloat, cast

__all__ = ["Series", "errorbar_svg"]

_W, _H = 520, 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 32, 52
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f")


@dataclass(frozen=True)
class Series:
    """One line of a chart: per x position, the mean, its CI, and the runs' own values (dots)."""

    label: str
    x: Sequence[object]
    mean: Sequence[float]
    low: Sequence[float]
    high: Sequence[float]
    points: Sequence[Sequence[float]] = field(default_factory=tuple)


def _as_float(x: object) -> float:
    # Only called on a numeric x axis (every value a number); Series.x is typed object for categories.
    return float(cast(SupportsFloat, x))


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi]."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def errorbar_svg(title: str, xlabel: str, ylabel: str, series: Sequence[Series]) -> str:
    """An SVG chart: per series, means joined by a line, CI whiskers, and each run as a faint dot.

    The x axis is numeric (linear) when every x value is a number, else categorical in given order.
    """
    xs_all = [x for s in series for x in s.x]
    numeric = bool(xs_all) and all(isinstance(x, int | float) and not isinstance(x, bool) for x in xs_all)
    categories = list(dict.fromkeys(str(x) for x in xs_all))
    ys = _finite([v for s in series for v in (*s.mean, *s.low, *s.high)])
    ys += _finite([v for s in series for pts in s.points for v in pts])
    y_lo, y_hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    if y_hi == y_lo:
        y_lo, y_hi = y_lo - 0.5, y_hi + 0.5
    pad = (y_hi - y_lo) * 0.08
    y_lo, y_hi = y_lo - pad, y_hi + pad
    pw, ph = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    if numeric:
        x_lo, x_hi = min(map(_as_float, xs_all)), max(map(_as_float, xs_all))
        if x_hi == x_lo:
            x_lo, x_hi = x_lo - 1, x_hi + 1
        xpad = (x_hi - x_lo) * 0.06

        def sx(x: object) -> float:
            return _LEFT + (_as_float(x) - (x_lo - xpad)) / ((x_hi + xpad) - (x_lo - xpad)) * pw

        xticks = [(sx(t), _fmt(t)) for t in _ticks(x_lo, x_hi)]
    else:

        def sx(x: object) -> float:
            return _LEFT + (categories.index(str(x)) + 0.5) / max(len(categories), 1) * pw

        xticks = [(sx(c), c) for c in categories]

    def sy(y: float) -> float:
        return _TOP + (1 - (y - y_lo) / (y_hi - y_lo)) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
        'font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<text x="{_W / 2}" y="18" text-anchor="middle" font-size="13">{escape(title)}</text>',
        f'<rect x="{_LEFT}" y="{_TOP}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>',
    ]
    for t in _ticks(y_lo, y_hi):
        y = sy(t)
        out.append(f'<line x1="{_LEFT}" x2="{_LEFT + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    for x, label in xticks:
        if _LEFT - 1 <= x <= _LEFT + pw + 1:
            out.append(
                f'<text x="{x:.1f}" y="{_TOP + ph + 16}" text-anchor="middle">{escape(str(label)[:18])}</text>'
            )
    out.append(f'<text x="{_LEFT + pw / 2}" y="{_H - 10}" text-anchor="middle">{escape(xlabel)}</text>')
    out.append(
        f'<text x="14" y="{_TOP + ph / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {_TOP + ph / 2})">{escape(ylabel)}</text>'
    )
    for i, s in enumerate(series):
        color = _COLORS[i % len(_COLORS)]
        # A small horizontal offset per series keeps overlapping whiskers apart.
        dx = (i - (len(series) - 1) / 2) * 6
        line = []
        for j, xv in enumerate(s.x):
            cx = sx(xv) + dx
            for v in _finite(s.points[j] if j < len(s.points) else []):
                out.append(f'<circle cx="{cx:.1f}" cy="{sy(v):.1f}" r="2" fill="{color}" opacity="0.3"/>')
            lo, hi, m = s.low[j], s.high[j], s.mean[j]
            if _finite([lo, hi]) == [lo, hi]:
                out.append(
                    f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{sy(lo):.1f}" y2="{sy(hi):.1f}" stroke="{color}"/>'
                )
            if _finite([m]):
                out.append(f'<circle cx="{cx:.1f}" cy="{sy(m):.1f}" r="3.5" fill="{color}"/>')
                line.append(f"{cx:.1f},{sy(m):.1f}")
        if len(line) > 1:
            out.append(f'<polyline points="{" ".join(line)}" fill="none" stroke="{color}"/>')
        if len(series) > 1:
            out.append(
                f'<text x="{_LEFT + 8}" y="{_TOP + 14 + 13 * i}" fill="{color}">{escape(s.label)}</text>'
            )
    out.append("</svg>")
    return "\n".join(out)
