"""`fabless validate`: predicted against measured for every row, per category, coloured by vendor
family (log-log, the y = x line), and each held-out row's residual against its category's 80%
error band (fabless.bands)."""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fabless.report.figures.common import PALETTE, finite, fmt, log_ticks

_SET_SYMBOL = {"held_out": "circle", "fit": "x"}


def _rows(data: dict) -> list[dict]:
    return [r for r in data.get("rows") or [] if not r.get("skipped") and finite(r.get("measured")) and finite(r.get("predicted"))
            and r["measured"] > 0 and r["predicted"] > 0]


def _families(rows: list[dict]) -> dict[str, str]:
    fams = sorted({r.get("family") or r.get("chip", "?") for r in rows})
    return {f: PALETTE[i % len(PALETTE)] for i, f in enumerate(fams)}


def _grid(n: int) -> tuple[int, int]:
    """(rows, columns) of n panels, at most three side by side."""
    cols = min(3, max(1, n))
    return -(-n // cols), cols


def _at(i: int, cols: int) -> dict:
    return {"row": (i - 1) // cols + 1, "col": (i - 1) % cols + 1}


def _layout(fig: go.Figure, title: str, height: int) -> None:
    """Title above, legend below the panels (about 70 px under the lowest axis)."""
    fig.update_layout(title={"text": title, "x": 0.01, "font": {"size": 16}}, template="plotly_white", height=height,
                      margin={"l": 70, "r": 30, "t": 90, "b": 120},
                      legend={"orientation": "h", "yanchor": "top", "y": -70 / (height - 210), "x": 0.0}, hoverlabel={"align": "left"})


def _hover(r: dict) -> str:
    err = r.get("error")
    return (f"<b>{r['id']}</b> {r.get('chip')} ({r.get('family', '')}, {r.get('set')})<br>{r.get('metric')}<br>"
            f"measured {fmt(r['measured'])}, predicted {fmt(r['predicted'])}"
            + (f"<br>error {100 * err:+.1f}%" if finite(err) else ""))


def _rates(rows: list[dict], residuals: dict) -> bool:
    """Whether most of ``rows`` with a residual are rates: for a rate, ln(measured / predicted time)
    = ln(1 + error) (error = predicted / measured - 1); for a time it is -ln(1 + error)."""
    votes = [math.copysign(1.0, residuals[r["id"]]) == math.copysign(1.0, math.log1p(r["error"]))
             for r in rows if r["id"] in residuals and finite(r.get("error")) and r["error"] > -1 and abs(r["error"]) > 1e-3]
    return sum(votes) * 2 > len(votes)


def predicted_vs_measured(data: dict) -> go.Figure | None:
    rows = _rows(data)
    if not rows:
        return None
    cats = list(dict.fromkeys(r["category"] for r in rows))
    colors = _families(rows)
    nr, nc = _grid(len(cats))
    fig = make_subplots(rows=nr, cols=nc, subplot_titles=[f"{c} ({sum(r['category'] == c for r in rows)} rows)" for c in cats],
                        horizontal_spacing=0.07, vertical_spacing=0.16 if nr > 1 else 0.1)
    _layout(fig, "Predicted against measured (log-log; on the line = exact; circles held out, crosses fitted)", 140 + 340 * nr)
    seen: set[str] = set()
    for i, c in enumerate(cats, start=1):
        sub = [r for r in rows if r["category"] == c]
        vals = [r["measured"] for r in sub] + [r["predicted"] for r in sub]
        lo, hi = min(vals) / 1.5, max(vals) * 1.5
        fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line={"color": "black", "width": 1}, name="y = x",
                                 showlegend=i == 1, hoverinfo="skip"), **_at(i, nc))
        band = ((data.get("bands") or {}).get(c) or {})
        if finite(band.get("lo")) and finite(band.get("hi")):
            # residual r = ln(measured / predicted time): a time is predicted at measured x exp(-r),
            # a rate (time's inverse) at measured x exp(r); the category's rows say which it holds
            sign = 1.0 if _rates(sub, band.get("residuals") or {}) else -1.0
            for r_end in (band["lo"], band["hi"]):
                f = math.exp(sign * r_end)
                fig.add_trace(go.Scatter(x=[lo, hi], y=[lo * f, hi * f], mode="lines", line={"color": "#888", "dash": "dot", "width": 1},
                                         name="80% error band (held-out rows)", legendgroup="band",
                                         showlegend="band" not in seen, hoverinfo="skip"), **_at(i, nc))
                seen.add("band")
        groups: dict[tuple[str, str], list[dict]] = {}
        for r in sub:
            groups.setdefault((r.get("family") or r.get("chip", "?"), r.get("set", "held_out")), []).append(r)
        for (fam, set_), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] != "held_out")):
            fig.add_trace(go.Scatter(x=[r["measured"] for r in rs], y=[r["predicted"] for r in rs], mode="markers", name=fam,
                                     legendgroup=fam, showlegend=fam not in seen,
                                     marker={"color": colors[fam], "size": 8, "symbol": _SET_SYMBOL.get(set_, "circle")},
                                     text=[_hover(r) for r in rs], hovertemplate="%{text}<extra></extra>"), **_at(i, nc))
            seen.add(fam)
        fig.update_xaxes(title="measured", **_at(i, nc), **log_ticks([lo, hi]))
        fig.update_yaxes(title="predicted" if (i - 1) % nc == 0 else None, **_at(i, nc), **log_ticks([lo, hi]))
    return fig


def residuals(data: dict) -> go.Figure | None:
    """Each held-out row's residual ln(measured / predicted time) by family, with the category's
    80% band (the band a figure of that category is given)."""
    bands = data.get("bands") or {}
    rows = {r["id"]: r for r in _rows(data)}
    cats = [c for c in dict.fromkeys(r["category"] for r in rows.values()) if (bands.get(c) or {}).get("residuals")]
    if not cats:
        return None
    colors = _families(list(rows.values()))
    nr, nc = _grid(len(cats))
    fig = make_subplots(rows=nr, cols=nc, subplot_titles=[f"{c}: band {bands[c]['lo']:+.2f} to {bands[c]['hi']:+.2f} "
                                                          f"({bands[c].get('n')} rows)" for c in cats],
                        horizontal_spacing=0.07, vertical_spacing=0.16 if nr > 1 else 0.1)
    _layout(fig, "Held-out residuals, ln(measured / predicted time), by vendor family, against the 80% error band", 140 + 360 * nr)
    seen: set[str] = set()
    for i, c in enumerate(cats, start=1):
        b = bands[c]
        # (the panel is still empty here: shapes must not skip it)
        fig.add_hrect(y0=b["lo"], y1=b["hi"], fillcolor="#1f77b4", opacity=0.15, line_width=0, exclude_empty_subplots=False,
                      **_at(i, nc))
        fig.add_hline(y=0, line={"color": "black", "width": 1}, exclude_empty_subplots=False, **_at(i, nc))
        by_fam: dict[str, list[tuple[str, float]]] = {}
        for rid, res in b["residuals"].items():
            r = rows.get(rid)
            fam = (r.get("family") if r else None) or "other"
            by_fam.setdefault(fam, []).append((rid, res))
        for fam, items in sorted(by_fam.items()):
            fig.add_trace(go.Box(y=[v for _, v in items], x=[fam] * len(items), name=fam, legendgroup=fam, showlegend=fam not in seen,
                                 boxpoints="all", jitter=0.5, pointpos=0, fillcolor="rgba(0,0,0,0)", line={"color": "rgba(0,0,0,0)"},
                                 marker={"color": colors.get(fam, "#333"), "size": 6},
                                 text=[_hover(rows[rid]) if rid in rows else rid for rid, _ in items],
                                 hovertemplate="%{text}<br>residual %{y:+.3f}<extra></extra>"), **_at(i, nc))
            seen.add(fam)
        fig.update_yaxes(title="ln(measured / predicted)" if (i - 1) % nc == 0 else None, **_at(i, nc))
    return fig


def figures(data: dict) -> list[go.Figure]:
    return [f for f in (predicted_vs_measured(data), residuals(data)) if f is not None]


def headline(data: dict) -> list[tuple[str, str]]:
    out = []
    for s in data.get("summary") or []:
        if s.get("chip") == "all" and s.get("set") == "held_out":
            out.append((f"{s['category']} held out", f"median |err| {fmt(s['median_abs_err_pct'], 3)}%, "
                                                      f"p90 {fmt(s['p90_abs_err_pct'], 3)}% ({s['n']} rows)"))
    return out
