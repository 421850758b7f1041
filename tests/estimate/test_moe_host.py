"""The host time of a dropless MoE layer (software.yaml moe_host_s) in the training step."""

from __future__ import annotations

import numpy as np
import pytest

from fabless.errors import FablessError
from fabless.estimate import software as swmod
from fabless.estimate.plan import Plan
from fabless.estimate.step import SHAPE_PARTS, TERMS, PlanTable, step_terms
from fabless.workload.builder import Precision
from fabless.workload.catalog import load_model


def _terms(model: str, plan: Plan, global_batch: int, host_s: float, layer_s: float = 2e-3, per_expert_s: float = 0.0):
    cfg = load_model(model)
    t = PlanTable.of([plan])
    times = {"layers": np.array([cfg.num_layers * layer_s]), **{k: np.array([0.0]) for k in SHAPE_PARTS}}
    coll = lambda kind, nbytes, group, per_dom, axis=None: 0.0  # noqa: E731
    return step_terms(cfg, Precision(), t, times, global_batch=global_batch, seq_len=4096, coll=coll, domain=8,
                      moe_host_s=host_s, moe_host_per_expert_s=per_expert_s)


def test_every_moe_layer_of_every_micro_batch_adds_the_host_time():
    # Qwen3 30B-A3B: 48 layers, all MoE. pp 4 -> 12 layers per stage; dp 2 x micro-batch 1 at global
    # batch 32 -> m = 16. 12 layers x 1 ms x 16 micro-batches = 192 ms of host time, and the
    # bubble (pp-1)/(m+pp-1) = 3/19 of the step takes its share: the stage grows from 12 x 2 ms =
    # 24 ms to 36 ms.
    plan = Plan(tp=1, pp=4, dp=2, ep=2, micro_batch=1, recompute="none")
    base = _terms("qwen3-30b-a3b", plan, 32, 0.0)
    r = _terms("qwen3-30b-a3b", plan, 32, 1e-3)
    assert r["moe_host"][0] == pytest.approx(16 * 12 * 1e-3)
    assert r["stage_s"][0] == pytest.approx(36e-3) and base["stage_s"][0] == pytest.approx(24e-3)
    assert r["compute"][0] == pytest.approx(base["compute"][0])
    assert r["step_time_s"][0] == pytest.approx(16 * 36e-3 * 19 / 16)


def test_each_local_expert_adds_its_share():
    # Qwen3 30B-A3B has 128 experts; ep 2 -> 64 local experts. 1 ms + 64 x 0.1 ms = 7.4 ms per MoE
    # layer and micro-batch; 12 layers per stage x 16 micro-batches.
    plan = Plan(tp=1, pp=4, dp=2, ep=2, micro_batch=1, recompute="none")
    r = _terms("qwen3-30b-a3b", plan, 32, 1e-3, per_expert_s=0.1e-3)
    assert r["moe_host"][0] == pytest.approx(16 * 12 * 7.4e-3)
    # ep 1: every expert on the chip, 128 x 0.1 ms = 12.8 ms
    r1 = _terms("qwen3-30b-a3b", Plan(tp=1, pp=4, dp=2, ep=1, micro_batch=1, recompute="none"), 32, 0.0,
                per_expert_s=0.1e-3)
    assert r1["moe_host"][0] == pytest.approx(16 * 12 * 12.8e-3)


def test_dense_layers_and_dense_models_take_none():
    # DeepSeek-V3: 61 layers, the first 3 dense (58 MoE). pp 1, m = 4 micro-batches: 58 x 1 ms x 4.
    r = _terms("deepseek-v3", Plan(tp=1, pp=1, dp=8, ep=8, micro_batch=1, recompute="none"), 32, 1e-3)
    assert r["moe_host"][0] == pytest.approx(58 * 1e-3 * 4)
    dense = _terms("llama-3.1-8b", Plan(tp=1, pp=1, dp=8, micro_batch=1), 32, 1e-3)
    assert dense["moe_host"][0] == 0.0
    assert "moe_host" in TERMS


def test_the_megatron_bridge_stacks_share_one_fitted_value_and_others_have_none():
    stacks = swmod.software_stacks()
    names = ("megatron-bridge", "megatron-bridge-nvfp4", "megatron-bridge-ep-overlap")
    vals = {(stacks[n].moe_host_s, stacks[n].moe_host_per_expert_s) for n in names}
    assert len(vals) == 1
    layer_s, expert_s = vals.pop()
    assert 0 < layer_s < 0.1 and 0 < expert_s < 0.1
    assert stacks["maxtext"].moe_host_s == stacks["maxtext"].moe_host_per_expert_s == 0.0
    assert {"train-nc-013", "train-nc-014", "train-nc-022"} <= set(stacks["megatron-bridge"].fit_rows)


def test_a_negative_host_time_is_refused(tmp_path, monkeypatch):
    bad = tmp_path / "software.yaml"
    monkeypatch.setattr(swmod, "_PATH", bad)
    try:
        for key in ("moe_host_s", "moe_host_per_expert_s"):
            bad.write_text(f"x:\n  phase: training\n  vendors: [NVIDIA]\n  date: 2026-01-01\n  {key}: -1e-3\n")
            swmod.software_stacks.cache_clear()
            with pytest.raises(FablessError, match=key):
                swmod.software_stacks()
    finally:
        monkeypatch.undo()
        swmod.software_stacks.cache_clear()


def test_each_tensor_parallel_rank_dispatches_its_sequence_parallel_share_of_the_tokens():
    # the all-to-all of a micro-batch carries tokens x top_k x hidden x 2 bytes per rank; with tensor
    # parallelism 4 and sequence parallelism each rank holds 4096 / 4 = 1024 tokens of a micro-batch of one
    # sequence: Qwen3 30B-A3B (top 8, hidden 2048) -> 1024 x 8 x 2048 x 2 = 33,554,432 bytes (tp 1: 4x that)
    cfg = load_model("qwen3-30b-a3b")
    sizes = {}

    def coll(kind, nbytes, group, per_dom, axis=None):
        if kind == "all_to_all":
            sizes.setdefault(int(np.ravel(group)[0]), set()).add(float(np.ravel(nbytes)[0]))
        return 0.0

    times = {"layers": np.array([cfg.num_layers * 2e-3]), **{k: np.array([0.0]) for k in SHAPE_PARTS}}
    for tp in (1, 4):
        plan = Plan(tp=tp, pp=1, dp=16 // tp, ep=16, micro_batch=1, recompute="none")
        step_terms(cfg, Precision(), PlanTable.of([plan]), times, global_batch=64, seq_len=4096, coll=coll, domain=8)
    assert sizes[16] == {4096 * 8 * 2048 * 2, 1024 * 8 * 2048 * 2}
