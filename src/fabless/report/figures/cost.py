"""`fabless cost`: how the unit cost builds up from the wafer (die, yield, memory, packaging,
test, board, margin), how a chip-hour builds up from it, and where the area and the power go."""

from __future__ import annotations

import plotly.graph_objects as go

from fabless.report.figures.common import PALETTE, figure, finite, fmt, panels, usd

#: The lines of the unit cost, in the order they add up (fabless.economics.cli cost).
UNIT_PARTS = ("good die cost", "memory", "packaging", "test and assembly", "module board", "partner margin")
HOUR_PARTS = ("chip-hour owned: hardware", "chip-hour owned: operations", "chip-hour owned: energy", "chip-hour owned: datacenter")


def _lines(data: dict) -> dict[str, dict]:
    return {line["name"]: line for line in data.get("lines") or []}


def _waterfall(title: str, parts: list[dict], total: dict | None, unit: str, height: int = 460) -> go.Figure:
    fig = figure(title, height=height)
    names = [p["name"].replace("chip-hour owned: ", "") for p in parts]
    values = [p["value"] for p in parts]
    measure = ["relative"] * len(parts)
    hover = [f"{p.get('how', '')[:240]}<br>source: {p.get('source', '')[:160]}" for p in parts]
    if total is not None:
        names.append(total["name"].replace("chip-hour owned: ", "chip-hour "))
        values.append(total["value"])
        measure.append("total")
        hover.append(f"{total.get('how', '')[:240]}<br>source: {total.get('source', '')[:160]}")
    fig.add_trace(go.Waterfall(x=names, y=values, measure=measure, text=[f"{usd(v)}" for v in values], textposition="outside",
                               customdata=hover, connector={"line": {"color": "#999"}},
                               hovertemplate="<b>%{x}</b>: %{y:,.4g} " + unit + "<br>%{customdata}<extra></extra>",
                               showlegend=False))
    fig.update_yaxes(title=unit, rangemode="tozero")
    return fig


def unit_waterfall(data: dict) -> go.Figure | None:
    """From a good die to the unit cost: each line added, its formula and source on hover."""
    lines = _lines(data)
    parts = [lines[n] for n in UNIT_PARTS if n in lines and finite(lines[n].get("value"))]
    if not parts:
        return None
    die = lines.get("good die cost")
    if die is not None:
        extra = [f"{n} {fmt(lines[n]['value'])} {lines[n]['unit']}" for n in ("wafer price", "dies per wafer", "yield", "die area")
                 if n in lines and finite(lines[n].get("value"))]
        parts = [dict(p, how=p.get("how", "") + ("<br>" + ", ".join(extra) if p is die else "")) for p in parts]
    total = lines.get("unit cost")
    return _waterfall(f"{data.get('chip')}: unit cost from the wafer" + (" (via a design partner)" if data.get("partner") else ""),
                      parts, total if total and finite(total.get("value")) else None, "USD")


def hour_waterfall(data: dict) -> go.Figure | None:
    """The owned cost of one chip-hour, term by term, beside the rented price."""
    lines = _lines(data)
    parts = [lines[n] for n in HOUR_PARTS if n in lines and finite(lines[n].get("value"))]
    if not parts:
        return None
    total = lines.get("chip-hour owned: total")
    fig = _waterfall(f"{data.get('chip')}: one chip-hour owned (the unit over its life, with operations, energy and datacenter)",
                     parts, total if total and finite(total.get("value")) else None, "USD/h", height=420)
    rent = lines.get("chip-hour rented")
    if rent and finite(rent.get("value")):
        fig.add_hline(y=rent["value"], line={"color": "#ff7f0e", "dash": "dash"},
                      annotation_text=f"rented {usd(rent['value'])}/h ({rent.get('how', '')[:60]})", annotation_position="top left")
    return fig


def area_power(data: dict) -> go.Figure | None:
    """Where the die area and the power at full load go."""
    lines = _lines(data)
    area = [(n.removeprefix("area: "), lines[n]["value"]) for n in lines if n.startswith("area: ") and n != "area: model total"
            and finite(lines[n].get("value"))]
    power = [(n.removeprefix("power: "), lines[n]["value"]) for n in lines if n.startswith("power: ") and n != "power: total"
             and finite(lines[n].get("value"))]
    if not area and not power:
        return None
    fig = panels(f"{data.get('chip')}: area and power", ["die area (mm², modelled)", "power at full load (W, modelled)"], height=380)
    for col, items, unit in ((1, area, "mm²"), (2, power, "W")):
        fig.add_trace(go.Bar(x=[n for n, _ in items], y=[v for _, v in items], marker_color=PALETTE[col - 1],
                             text=[fmt(v, 3) for _, v in items], textposition="outside",
                             hovertemplate="<b>%{x}</b>: %{y:.4g} " + unit + "<extra></extra>"), row=1, col=col)
    return fig


def figures(data: dict) -> list[go.Figure]:
    return [f for f in (unit_waterfall(data), hour_waterfall(data), area_power(data)) if f is not None]


def headline(data: dict) -> list[tuple[str, str]]:
    s = data.get("summary") or {}
    return [("unit cost", usd(s.get("unit_usd"))), ("die area", f"{fmt(s.get('die_area_mm2'))} mm²"),
            ("yield", f"{100 * s['yield']:.1f}%" if finite(s.get("yield")) else "-"), ("NRE", usd(s.get("nre_usd"))),
            ("chip-hour owned", usd(s.get("owned_chip_hour_usd"))), ("chip-hour rented", usd(s.get("rented_chip_hour_usd")))]
