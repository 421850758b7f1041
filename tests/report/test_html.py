"""HTML reports and PNG plots (fabless.report.html) without a browser: the page is offline, the
figures carry the data they are drawn from, a PNG is a PNG, and bad output targets or a missing
extra are one line and exit 2 with nothing written."""

from __future__ import annotations

import json
import math
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fabless.errors import InvalidInput
from fabless.estimate.engine import estimate, report_details
from fabless.estimate.scenario import SystemSpec, load_scenario
from fabless.report.html import FOOTER_PX, KINDS, chromium_path, figures, render_html
from fabless.serve.metrics import latency_quantiles
from tests.conftest import assert_one_line_error

ROOT = Path(__file__).resolve().parents[2]
SCN = str(ROOT / "examples" / "scenarios" / "llama-70b-serving-dgx-h100.yaml")


@pytest.fixture(scope="module")
def cost_json():
    import contextlib
    import io

    from fabless.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["cost", "h100-sxm", "--json"]) == 0
    return json.loads(buf.getvalue())


def test_page_is_self_contained(cost_json):
    page = render_html("cost", cost_json)
    # no script, stylesheet or image fetched from anywhere: plotly.js is inline
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=", page)
    assert "Plotly.newPlot" in page and len(page) > 1_000_000  # plotly.js (~4.6 MB) is in the page
    from fabless import __version__

    assert f"fabless {__version__}" in page
    # the sources behind the numbers are listed: the die-per-wafer formula's paper is one
    assert "de Vries" in page


def test_unknown_kind_is_invalid_input():
    with pytest.raises(InvalidInput, match="report kind 'roofline' is not one of"):
        render_html("roofline", {})
    with pytest.raises(InvalidInput):
        figures("nope", {})


def test_every_kind_renders_an_empty_result():
    # a result with nothing to draw is a page that says so, not a traceback
    for kind in KINDS:
        page = render_html(kind, {})
        assert page.startswith("<!DOCTYPE html>") and "</html>" in page


def test_unit_cost_waterfall_adds_up(cost_json):
    # the waterfall's steps are the whole unit cost: their sum is the 'unit cost' line (H100: a
    # good die + HBM + packaging + test + board, no partner margin)
    fig = figures("cost", cost_json)[0]
    wf = fig.data[0]
    steps = [y for y, m in zip(wf.y, wf.measure) if m == "relative"]
    unit = next(line["value"] for line in cost_json["lines"] if line["name"] == "unit cost")
    assert math.isclose(sum(steps), unit, rel_tol=1e-9)
    assert list(wf.x)[:2] == ["good die cost", "memory"]


def test_roofline_operators_from_first_principles():
    scn = load_scenario(SCN)
    est = estimate(scn)
    d = report_details(scn, est)
    ops = {(o["phase"], o["name"]): o for o in d["operators"]}
    # Llama-3.1-70B's QKV projection on tp=8: hidden 8192, (64 + 2 x 8) heads x 128 / 8 = 1280
    # outputs per chip, a prefill of 64 x 2048 tokens: 2 m n k FLOPs
    qkv = ops[("prefill", "qkv_proj")]
    assert qkv["flops"] == 2 * (64 * 2048) * 1280 * 8192
    assert qkv["calls"] == 80  # one per layer
    # the roof: H100 SXM's dense fp8 peak 1,979 TFLOP/s and 3.35 TB/s (its datasheet)
    assert d["roofline"]["peak_flops_per_s"] == pytest.approx(1978.9e12)
    assert d["roofline"]["hbm_bytes_per_s"] == pytest.approx(3.35e12)
    # no operator runs faster than the chip's peak, and a long GEMM (intensity ~2,000 FLOP/B,
    # past the ridge at 1979 / 3.35 = 591) is compute-bound, a decode GEMV memory-bound
    for o in d["operators"]:
        assert o["flops"] / o["time_s"] <= d["roofline"]["peak_flops_per_s"] * (1 + 1e-9), o
    assert qkv["bound"] == "compute"
    assert ops[("decode", "qkv_proj")]["bound"] == "memory"
    assert d["memory_capacity_bytes"] == pytest.approx(81559 * 2**20, rel=1e-4)  # H100: 81559 MiB (nvidia-smi)


ROOF_CASES = [("gpt3-175b-training-512-h100.yaml", None), ("gpt3-175b-training-512-h100.yaml", "tpu-v5p"),
              ("llama-70b-serving-dgx-h100.yaml", "b200"), ("llama-70b-serving-dgx-h100.yaml", "mi300x")]


def _above_the_roof(scenario: str, chip: str | None) -> tuple[list[dict], list[dict]]:
    """(every operator of the report of ``scenario`` on ``chip``, those above the roof). An
    operator's achieved rate (its FLOPs / its time) is at most min(peak, HBM bandwidth x its
    intensity): its time is at least its FLOPs / peak and at least its bytes / bandwidth, the bytes
    and FLOPs being those of the same operator the time is for."""
    scn = load_scenario(ROOT / "examples" / "scenarios" / scenario)
    if chip is not None:
        scn = scn.model_copy(update={"system": SystemSpec(chip=chip, count=scn.system.count)})
    d = report_details(scn, estimate(scn))
    peak, bw = d["roofline"]["peak_flops_per_s"], d["roofline"]["hbm_bytes_per_s"]
    ops = d["operators"]
    return ops, [o for o in ops if o["time_s"] < max(o["flops"] / peak, o["bytes"] / bw) * (1 - 1e-9)]


@pytest.mark.parametrize("scenario, chip", ROOF_CASES)
def test_every_operator_sits_under_the_roof(scenario, chip):
    ops, above = _above_the_roof(scenario, chip)
    assert {o["kind"] for o in ops} >= {"matmul", "norm", "attention", "elementwise", "softmax"}
    assert above == []


def test_latency_quantiles_are_the_distribution():
    # 101 requests with TTFT 0, 1, ..., 100 s: the quantile at q is 100 q; TPOT only where
    # a request has more than one output token (none here: left out)
    df = pd.DataFrame({"ttft_s": np.arange(101.0), "tpot_s": np.full(101, np.nan), "e2e_s": np.arange(101.0) * 2})
    lq = latency_quantiles(df, points=11)
    assert lq["q"] == pytest.approx([i / 10 for i in range(11)])
    assert lq["ttft_s"] == pytest.approx([10.0 * i for i in range(11)])
    assert lq["e2e_s"][-1] == 200.0 and "tpot_s" not in lq


def test_html_flag_writes_the_page_and_json_is_unchanged(cli, tmp_path):
    page = tmp_path / "est.html"
    r = cli("estimate", SCN, "--json", "--html", str(page))
    assert r.code == 0
    data = r.json()
    assert "operators" in data and "roofline" in data and "ttft_s" in data  # extended, the old keys kept
    text = page.read_text()
    assert "qkv_proj" in text and "Roofline" in text
    assert f"report: {page}" in r.err


def test_bad_targets_are_one_line_errors(cli, tmp_path):
    assert_one_line_error(cli("cost", "h100-sxm", "--html", str(tmp_path / "x.txt")), "--html", ".html")
    assert_one_line_error(cli("cost", "h100-sxm", "--plot", str(tmp_path / "x.jpg")), "--plot", ".png")
    assert_one_line_error(cli("cost", "h100-sxm", "--html", str(tmp_path / "missing" / "x.html")), "does not exist")
    assert list(tmp_path.iterdir()) == []


def _without(module: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run the CLI in a fresh interpreter in which ``module`` cannot be imported."""
    code = (f"import sys; sys.modules[{module!r}] = None; from fabless.cli import main; sys.exit(main({args!r}))")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def test_missing_report_extra_is_one_line(tmp_path):
    r = _without("plotly", ["cost", "h100-sxm", "--html", "x.html"], tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == "error: HTML reports and plots need plotly: pip install 'fabless[report]'"
    assert r.stdout == "" and not (tmp_path / "x.html").exists()
    r = _without("kaleido", ["cost", "h100-sxm", "--plot", "x.png"], tmp_path)
    assert r.returncode == 2 and "pip install 'fabless[report]'" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def _png_size(path: Path) -> tuple[int, int]:
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR"
    return struct.unpack(">II", raw[16:24])


def test_plot_writes_a_png(cli, tmp_path):
    try:
        import kaleido  # noqa: F401
    except ImportError:
        pytest.skip("kaleido (the report extra) is not installed")
    if chromium_path() is None:
        if os.environ.get("CI"):
            pytest.fail("--plot needs Chromium (scripts/test.sh installs it)")
        pytest.skip("no Chromium for kaleido")
    png = tmp_path / "tco.png"
    r = cli("tco", SCN, "--compare", "h100-sxm,b200", "--plot", str(png))
    assert r.code == 0, r.err
    w, h = _png_size(png)
    # the figure's size in the report (common.WIDTH_PX x its height), and a footer line under it
    assert (w, h) == (1000, 440 + FOOTER_PX)
    assert 5_000 < png.stat().st_size < 150_000
