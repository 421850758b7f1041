"""Fine-tuning as a training mode: full fine-tuning, LoRA and QLoRA (hand-derived expectations)."""

from __future__ import annotations

import pytest

from fabless.estimate.engine import estimate
from fabless.estimate.scenario import scenario_from_dict
from fabless.estimate.step import adapter_params, with_adapters
from fabless.workload import Precision, build_training_graph, load_model
from fabless.workload.ops import MatMul


def _scn(mode: str, **tr):
    return scenario_from_dict({"model": "llama-2-70b", "system": {"name": "dgx-h100", "count": 8}, "precision": "bf16",
                               "parallel": {"tp": 8, "recompute": "full"},
                               "training": {"global_batch": 8, "seq_len": 8192, "mode": mode, **tr}})


def test_adapter_parameter_count_by_hand():
    # Llama-2-70B: h 8192, 64 heads x 128, 8 KV heads, MLP 28672 (SwiGLU), 80 layers; rank 16 on the fused
    # modules (NeMo's linear_qkv, linear_proj, linear_fc1 = gate+up, linear_fc2): r x (k + n) each
    qkv = 8192 + (64 + 2 * 8) * 128
    o = 8192 + 8192
    fc1 = 8192 + 2 * 28672
    fc2 = 28672 + 8192
    assert adapter_params(load_model("llama-2-70b"), 16) == 16 * 80 * (qkv + o + fc1 + fc2)


def test_lora_memory_terms():
    cfg = load_model("llama-2-70b")
    lora = adapter_params(cfg, 16) / 8
    base = cfg.params_total / 8
    est = estimate(_scn("lora"))
    assert est.memory_bytes["weights"] == pytest.approx(base * 2 + lora * 2, rel=1e-9)
    assert est.memory_bytes["gradients"] == pytest.approx(lora * 2, rel=1e-9)
    assert est.memory_bytes["optimizer"] == pytest.approx(lora * 12, rel=1e-9)
    q = estimate(_scn("qlora"))
    assert q.memory_bytes["weights"] == pytest.approx(base * 0.5 + lora * 2, rel=1e-9)  # 4-bit base
    # full fine-tuning of 70B on 8 H100 needs ~16 bytes per parameter / 8: it does not fit; LoRA does
    assert not estimate(_scn("full")).fits and est.fits and q.fits


def test_lora_drops_weight_gradients_only():
    cfg = load_model("llama-2-7b")
    g = build_training_graph(cfg, 1, 1024, Precision(), recompute="none")
    lg = with_adapters(g, 16, 1)

    def matmul_flops(graph, pred):
        return sum(op.flops * b.repeat for b in graph.blocks if b.name.startswith("layers[")
                   for op in b.ops if isinstance(op, MatMul) and pred(op))

    base = lambda op: ".lora_" not in op.name  # noqa: E731
    full = matmul_flops(g, base)
    # forward, input gradient and weight gradient each cost the same FLOPs for a weight matmul: 2/3 remain
    weight_mm = matmul_flops(g, lambda op: op.weight or op.name.endswith(".wgrad"))
    assert matmul_flops(lg, base) == pytest.approx(full - weight_mm / 3, rel=1e-12)
    # the adapters add 2 x tokens x r x (k + n) forward FLOPs per weight matmul, three times that with backward
    fwd_ad = matmul_flops(lg, lambda op: ".lora_" in op.name and op.pass_ == "fwd")
    assert fwd_ad == pytest.approx(2 * 1024 * adapter_params(cfg, 16), rel=1e-12)


def test_lora_is_faster_than_full_finetuning_and_qlora_pays_for_dequantising():
    full, lora, qlora = (estimate(_scn(m)) for m in ("full", "lora", "qlora"))
    assert lora.metrics["step_time_s"] < full.metrics["step_time_s"]
    assert qlora.metrics["step_time_s"] > lora.metrics["step_time_s"]
