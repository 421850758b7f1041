"""Explore over chip designs for an imported PyTorch graph that is not a decoder
(examples/models/mlp.py, in the docs' space examples/models/mlp-space.yaml): each design's
figures are `fabless estimate --graph` on the design's exported chip file, to 1e-9 relative (two
code paths: the evaluator's vectorised op times over every design at once, the estimate's
scalar ones on one chip)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ..conftest import assert_one_line_error

pytest.importorskip("torch")

from fabless.explore.evaluate import Evaluator  # noqa: E402
from fabless.explore.space import space_from_dict  # noqa: E402

MLP = "examples/models/mlp.py:build"
SPACE = (Path(__file__).resolve().parents[2] / "examples" / "models" / "mlp-space.yaml").read_text()  # the docs' example


def test_explore_mlp_equals_estimate_of_exported_design(cli, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    r = cli("explore", str(space), "--out", str(tmp_path / "res"), "--no-plot", "--json")
    assert r.code == 0, r.err
    out = r.json()
    assert out["designs"] == 3
    assert any("samples/s per chip" in n and "forward time" in n for n in out["notes"])
    assert out["front"]
    d = pd.read_csv(tmp_path / "res" / "front.csv").iloc[0]  # full precision (the JSON rounds to 10 digits)
    chip = next(f for f in out["files"] if f.endswith(".yaml") and not f.endswith(".system.yaml")
                and f"-{d['id']}." in Path(f).name)
    # the figures the explore space names for an LLM are the graph's: 8 samples per forward
    # (the factory's example inputs, x [8, 2048, 4096]), the forward time in place of TTFT and TPOT
    assert d["fwd.tokens_per_s_per_chip"] == pytest.approx(8 / d["fwd.forward_time_s"], rel=1e-12)
    assert d["fwd.ttft_s"] == d["fwd.tpot_s"] == d["fwd.forward_time_s"]
    # 128 samples on 8 chips per step: 16 samples per chip per step
    assert d["train.tokens_per_s_per_chip"] == pytest.approx(16 / d["train.step_time_s"], rel=1e-12)
    e = cli("estimate", "--graph", MLP, "--chip", chip, "--system", "dgx-h100", "--chips", "1", "--json")
    assert e.code == 0, e.err
    assert d["fwd.forward_time_s"] == pytest.approx(e.json()["forward_time_s"], rel=1e-9)
    t = cli("estimate", "--graph", MLP, "--chip", chip, "--system", "dgx-h100", "--chips", "8",
            "--global-batch", "128", "--json")
    assert t.code == 0, t.err
    assert d["train.step_time_s"] == pytest.approx(t.json()["step_time_s"], rel=1e-9)


def test_explore_mlp_designs_differ_by_their_chip(tmp_path):
    """More cores at the same clock: the forward (matmul-bound, 3.8 TFLOP) is faster, never slower."""
    ev = Evaluator(space_from_dict(yaml.safe_load(SPACE)))
    r = ev.evaluate({"cores": np.array([66.0, 100.0, 132.0])})
    t = r["fwd.forward_time_s"]
    assert t[0] > t[1] > t[2]
    # the whole forward's FLOPs at the design's bf16 peak bound its time from below
    flops = 2 * (2 * 8 * 2048 * 4096 * 14336)
    assert (t >= flops / (r["peak_bf16_tflops"] * 1e12)).all()


def test_explore_graph_refusals_are_one_line(cli, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(SPACE.replace("inference: {}", "parallel: {tp: 2}, inference: {}"))
    assert_one_line_error(cli("explore", str(space), "--out", str(tmp_path / "a")), "parallel.tp", "data-parallel only",
                          "no attention operator")
    space.write_text(SPACE.replace("inference: {}", "inference: {batch: 8, input_tokens: 128, output_tokens: 8}"))
    assert_one_line_error(cli("explore", str(space), "--out", str(tmp_path / "b")), "inference.batch",
                          "example inputs")
    space.write_text(SPACE.replace("global_batch: 128", "global_batch: 100"))
    assert_one_line_error(cli("explore", str(space), "--out", str(tmp_path / "c")), "training.global_batch",
                          "dp x the traced batch")
