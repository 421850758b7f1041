"""The HTML reports in a real browser: for each kind, the page `fabless ... --html` writes opens
from a file with no console error, every figure draws, and hovering a point shows its tooltip with
text from the result (an operator's name, a chip's, a measurement row's id). A click on a front
design of the explore report shows its chip file."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from fabless.cli import main

ROOT = Path(__file__).resolve().parents[2]
SCN = str(ROOT / "examples" / "scenarios" / "llama-70b-serving-dgx-h100.yaml")
SLO = "ttft_p99=2s,tpot_p99=50ms"

#: kind -> the command line (small runs: the whole file stays well under a minute)
COMMANDS = {
    "estimate": ["estimate", SCN],
    "serve": ["serve", SCN, "--rate", "2/s", "--duration", "30s", "--slo", SLO],
    "fleet": ["fleet", SCN, "--demand", "120/min", "--slo", SLO, "--chips", "h100-sxm", "--duration", "10s", "--max-layouts", "1"],
    "cost": ["cost", "h100-sxm"],
    "tco": ["tco", SCN, "--compare", "h100-sxm,b200"],
    "breakeven": ["breakeven", SCN, "--custom", str(ROOT / "examples" / "scenarios" / "hardware" / "my-chip-system.yaml"),
                  "--against", "h100-sxm", "--fleet", "20000", "--samples", "500"],
    "explore": ["explore", str(ROOT / "examples" / "openai-xpu" / "space.yaml"), "--samples", "256", "--top", "5", "--no-progress",
                "--no-plot"],
    "validate": ["validate", "--category", "kernel"],
    "compare": ["chips", "compare", "h100-sxm", "b200"],
}


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """kind -> (the page's path, the command's --json output), each made once through the CLI."""
    folder = tmp_path_factory.mktemp("reports")
    out = {}
    for kind, args in COMMANDS.items():
        extra = ["--out", str(folder / "xpu")] if kind == "explore" else []
        page = folder / f"{kind}.html"
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            code = main([*args, *extra, "--json", "--html", str(page)])
        assert code == 0, (kind, buf.getvalue()[-500:])
        out[kind] = (page, json.loads(buf.getvalue()))
    return out


def _open(page, path: Path) -> int:
    """Open a report; return how many figures drew (each plotly div with its SVG)."""
    page.goto(path.as_uri())
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=20000)
    plots = page.locator(".js-plotly-plot")
    n = plots.count()
    for i in range(n):
        assert plots.nth(i).locator(".main-svg").count() >= 1, f"figure {i} has no SVG"
    return n


def _hover(page, selector: str, index: int = 0) -> str:
    """Move the mouse onto a mark and return the tooltip's text."""
    mark = page.locator(selector).nth(index)
    mark.scroll_into_view_if_needed()
    box = mark.bounding_box()
    assert box is not None, selector
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector(".hovertext", timeout=5000)
    return page.locator(".hovertext").first.text_content() or ""


def _marks(page, fig: str) -> int:
    return page.locator(f"{fig} .point").count()


def test_estimate_roofline_hover_names_the_operator(page, reports):
    path, data = reports["estimate"]
    assert _open(page, path) == 4 - (not data["alternatives"])  # roofline, breakdown, memory (+ plans with auto)
    assert _marks(page, "#fabless-fig-0") > 0 and _marks(page, "#fabless-fig-1") > 0
    text = _hover(page, "#fabless-fig-0 .scatterlayer .point")
    names = {o["name"] for o in data["operators"]}
    assert any(n in text for n in names), text
    assert "bound:" in text and "shape:" in text
    assert page.console_errors == []


def test_serve_distribution_hover(page, reports):
    path, data = reports["serve"]
    assert _open(page, path) >= 2
    text = _hover(page, "#fabless-fig-0 .scatterlayer .point", 50)
    assert "TTFT" in text and "of requests within" in text
    assert page.console_errors == []


def test_fleet_layout_hover_names_the_chip(page, reports):
    path, data = reports["fleet"]
    assert _open(page, path) == 2
    text = _hover(page, "#fabless-fig-0 .point")
    assert "h100-sxm" in text and data["rows"][0]["layouts"][0]["layout"] in text
    assert page.console_errors == []


def test_cost_waterfall_hover_explains_the_line(page, reports):
    path, data = reports["cost"]
    assert _open(page, path) == 3
    text = _hover(page, "#fabless-fig-0 .point")
    assert "good die cost" in text and "wafer price" in text
    assert page.console_errors == []


def test_tco_hover(page, reports):
    path, data = reports["tco"]
    assert _open(page, path) == 2
    text = _hover(page, "#fabless-fig-0 .point")
    assert data["rows"][0]["chip"] in text and "per chip-hour" in text
    assert page.console_errors == []


def test_breakeven_hover(page, reports):
    path, data = reports["breakeven"]
    assert _open(page, path) == 3
    text = _hover(page, "#fabless-fig-0 .scatterlayer .point")
    assert "h100-sxm replaced" in text
    assert page.locator("table.inputs").count() >= 1  # the Monte Carlo's inputs and why
    assert page.console_errors == []


def test_explore_hover_and_click_shows_the_chip_file(page, reports):
    path, data = reports["explore"]
    assert _open(page, path) == 2
    front = "#fabless-pareto .scatterlayer .trace:nth-child(2) .point"
    assert page.locator(front).count() == min(5, len(data["front"]))
    text = _hover(page, front)
    assert "(front)" in text and "matrix_units" in text
    box = page.locator(front).first.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # plotly's drag layer takes the click
    page.wait_for_selector("#chip-yaml-panel", state="visible", timeout=5000)
    yaml_text = page.locator("#chip-yaml").inner_text()
    ids = {str(r["id"]) for r in data["front"]}
    assert "compute:" in yaml_text and any(f"-{i}\n" in yaml_text or f" {i} " in yaml_text for i in ids), yaml_text[:300]
    assert page.console_errors == []


def test_validate_hover_names_the_row(page, reports):
    path, data = reports["validate"]
    assert _open(page, path) >= 1
    text = _hover(page, "#fabless-fig-0 .scatterlayer .point")
    ids = {r["id"] for r in data["rows"]}
    assert any(i in text for i in ids) and "measured" in text, text
    assert page.console_errors == []


def test_compare_hover(page, reports):
    path, data = reports["compare"]
    assert _open(page, path) == 2
    text = _hover(page, "#fabless-fig-0 .point")
    assert "ratio" in text and "b200" in text
    assert page.console_errors == []
