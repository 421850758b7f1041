"""``precision.attention_weights``: a checkpoint that quantises only the non-attention linear layers
(Meta's FP8 Llama 3.1 405B keeps self-attention in BF16). Checked by hand: the extra bytes a chip holds
and the datatypes the attention projections' matmuls run at."""

from __future__ import annotations

import pytest

from fabless.errors import FablessError
from fabless.estimate.engine import inference_memory_bytes
from fabless.estimate.plan import Plan
from fabless.estimate.scenario import scenario_from_dict
from fabless.workload import Precision, build_decode_graph, load_model


def test_bf16_attention_adds_one_byte_per_attention_parameter_over_tp():
    # Llama 3.1 405B: hidden 16384, 128 query heads and 8 KV heads of 128, 126 layers. One layer's
    # attention: qkv 16384 x (128 + 2 x 8) x 128 = 301,989,888, o 128 x 128 x 16384 = 268,435,456,
    # together 570,425,344; x 126 = 71,873,593,344. At tp 8, BF16 (2 bytes) instead of FP8 (1 byte)
    # adds 71,873,593,344 / 8 = 8,984,199,168 bytes to each chip's weights, nothing to its KV cache.
    cfg = load_model("llama-3.1-405b")
    plan = Plan(tp=8)
    fp8 = Precision(weights="fp8", activations="fp8", kv_cache="bf16")
    mixed = Precision(weights="fp8", activations="fp8", kv_cache="bf16", attention_weights="bf16")
    a, b = inference_memory_bytes(cfg, plan, 4, 2048, fp8), inference_memory_bytes(cfg, plan, 4, 2048, mixed)
    assert b["weights"] - a["weights"] == pytest.approx(8_984_199_168)
    assert b["kv_cache"] == a["kv_cache"]
    same = Precision(weights="fp8", activations="fp8", kv_cache="bf16", attention_weights="fp8")
    assert inference_memory_bytes(cfg, plan, 4, 2048, same)["weights"] == a["weights"]


def test_attention_projections_run_at_their_own_datatype():
    cfg = load_model("llama-3.1-8b")
    g = build_decode_graph(cfg, 4, 1024, Precision(weights="fp8", activations="fp8", kv_cache="bf16", attention_weights="bf16"))
    ops = {op.name: op for b in g.blocks for op in b.ops}
    for name in ("qkv_proj", "o_proj"):  # unquantised layers take bf16 weights and bf16 inputs
        assert (ops[name].dtype_a, ops[name].dtype_b) == ("bf16", "bf16"), name
    mlp = [op for op in ops.values() if getattr(op, "weight", False) and op.name not in ("qkv_proj", "o_proj", "lm_head")]
    assert mlp and all(op.dtype_b == "fp8" and op.dtype_a == "fp8" for op in mlp)


def test_the_scenario_takes_it_and_rejects_a_bad_datatype():
    base = {"model": "llama-3.1-8b", "system": {"name": "dgx-h100", "count": 1}, "inference": {"batch": 1, "input_tokens": 8, "output_tokens": 8}}
    s = scenario_from_dict({**base, "precision": {"weights": "fp8", "activations": "fp8", "kv_cache": "bf16", "attention_weights": "bf16"}}, "t")
    assert s.precision.attention_weights == "bf16"
    assert scenario_from_dict({**base, "precision": "fp8"}, "t").precision.attention_weights is None
    with pytest.raises(FablessError, match="attention_weights"):
        scenario_from_dict({**base, "precision": {"weights": "fp8", "attention_weights": "bf17"}}, "t")
