"""`fabless explore`: the front table, chip YAML files the other commands accept, --show, --json."""

import copy
import json

from fabless.cli import main

from .conftest import SMALL, write_space


def _space(tmp_path):
    raw = copy.deepcopy(SMALL)
    raw["parameters"] = {"hbm_stacks": [1, 2, 4], "clock_mhz": [1200, 1750]}
    raw["objectives"] = [{"minimize": "unit_cost_usd"}, {"maximize": "tokens_per_s_per_chip"}]
    return write_space(tmp_path, raw)


def test_explore_prints_front_and_writes_chip_files(xcli, tmp_path, capsys):
    out = tmp_path / "res"
    r = xcli("explore", str(_space(tmp_path)), "--out", str(out), "--no-progress", "--no-plot")
    assert r.code == 0, r.err
    assert "Pareto front" in r.out and "unit_cost_usd" in r.out
    chips = sorted(p for p in (out / "front").glob("*.yaml") if not p.name.endswith(".system.yaml"))
    assert chips and (out / "front.csv").is_file()
    # every front design is a chip file `fabless cost` accepts, and a system `fabless estimate` runs on
    for chip in chips:
        assert main(["cost", str(chip), "--json"]) == 0
        cost = json.loads(capsys.readouterr().out)
        assert cost
    system = chips[0].with_name(chips[0].stem + ".system.yaml")
    code = main(["estimate", "--model", "llama-3.1-8b", "--system", str(system), "--chips", "1", "--parallel", "tp=1",
                 "--batch", "1", "--input-tokens", "512", "--output-tokens", "128", "--json"])
    assert code == 0
    est = json.loads(capsys.readouterr().out)
    scn = tmp_path / "scn.yaml"
    scn.write_text(f"model: llama-3.1-8b\nsystem: {{name: {system}, count: 1}}\nprecision: bf16\nparallel: {{tp: 1}}\n"
                   "inference: {batch: 1, input_tokens: 512, output_tokens: 128}\n")
    assert main(["tco", str(scn), "--compare", f"{system},h100-sxm", "--json"]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)
    df = __import__("pandas").read_csv(out / "front.csv")
    row = df[df["id"] == int(chips[0].stem.rsplit("-", 1)[1])].iloc[0]
    # the chip file reproduces the search's own numbers for that design: speed, unit cost, power
    assert abs(est["tpot_s"] / row["serve.tpot_s"] - 1) < 2e-3
    assert main(["cost", str(chips[0]), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert abs(summary["unit_usd"] / row["unit_cost_usd"] - 1) < 1e-3
    assert abs(summary["power_w"] / row["tdp_w"] - 1) < 1e-3
    assert abs(summary["model_die_area_mm2"] / row["die_area_per_die_mm2"] - 1) < 1e-3


def test_show_reopens_and_json(xcli, tmp_path):
    out = tmp_path / "res"
    assert xcli("explore", str(_space(tmp_path)), "--out", str(out), "--no-progress", "--no-plot").code == 0
    r = xcli("explore", "--show", str(out), "--json", "--no-plot")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["designs"] == 6 and data["feasible"] == 4  # 1 stack cannot hold the 8B model
    assert [d["hbm_stacks"] for d in data["front"]] == sorted(d["hbm_stacks"] for d in data["front"])
    assert {s["parameter"] for s in data["sensitivity"]} == {"hbm_stacks", "clock_mhz"}


def test_show_missing_results_one_line(xcli, tmp_path):
    r = xcli("explore", "--show", str(tmp_path / "nothing"))
    assert r.code == 2 and "no search results" in r.err and len(r.err.strip().splitlines()) == 1


def test_plot_written_with_references(xcli, tmp_path):
    out = tmp_path / "res"
    r = xcli("explore", str(_space(tmp_path)), "--out", str(out), "--no-progress")
    assert r.code == 0, r.err
    assert (out / "front.png").stat().st_size > 1000
    assert "Pareto front" in (out / "front.html").read_text()
    assert "Shipped chips" in r.out
