"""The cost examples of docs/user-guide.md (sections 6 and 7) run as written, and the figures
docs/economics.md quotes in its worked examples are what the code prints (the hand
arithmetic behind them is checked in test_tco_breakeven.py and test_prices_montecarlo.py)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from fabless.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs"
SERVE = "examples/scenarios/llama-70b-serving-dgx-h100.yaml"


def _guide_commands() -> list[list[str]]:
    text = (DOCS / "user-guide.md").read_text()
    part = text.split("## 6. What a chip costs", 1)[1].split("## 8.", 1)[0]
    cmds = []
    for block in part.split("```bash")[1:]:
        body = block.split("```", 1)[0].replace("\\\n", " ")
        cmds += [shlex.split(line)[1:] for line in body.splitlines() if line.strip().startswith("fabless ")]
    return cmds


GUIDE = _guide_commands()


def test_guide_shows_each_price_mode():
    words = {w for c in GUIDE for w in c}
    assert {"cost", "tco", "breakeven", "--price-tier", "--fleet", "--gpu-price", "--samples", "--seed"} <= words
    assert {"1-yr", "3-yr"} <= words


@pytest.mark.parametrize("argv", GUIDE, ids=lambda a: " ".join(a[:1] + a[2:]))
def test_guide_cost_example_runs(argv, capsys):
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err


def _json(capsys, *argv):
    import json

    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_economics_doc_quotes_the_codes_figures(capsys):
    text = " ".join((DOCS / "economics.md").read_text().split())
    s = _json(capsys, "cost", "h100-sxm")["summary"]
    assert f"**${s['owned_chip_hour_usd']:.3f}/h** owned" in text
    assert f"vs ${s['rented_chip_hour_usd']:.2f}/h rented (RunPod)" in text
    tiers = {t: _json(capsys, "cost", "h100-sxm", "--price-tier", t)["summary"]["rented_chip_hour_usd"] for t in ("1-yr", "3-yr")}
    assert f"1-yr **${tiers['1-yr']:.2f}**" in text and f"3-yr **${tiers['3-yr']:.2f}**" in text
    d = _json(capsys, "breakeven", SERVE, "--custom", "examples/scenarios/hardware/my-chip-system.yaml",
              "--against", "h100-sxm", "--fleet", "10000")
    assert f"ratio **{d['throughput_ratio']:.4f}**" in text
    assert f"owned **${d['custom_chip_hour_usd']:.3f}/h**" in text
    assert f"**${d['saving_per_gpu_hour_usd']:.3f}/h**" in text
    y = {r["years"]: r for r in d["breakeven"]}
    assert f"**{y[4.0]['breakeven_fleet_gpus']:,.0f} H100 equivalents** ({y[4.0]['breakeven_fleet_custom_chips']:,.0f} my-chips)" in text
    assert f"in 1 year {y[1.0]['breakeven_fleet_gpus']:,.0f}, in 5 years {y[5.0]['breakeven_fleet_gpus']:,.0f}" in text
    assert f"**{d['payback_years']:.1f} years**" in text
    by = {t["input"]: t for t in d["tornado"]}
    assert f"**{by['gpu_price']['result_low']:,.0f}** / {by['gpu_price']['result_high']:,.0f}" in text
    assert f"two generations → {by['generations']['result_high']:,.0f}" in text
    mc = d["monte_carlo"]
    q = mc["quantiles"]
    assert f"median **{q['p50']:,.0f}** H100 equivalents, 5-95% {q['p05']:,.0f} to {q['p95']:,.0f}" in text
    assert f"{mc['p_never']:.1%} of draws never pay back" in text
    assert f"P(pays back with 10,000 H100s) = {mc['p_pays_back']:.1%}" in text
