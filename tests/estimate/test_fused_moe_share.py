"""The open-source engines' Triton fused-MoE kernel as a stack input: the shares of the dense-GEMM rate its
grouped expert GEMMs compute at and of the HBM rate they stream their weights at, 16-bit and 8-bit (w8a8)
(software.yaml ``grouped_gemm_efficiency`` / ``grouped_gemm_8bit_efficiency`` /
``grouped_gemm_stream_efficiency`` / ``grouped_gemm_8bit_stream_efficiency``, derived by
scripts/derive_fused_moe_share.py from data/measurements/fused_moe_kernels.yaml per release of the kernel).
The kernel rates and weight streams are recomputed by hand from the sources' timings; the shares' use is
checked on the engine's choice and on one operator's time."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from fabless.errors import FablessError
from fabless.estimate import software as software_mod
from fabless.estimate.engine import grouped_gemm_share, grouped_gemm_stream, w8a8
from fabless.estimate.optime import graph_time
from fabless.estimate.software import software_stacks
from fabless.hardware.presets import load_chip
from fabless.loading import read_yaml
from fabless.perf.params import as_params
from fabless.workload import Precision, load_model
from fabless.workload.graph import Block, Graph
from fabless.workload.ops import ExpertMatMul
from tests.conftest import load_script

#: The stacks that run each release of the kernel (software.yaml).
STACKS = {"vllm-main": ("vllm-rocm", "vllm-cuda-0.7", "sglang-cuda-0.4"), "sglang-0.5.9": ("sglang-cuda-0.5",)}


def _sweeps() -> dict:
    return read_yaml(load_script("derive_fused_moe_share").DATA)["sweeps"]


def test_the_fp8_sweep_runs_near_the_bf16_rate_not_the_fp8_peak():
    # vLLM PR #24700 on H100, Qwen3-30B-A3B shapes (128 experts, top 8, N 768, hidden 2048), FP8 w8a8:
    # one fused call is 2 x tokens x 8 x (2048 x 1536 + 768 x 2048) FLOPs = tokens x 75.5 MFLOP
    sw = _sweeps()["h100-fp8-qwen3-30b-a3b"]
    per_token = 2 * 8 * (2048 * 1536 + 768 * 2048)
    assert per_token == 75_497_472
    rate_4096 = 4096 * per_token / 1647.57e-6
    rate_2048 = 2048 * per_token / 911.64e-6
    assert sw["time_us"][4096] == 1647.57 and sw["time_us"][2048] == 911.64
    assert rate_4096 == pytest.approx(187.7e12, rel=1e-3) and rate_2048 == pytest.approx(169.6e12, rel=1e-3)
    # H100 SXM's dense FP8 peak is 1979 TFLOP/s: under a tenth of it
    assert rate_4096 / 1979e12 < 0.1
    # the BF16 Gemma 4 sweep on H200 (128 experts, top 8, N 704, hidden 2816) reaches more in BF16
    g = _sweeps()["h200-bf16-gemma4"]
    gemma_rate = 4096 * 2 * 8 * (2816 * 1408 + 704 * 2816) / (g["time_us"][4096] * 1e-6)
    assert gemma_rate == pytest.approx(311.9e12, rel=1e-3) and gemma_rate > rate_4096


def test_on_b200_the_block_fp8_call_reads_half_the_bytes_in_nearly_the_bf16_time():
    # aiconfigurator's SGLang 0.5.9 tables, DeepSeek-V3 experts at tp 8 (256 experts, N = 2048 / 8 = 256,
    # hidden 7168) at 128 tokens: every expert touched (128 x 8 / 256 = 4 rows each), so a call reads every
    # expert's gate/up (512 x 7168) and down (7168 x 256) weights: 256 x 3 x 256 x 7168 elements
    sw = _sweeps()
    bf16, fp8 = sw["b200-bf16-deepseek-v3-tp8-sglang"], sw["b200-fp8-deepseek-v3-tp8-sglang"]
    assert (bf16["n"], fp8["n"], bf16["k"]) == (256, 256, 7168)
    elements = 256 * 3 * 256 * 7168
    assert elements == 1_409_286_144
    assert (bf16["time_us"][128], fp8["time_us"][128]) == (455.85, 428.73)
    # at B200's 7.7 TB/s x 0.88 achievable (chips/b200.yaml, perf/families.yaml default-gpu)
    rate = 7.7e12 * 0.88
    bf16_share = 2 * elements / rate / 455.85e-6
    fp8_share = elements / rate / 428.73e-6
    assert bf16_share == pytest.approx(0.913, abs=0.002) and fp8_share == pytest.approx(0.485, abs=0.002)
    # the derivation reads the same point within the activations' few bytes (3% here)
    pts = {(p["sweep"], p["batch"], p["which"]): p["value"] for p in load_script("derive_fused_moe_share").points()}
    assert pts[("b200-fp8-deepseek-v3-tp8-sglang", 128, "stream")] == pytest.approx(fp8_share, rel=0.03)
    assert pts[("b200-bf16-deepseek-v3-tp8-sglang", 128, "stream")] == pytest.approx(bf16_share, rel=0.03)


def test_every_sweep_cites_its_source_and_date():
    for name, sw in _sweeps().items():
        assert sw["release"] in STACKS, name
        if sw["release"] == "vllm-main":
            assert "https://github.com/vllm-project/vllm/pull/" in sw["source"] and "20" in sw["source"], name
        else:
            assert "ai-dynamo/aiconfigurator" in sw["source"] and "095f58a51c4c of 2026-08-21" in sw["source"], name
            assert "/sglang/0.5.9/moe_perf.parquet" in sw["source"] and name.endswith("-sglang"), name
        assert sw["dtype"] in ("fp8", "bf16") and load_chip(sw["chip"]) is not None


def test_the_shipped_shares_are_what_the_script_derives():
    derived = load_script("derive_fused_moe_share").derived()
    assert set(derived) == {(r, k) for r in STACKS for k in ("16bit", "8bit")}
    for release, stacks in STACKS.items():
        d16, d8 = derived[(release, "16bit")], derived[(release, "8bit")]
        # 8-bit computes at a smaller share of its (twice as high) peak, and streams at a smaller share
        assert d8["share"] < d16["share"] and d8["stream"] < d16["stream"] < 1.0
        for name in stacks:
            s = software_stacks()[name]
            assert (s.grouped_gemm_efficiency, s.grouped_gemm_8bit_efficiency) == (d16["share"], d8["share"]), name
            assert (s.grouped_gemm_stream_efficiency, s.grouped_gemm_8bit_stream_efficiency) == (
                d16["stream"], d8["stream"]), name
    # the stacks that run other MoE kernels keep one share for every datatype and stream as modelled
    mlperf = software_stacks()["trt-llm-mlperf-v4.1"]
    assert mlperf.grouped_gemm_8bit_efficiency is None and mlperf.grouped_gemm_stream_efficiency == 1.0


def test_the_8bit_shares_apply_only_to_w8a8_expert_gemms():
    cfg, h200 = load_model("deepseek-v3"), load_chip("h200-sxm")
    sw = software_stacks()["vllm-cuda-0.7"]
    fp8 = Precision(weights="fp8", activations="fp8", kv_cache="bf16")
    w8a16 = Precision(weights="fp8", activations="bf16", kv_cache="bf16")
    bf16 = Precision(weights="bf16", activations="bf16", kv_cache="bf16")
    assert w8a8(fp8) and not w8a8(w8a16) and not w8a8(bf16)
    # the 8-bit share (0.20 at this commit) is the stack's own, distinct from its 16-bit share
    assert sw.grouped_gemm_8bit_efficiency != sw.grouped_gemm_efficiency
    assert grouped_gemm_share(cfg, 8, h200, sw, fp8) == pytest.approx(sw.grouped_gemm_8bit_efficiency)
    # the 16-bit share (derived by scripts/derive_fused_moe_share.py: test above) for every other precision
    share16 = sw.grouped_gemm_efficiency
    assert grouped_gemm_share(cfg, 8, h200, sw, w8a16) == pytest.approx(share16)
    assert grouped_gemm_share(cfg, 8, h200, sw, bf16) == pytest.approx(share16)
    assert grouped_gemm_share(cfg, 8, h200, dataclasses.replace(sw, grouped_gemm_8bit_efficiency=None), fp8) == pytest.approx(share16)
    assert grouped_gemm_share(cfg, 8, h200, None, fp8) == 1.0
    assert (grouped_gemm_stream(sw, fp8), grouped_gemm_stream(sw, w8a16), grouped_gemm_stream(sw, bf16)) == (0.77, 0.92, 0.92)
    assert grouped_gemm_stream(dataclasses.replace(sw, grouped_gemm_8bit_stream_efficiency=None), fp8) == 0.92
    assert grouped_gemm_stream(None, fp8) == 1.0
    assert f"8-bit (w8a8) grouped expert GEMMs at {sw.grouped_gemm_8bit_efficiency:.2f}" in sw.describe()
    assert "8-bit grouped expert GEMMs stream their weights at 0.77 of the HBM rate" in sw.describe()


def test_a_memory_bound_expert_call_takes_one_over_the_stream_share():
    # DeepSeek-V3's experts at tp 8 with 128 tokens on B200 (4 rows an expert: 1 - (1 - 8/256)^128 = 98.3%
    # of them touched): the gate/up call reads those experts' 512 x 7168 weights and computes little, so
    # its memory time sets it; at stream share 0.63 that part takes 1 / 0.63 as long
    op = ExpertMatMul("experts.gate_up", n=512, k=7168, experts=256, tokens=128, top_k=8,
                      dtype_a="bf16", dtype_b="bf16", dtype_out="bf16")
    g = Graph(name="one-call", phase="decode", blocks=(Block(name="moe", ops=(op,), repeat=1),))
    chip = as_params("b200")
    full = sum(graph_time(g, chip).values())
    slow = sum(graph_time(g, chip, grouped_stream=0.63).values())
    weights_s = 0.983 * 256 * 512 * 7168 * 2 / (7.7e12 * 0.88)
    assert full == pytest.approx(weights_s, rel=0.15)  # plus the activations and the launch
    assert slow - full == pytest.approx(weights_s * (1 / 0.63 - 1), rel=0.05)


def test_a_share_outside_0_1_or_on_a_training_stack_is_a_one_line_error(tmp_path, monkeypatch):
    text = Path(software_mod._PATH).read_text()
    for bad, match in ((text.replace("grouped_gemm_8bit_efficiency: {value: 0.20", "grouped_gemm_8bit_efficiency: {value: 1.8", 1),
                        "grouped_gemm_8bit_efficiency must be in \\(0, 1\\], got 1.8"),
                       (text.replace("grouped_gemm_stream_efficiency: {value: 0.92", "grouped_gemm_stream_efficiency: {value: 0", 1),
                        "grouped_gemm_stream_efficiency must be in \\(0, 1\\], got 0.0"),
                       (text.replace("maxtext:\n", "maxtext:\n  grouped_gemm_8bit_stream_efficiency: {value: 0.5, source: x}\n", 1),
                        "maxtext.grouped_gemm_8bit_stream_efficiency applies to inference stacks only")):
        assert bad != text
        f = tmp_path / "software.yaml"
        f.write_text(bad)
        monkeypatch.setattr(software_mod, "_PATH", f)
        software_stacks.cache_clear()
        try:
            with pytest.raises(FablessError, match=match) as exc:
                software_stacks()
            assert "\n" not in str(exc.value)
        finally:
            monkeypatch.undo()
            software_stacks.cache_clear()


def test_a_stacks_own_grouped_kernel_runs_without_the_dense_gemms_time_per_wave():
    # Qwen3-30B-A3B-like experts (128 of them, 768 wide) with 4096 tokens on H100: compute-bound, k = 768 is 12 K
    # steps. The family's tile_overhead_s was fitted on cuBLAS's dense GEMMs; a stack with a grouped share of its
    # own (derived from its kernel's sweeps) runs the expert call without it, so changing it moves a dense GEMM
    # of the same graph by its waves x the change and leaves the expert call as it was
    expert = ExpertMatMul("experts.down", n=2048, k=768, experts=128, tokens=4096, top_k=8,
                          dtype_a="bf16", dtype_b="bf16", dtype_out="bf16")
    g = Graph(name="one-layer", phase="prefill", blocks=(Block(name="moe", ops=(expert,), repeat=1),))
    h100 = as_params("h100-sxm")
    slow_tiles = h100.replace(tile_overhead_s=h100.tile_overhead_s + 5e-6)
    own = [sum(graph_time(g, c, grouped_eff=0.7).values()) for c in (h100, slow_tiles)]
    assert own[0] == own[1]
    # without a share of its own (a Transformer Engine grouped GEMM: one cuBLAS GEMM per expert) it pays them
    plain = [sum(graph_time(g, c).values()) for c in (h100, slow_tiles)]
    assert plain[1] - plain[0] > 5e-6
