"""`fabless estimate`: the roofline with each operator, where the time goes, memory per chip
against its capacity, and the plan against its alternatives."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from fabless.report.figures.common import BOUND_COLORS, PALETTE, figure, finite, fmt, log_ticks, seconds_text
from fabless.report.format import plan as plan_text

def _plan(p: dict, training: bool) -> str:
    """A plan as text; a training plan without its label gets ZeRO, recompute and micro-batch added."""
    if training and "label" not in p:
        extra = [f"zero{p['zero']}" if "zero" in p else "", f"rc-{p['recompute']}" if "recompute" in p else "",
                 f"mb{p['micro_batch']}" if "micro_batch" in p else ""]
        return " ".join([plan_text(p)] + [e for e in extra if e])
    return plan_text(p, training=training)


_PHASE_SYMBOL = {"prefill": "circle", "decode": "diamond", "micro-batch": "circle"}


def roofline(data: dict) -> go.Figure | None:
    """Achieved FLOP/s against arithmetic intensity (FLOPs per byte of minimum traffic) of each
    distinct operator, under the chip's roof: min(peak, bandwidth x intensity)."""
    ops = [o for o in data.get("operators") or [] if finite(o.get("flops")) and o["flops"] > 0
           and finite(o.get("bytes")) and o["bytes"] > 0 and finite(o.get("time_s")) and o["time_s"] > 0]
    roof = data.get("roofline") or {}
    if not ops or not finite(roof.get("peak_flops_per_s")) or not finite(roof.get("hbm_bytes_per_s")):
        return None
    peak, bw = roof["peak_flops_per_s"], roof["hbm_bytes_per_s"]
    fig = figure(f"Roofline: each operator of one {'micro-batch' if data.get('phase') == 'training' else 'prefill and one decode step'} "
                 f"on {roof.get('chip', data.get('chip'))} ({roof.get('dtype')} peak {fmt(peak / 1e12)} TFLOP/s, "
                 f"HBM {fmt(bw / 1e12)} TB/s)", height=540, margin={"l": 70, "r": 30, "t": 110, "b": 60})
    ai = np.array([o["flops"] / o["bytes"] for o in ops])
    lo, hi = max(ai.min() / 3, 1e-2), max(ai.max() * 3, peak / bw * 10)
    xs = np.logspace(np.log10(lo), np.log10(hi), 200)
    fig.add_trace(go.Scatter(x=xs, y=np.minimum(peak, bw * xs) / 1e12, mode="lines", name="roof: min(peak, HBM x intensity)",
                             line={"color": "black", "width": 2}, hoverinfo="skip"))
    groups: dict[tuple[str, str], list[dict]] = {}
    for o in ops:
        groups.setdefault((o["bound"], o.get("phase", "")), []).append(o)
    for (bound, phase), rows in sorted(groups.items()):
        fig.add_trace(go.Scatter(
            x=[o["flops"] / o["bytes"] for o in rows], y=[o["flops"] / o["time_s"] / 1e12 for o in rows],
            mode="markers", name=f"{phase} · {bound}-bound" if phase else f"{bound}-bound",
            marker={"color": BOUND_COLORS.get(bound, "#333"), "symbol": _PHASE_SYMBOL.get(phase, "circle"), "size": 10,
                    "line": {"width": 1, "color": "white"}},
            text=[o["name"] for o in rows],
            customdata=[[o.get("phase", ""), o.get("shape", ""), seconds_text(o["time_s"]), fmt(o.get("calls")),
                         seconds_text(o["time_s"] * o.get("calls", 1.0)), o["bound"], o.get("kind", "")] for o in rows],
            hovertemplate=("<b>%{text}</b> (%{customdata[6]}, %{customdata[0]})<br>shape: %{customdata[1]}<br>"
                           "time per call: %{customdata[2]} x %{customdata[3]} calls = %{customdata[4]}<br>"
                           "bound: %{customdata[5]}<br>intensity: %{x:.3g} FLOP/B<br>achieved: %{y:.4g} TFLOP/s<extra></extra>")))
    fig.update_xaxes(title="arithmetic intensity (FLOPs per byte of minimum HBM traffic)", **log_ticks([lo, hi]))
    fig.update_yaxes(title="achieved TFLOP/s", **log_ticks([o["flops"] / o["time_s"] / 1e12 for o in ops] + [peak / 1e12, bw * lo / 1e12]))
    return fig


def breakdown(data: dict) -> go.Figure | None:
    """Seconds by phase (prefill, decode; or the training step) and kind, stacked."""
    br = {k: v for k, v in (data.get("breakdown_s") or {}).items() if finite(v) and v > 0}
    if not br:
        return None
    rows: dict[str, dict[str, float]] = {}
    for key, v in br.items():
        phase, _, kind = key.partition(".") if "." in key else ("step", "", key)
        rows.setdefault(kind or phase, {})[phase] = rows.setdefault(kind or phase, {}).get(phase, 0.0) + v
    phases = list(dict.fromkeys(p for d in rows.values() for p in d))
    total = sum(br.values())
    what = "one request's end-to-end latency" if data.get("phase") == "inference" else "the training step (busiest stage)"
    fig = figure(f"Where the time goes: {what}, {seconds_text(total)} in all", height=120 + 60 * len(phases) + 80)
    for i, (kind, d) in enumerate(sorted(rows.items(), key=lambda kv: -sum(kv[1].values()))):
        fig.add_trace(go.Bar(y=phases, x=[d.get(p, 0.0) for p in phases], name=kind, orientation="h",
                             marker_color=PALETTE[i % len(PALETTE)],
                             customdata=[[seconds_text(d.get(p, 0.0)), f"{100 * d.get(p, 0.0) / total:.1f}%"] for p in phases],
                             hovertemplate=f"<b>{kind}</b> (%{{y}})<br>%{{customdata[0]}}, %{{customdata[1]}} of the total<extra></extra>"))
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title="seconds")
    return fig


def memory(data: dict) -> go.Figure | None:
    """Bytes one chip holds, term by term, against its capacity and the usable share."""
    mem = {k: v for k, v in (data.get("memory") or {}).items() if k != "total" and finite(v)}
    if not mem:
        return None
    fig = figure(f"Memory per chip: {fmt((data.get('memory') or {}).get('total', sum(mem.values())) / 1e9)} GB", height=300)
    for i, (k, v) in enumerate(mem.items()):
        fig.add_trace(go.Bar(y=["one chip"], x=[v / 1e9], name=k, orientation="h", marker_color=PALETTE[i % len(PALETTE)],
                             hovertemplate=f"<b>{k}</b>: %{{x:.4g}} GB<extra></extra>"))
    fig.update_layout(barmode="stack")
    for key, label, dash in (("memory_capacity_bytes", "capacity", "solid"), ("memory_usable_bytes", "usable", "dash")):
        if finite(data.get(key)):
            gb = data[key] / 1e9
            fig.add_vline(x=gb, line={"color": "black", "dash": dash}, annotation_text=f"{label} {fmt(gb)} GB",
                          annotation_position="top right" if label == "capacity" else "top left")
    fig.update_xaxes(title="GB", rangemode="tozero")
    return fig


def plans(data: dict) -> go.Figure | None:
    """The plan chosen against the next best plans the search found (parallel: auto)."""
    alts = data.get("alternatives") or []
    if not alts:
        return None
    training = data.get("phase") == "training"
    key, label = ("step_time_s", "step time (s)") if training else ("output_tokens_per_s", "output tokens/s")
    chosen = data.get(key)
    names = [f"chosen: {_plan(data.get('plan') or {}, training)}"]
    vals = [chosen]
    hover = ["the plan chosen"]
    for a in alts:
        names.append(_plan(a if training else a.get("plan") or {}, training))
        vals.append(a.get(key))
        hover.append(f"loses on {a['loses_on']} by {seconds_text(a.get('loses_by_s'))}" if "loses_on" in a
                     else f"TTFT {seconds_text(a.get('ttft_s'))}, TPOT {seconds_text(a.get('tpot_s'))}")
    fig = figure(f"The plan and its alternatives ({'lower' if training else 'higher'} is better)", height=140 + 40 * len(names))
    fig.add_trace(go.Bar(y=names[::-1], x=vals[::-1], orientation="h", text=[fmt(v) for v in vals[::-1]], textposition="auto",
                         marker_color=["#1f77b4"] * (len(names) - 1) + ["#2ca02c"], customdata=hover[::-1],
                         hovertemplate="<b>%{y}</b><br>" + label + ": %{x:.4g}<br>%{customdata}<extra></extra>", showlegend=False))
    fig.update_xaxes(title=label)
    fig.update_layout(margin={"l": 260})
    return fig


def figures(data: dict) -> list[go.Figure]:
    return [f for f in (roofline(data), breakdown(data), memory(data), plans(data)) if f is not None]


def headline(data: dict) -> list[tuple[str, str]]:
    """The figures a person reads first, as (label, text) pairs for the page's summary."""
    if data.get("phase") == "training":
        out = [("step time", seconds_text(data.get("step_time_s"))), ("tokens/s", fmt(data.get("tokens_per_s"))),
               ("MFU", f"{100 * data['mfu']:.1f}%" if finite(data.get("mfu")) else "-")]
    else:
        out = [("TTFT", seconds_text(data.get("ttft_s"))), ("TPOT", seconds_text(data.get("tpot_s"))),
               ("output tokens/s", fmt(data.get("output_tokens_per_s"))), ("batch", fmt(data.get("batch")))]
    if finite(data.get("samples_per_s")):  # a recommendation model
        out.append(("samples/s", fmt(data["samples_per_s"])))
    out.append(("plan", _plan(data.get("plan") or {}, data.get("phase") == "training")))
    out.append(("memory per chip", f"{fmt((data.get('memory_per_chip_bytes') or 0) / 1e9)} GB"))
    return [(k, v) for k, v in out if v not in ("-", "")]
