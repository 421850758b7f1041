"""`fabless tco`: from a chip-hour to $ per million tokens (or $ per run), bought and rented, per chip."""

from __future__ import annotations

import plotly.graph_objects as go

from fabless.report.figures.common import PALETTE, figure, fmt, panels, usd


def _ok(data: dict) -> list[dict]:
    return [r for r in data.get("rows") or [] if "error" not in r]


def _keys(data: dict) -> tuple[str, str, str]:
    if data.get("phase") == "training":
        return "buy_usd_per_mtoken", "rent_usd_per_mtoken", "$ per million tokens trained"
    return "buy_usd_per_mtoken_output", "rent_usd_per_mtoken_output", "$ per million output tokens"


def per_token(data: dict) -> go.Figure | None:
    """$/Mtoken of each chip, bought and rented; the chip-hour and throughput behind it on hover."""
    rows = _ok(data)
    if not rows:
        return None
    buy, rent, label = _keys(data)
    fig = figure(f"{label}: chip-hour price / (tokens per chip-hour)", height=440)
    for key, hour, name, color, basis in ((buy, "buy_chip_hour_usd", "bought", "#1f77b4", "buy_price_basis"),
                                          (rent, "rent_chip_hour_usd", "rented", "#ff7f0e", "rent_price_basis")):
        fig.add_trace(go.Bar(
            x=[r["chip"] for r in rows], y=[r.get(key) for r in rows], name=name, marker_color=color,
            text=[usd(r.get(key)) for r in rows], textposition="outside",
            customdata=[[usd(r.get(hour)), fmt(r.get("tokens_per_s_per_chip")), str(r.get(basis) or "not priced")] for r in rows],
            hovertemplate=(f"<b>%{{x}}</b> {name}<br>%{{customdata[0]}} per chip-hour / (%{{customdata[1]}} tokens/s x 3600)"
                           f"<br>= $%{{y:.4g}} {label.removeprefix('$ ')}<br>price: %{{customdata[2]}}<extra></extra>")))
    fig.update_layout(barmode="group")
    fig.update_yaxes(title=label, rangemode="tozero")
    return fig


def efficiency(data: dict) -> go.Figure | None:
    """Tokens/s per chip and tokens per joule, per chip."""
    rows = _ok(data)
    if not rows:
        return None
    fig = panels("Throughput and energy per chip", ["tokens/s per chip", "tokens per joule (chip power)"], height=360)
    for col, key in ((1, "tokens_per_s_per_chip"), (2, "tokens_per_joule")):
        fig.add_trace(go.Bar(x=[r["chip"] for r in rows], y=[r.get(key) for r in rows], marker_color=PALETTE[col + 1],
                             text=[fmt(r.get(key), 3) for r in rows], textposition="outside",
                             customdata=[f"{fmt(r.get('power_w'), 3)} W ({r.get('power_basis')})" for r in rows],
                             hovertemplate="<b>%{x}</b>: %{y:.4g}<br>power %{customdata}<extra></extra>"), row=1, col=col)
    return fig


def figures(data: dict) -> list[go.Figure]:
    return [f for f in (per_token(data), efficiency(data)) if f is not None]


def headline(data: dict) -> list[tuple[str, str]]:
    buy, rent, label = _keys(data)
    out = [("phase", str(data.get("phase"))), ("price tier", str(data.get("price_tier") or "default"))]
    for r in _ok(data):
        out.append((r["chip"], f"{usd(r.get(buy))} bought, {usd(r.get(rent))} rented ({label.removeprefix('$ ')})"))
    for r in data.get("rows") or []:
        if "error" in r:
            out.append((r["chip"], r["error"]))
    return out
