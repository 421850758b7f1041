"""Imported PyTorch graphs end to end (`fabless estimate --graph`, model: {graph: ...}).

The expected values are written out by hand from the example models' shapes
(examples/models/mlp.py, examples/models/llama.py at Llama-3.1-8B's shapes), or come from the
catalog model those shapes equal, built by a different code path (workload/builder.py)."""

from __future__ import annotations

import sys

import pytest

from ..conftest import assert_one_line_error

torch = pytest.importorskip("torch")

from fabless.estimate.engine import _precision, estimate, resolve_system  # noqa: E402
from fabless.estimate.graph import graph_estimate  # noqa: E402
from fabless.estimate.scenario import scenario_from_dict  # noqa: E402
from fabless.estimate.software import resolve_software, with_chip_calibration  # noqa: E402
from fabless.perf.params import ChipParams  # noqa: E402
from fabless.workload import Attention, MatMul, build_forward_graph, load_model  # noqa: E402
from fabless.workload.imported import load_graph  # noqa: E402

MLP = "examples/models/mlp.py:build"
LLAMA = "examples/models/llama.py:build"
# Llama-3.1-8B (data/models/llama-3.1-8b.json): the example decoder's default shapes
H, L, HEADS, KVH, D, I, V = 4096, 32, 32, 8, 128, 14336, 128256


def test_mlp_flops_by_hand(cli):
    """examples/models/mlp.py: x [8, 2048, 4096] -> Linear(4096, 14336) -> SiLU -> Linear(14336, 4096)."""
    T, h, w = 8 * 2048, 4096, 14336
    mm = 2 * T * h * w * 2                     # two matmuls, 2 FLOPs per multiply-add
    silu = 4 * T * w                           # x * sigmoid(x): exp, add, divide, multiply
    r = cli("estimate", "--graph", MLP, "--system", "dgx-h100", "--json")
    assert r.code == 0, r.err
    inf = r.json()
    assert inf["flops_per_forward"] == mm + silu
    assert inf["plan"]["dp"] == 8 and inf["batch"] == 8
    assert inf["samples_per_s"] == pytest.approx(8 * 8 / inf["forward_time_s"])
    # training: each matmul's backward is two matmuls of its size (input and weight gradients),
    # the SiLU backward twice its forward FLOPs; 128 samples on 8 chips = two micro-batches of 8 each
    r = cli("estimate", "--graph", MLP, "--system", "dgx-h100", "--global-batch", "128", "--json")
    assert r.code == 0, r.err
    tr = r.json()
    assert tr["micro_batches"] == 2
    assert tr["model_flops_per_step"] == (3 * mm + 3 * silu) * 2 * 8
    params = h * w * 2
    assert tr["memory"]["weights"] == params * 2                 # bf16
    assert tr["memory"]["gradients"] == params * 2               # bf16 gradients, ZeRO 1 keeps them whole
    assert tr["memory"]["optimizer"] == params * 12 / 8          # Adam state split over dp = 8 (ZeRO 1)
    assert tr["step_time_s"] > 2 * inf["forward_time_s"] * 3 * 0.9  # two micro-batches of ~3 forwards


def test_imported_decoder_flops_equal_the_catalog():
    """The traced Llama-style decoder has Llama-3.1-8B's parameters and FLOPs: the matmuls by
    hand, everything against the catalog's forward graph (whose output softmax the traced model,
    returning logits, does not run)."""
    g = load_graph(f"{LLAMA}(seq=512)")
    T = 512
    layer_w = H * (HEADS + 2 * KVH) * D + HEADS * D * H + 3 * H * I
    assert g.params == L * (layer_w + 2 * H) + 2 * V * H + H    # + norms, embedding, head, final norm
    mm = sum(op.flops for _, op in g.items() if isinstance(op, MatMul))
    assert mm == 2 * T * (L * layer_w + H * V)
    att = sum(op.flops for _, op in g.items() if isinstance(op, Attention))
    assert att == L * 2 * HEADS * (T * (T + 1) / 2) * 2 * D     # causal: query i sees i keys
    cat = build_forward_graph(load_model("llama-3.1-8b"), 1, T)
    assert g.flops == cat.flops - cat.total("flops", kind="softmax")


def _scn(model, system, **phase):
    return scenario_from_dict({"model": model, "system": system, "parallel": {"tp": 1}, **phase})


def test_recognised_decoder_estimates_as_the_catalog_model():
    """Recognised, the imported decoder runs through the transformer engine: with tensor
    parallelism its estimate is the catalog model's, to the last digit."""
    inf = {"inference": {"batch": 8, "input_tokens": 2048, "output_tokens": 256}}
    for model_a, model_b in ((LLAMA, "llama-3.1-8b"),):
        a = estimate(scenario_from_dict({"model": model_a, "system": "dgx-h100", "parallel": {"tp": 8}, **inf}))
        b = estimate(scenario_from_dict({"model": model_b, "system": "dgx-h100", "parallel": {"tp": 8}, **inf}))
        assert a.metrics == b.metrics and a.memory_bytes == b.memory_bytes
        assert any("recognised as a Llama-style decoder" in n for n in a.notes)


def test_operator_by_operator_training_is_close_to_the_catalog():
    """The same decoder timed operator by operator from its trace (the path of graphs that are
    not recognised) against the catalog model's training step, 8-way data parallel, no
    recompute. The FLOPs differ only by the catalog's cross-entropy loss (< 0.01%). The time
    may differ by the kernels the eager model runs unfused: rotary embedding as three
    elementwise kernels and SiLU and the multiply as two, where the catalog counts one fused
    kernel each (elementwise is ~5% of the catalog step, and unfused takes about twice as
    long); so the traced step is at least the catalog's and within 8% of it."""
    for system, seq in (({"name": "dgx-h100"}, 4096), ({"name": "hgx-b200"}, 2048)):
        tr = {"global_batch": 8, "recompute": "none", "zero": 1}
        cat = estimate(_scn("llama-3.1-8b", system, training={**tr, "seq_len": seq}))
        g = _scn(f"{LLAMA}(seq={seq},fused=True)", system, training=tr)
        sysm = resolve_system(g)
        sw = with_chip_calibration(resolve_software(None, sysm.chip, g.phase), sysm.chip, g.phase)
        phase, _, chips, plan, m, mem, br, _ = graph_estimate(g, sysm, ChipParams.from_chip(sysm.chip),
                                                              _precision(g), sw, "timed from the trace")
        assert phase == "training" and chips == 8 and m["micro_batches"] == 1
        assert m["model_flops_per_step"] == pytest.approx(cat.metrics["model_flops_per_step"], rel=1e-4)
        assert br["attention"] == pytest.approx(cat.breakdown_s["attention"], rel=1e-9)
        ratio = m["step_time_s"] / cat.metrics["step_time_s"]
        assert 1.0 <= ratio < 1.08, (system, ratio)


def test_scenario_yaml_names_a_graph(cli, tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("model: {graph: examples/models/llama.py:build, args: {seq: 1024}}\n"
                 "system: {name: dgx-h100, count: 8}\nparallel: {tp: 1}\n"
                 "training: {global_batch: 64}\n")
    r = cli("estimate", str(f), "--json")
    assert r.code == 0, r.err
    data = r.json()
    # seq_len from the trace: 64 sequences of 1024 tokens
    assert data["tokens_per_s"] * data["step_time_s"] == pytest.approx(64 * 1024)
    f.write_text("model: {graph: examples/models/mlp.py:build, args: {nope: 1}}\nsystem: dgx-h100\ninference: {}\n")
    assert_one_line_error(cli("estimate", str(f)), "unexpected keyword argument 'nope'")
    f.write_text("model: {graph: examples/models/mlp.py:build, layers: 2}\nsystem: dgx-h100\ninference: {}\n")
    assert_one_line_error(cli("estimate", str(f)), "model", "graph: FILE.py:FACTORY and args")


def test_unsupported_operator_is_one_line(cli, tmp_path):
    f = tmp_path / "odd.py"
    f.write_text("import torch\n"
                 "class Angle(torch.nn.Module):\n"
                 "    def forward(self, x):\n"
                 "        return torch.atan2(x, x)\n"
                 "def build():\n"
                 "    m = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Sequential(Angle()))\n"
                 "    return m, (torch.randn(4, 64),)\n")
    assert_one_line_error(cli("estimate", "--graph", f"{f}:build", "--system", "dgx-h100"),
                          "no fabless operator for aten.atan2.default at 1.0 (Angle)", "cannot time it")


def test_not_a_decoder_runs_dp_only(cli, tmp_path):
    assert_one_line_error(cli("estimate", "--graph", MLP, "--system", "dgx-h100", "--parallel", "tp=2"),
                          "parallel.tp", "data-parallel only", "no attention operator")
    f = tmp_path / "s.yaml"
    f.write_text(f"model: {{graph: {MLP}}}\nsystem: dgx-h100\ninference: {{input_tokens: 8, output_tokens: 8}}\n")
    assert_one_line_error(cli("serve", str(f), "--rate", "1/s"), "not a decoder transformer", "serving")
    assert_one_line_error(cli("tco", str(f)), "not a decoder transformer", "fabless estimate and explore run it")
    assert_one_line_error(cli("estimate", "--graph", MLP, "--model", "llama-3.1-8b", "--system", "dgx-h100"),
                          "--model and --graph")


def test_without_torch_one_line(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    from fabless.workload import imported

    monkeypatch.setattr(imported, "_traced", imported._traced.__wrapped__)  # no cached trace
    assert_one_line_error(cli("estimate", "--graph", MLP, "--system", "dgx-h100"),
                          "pip install 'fabless[torch]'")
