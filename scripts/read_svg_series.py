"""Read the data series of a matplotlib SVG figure (how the ML.ENERGY rows of
data/measurements/published_energy.csv were read off the blog's figures).

Usage: python scripts/read_svg_series.py FIGURE.svg

For every axes of the figure it prints the axis labels and, per plotted line, its colour and
its vertices in data units. The mapping is linear between the first and the last labelled tick
of each axis (the figures read here have linear axes); a vertex is read to the precision
matplotlib writes it (6 decimals of a point), far below the figures' own rounding. Grid lines
(grey #b0b0b0) are left out; legend swatches show up as short constant lines.
"""

from __future__ import annotations

import re
import sys

_NUMBER = re.compile(r"^[\d.\-\u2212]+$")


def _ticks(body: str, axis: str) -> list[tuple[float, float]]:
    """[(position in points, value)] of the labelled ticks of ``axis`` ("xtick" or "ytick")."""
    out = []
    for m in re.finditer(r'<g id="%s_\d+">(.*?)<!-- (.*?) -->' % axis, body, re.S):
        use = re.search(r'<use [^>]*x="([\d.]+)" y="([\d.]+)"', m.group(1))
        label = m.group(2).replace("\u2212", "-")
        if use and _NUMBER.match(m.group(2)):
            out.append((float(use.group(1 if axis == "xtick" else 2)), float(label)))
    return out


def _linear(ticks):
    (p0, v0), (p1, v1) = ticks[0], ticks[-1]
    return lambda p: v0 + (p - p0) * (v1 - v0) / (p1 - p0)


def series(text: str) -> list[dict]:
    """One dict per axes: its text labels and its lines [(colour, [(x, y), ...])]."""
    parts = re.split(r'<g id="(axes_\d+)">', text)
    out = []
    for name, body in zip(parts[1::2], parts[2::2]):
        xt, yt = _ticks(body, "xtick"), _ticks(body, "ytick")
        if len(xt) < 2 or len(yt) < 2:
            continue
        fx, fy = _linear(xt), _linear(yt)
        labels = [s for s in re.findall(r"<!-- (.*?) -->", body) if not _NUMBER.match(s)]
        lines = []
        for m in re.finditer(r'<g id="line2d_\d+">\s*<path d="([^"]*)"[^>]*style="([^"]*)"', body, re.S):
            if "stroke: #b0b0b0" in m.group(2):
                continue
            pts = re.findall(r"([\d.]+) ([\d.]+)", m.group(1))
            colour = re.search(r"stroke: (#\w+)", m.group(2))
            if len(pts) >= 2:
                lines.append((colour.group(1) if colour else "", [(fx(float(x)), fy(float(y))) for x, y in pts]))
        out.append({"axes": name, "labels": labels, "lines": lines})
    return out


def main(path: str) -> None:
    with open(path, encoding="utf-8") as fh:
        for ax in series(fh.read()):
            print(f"== {ax['axes']}: {' | '.join(ax['labels'])}")
            for colour, pts in ax["lines"]:
                print(f"  {colour}: " + ", ".join(f"({x:.1f}, {y:.4g})" for x, y in pts))


if __name__ == "__main__":
    main(sys.argv[1])
