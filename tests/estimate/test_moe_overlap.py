"""The MoE all-to-all overlap (Megatron's overlap_moe_expert_parallel_comm) in the training step."""

from __future__ import annotations

import numpy as np
import pytest

from fabless.estimate.plan import Plan
from fabless.estimate.software import software_stacks
from fabless.estimate.step import SHAPE_PARTS, PlanTable, step_terms
from fabless.workload.catalog import load_model
from fabless.workload.builder import Precision


def _terms(layer_s: float, overlap: bool):
    # Qwen3 30B-A3B: 48 layers, every one a MoE layer. pp 4 -> 12 layers per stage (48 / 4, no
    # spare layer for the end stages); dp 2 x micro-batch 1 at global batch 32 -> m = 16
    # micro-batches; interleave v = 2. Every all-to-all takes 1 ms, every other collective 0.
    cfg = load_model("qwen3-30b-a3b")
    t = PlanTable.of([Plan(tp=1, pp=4, dp=2, ep=2, interleave=2, micro_batch=1, recompute="none")])
    times = {"layers": np.array([48 * layer_s]), **{k: np.array([0.0]) for k in SHAPE_PARTS}}
    coll = lambda kind, nbytes, group, per_dom, axis=None: 1e-3 if kind == "all_to_all" else 0.0  # noqa: E731
    return step_terms(cfg, Precision(), t, times, global_batch=32, seq_len=4096, coll=coll, domain=8,
                      overlap_ep_comm=overlap)


def test_without_overlap_every_all_to_all_is_exposed():
    # 4 all-to-alls (dispatch + combine, forward + backward) x 12 MoE layers x 1 ms = 48 ms per micro-batch
    r = _terms(2e-3, overlap=False)
    assert r["ep_all_to_all"][0] == pytest.approx(16 * 48e-3)


def test_overlap_hides_the_all_to_alls_under_the_paired_compute_except_warm_up_and_cool_down():
    # unpaired share on the first stage: (2 (pp-1) + (v-1) pp) / (v m) = (6 + 4) / 32 = 0.3125.
    # compute per micro-batch 12 layers x 2 ms = 24 ms < 48 ms of all-to-alls:
    # exposed = 0.3125 x 48 + 0.6875 x (48 - 24) = 15 + 16.5 = 31.5 ms per micro-batch.
    r = _terms(2e-3, overlap=True)
    assert r["ep_all_to_all"][0] == pytest.approx(16 * 31.5e-3)
    # compute 12 x 5 ms = 60 ms covers the paired ones: only the unpaired 0.3125 x 48 = 15 ms stay
    r = _terms(5e-3, overlap=True)
    assert r["ep_all_to_all"][0] == pytest.approx(16 * 15e-3)


def test_only_the_stack_of_the_recipes_that_set_it_overlaps_the_all_to_alls():
    from fabless.validate.train import software_by_row

    stacks = software_stacks()
    assert stacks["megatron-bridge-ep-overlap"].overlap_ep_comm and stacks["megatron-bridge-ep-overlap"].named_only
    assert not stacks["megatron-bridge"].overlap_ep_comm
    rows = software_by_row()
    assert rows["train-bw-014"] == "megatron-bridge-ep-overlap"
    assert rows["train-bw-020"] == rows["train-nc-008"] == "megatron-bridge"


def test_the_qwen3_rows_take_the_recipes_no_recompute():
    # Megatron-Bridge's Qwen3 performance recipes set recompute_granularity None (set_qwen3_common_configs)
    from fabless.validate.train import scenario_map

    rows = scenario_map()
    for rid in ("train-bw-010", "train-bw-015", "train-nc-002", "train-nc-008", "train-nc-009", "train-nc-011"):
        assert rows[rid]["scenario"]["parallel"]["recompute"] == "none", rid
