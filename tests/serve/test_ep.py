"""Expert parallelism in a serving replica (EngineStepCost ep) and in `fabless fleet`."""

from __future__ import annotations

import pytest

from fabless.errors import FablessError
from fabless.estimate.engine import estimate, expert_local, graph_time
from fabless.estimate.scenario import scenario_from_dict
from fabless.estimate.stepcost import EngineStepCost, _split
from fabless.perf.collectives import group_collective_time_s
from fabless.serve.fleet import Layout, candidate_layouts
from fabless.workload import build_decode_graph, load_model
from fabless.workload.ops import ExpertMatMul


def _model(tp: int, ep: int, model: str = "mixtral-8x7b", precision: str = "bf16") -> EngineStepCost:
    return EngineStepCost.from_scenario(scenario_from_dict({
        "model": model, "system": {"name": "dgx-h100", "count": tp}, "precision": precision,
        "parallel": {"tp": tp, "ep": ep}, "inference": {"batch": 1, "input_tokens": 1000, "output_tokens": 200}}))


def test_weights_and_kv_per_chip_same_with_ep_equal_tp():
    # Mixtral-8x7B at tp 8: ep 1 slices every expert 8 ways, ep 8 gives each chip one whole
    # expert: either way a chip holds params_total / 8 (all parts are split 8 ways), so the KV room is equal.
    cfg = load_model("mixtral-8x7b")
    a, b = _model(8, 1), _model(8, 8)
    assert b.plan.ep == 8 and a.plan.ep == 1
    assert a.kv_capacity_tokens == b.kv_capacity_tokens
    from fabless.estimate.engine import params_per_chip
    assert params_per_chip(cfg, b.plan) == pytest.approx(cfg.params_total / 8)
    assert params_per_chip(cfg, a.plan) == pytest.approx(cfg.params_total / 8)


def test_all_to_all_is_the_collectives_model_for_hand_bytes():
    # 64 tokens x top_k 2 x hidden 4096 x 2 bytes (bf16) / ep 8 = 131072 bytes per chip, a
    # dispatch and a combine in each of Mixtral's 32 MoE layers.
    m = _model(8, 8)
    one = group_collective_time_s("all_to_all", 64 * 2 * 4096 * 2 / 8, 8, m.system, within_domain=True)
    assert 64 * 2 * 4096 * 2 / 8 == 131072
    assert m.all_to_all_s(64) == pytest.approx(2 * 32 * one)
    assert _model(8, 1).all_to_all_s(64) == 0.0
    # The combine replaces each MoE layer's MLP all-reduce: 32 all-reduces left of 64.
    # (the TP all-reduce is the engine's inference all-reduce: the faster of NCCL and the one-shot kernel)
    from fabless.estimate.engine import inference_all_reduce_s
    ar = inference_all_reduce_s(64 * 4096 * 2, 8, m.system)
    from fabless.estimate.engine import engine_params
    f = engine_params()["tp_comm_exposed_fraction"]
    assert m.comm_time_s(64) == pytest.approx(32 * f * ar + 2 * 32 * one)
    assert _model(8, 1).comm_time_s(64) == pytest.approx(64 * f * ar)


def test_local_experts_do_one_ep_th_of_the_expert_flops():
    # Each of 8 chips computes its 1 expert's share of T x top_k pairs: the same expert FLOPs
    # per chip as 1/8 slices of every expert (ep 1, tp 8).
    a, b = _model(8, 1), _model(8, 8)
    T = 4096
    ga = _split(build_decode_graph(a._scfg, T, 1, a.precision), attention=False)
    gb = expert_local(_split(build_decode_graph(b._scfg, T, 1, b.precision), attention=False), b.plan)

    def expert_flops(g):
        return sum(op.flops * blk.repeat for blk in g.blocks for op in blk.ops if isinstance(op, ExpertMatMul))
    assert expert_flops(gb) == pytest.approx(expert_flops(ga))
    ops = [op for blk in gb.blocks for op in blk.ops if isinstance(op, ExpertMatMul)]
    assert all(op.experts == 1 and op.tokens_per_expert == pytest.approx(T * 2 / 8) for op in ops)
    assert sum(graph_time(gb, b.chip).values()) > 0


@pytest.mark.parametrize("ep", [1, 8])
def test_estimate_prefill_expert_flops_do_not_grow_with_ep(ep):
    # Mixtral-8x7B, tp 8, one 1000-token prompt: 1000 x top_k 2 token-expert pairs over 32 MoE
    # layers, each pair 3 x 4096 x 14336 x 2 FLOPs (gate, up, down), split over 8 chips whether the
    # experts are sliced (ep 1) or whole (ep 8): 2000 x 32 x 3 x 2 x 4096 x 14336 / 8 FLOPs per chip.
    # (fabless estimate's prefill once routed each chip's tokens over its own 1 expert when ep = 8,
    # eight times this.)
    from fabless.estimate.engine import request_graphs
    from fabless.workload import Precision
    cfg = load_model("mixtral-8x7b")
    plan = _model(8, ep).plan
    (pre,), _ = request_graphs(cfg, plan, 1, 1000, 1100, Precision())
    flops = sum(op.flops * blk.repeat for blk in pre.blocks for op in blk.ops if isinstance(op, ExpertMatMul))
    assert flops == pytest.approx(2000 * 32 * 3 * 2 * 4096 * 14336 / 8)


@pytest.mark.parametrize("model,tp,ep,pp", [("mixtral-8x7b", 8, 8, 1), ("llama-3.1-70b", 4, 1, 2)])
def test_serving_step_of_a_decode_batch_is_the_estimates_tpot(model, tp, ep, pp):
    # One step model: a serving step of 32 decoding sequences at the estimate's mean context is
    # fabless estimate's TPOT for that static batch (both are step.forward_step of the same graphs).
    raw = {"model": model, "system": {"name": "dgx-h100", "count": tp * pp}, "precision": "bf16",
           "parallel": {"tp": tp, "pp": pp, "ep": ep}, "inference": {"batch": 32, "input_tokens": 512, "output_tokens": 128}}
    scn = scenario_from_dict(raw)
    tpot = estimate(scn).metrics["tpot_s"]
    ctx = 512 + 128 // 2
    assert EngineStepCost.from_scenario(scn).step_time_s(0, 0, 32, 32 * ctx) == pytest.approx(tpot, rel=1e-12)


def test_qwen3_moe_ep8_step_and_bad_ep():
    m = _model(8, 8, "qwen3-235b-a22b", "fp8")  # 128 experts: 16 whole experts per chip
    assert m.step_time_s(0, 0, 64, 64 * 2000) > 0
    with pytest.raises(FablessError, match="ep must be 1"):
        _model(8, 4)
    with pytest.raises(FablessError, match="no experts"):
        _model(8, 8, "llama-3.1-70b")


def test_fleet_layouts_try_ep_for_moe_only():
    cfg = load_model("mixtral-8x7b")
    lays = candidate_layouts(cfg, 8, lambda tp, pp, ep=1: tp >= 2, max_tp=8, max_layouts=10)
    assert Layout(2, 1, ep=2) in lays and Layout(8, 1, ep=8) in lays and Layout(2, 1) in lays
    assert Layout(2, 1, ep=2).label() == "tp2 ep2 aggregated" and Layout(2, 1, ep=2).as_dict()["ep"] == 2
    dense = candidate_layouts(load_model("llama-3.1-70b"), 8, lambda tp, pp, ep=1: True, max_tp=8, max_layouts=10)
    assert all(lay.ep == 1 for lay in dense)
