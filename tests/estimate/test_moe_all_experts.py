"""``moe_all_experts_load``: a stack that runs a step's routed experts densely (NxD's
forward_all_experts: every token through every expert). Worked by hand on Qwen3-30B-A3B
(hidden 2048, 128 experts of width 768, top-8, 48 MoE layers)."""

from __future__ import annotations

import pytest

from fabless.estimate.software import software_stacks
from fabless.workload import build_decode_graph, load_model
from fabless.workload.ops import ExpertMatMul


def _experts(g):
    return [op for b in g.blocks for op in b.ops for _ in range(b.repeat) if isinstance(op, ExpertMatMul)]


def test_a_capacity_of_every_token_computes_every_expert():
    cfg = load_model("qwen3-30b-a3b")
    assert (cfg.hidden_size, cfg.num_experts, cfg.moe_intermediate_size, cfg.top_k, cfg.num_layers) == (2048, 128, 768, 8, 48)
    T = 64
    routed = _experts(build_decode_graph(cfg, T, 1))
    dense = _experts(build_decode_graph(cfg, T, 1, capacity_factor=128 / 8))
    # routed: 2 x 64 tokens x 8 experts x (2048 x 1536 + 768 x 2048) per layer; dense: x 128 / 8 = 16
    per_layer = 2 * T * 8 * (2048 * 1536 + 768 * 2048)
    assert sum(op.flops for op in routed) == pytest.approx(48 * per_layer)
    assert sum(op.flops for op in dense) == pytest.approx(16 * 48 * per_layer)
    # every expert's weights are read when all compute; routed, 64 tokens x 8 of 128 leave some idle:
    # 128 x (1 - (120 / 128)^64) = 127.3 experts touched
    assert all(op.experts_touched == 128 for op in dense)
    assert routed[0].experts_touched == pytest.approx(128 * (1 - (120 / 128) ** 64))


def test_the_neuron_stack_takes_nxds_threshold():
    # NxD ExpertMLPs.SELECTIVE_LOADING_THRESHOLD = 1.0: 16 decode tokens x 8 / 128 = 1.0 run every expert
    # all merged from neuron-inference
    neuron = ("neuron-inference", "vllm-neuron", "vllm-neuron-cpu-sampling", "optimum-neuron-2025")
    assert all(software_stacks()[n].moe_all_experts_load == 1.0 for n in neuron)
    assert all(s.moe_all_experts_load == 0 for n, s in software_stacks().items() if n not in neuron)
