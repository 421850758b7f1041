"""`fabless serve`: the latency distributions (TTFT, TPOT, E2E) with the SLO's limits, the
percentiles, and, where the run searched a rate, throughput and goodput against the rate
offered with the capacity found."""

from __future__ import annotations

import plotly.graph_objects as go

from fabless.report.figures.common import PALETTE, figure, finite, fmt, panels, seconds_text

_NAMES = {"ttft": "TTFT", "tpot": "TPOT", "e2e": "E2E"}


def _limits(data: dict) -> dict[str, dict[str, float]]:
    """SLO limits by metric: {"ttft": {"p99": 2.0}}."""
    out: dict[str, dict[str, float]] = {}
    for key, v in (data.get("slo_limits_s") or {}).items():
        m, _, stat = key.partition("_")
        if finite(v):
            out.setdefault(m, {})[stat] = v
    return out


def distributions(data: dict) -> go.Figure | None:
    """The CDF of each latency over the run's requests, with the SLO's limits."""
    lq = data.get("latency_quantiles") or {}
    q = lq.get("q")
    metrics = [m for m in _NAMES if lq.get(f"{m}_s")]
    if not q or not metrics:
        return None
    fig = panels(f"Latency distributions over {fmt(data.get('requests'))} requests (share of requests at or under each latency)",
                 [f"{_NAMES[m]} (ms)" for m in metrics], height=430)
    limits = _limits(data)
    for i, m in enumerate(metrics, start=1):
        ms = [v * 1e3 for v in lq[f"{m}_s"]]
        fig.add_trace(go.Scatter(x=ms, y=q, mode="lines+markers", name=_NAMES[m], line={"color": PALETTE[i - 1], "width": 2},
                                 marker={"size": 3},
                                 hovertemplate=f"<b>{_NAMES[m]}</b><br>%{{y:.0%}} of requests within %{{x:.4g}} ms<extra></extra>"),
                      row=1, col=i)
        for stat, lim in limits.get(m, {}).items():
            fig.add_vline(x=lim * 1e3, line={"color": "red", "dash": "dash"}, row=1, col=i,
                          annotation_text=f"SLO {stat} {fmt(lim * 1e3)} ms", annotation_position="bottom right")
        fig.update_yaxes(tickformat=".0%", range=[0, 1.02], row=1, col=i)
        fig.update_xaxes(title="ms", row=1, col=i)
    return fig


def percentiles(data: dict) -> go.Figure | None:
    """p50, p90 and p99 of each latency, side by side."""
    stats = ("p50", "p90", "p99")
    metrics = [m for m in _NAMES if any(finite(data.get(f"{m}_{s}_s")) for s in stats)]
    if not metrics:
        return None
    fig = panels("Latency percentiles", [f"{_NAMES[m]} (ms)" for m in metrics], height=360)
    for i, m in enumerate(metrics, start=1):
        vals = [data.get(f"{m}_{s}_s") for s in stats]
        fig.add_trace(go.Bar(x=list(stats), y=[v * 1e3 if finite(v) else None for v in vals], marker_color=PALETTE[i - 1],
                             text=[seconds_text(v) for v in vals], textposition="auto", name=_NAMES[m],
                             hovertemplate=f"<b>{_NAMES[m]} %{{x}}</b>: %{{y:.4g}} ms<extra></extra>"), row=1, col=i)
    return fig


def rate_sweep(data: dict) -> go.Figure | None:
    """Throughput and goodput of each run of the rate search against the rate offered, the SLO
    met or missed, and the capacity found."""
    runs = [r for r in data.get("rates_tried") or [] if finite(r.get("rate_per_s"))]
    if not runs:
        return None
    runs = sorted(runs, key=lambda r: r["rate_per_s"])
    fig = figure("Throughput and goodput against the rate offered (each run of the search; green: met the "
                 + ("SLO" if data.get("slo_limits_s") else "stability test") + ", red: missed)", height=460)
    x = [r["rate_per_s"] for r in runs]
    hover = [f"{'met' if r.get('slo_met') else 'missed'} the {'SLO' if data.get('slo_limits_s') else 'stability test'}<br>"
             f"TTFT p99 {seconds_text(r.get('ttft_p99_s'))}, TPOT p99 {seconds_text(r.get('tpot_p99_s'))}" for r in runs]
    fig.add_trace(go.Scatter(x=x, y=[r.get("throughput_req_per_s") for r in runs], mode="lines+markers", name="throughput (requests/s)",
                             marker={"size": 10, "color": ["#2ca02c" if r.get("slo_met") else "#d62728" for r in runs]},
                             line={"color": "#1f77b4"}, customdata=hover,
                             hovertemplate="offered %{x:.4g}/s<br>completed %{y:.4g} requests/s<br>%{customdata}<extra></extra>"))
    if any(finite(r.get("goodput_req_per_s")) for r in runs):
        fig.add_trace(go.Scatter(x=x, y=[r.get("goodput_req_per_s") for r in runs], mode="lines+markers", name="goodput (within the SLO)",
                                 line={"color": "#ff7f0e", "dash": "dot"}, customdata=hover,
                                 hovertemplate="offered %{x:.4g}/s<br>goodput %{y:.4g} requests/s<br>%{customdata}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[min(x), max(x)], y=[min(x), max(x)], mode="lines", name="all offered served",
                             line={"color": "#999", "dash": "dash", "width": 1}, hoverinfo="skip"))
    cap = data.get("max_rate_per_s")
    if finite(cap) and cap > 0:
        fig.add_vline(x=cap, line={"color": "black", "dash": "dash"}, annotation_text=f"capacity {fmt(cap, 3)} requests/s",
                      annotation_position="top left")
    fig.update_xaxes(title="rate offered (requests/s)")
    fig.update_yaxes(title="requests/s", rangemode="tozero")
    return fig


def latency_vs_rate(data: dict) -> go.Figure | None:
    """p99 TTFT and TPOT of each run of the rate search against the rate offered, with the SLO's
    p99 limits as lines: where each crosses its limit is the capacity."""
    runs = sorted((r for r in data.get("rates_tried") or [] if finite(r.get("rate_per_s"))), key=lambda r: r["rate_per_s"])
    metrics = [m for m in ("ttft", "tpot") if any(finite(r.get(f"{m}_p99_s")) for r in runs)]
    if not runs or not metrics:
        return None
    fig = panels("p99 latency against the rate offered, with the SLO's limits", [f"{_NAMES[m]} p99 (ms)" for m in metrics],
                 height=380)
    limits = _limits(data)
    cap = data.get("max_rate_per_s")
    for i, m in enumerate(metrics, start=1):
        pts = [r for r in runs if finite(r.get(f"{m}_p99_s"))]
        fig.add_trace(go.Scatter(x=[r["rate_per_s"] for r in pts], y=[r[f"{m}_p99_s"] * 1e3 for r in pts], mode="lines+markers",
                                 marker={"size": 9, "color": ["#2ca02c" if r.get("slo_met") else "#d62728" for r in pts]},
                                 line={"color": PALETTE[i - 1]},
                                 hovertemplate=f"offered %{{x:.4g}}/s<br>{_NAMES[m]} p99 %{{y:.4g}} ms<extra></extra>"), row=1, col=i)
        if "p99" in limits.get(m, {}):
            fig.add_hline(y=limits[m]["p99"] * 1e3, line={"color": "red", "dash": "dash"}, row=1, col=i,
                          annotation_text=f"SLO {fmt(limits[m]['p99'] * 1e3)} ms", annotation_position="top left")
        if finite(cap) and cap > 0:
            fig.add_vline(x=cap, line={"color": "black", "dash": "dot"}, row=1, col=i)
        fig.update_xaxes(title="rate offered (requests/s)", row=1, col=i)
        fig.update_yaxes(rangemode="tozero", row=1, col=i)
    return fig


def figures(data: dict) -> list[go.Figure]:
    # a searched rate's main figure is the search itself; a run at one load's, its distributions
    return [f for f in (rate_sweep(data), latency_vs_rate(data), distributions(data), percentiles(data)) if f is not None]


def headline(data: dict) -> list[tuple[str, str]]:
    out = [("load", str(data.get("mode", "-")))]
    if finite(data.get("max_rate_per_s")):
        out.append(("highest rate", f"{fmt(data['max_rate_per_s'], 3)} requests/s"))
    for k, label in (("ttft_p50_s", "TTFT p50"), ("tpot_p50_s", "TPOT p50"), ("ttft_s", "TTFT mean"), ("tpot_s", "TPOT median")):
        if finite(data.get(k)):
            out.append((label, seconds_text(data[k])))
    if finite(data.get("output_tokens_per_s")):
        out.append(("output tokens/s", fmt(data["output_tokens_per_s"])))
    if finite(data.get("goodput_fraction")):
        out.append(("goodput", f"{100 * data['goodput_fraction']:.1f}% within the SLO"))
    return out
