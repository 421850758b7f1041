"""`fabless fleet`: the chips each replica layout needs for the demand, per chip, and what the
best layout of each chip costs."""

from __future__ import annotations

import plotly.graph_objects as go

from fabless.report.figures.common import PALETTE, figure, finite, fmt, usd


def _ok(data: dict) -> list[dict]:
    return [r for r in data.get("rows") or [] if "error" not in r]


def _label(layout: str) -> str:
    """'tp2 pp2 1P:3D' as two lines (parallelism, then the serving mode), so labels sit level."""
    head, _, mode = layout.rpartition(" ")
    return f"{head}<br>{mode}" if head else layout


def layouts(data: dict) -> go.Figure | None:
    """Chips needed by every layout tried, one group per chip; the best one outlined."""
    rows = _ok(data)
    if not rows:
        return None
    fig = figure(f"Chips to serve {fmt(data.get('demand_per_s'))} requests/s within {data.get('slo', 'the SLO')}, per layout tried",
                 height=480)
    for i, r in enumerate(rows):
        lays = [t for t in r.get("layouts") or [] if finite(t.get("chips"))]
        if not lays:
            continue
        fig.add_trace(go.Bar(
            x=[_label(t["layout"]) for t in lays], y=[t["chips"] for t in lays], name=r["chip"], marker_color=PALETTE[i % len(PALETTE)],
            textfont={"size": 11}, constraintext="none", cliponaxis=False,
            marker_line={"width": [3 if t["layout"] == r.get("best") else 0 for t in lays], "color": "black"},
            text=[("best: " if t["layout"] == r.get("best") else "") + fmt(t["chips"]) for t in lays], textposition="outside",
            customdata=[[fmt(t.get("rate_per_s"), 3), fmt(t.get("units")), fmt(t.get("chips_per_unit")), t["layout"]] for t in lays],
            hovertemplate=(f"<b>{r['chip']}</b> %{{customdata[3]}}<br>%{{y}} chips = %{{customdata[1]}} units x %{{customdata[2]}} chips<br>"
                           "%{customdata[0]} requests/s per unit within the SLO<extra></extra>")))
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="chips", rangemode="tozero")
    fig.update_xaxes(title="layout (tensor/pipeline parallel; aggregated, or prefill:decode replicas)", tickangle=0)
    return fig


def costs(data: dict) -> go.Figure | None:
    """$/month of each chip's best layout, bought and rented, and its $ per million output tokens."""
    rows = _ok(data)
    if not rows:
        return None
    fig = figure("What the best layout of each chip costs per month", height=420)
    names = [f"{r['chip']} ({r.get('best')}, {fmt(r.get('chips'))} chips)" for r in rows]
    for key, label, color, mt in (("buy_usd_per_month", "bought", "#1f77b4", "buy_usd_per_mtoken_output"),
                                  ("rent_usd_per_month", "rented", "#ff7f0e", "rent_usd_per_mtoken_output")):
        fig.add_trace(go.Bar(x=names, y=[r.get(key) for r in rows], name=label, marker_color=color,
                             text=[usd(r.get(key)) for r in rows], textposition="outside",
                             customdata=[usd(r.get(mt)) for r in rows],
                             hovertemplate=f"<b>%{{x}}</b><br>{label}: $%{{y:,.0f}}/month<br>%{{customdata}} per million output tokens<extra></extra>"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="USD per month", rangemode="tozero")
    return fig


def figures(data: dict) -> list[go.Figure]:
    return [f for f in (layouts(data), costs(data)) if f is not None]


def headline(data: dict) -> list[tuple[str, str]]:
    out = [("demand", f"{fmt(data.get('demand_per_s'))} requests/s"), ("SLO", str(data.get("slo")))]
    for r in _ok(data):
        out.append((r["chip"], f"{fmt(r.get('chips'))} chips ({r.get('best')}), {usd(r.get('buy_usd_per_month'))}/month bought"))
    for r in data.get("rows") or []:
        if "error" in r:
            out.append((r["chip"], r["error"]))
    return out
