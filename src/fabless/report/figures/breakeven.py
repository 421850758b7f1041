"""`fabless breakeven`: the fleet at which a custom chip's NRE pays back against years, the
tornado of its inputs, and the Monte Carlo spread of the break-even fleet."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from fabless.report.figures.common import figure, finite, fmt, log_ticks, usd


def _fleet(v) -> str:
    return "never" if v is None or (isinstance(v, float) and math.isinf(v)) else fmt(round(v))


def fleet_vs_years(data: dict) -> go.Figure | None:
    """Break-even fleet (in GPUs replaced, and in custom chips) against the payback horizon."""
    be = [r for r in data.get("breakeven") or [] if finite(r.get("years"))]
    if not be:
        return None
    g, c = data.get("gpu", "GPU"), data.get("custom", "custom chip")
    fig = figure(f"Break-even fleet against years: {c} (NRE {usd(data.get('nre_usd'))}) vs buying {g}", height=460)
    for key, name, color in (("breakeven_fleet_gpus", f"{g} replaced", "#1f77b4"), ("breakeven_fleet_custom_chips", f"{c} chips", "#2ca02c")):
        ys = [r.get(key) if finite(r.get(key)) else None for r in be]
        fig.add_trace(go.Scatter(x=[r["years"] for r in be], y=ys, mode="lines+markers", name=name, line={"color": color},
                                 hovertemplate=f"<b>{name}</b><br>%{{x:.3g}} years: %{{y:,.0f}}<extra></extra>"))
    q = (data.get("monte_carlo") or {}).get("quantiles") or {}
    mc_years = (data.get("monte_carlo") or {}).get("years")
    if finite(q.get("p10")) and finite(q.get("p90")) and finite(mc_years):
        fig.add_trace(go.Scatter(x=[mc_years, mc_years], y=[q["p10"], q["p90"]], mode="lines+markers", name="Monte Carlo p10-p90",
                                 line={"color": "#d62728", "width": 6}, marker={"symbol": "line-ew", "size": 14},
                                 hovertemplate="Monte Carlo at %{x:g} years: %{y:,.0f} GPUs<extra></extra>"))
    ys_all = [r.get(k) for r in be for k in ("breakeven_fleet_gpus", "breakeven_fleet_custom_chips")] + [q.get("p10"), q.get("p90")]
    if finite(data.get("fleet_gpus")):
        pb = data.get("payback_years")
        xs = [be[0]["years"], be[-1]["years"]]
        fig.add_trace(go.Scatter(x=xs, y=[data["fleet_gpus"]] * 2, mode="lines", line={"color": "black", "dash": "dash"},
                                 name=f"your fleet, {fmt(round(data['fleet_gpus']))} {g}: pays back in "
                                      + (f"{fmt(pb, 3)} years" if finite(pb) else "never"), hoverinfo="name"))
        ys_all.append(data["fleet_gpus"])
    fig.update_xaxes(title="years to repay the NRE")
    fig.update_yaxes(title="fleet size (chips)", **log_ticks(ys_all))
    return fig


def tornado(data: dict) -> go.Figure | None:
    """Each input at its low and high value, the break-even fleet it gives, widest swing on top."""
    tor = [t for t in data.get("tornado") or [] if finite(t.get("base_result"))]
    if not tor:
        return None
    base = tor[0]["base_result"]
    tor = sorted(tor, key=lambda t: (t.get("swing") if finite(t.get("swing")) else math.inf))
    g = data.get("gpu", "GPU")
    fig = figure(f"Tornado: break-even fleet ({g} equivalents) over {fmt(data.get('tornado_years'))} years, base {_fleet(base)}",
                 height=140 + 36 * len(tor), barmode="overlay")
    cap = base * 20
    for key, name, color in (("result_low", "input at its low value", "#1f77b4"), ("result_high", "input at its high value", "#ff7f0e")):
        vals = [t.get(key) for t in tor]
        fig.add_trace(go.Bar(
            y=[t["input"] for t in tor], x=[(min(v, cap) if finite(v) else cap) - base for v in vals], base=base, orientation="h",
            name=name, marker_color=color,
            customdata=[[f"{t['low' if key == 'result_low' else 'high']:.3g}", f"{t['base']:.3g}", _fleet(v)] for t, v in zip(tor, vals)],
            hovertemplate="<b>%{y}</b> at %{customdata[0]} (base %{customdata[1]})<br>break-even fleet %{customdata[2]}<extra></extra>"))
    fig.add_vline(x=base, line={"color": "black"})
    fig.update_xaxes(title=f"break-even fleet ({g} equivalents)",
                     **log_ticks([base] + [min(t.get(k), cap) if finite(t.get(k)) else cap for t in tor for k in ("result_low", "result_high")]))
    fig.update_layout(margin={"l": 160})
    return fig


def monte_carlo(data: dict) -> go.Figure | None:
    """The quantiles of the break-even fleet over the draws of the uncertain inputs."""
    mc = data.get("monte_carlo") or {}
    q = {k: v for k, v in (mc.get("quantiles") or {}).items() if finite(v)}
    if not q:
        return None
    g = data.get("gpu", "GPU")
    title = (f"Monte Carlo: break-even fleet over {fmt(mc.get('years'))} years, {fmt(mc.get('samples'))} draws; "
             f"never pays back in {100 * (mc.get('p_never') or 0):.1f}%")
    if finite(mc.get("p_pays_back")):
        title += f"; P(pays back with {fmt(round(mc['fleet_gpus']))}) = {100 * mc['p_pays_back']:.1f}%"
    fig = figure(title, height=400)
    fig.add_trace(go.Bar(x=list(q), y=list(q.values()), marker_color="#9467bd", text=[_fleet(v) for v in q.values()],
                         textposition="outside", showlegend=False,
                         hovertemplate="<b>%{x}</b>: %{y:,.0f} " + g + " equivalents<extra></extra>"))
    fig.update_yaxes(title=f"break-even fleet ({g} equivalents)", **log_ticks(list(q.values())))
    fig.update_xaxes(title="quantile of the draws")
    return fig


def figures(data: dict) -> list[go.Figure]:
    return [f for f in (fleet_vs_years(data), tornado(data), monte_carlo(data)) if f is not None]


def headline(data: dict) -> list[tuple[str, str]]:
    out = [("custom chip", str(data.get("custom"))), ("against", str(data.get("gpu"))),
           ("throughput ratio", f"{fmt(data.get('throughput_ratio'), 3)} x"), ("NRE", usd(data.get("nre_usd"))),
           ("saving per GPU-hour replaced", usd(data.get("saving_per_gpu_hour_usd")))]
    if "payback_years" in data:
        pb = data["payback_years"]
        out.append(("payback", f"{fmt(pb, 3)} years" if finite(pb) else "never"))
    return out


def inputs_table(data: dict) -> list[tuple[str, str]]:
    """The uncertain inputs of the Monte Carlo: their distribution and why."""
    return [(k, f"{v.get('distribution')} ({v.get('kind')}): {v.get('why')}")
            for k, v in ((data.get("monte_carlo") or {}).get("inputs") or {}).items() if isinstance(v, dict)]
