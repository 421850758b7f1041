"""`fabless explore`: the Pareto front among every feasible design (hover: the design's
parameters; click a front design: its chip file), the shipped chips beside them, and the
sensitivity of each objective to each parameter."""

from __future__ import annotations


import plotly.graph_objects as go

from fabless.report.figures.common import PALETTE, figure, finite, fmt, log_ticks

#: The id of the Pareto figure's div: the page's click handler finds it by this id.
PARETO_DIV = "fabless-pareto"


def axes(data: dict) -> tuple[str, str]:
    objs = [o["metric"] for o in data.get("objectives") or []]
    if len(objs) > 1:
        return objs[0], objs[1]
    return (objs[0] if objs else "tokens_per_usd"), "tdp_w"


def _params(row: dict, params: list[str]) -> str:
    return "<br>".join(f"{p} = {fmt(row[p]) if isinstance(row.get(p), (int, float)) else row.get(p)}" for p in params if p in row)


def _log(values) -> bool:
    v = [x for x in values if finite(x) and x > 0]
    return bool(v) and max(v) / min(v) > 30


def pareto(data: dict) -> go.Figure | None:
    """Every feasible design (grey, a sample where there are many), the front (blue, best first),
    the shipped chips (stars) on the first two objectives."""
    x, y = axes(data)
    front = [r for r in data.get("front") or [] if finite(r.get(x)) and finite(r.get(y))]
    on_front = {r.get("id") for r in front}
    points = [r for r in data.get("points") or [] if finite(r.get(x)) and finite(r.get(y)) and r.get("id") not in on_front]
    if not front and not points:
        return None
    params = data.get("parameters") or []
    shown = f"{len(points):,}" + (f" of {data.get('feasible'):,}" if data.get("feasible") and data["feasible"] > len(points) else "")
    fig = figure(f"{data.get('space', 'design space')}: Pareto front ({len(front)} design{'s' if len(front) != 1 else ''} shown) among {shown} feasible designs "
                 "(click a front design for its chip file)", height=560)
    if points:
        fig.add_trace(go.Scatter(x=[r[x] for r in points], y=[r[y] for r in points], mode="markers", name="feasible designs",
                                   marker={"color": "#c7c7c7", "size": 5}, text=[f"design {r.get('id')}" for r in points],
                                   customdata=[_params(r, params) for r in points],
                                   hovertemplate="<b>%{text}</b><br>" + x + " %{x:.4g}<br>" + y + " %{y:.4g}<br>%{customdata}<extra></extra>"))
    if front:
        order = sorted(front, key=lambda r: r[x])
        fig.add_trace(go.Scatter(x=[r[x] for r in order], y=[r[y] for r in order], mode="lines+markers", name="Pareto front",
                                 marker={"color": PALETTE[0], "size": 10}, line={"color": PALETTE[0]},
                                 text=[f"design {r.get('id')}" for r in order], ids=[str(r.get("id")) for r in order],
                                 customdata=[_params(r, params) + (f"<br>unit cost ${fmt(r['unit_cost_usd'])}" if finite(r.get("unit_cost_usd")) else "")
                                             + (f", TDP {fmt(r['tdp_w'])} W" if finite(r.get("tdp_w")) else "") for r in order],
                                 hovertemplate="<b>%{text}</b> (front)<br>" + x + " %{x:.4g}<br>" + y + " %{y:.4g}<br>%{customdata}<extra></extra>"))
    refs = [r for r in data.get("references") or [] if finite(r.get(x)) and finite(r.get(y)) and r.get(x, 0) > 0]
    if refs:
        fig.add_trace(go.Scatter(x=[r[x] for r in refs], y=[r[y] for r in refs], mode="markers+text", name="shipped chips (bought)",
                                 marker={"symbol": "star", "size": 16, "color": ["#d62728" if r.get("feasible") else "#ff7f0e" for r in refs]},
                                 text=[r["name"] for r in refs], textposition="top center",
                                 customdata=[f"price: {r.get('price_basis')}" + (f"<br>infeasible: {r['reason']}" if r.get("reason") else "")
                                             for r in refs],
                                 hovertemplate="<b>%{text}</b><br>" + x + " %{x:.4g}<br>" + y + " %{y:.4g}<br>%{customdata}<extra></extra>"))
    allx = [r[x] for r in points + front + refs]
    ally = [r[y] for r in points + front + refs]
    fig.update_xaxes(title=x, **(log_ticks(allx) if _log(allx) else {"type": "linear"}))
    fig.update_yaxes(title=y, **(log_ticks(ally) if _log(ally) else {"type": "linear"}))
    return fig


def sensitivity(data: dict) -> go.Figure | None:
    """The share of each objective's variance (log scale) that each parameter explains alone."""
    sens = data.get("sensitivity") or []
    if not sens:
        return None
    objs = [k for k in sens[0] if k != "parameter"]
    fig = figure("Sensitivity: share of each objective's variance explained by the parameter alone", height=420)
    for i, m in enumerate(objs):
        fig.add_trace(go.Bar(x=[r["parameter"] for r in sens], y=[r.get(m) for r in sens], name=m, marker_color=PALETTE[i % len(PALETTE)],
                             hovertemplate="<b>%{x}</b><br>" + m + ": %{y:.1%} of the variance<extra></extra>"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="share of variance", tickformat=".0%", rangemode="tozero")
    return fig


def figures(data: dict) -> list[go.Figure]:
    return [f for f in (pareto(data), sensitivity(data)) if f is not None]


def headline(data: dict) -> list[tuple[str, str]]:
    x, y = axes(data)
    out = [("designs evaluated", fmt(data.get("designs"))), ("feasible", fmt(data.get("feasible"))),
           ("objectives", ", ".join(f"{o['sense']} {o['metric']}" for o in data.get("objectives") or []))]
    front = data.get("front") or []
    if front and finite(front[0].get(x)):
        out.append(("best by " + x, f"design {front[0].get('id')}: {fmt(front[0][x])}"))
    return out


def yaml_of(data: dict) -> dict[str, str]:
    """Front design id -> its chip YAML text (the page shows it on a click)."""
    return {str(k): v for k, v in (data.get("front_chip_yaml") or {}).items() if isinstance(v, str)}


