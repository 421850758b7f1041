"""Valid large-scale scenarios that once crashed (issue #14): DeepSeek-V3 training with the
plan searched on 512 H100 and on 256 TPU v5p raised OverflowError in the MoE expert count."""

from __future__ import annotations

import math

import pytest

from fabless.estimate.engine import estimate
from fabless.estimate.scenario import scenario_from_dict
from fabless.workload.ops import ExpertMatMul

# DeepSeek-V3: 37B parameters active per token (arXiv:2412.19437, abstract, 2024-12-27).
ACTIVE_PARAMS = 37e9


@pytest.mark.parametrize("system,precision,global_batch", [
    ({"name": "dgx-h100", "count": 512}, "fp8", 1536),
    ({"chip": "tpu-v5p", "count": 256}, "bf16", 1024),
])
def test_deepseek_v3_auto_plan_gives_finite_figures(system, precision, global_batch):
    seq = 4096
    est = estimate(scenario_from_dict({
        "model": "deepseek-v3", "system": system, "precision": precision, "parallel": "auto",
        "training": {"global_batch": global_batch, "micro_batch": 1, "seq_len": seq}}))
    m = est.metrics
    assert math.isfinite(m["step_time_s"]) and m["step_time_s"] > 0
    assert 0 < m["mfu"] < 1
    # Model FLOPs per step: 6 x active parameters x tokens, plus attention (a few tens of % at 4K).
    dense = 6 * ACTIVE_PARAMS * global_batch * seq
    assert 1.0 <= m["model_flops_per_step"] / dense < 1.4


def test_experts_touched_matches_the_uniform_routing_formula():
    # 4 experts, top-1, 2 tokens: an expert is missed by both with (3/4)^2, so 4 x 7/16 = 1.75 are touched.
    op = ExpertMatMul("x", experts=4, tokens=2, top_k=1, n=8, k=8)
    assert op.experts_touched == pytest.approx(1.75)


def test_experts_touched_when_top_k_exceeds_the_local_experts():
    # After expert-parallel sharding 2 experts are local while each token picks 8: both are used,
    # at any token count (this raised OverflowError at 4096 tokens, and went negative at 2).
    for tokens in (1, 2, 4096, 10**9):
        assert ExpertMatMul("x", experts=2, tokens=tokens, top_k=8, n=8, k=8).experts_touched == 2


def test_a_sequence_past_learned_positions_is_refused_in_one_line(capsys):
    # GPT-3 175B has 2,048 learned positions (its config n_ctx): a 4,096-token training sequence
    # has no position embeddings to look up; Llama's rotary positions run past their configured
    # context, so a longer inference is estimated.
    from fabless.cli import main

    rc = main(["estimate", "--model", "gpt3-175b", "--system", "dgx-h100", "--chips", "8", "--parallel", "tp=8",
               "--mode", "pretrain", "--global-batch", "8", "--seq-len", "4096"])
    err = capsys.readouterr().err
    assert rc == 2 and "training.seq_len = 4,096 tokens is longer than gpt3-175b's 2,048 learned positions" in err
    assert err.count("\n") == 1
    from fabless.estimate.engine import estimate
    from fabless.estimate.scenario import scenario_from_dict

    est = estimate(scenario_from_dict({"model": "llama-3.1-8b", "system": {"name": "dgx-h100", "count": 1},
                                       "parallel": {"tp": 1},
                                       "inference": {"batch": 1, "input_tokens": 200_000, "output_tokens": 16}}))
    assert est.metrics["ttft_s"] > 0
