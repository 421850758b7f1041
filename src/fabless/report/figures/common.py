"""What every report figure shares: its look, its size, and how numbers read in hover text."""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fabless.report.format import num

#: Width and default height of a figure, in CSS pixels (the PNG is written at this size).
WIDTH_PX = 1000
HEIGHT_PX = 480

#: One colour per bound / category, reused across figures so that a colour means one thing.
BOUND_COLORS = {"compute": "#1f77b4", "memory": "#d62728", "overhead": "#7f7f7f"}
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]


def figure(title: str, *, height: int = HEIGHT_PX, **layout: Any) -> go.Figure:
    """An empty figure with the reports' layout: white background, title, legend above the plot."""
    fig = go.Figure()
    base = {"title": {"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 16}}, "template": "plotly_white",
            "height": height, "margin": {"l": 70, "r": 30, "t": 80, "b": 60},
            "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0.0}, "hoverlabel": {"align": "left"},
            "font": {"size": 12}}
    fig.update_layout(**{**base, **layout})
    return fig


def panels(title: str, titles: list[str], *, height: int, rows: int = 1, cols: int | None = None, **layout: Any) -> go.Figure:
    """Side-by-side panels (``titles``, one per panel) under one title, with the reports' look
    and no legend (each panel says what it shows)."""
    fig = make_subplots(rows=rows, cols=cols or len(titles), subplot_titles=titles, horizontal_spacing=0.07)
    base = {"title": {"text": title, "x": 0.01, "font": {"size": 16}}, "template": "plotly_white", "height": height,
            "showlegend": False, "margin": {"l": 70, "r": 30, "t": 90, "b": 60}, "hoverlabel": {"align": "left"}}
    fig.update_layout(**{**base, **layout})
    return fig


def finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def fmt(v: Any, digits: int = 4) -> str:
    """A number for hover text (``num``), or '-'."""
    return num(v, digits) if v is not None else "-"


def seconds_text(v: float | None) -> str:
    """Seconds in the unit that reads best: '12.3 ms', '4.1 s'."""
    if v is None or not finite(v):
        return "-"
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if abs(v) >= scale:
            return f"{num(v / scale, 3)} {unit}"
    return f"{num(v * 1e9, 3)} ns"


def usd(v: float | None) -> str:
    if v is None or not finite(v):
        return "-"
    return f"${num(v, 4)}"


def log_ticks(values, suffix: str = "") -> dict:
    """Axis settings for a log axis over ``values``: ticks at 1, 2 and 5 x each power of ten in
    range, written out in full ('0.2', '50k' reads better than plotly's bare minor digits)."""
    v = [x for x in values if finite(x) and x > 0]
    if not v:
        return {"type": "log"}
    lo, hi = math.floor(math.log10(min(v))), math.ceil(math.log10(max(v)))
    ticks = [m * 10.0**e for e in range(lo, hi + 1) for m in (1, 2, 5) if min(v) / 2 <= m * 10.0**e <= max(v) * 2]
    if len(ticks) > 12:
        ticks = [t for t in ticks if f"{t:.0e}".startswith("1")]
    return {"type": "log", "tickvals": ticks, "ticktext": [_short(t) + suffix for t in ticks]}


def _short(t: float) -> str:
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if t >= scale:
            return f"{t / scale:g}{unit}"
    return f"{t:g}"
