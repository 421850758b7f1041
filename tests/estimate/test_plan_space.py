"""The one Plan, its checks, the array step model and the exhaustive plan search (issue: one plan
space, one step model). Expected values are computed by hand from the model's configuration."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fabless.errors import FablessError, InfeasibleDesign
from fabless.estimate.engine import estimate, resolve_system
from fabless.estimate.plan import Plan, PlanError, check_plan
from fabless.estimate.scenario import scenario_from_dict
from fabless.estimate.step import PlanTable, stage_layout, training_memory, training_plan_space
from fabless.workload import Precision, load_model

GB = 1e9


def _llama3_405b_meta_plan(**over):
    # Llama 3 paper, section 3.3.2 (configuration, not a speed figure): TP8 x CP1 x PP16 x DP128 on
    # 16,384 H100-80GB, 16M tokens per batch at sequence 8192, FSDP sharding optimizer state and
    # gradients (ZeRO-2), no activation checkpointing at 8K.
    raw = {"model": "llama-3.1-405b", "system": {"name": "dgx-h100", "count": 16384}, "precision": "bf16",
           "parallel": {"tp": 8, "pp": 16, "zero": 2, "recompute": "none"},
           "training": {"global_batch": 2048, "micro_batch": 1, "seq_len": 8192}}
    raw["parallel"].update(over)
    return scenario_from_dict(raw)


def test_stage_layout_balances_end_stages_like_llama3():
    # 126 layers on 16 stages: 8 per stage would be 128, so the two end stages take 7 (126 = 7 + 14 x 8 + 7)
    first, mid, last = (int(x[0]) for x in stage_layout(126, np.array([16])))
    assert (first, mid, last) == (7, 8, 7)
    # 96 layers on 8 stages divide evenly
    assert tuple(int(x[0]) for x in stage_layout(96, np.array([8]))) == (12, 12, 12)


def test_llama3_405b_memory_term_by_term():
    cfg = load_model("llama-3.1-405b")
    h, ffn, H, kvh, d, V = 16384, 53248, 128, 8, 128, 128256
    assert (cfg.hidden_size, cfg.intermediate_size, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim, cfg.vocab_size) == (h, ffn, H, kvh, d, V)
    params_chip = cfg.params_total / (8 * 16)
    weights = params_chip * 2                      # bf16
    grads = params_chip * 2 / 128                  # ZeRO-2: bf16 gradients sharded over dp 128
    optim = params_chip * 12 / 128                 # fp32 master + Adam m, v sharded over dp 128
    # activations per layer per token with SP (norm side / tp) and no recompute, bf16:
    # 3h norm/residual side, then (h + (H + 2 kvh) d + H d) attention and 3 ffn (SwiGLU) split over tp 8
    per_token = (3 * h / 8 + (h + (H + 2 * kvh) * d + H * d) / 8 + 3 * ffn / 8) * 2
    per_layer = 8192 * per_token
    # 1F1B: stage 0 holds 16 micro-batches of its 7 layers, stage 1 holds 15 of its 8: the busiest is stage 1
    acts = max(7 * 16, 8 * 15, 7 * 1) * per_layer
    est = estimate(_llama3_405b_meta_plan())
    mem = est.memory_bytes
    assert mem["weights"] == pytest.approx(weights, rel=1e-9)
    assert mem["gradients"] == pytest.approx(grads, rel=1e-9)
    assert mem["optimizer"] == pytest.approx(optim, rel=1e-9)
    assert mem["activations"] == pytest.approx(acts, rel=1e-9)
    assert mem["total"] == pytest.approx(weights + grads + optim + acts, rel=1e-9)
    # Meta ran this plan on 80 GB H100s: it must fit, with the headroom reported
    assert est.fits
    assert est.metrics["memory_headroom_bytes"] > 0
    assert mem["total"] < 72 * GB


def test_logits_sit_on_the_last_stage_only():
    cfg = load_model("llama-3.1-405b")
    t = PlanTable.of([Plan(tp=8, pp=16, dp=128, zero=2, recompute="none")])
    m = training_memory(cfg, Precision(), global_batch=2048, seq_len=8192, plans=t)
    logits = 8192 * (128256 / 8) * 4  # fp32 logits of one micro-batch, vocab split over tp
    assert float(m["logits"][0]) == pytest.approx(logits)
    # the last stage (7 layers, 1 micro-batch in flight + logits) is far lighter than stage 1
    assert float(m["total"][0]) - float(m["weights"][0] + m["gradients"][0] + m["optimizer"][0]) == pytest.approx(float(m["activations"][0]))


def test_zero3_fsdp_all_gather_bytes_on_a_16x16_torus():
    # FSDP (zero 3, dp 256) on a TPU v6e-256 slice: before each micro-batch's forward and backward every
    # chip gathers the 255/256 of the weights it does not hold; gradients are reduce-scattered once.
    cfg = load_model("llama-3.1-70b")
    t = PlanTable.of([Plan(tp=1, dp=256, zero=3, recompute="full")])
    m = training_memory(cfg, Precision(), global_batch=256, seq_len=8192, plans=t)
    shard = cfg.params_total * 2 / 256                       # bf16 weights held per chip
    layer = (cfg.params_total - cfg.params_by_part()["embedding"] - cfg.params_by_part()["lm_head"]) / 80 * 2
    assert float(m["weights"][0]) == pytest.approx(shard + 2 * layer, rel=1e-9)  # + two gathered layers
    gathered_per_pass = cfg.params_total * 2 * 255 / 256       # bytes each chip receives per all-gather
    assert gathered_per_pass == pytest.approx(shard * 255, rel=1e-12)


def test_check_plan_names_the_rule():
    cfg = load_model("llama-3.1-70b")
    system = resolve_system(scenario_from_dict({"model": "llama-3.1-70b", "system": {"name": "dgx-h100", "count": 64},
                                                "inference": {"batch": 1, "input_tokens": 8, "output_tokens": 8}}))
    cases = {
        "tp-divides-heads": Plan(tp=3, dp=1),
        "chips": Plan(tp=8, dp=4),
        "tp-in-domain": Plan(tp=16, dp=4),
        "pp-layers": Plan(tp=1, pp=128, dp=1),
        "shard-divides-dp": Plan(tp=8, dp=8, zero=3, shard=3),
        "ep-needs-experts": Plan(tp=8, dp=8, ep=2),
        "interleave-layers": Plan(tp=8, pp=2, dp=4, interleave=3),
        "cp-divides-seq": Plan(tp=8, cp=8, dp=1),
    }
    for rule, plan in cases.items():
        chips = 64 if rule == "chips" else plan.chips
        with pytest.raises(PlanError) as exc:
            check_plan(plan, cfg, chips, system, seq_len=8190, global_batch=64)
        assert exc.value.rule == rule, (rule, str(exc.value))
        assert "\n" not in str(exc.value) and f"rule: {rule}" in str(exc.value)


def test_auto_finds_fsdp_on_the_tpu_torus():
    # Issue: Llama-3.1-70B on a TPU v6e-256 pod, which MaxText trains fully sharded, was predicted
    # with TP8 x PP16; the hand-given FSDP plan (tp 1, dp 256, ZeRO-3, full recompute) is twice as fast.
    base = {"model": "llama-3.1-70b", "system": {"name": "tpu-v6e-256"}, "precision": "bf16",
            "training": {"global_batch": 256, "seq_len": 8192}}
    auto = estimate(scenario_from_dict({**base, "parallel": "auto"}))
    hand = estimate(scenario_from_dict({**base, "parallel": {"tp": 1, "zero": 3, "recompute": "full"}}))
    assert hand.fits
    assert auto.metrics["step_time_s"] <= hand.metrics["step_time_s"] * (1 + 1e-12)
    assert auto.plan.tp * auto.plan.pp < 8 * 16
    assert len(auto.alternatives) == 5
    assert all(a["loses_on"] and a["step_time_s"] >= auto.metrics["step_time_s"] for a in auto.alternatives)


def test_auto_space_is_large_and_exhaustive():
    cfg = load_model("llama-3.1-405b")
    scn = _llama3_405b_meta_plan()
    system = resolve_system(scn)
    space = training_plan_space(cfg, 16384, system, global_batch=2048, seq_len=8192)
    assert len(space) >= 100_000
    # every plan of the space passes the one check
    for i in np.random.default_rng(0).choice(len(space), 200, replace=False):
        check_plan(space.plan(int(i)), cfg, 16384, system, seq_len=8192, global_batch=2048)


_SMALL = {"model": "llama-3.1-8b", "system": {"name": "dgx-h100", "count": 32}, "precision": "bf16",
          "training": {"global_batch": 64, "seq_len": 4096}}


@pytest.fixture(scope="module")
def small_auto():
    return estimate(scenario_from_dict({**_SMALL, "parallel": "auto"}))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_auto_is_never_slower_than_a_hand_plan_that_fits(small_auto, data):
    cfg = load_model("llama-3.1-8b")
    system = resolve_system(scenario_from_dict({**_SMALL, "parallel": "auto"}))
    space = training_plan_space(cfg, 32, system, global_batch=64, seq_len=4096)
    plan = space.plan(data.draw(st.integers(0, len(space) - 1)))
    spec = {k: v for k, v in plan.as_dict().items() if k not in ("attn_dp",)}
    est = estimate(scenario_from_dict({**_SMALL, "parallel": spec}))
    assert small_auto.fits
    if est.fits:
        assert small_auto.metrics["step_time_s"] <= est.metrics["step_time_s"] * (1 + 1e-12)


def test_auto_never_picks_a_plan_that_does_not_fit():
    raw = {"model": "llama-3.1-70b", "system": {"name": "dgx-h100", "count": 64}, "precision": "bf16",
           "parallel": "auto", "training": {"global_batch": 64, "seq_len": 4096}}
    est = estimate(scenario_from_dict(raw))
    assert est.fits and est.memory_bytes["total"] <= 80 * GB
    # one chip cannot hold a 405B model's weights: the search says so in one line
    raw = {**raw, "model": "llama-3.1-405b", "system": {"name": "dgx-h100", "count": 1}}
    with pytest.raises(InfeasibleDesign) as exc:
        estimate(scenario_from_dict(raw))
    assert "\n" not in str(exc.value)


def test_training_axis_given_twice_differently_is_an_error():
    raw = {**_SMALL, "parallel": {"tp": 8, "zero": 3}, "training": {**_SMALL["training"], "zero": 1}}
    with pytest.raises(FablessError, match="parallel.zero"):
        estimate(scenario_from_dict(raw))


def test_expert_state_is_sharded_over_the_expert_data_parallel_group():
    # DeepSeek-V3 on 2,048 H100 with ep 64: each expert lives on 2048 / 64 = 32 chips' worth of
    # data-parallel copies, so its optimizer state is divided by 32, not by dp.
    cfg = load_model("deepseek-v3")
    plan = Plan(tp=1, pp=16, dp=128, ep=64, zero=1, recompute="full")
    m = training_memory(cfg, Precision(), global_batch=4096, seq_len=4096, plans=PlanTable.of([plan]))
    parts = cfg.params_by_part()
    expert = parts["experts"]
    dense = cfg.params_total - expert
    expected = (dense / 16 / 128 + expert / (64 * 16) / (1 * 128 * 1 // 64)) * 12
    assert float(m["optimizer"][0]) == pytest.approx(expected, rel=1e-9)
    assert float(m["optimizer"][0]) > 1e9  # ~GBs per chip, not the 0.16 GB of spreading experts over all dp


def test_attention_data_parallel_memory_by_hand():
    # DeepSeek-V3 on 8 H200 with DP attention: every non-expert weight whole on each chip, 1/8 of the
    # routed experts, and the latent KV cache of 256 / 8 = 32 sequences (not replicated across tp).
    from fabless.estimate.engine import inference_memory_bytes
    cfg = load_model("deepseek-v3")
    prec = Precision(weights="fp8", activations="bf16", kv_cache="fp8")
    m = inference_memory_bytes(cfg, Plan(tp=8, ep=8, attn_dp=True), 256, 1280, prec)
    expert = cfg.params_by_part()["experts"]
    assert m["weights"] == pytest.approx((cfg.params_total - expert) + expert / 8, rel=1e-12)
    assert m["kv_cache"] == pytest.approx(32 * 1280 * cfg.kv_cache_bytes_per_token("fp8"), rel=1e-12)
    plain = inference_memory_bytes(cfg, Plan(tp=8, ep=8), 256, 1280, prec)
    assert plain["kv_cache"] == pytest.approx(8 * m["kv_cache"], rel=1e-12)  # MLA: the whole batch's cache on every chip


def test_attention_data_parallel_needs_ep_equal_tp_and_experts():
    cfg = load_model("deepseek-v3")
    system = resolve_system(scenario_from_dict({"model": "deepseek-v3", "system": {"name": "dgx-h200"},
                                                "inference": {"batch": 1, "input_tokens": 8, "output_tokens": 8}}))
    with pytest.raises(PlanError, match="rule: attn-dp-ep"):
        check_plan(Plan(tp=8, ep=1, attn_dp=True), cfg, 8, system)
    with pytest.raises(PlanError, match="rule: attn-dp-needs-experts"):
        check_plan(Plan(tp=8, ep=8, attn_dp=True), load_model("llama-3.1-70b"), 8, system)


def test_torus_mesh_places_an_axis():
    # Llama-3.1-8B on a TPU v6e 16x16 slice with tp 8: the default packs tp as a 4x2 block; the mesh
    # can lay it as a line of 8 along the first dimension (MaxText ici_tensor on one axis). The
    # step's TP time (no overlap) is 4 all-reduces per layer x 32 layers x 8 micro-batches of that
    # group's shape, by hand.
    from fabless.estimate.step import training_steps
    from fabless.perf.collectives import group_collective_time_s
    from fabless.perf.params import ChipParams
    scn = scenario_from_dict({"model": "llama-3.1-8b", "system": {"name": "tpu-v6e-256"}, "precision": "bf16",
                              "parallel": {"tp": 8, "mesh": {"tp": [8, 1], "dp": [2, 16]}},
                              "training": {"global_batch": 256, "seq_len": 4096, "recompute": "none", "zero": 3}})
    system = resolve_system(scn)
    cfg = load_model("llama-3.1-8b")
    chip = ChipParams.from_chip(system.chip)
    tokens_bytes = 1 * 4096 * 4096 * 2  # micro-batch 1 x seq x hidden x bf16
    line = Plan(tp=8, dp=32, zero=3, recompute="none", mesh=(("dp", (2, 16)), ("tp", (8, 1))))
    block = Plan(tp=8, dp=32, zero=3, recompute="none")
    for plan, shape in ((line, (8, 1)), (block, None)):
        r = training_steps(cfg, chip, system, Precision(), global_batch=256, seq_len=4096,
                           plans=PlanTable.of([plan]), mesh=plan.mesh_shapes() or None)
        ar = group_collective_time_s("all_reduce", tokens_bytes, 8, system, within_domain=True, group_shape=shape)
        assert float(r["tp_comm"][0]) == pytest.approx(8 * 4 * 32 * ar, rel=1e-9)
    a = group_collective_time_s("all_reduce", tokens_bytes, 8, system, within_domain=True, group_shape=(8, 1))
    b = group_collective_time_s("all_reduce", tokens_bytes, 8, system, within_domain=True)
    assert a != pytest.approx(b, rel=1e-3)  # the placement matters
    est = estimate(scn)  # the scenario's mesh reaches the estimate and its output
    assert est.plan.as_dict()["mesh"] == {"dp": [2, 16], "tp": [8, 1]}


def test_mesh_rules():
    cfg = load_model("llama-3.1-8b")
    v6e = resolve_system(scenario_from_dict({"model": "llama-3.1-8b", "system": {"name": "tpu-v6e-256"},
                                             "inference": {"batch": 1, "input_tokens": 8, "output_tokens": 8}}))
    h100 = resolve_system(scenario_from_dict({"model": "llama-3.1-8b", "system": {"name": "dgx-h100"},
                                              "inference": {"batch": 1, "input_tokens": 8, "output_tokens": 8}}))
    cases = [(Plan(tp=8, dp=32, mesh=(("tp", (8, 2)),)), v6e, "mesh-shape"),
             (Plan(tp=8, dp=32, mesh=(("tp", (8, 1)), ("dp", (4, 8)))), v6e, "mesh-fits"),
             (Plan(tp=8, dp=1, mesh=(("tp", (8,)),)), h100, "mesh-needs-torus")]
    for plan, system, rule in cases:
        with pytest.raises(PlanError, match=f"rule: {rule}"):
            check_plan(plan, cfg, plan.chips, system)
