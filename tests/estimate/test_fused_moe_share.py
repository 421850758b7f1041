"""The open-source engines' Triton fused-MoE kernel as a stack input: the 16-bit and 8-bit (w8a8)
shares of the dense-GEMM rate its grouped expert GEMMs reach (software.yaml
``grouped_gemm_efficiency`` / ``grouped_gemm_8bit_efficiency``, derived by
scripts/derive_fused_moe_share.py from data/measurements/fused_moe_kernels.yaml). The kernel rates are
recomputed by hand from the sources' timings; the shares' use is checked on the engine's choice."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from fabless.errors import FablessError
from fabless.estimate import software as software_mod
from fabless.estimate.engine import grouped_gemm_share, w8a8
from fabless.estimate.software import software_stacks
from fabless.hardware.presets import load_chip
from fabless.loading import read_yaml
from fabless.workload import Precision, load_model
from tests.conftest import load_script

TRITON_STACKS = ("vllm-rocm", "vllm-cuda-0.7", "sglang-cuda-0.4")


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


def test_every_sweep_cites_its_pull_request_and_date():
    for name, sw in _sweeps().items():
        assert "https://github.com/vllm-project/vllm/pull/" in sw["source"] and "20" in sw["source"], name
        assert sw["dtype"] in ("fp8", "bf16") and load_chip(sw["chip"]) is not None


def test_the_shipped_shares_are_what_the_script_derives():
    derived = load_script("derive_fused_moe_share").derived()
    assert derived["8bit"] < derived["16bit"]
    for name in TRITON_STACKS:
        s = software_stacks()[name]
        assert (s.grouped_gemm_efficiency, s.grouped_gemm_8bit_efficiency) == (derived["16bit"], derived["8bit"]), name
    # the stacks that run other MoE kernels keep one share for every datatype
    assert software_stacks()["trt-llm-mlperf-v4.1"].grouped_gemm_8bit_efficiency is None


def test_the_8bit_share_applies_only_to_w8a8_expert_gemms():
    cfg, h200 = load_model("deepseek-v3"), load_chip("h200-sxm")
    sw = software_stacks()["vllm-cuda-0.7"]
    fp8 = Precision(weights="fp8", activations="fp8", kv_cache="bf16")
    w8a16 = Precision(weights="fp8", activations="bf16", kv_cache="bf16")
    bf16 = Precision(weights="bf16", activations="bf16", kv_cache="bf16")
    assert w8a8(fp8) and not w8a8(w8a16) and not w8a8(bf16)
    assert grouped_gemm_share(cfg, 8, h200, sw, fp8) == pytest.approx(0.18)
    assert grouped_gemm_share(cfg, 8, h200, sw, w8a16) == pytest.approx(0.69)
    assert grouped_gemm_share(cfg, 8, h200, sw, bf16) == pytest.approx(0.69)
    assert grouped_gemm_share(cfg, 8, h200, dataclasses.replace(sw, grouped_gemm_8bit_efficiency=None), fp8) == pytest.approx(0.69)
    assert grouped_gemm_share(cfg, 8, h200, None, fp8) == 1.0
    assert "8-bit (w8a8) grouped expert GEMMs at 0.18" in sw.describe()


def test_a_share_outside_0_1_or_on_a_training_stack_is_a_one_line_error(tmp_path, monkeypatch):
    text = Path(software_mod._PATH).read_text()
    for bad, match in ((text.replace("grouped_gemm_8bit_efficiency: {value: 0.18", "grouped_gemm_8bit_efficiency: {value: 1.8", 1),
                        "grouped_gemm_8bit_efficiency must be in \\(0, 1\\], got 1.8"),
                       (text.replace("maxtext:\n", "maxtext:\n  grouped_gemm_8bit_efficiency: {value: 0.5, source: x}\n", 1),
                        "maxtext.grouped_gemm_8bit_efficiency applies to inference stacks only")):
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
