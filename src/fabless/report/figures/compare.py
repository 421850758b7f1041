"""`fabless chips compare`: each figure of each chip as a ratio to the first, and the chips'
rooflines (dense bf16 peak, HBM bandwidth)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from fabless.report.figures.common import PALETTE, figure, finite, fmt, log_ticks


def rows_of(data) -> list[dict]:
    return list(data.get("rows") or []) if isinstance(data, dict) else list(data or [])


def chips_of(rows: list[dict]) -> list[str]:
    return [k for k in (rows[0] if rows else {}) if k != "metric" and "/" not in k]


def ratios(data) -> go.Figure | None:
    rows = rows_of(data)
    chips = chips_of(rows)
    if len(chips) < 2:
        return None
    base = chips[0]
    fig = figure(f"Each figure as a ratio to {base} (log scale; right of 1 = more)", height=140 + 34 * len(rows))
    for i, c in enumerate(chips[1:], start=1):
        key = f"{c}/{base}"
        ratio = [r.get(key) if finite(r.get(key)) and r.get(key) > 0 else None for r in rows][::-1]
        # each bar runs from 1 (equal) to the ratio, so that a shortfall and an excess read alike
        fig.add_trace(go.Bar(y=[r["metric"] for r in rows][::-1], x=[v - 1 if v is not None else None for v in ratio], base=1,
                             orientation="h", name=c, marker_color=PALETTE[i % len(PALETTE)],
                             customdata=[[fmt(r.get(c)), fmt(r.get(base)), fmt(v, 3)] for r, v in zip(rows[::-1], ratio)],
                             hovertemplate=f"<b>%{{y}}</b><br>{c}: %{{customdata[0]}}, {base}: %{{customdata[1]}}<br>"
                                           "ratio %{customdata[2]}<extra></extra>"))
    fig.add_vline(x=1, line={"color": "black"})
    fig.update_layout(barmode="group", margin={"l": 200})
    fig.update_xaxes(title=f"ratio to {base}", **log_ticks([1.0] + [r.get(f"{c}/{base}") for r in rows for c in chips[1:]], "x"))
    return fig


def rooflines(data) -> go.Figure | None:
    rows = {r["metric"]: r for r in rows_of(data)}
    chips = chips_of(rows_of(data))
    peak, bw = rows.get("bf16 TFLOPS (dense)"), rows.get("HBM TB/s")
    if not chips or peak is None or bw is None:
        return None
    fig = figure("Rooflines: dense bf16 peak and HBM bandwidth", height=460)
    xs = np.logspace(-1, 4, 200)
    for i, c in enumerate(chips):
        p, b = peak.get(c), bw.get(c)
        if not (finite(p) and finite(b)):
            continue
        fig.add_trace(go.Scatter(x=xs, y=np.minimum(p, b * xs), mode="lines", name=c, line={"color": PALETTE[i % len(PALETTE)], "width": 2},
                                 hovertemplate=f"<b>{c}</b><br>%{{x:.3g}} FLOP/B: %{{y:.4g}} TFLOP/s<br>ridge at {fmt(p / b, 3)} FLOP/B<extra></extra>"))
    fig.update_xaxes(title="arithmetic intensity (FLOPs per byte)", **log_ticks([0.1, 1e4]))
    fig.update_yaxes(title="attainable TFLOP/s", **log_ticks([v for c in chips for v in (peak.get(c), (bw.get(c) or 0) * 0.1)]))
    return fig


def figures(data) -> list[go.Figure]:
    return [f for f in (ratios(data), rooflines(data)) if f is not None]


def headline(data) -> list[tuple[str, str]]:
    rows = rows_of(data)
    return [("chips", ", ".join(chips_of(rows))), ("figures compared", str(len(rows)))]
