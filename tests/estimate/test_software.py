"""Software as an explicit, dated input (data/estimate/software.yaml)."""

from __future__ import annotations

import dataclasses

import pytest

from fabless.errors import FablessError
from fabless.estimate.engine import estimate
from fabless.estimate.scenario import scenario_from_dict
from fabless.estimate.software import MIN_FIT_ROWS, default_software, efficiency_group, resolve_software, software_stacks
from fabless.hardware.presets import load_chip
from fabless.perf.collectives import group_collective_time_s

_MEG = {"model": "gpt3-1.3b", "system": {"name": "dgx-a100", "count": 16}, "precision": "bf16",
        "parallel": {"tp": 1, "recompute": "full"}, "training": {"global_batch": 32, "seq_len": 2048}}


def test_every_stack_is_dated_and_sourced():
    for s in software_stacks().values():
        assert len(s.date) == 10 and s.date[4] == "-" and s.vendors and s.phase in ("training", "inference")
        assert s.sources, s.name
        # an efficiency of its own only with rows enough (fewer follow their rows: software.yaml header);
        # a stack sharing another's efficiency (efficiency_from) counts the rows of the whole group
        group = efficiency_group(s.efficiency_from or s.name)
        rows = [r for g in group for r in software_stacks()[g].fit_rows]
        assert not s.calibrated or len(rows) >= MIN_FIT_ROWS


def test_a_stack_sharing_a_compilers_efficiency_takes_its_value():
    # neuron-nemo-megatron has 3 fit rows of its own; it takes neuronx-distributed's value, fitted on both stacks' rows
    stacks = software_stacks()
    nnm, nxd = stacks["neuron-nemo-megatron"], stacks["neuronx-distributed"]
    assert nnm.efficiency_from == "neuronx-distributed" and len(nnm.fit_rows) < MIN_FIT_ROWS
    assert nnm.framework_kernel_efficiency == nxd.framework_kernel_efficiency and nnm.calibrated == nxd.calibrated
    assert set(nnm.fit_rows) <= set(r for g in efficiency_group("neuronx-distributed") for r in stacks[g].fit_rows)


def test_default_is_the_newest_stack_for_the_vendor_and_phase():
    h100 = load_chip("h100-sxm")
    # a named-only stack (a framework some rows name, e.g. nemo-automodel) is never the default
    newest = max((s for s in software_stacks().values()
                  if s.phase == "training" and "NVIDIA" in s.vendors and not s.named_only), key=lambda s: s.date)
    assert default_software(h100, "training") == newest
    assert default_software(load_chip("mi300x"), "inference").name == "vllm-rocm"
    assert default_software(load_chip("mtia-v2"), "training") is None  # no stack: engine-wide parameters


def test_unknown_or_wrong_phase_stack_is_one_line():
    with pytest.raises(FablessError, match="software") as exc:
        resolve_software("nemo-99", load_chip("h100-sxm"), "training")
    assert "\n" not in str(exc.value)
    with pytest.raises(FablessError, match="inference stack"):
        resolve_software("gpt-fast", load_chip("h100-sxm"), "training")


def test_the_estimate_names_its_software():
    est = estimate(scenario_from_dict({**_MEG, "software": "megatron-lm-2021"}))
    assert est.metrics["software"] == "megatron-lm-2021"
    assert any(n.startswith("software: megatron-lm-2021") for n in est.notes)
    assert estimate(scenario_from_dict(_MEG)).metrics["software"] == default_software(load_chip("a100-sxm"), "training").name


def test_megatron_2021_exposes_the_whole_gradient_all_reduce():
    # Megatron-LM 2021 all-reduces the gradients after the backward pass: the exposed DP time is the
    # all-reduce of the bf16 gradients (1.3B x 2 bytes) over the 16 data-parallel chips (8 per node).
    old = estimate(scenario_from_dict({**_MEG, "software": "megatron-lm-2021"}))
    new = estimate(scenario_from_dict({**_MEG, "software": "nemo-24.09"}))
    from fabless.estimate.engine import params_per_chip, resolve_system
    from fabless.workload import load_model
    system = resolve_system(scenario_from_dict(_MEG))
    grads = params_per_chip(load_model("gpt3-1.3b"), old.plan) * 2.0
    ar = group_collective_time_s("all_reduce", grads, 16, system, within_domain=None)
    assert old.breakdown_s["dp_comm_exposed"] == pytest.approx(ar, rel=1e-9)
    assert new.breakdown_s.get("dp_comm_exposed", 0.0) < ar  # overlapped with the last backward


def test_cli_takes_training_flags_and_software(capsys):
    import json

    from fabless.cli import main

    args = ["estimate", "--model", "llama-2-7b", "--system", "dgx-h100", "--chips", "8", "--parallel",
            "tp=1,zero=3,recompute=full,attn_dp=0", "--global-batch", "8", "--seq-len", "2048", "--mode", "lora",
            "--software", "megatron-lm-2021", "--json"]
    assert main(args) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["software"] == "megatron-lm-2021" and d["plan"]["zero"] == 3 and d["plan"]["recompute"] == "full"
    assert main(["estimate", "--model", "llama-2-7b", "--system", "dgx-h100", "--parallel", "attn_dp=maybe",
                 "--batch", "1", "--input-tokens", "8", "--output-tokens", "8"]) == 2


def test_attention_kernel_is_flash_unless_a_stack_says_unfused():
    from fabless.estimate.software import _attention_kernel

    # one shipped stack sets unfused: MLPerf Training v3.0's Megatron-DeepSpeed for Gaudi (its only attention path)
    assert [n for n, s in software_stacks().items() if not s.fused_attention] == ["megatron-deepspeed-gaudi-v3.0"]
    assert _attention_kernel("x", {}) == "flash"
    assert _attention_kernel("x", {"attention_kernel": {"value": "unfused", "source": "s"}}) == "unfused"
    with pytest.raises(FablessError, match="attention_kernel must be one of flash, unfused") as exc:
        _attention_kernel("x", {"attention_kernel": "sdpa"})
    assert "\n" not in str(exc.value)


def test_an_unfused_stack_swaps_only_the_attention_kernels():
    # one micro-batch of gpt3-1.3b on A100 (tp 1): with unfused attention each layer's attention is
    # the unfused forward + backward of perf.attention on the framework's chip; every other category
    # is unchanged, and a selective recompute re-runs the unfused forward
    from fabless.estimate.optime import framework_chip
    from fabless.estimate.step import shape_times
    from fabless.perf.attention import unfused_attention_time
    from fabless.perf.params import ChipParams
    from fabless.workload import Precision, load_model

    cfg = load_model("gpt3-1.3b")
    chip = ChipParams.from_chip("a100-sxm")
    prec = Precision(weights="bf16", activations="bf16", kv_cache="bf16")
    flash = shape_times(cfg, chip, prec, 1, 1, 1, 1, 2048)
    unfused = shape_times(cfg, chip, prec, 1, 1, 1, 1, 2048, fused_attention=False)
    fc = framework_chip(chip)
    h, d, s = cfg.num_heads, cfg.head_dim, 2048
    fwd = float(unfused_attention_time(1, s, s, h, d, fc).time_s[0])
    bwd = float(unfused_attention_time(1, s, s, h, d, fc, backward=True).time_s[0])
    assert unfused.layers["attention"] == pytest.approx(cfg.num_layers * (fwd + bwd), rel=1e-9)
    assert unfused.layers["attention"] > 2 * flash.layers["attention"]
    assert {k: v for k, v in unfused.layers.items() if k != "attention"} == \
        {k: v for k, v in flash.layers.items() if k != "attention"}
    assert unfused.rec_sel == pytest.approx(cfg.num_layers * fwd, rel=1e-9)  # selective = the attention core


def test_blackwell_recipes_overlap_tensor_parallel_comm_except_nvfp4():
    from fabless.validate.train import software_by_row

    stacks = software_stacks()
    assert stacks["megatron-bridge"].overlap_tp_comm and not stacks["megatron-bridge-nvfp4"].overlap_tp_comm
    assert default_software(load_chip("b200"), "training").name == "megatron-bridge"
    rows = software_by_row()
    assert rows["train-bw-001"] == "megatron-bridge" and rows["train-bw-012"] == rows["train-bw-013"] == "megatron-bridge-nvfp4"
    # with the overlap, tp 4 collectives hide under the stage's compute (tp_comm = max(0, tp - compute))
    scn = {"model": "llama-3.1-70b", "system": {"name": "hgx-b200", "count": 32}, "precision": "fp8",
           "parallel": {"tp": 4, "pp": 2}, "training": {"global_batch": 64, "micro_batch": 1, "seq_len": 8192}}
    over = estimate(scenario_from_dict({**scn, "software": "megatron-bridge"}))
    plain = estimate(scenario_from_dict({**scn, "software": "megatron-bridge-nvfp4"}))
    assert plain.breakdown_s["tp_comm"] > 0 and over.breakdown_s.get("tp_comm", 0.0) == 0.0
    # the step loses the collectives and the bubble's share of them: bubble = (pp-1)/(v m + pp-1) of the pipeline
    m = 64 // (4 * 1)  # micro-batches: global batch / (dp 4 x micro-batch 1)
    frac = (2 - 1) / (m + 2 - 1)
    assert over.metrics["step_time_s"] == pytest.approx(
        plain.metrics["step_time_s"] - plain.breakdown_s["tp_comm"] / (1 - frac), rel=1e-9)


_Q8 = {"model": "qwen3-8b", "system": {"name": "tpu-v6e-256", "count": 4}, "precision": "bf16",
       "parallel": {"tp": 4, "mesh": {"tp": [2, 2]}}, "inference": {"batch": 1, "input_tokens": 1024, "output_tokens": 1024}}


def test_a_named_only_stack_is_never_a_vendors_default():
    # vLLM on TPU is one of two serving engines on TPU chips: only a scenario that names it gets it
    stacks = software_stacks()
    assert stacks["vllm-tpu"].named_only and "Google" in stacks["vllm-tpu"].vendors
    assert default_software(load_chip("tpu-v6e"), "inference") is None
    assert resolve_software("vllm-tpu", load_chip("tpu-v6e"), "inference").name == "vllm-tpu"


def test_a_serving_stacks_host_time_is_added_to_every_step():
    from fabless.estimate.stepcost import EngineStepCost

    sw = software_stacks()["vllm-tpu"]
    host, score = sw.host_step_overhead_s, sw.decode_score_cost_s
    assert 0.001 < host < 0.1  # a fitted value of some milliseconds (software.yaml)
    assert 0 < score < 1e-8  # a fitted value of some nanoseconds per position
    named = EngineStepCost.from_scenario(scenario_from_dict({**_Q8, "software": "vllm-tpu"}, "test"))
    # the same replica without the stack's host terms (a plain scenario would also differ in the cost per
    # operator, the stack's op_fixed_s against the TPU's on-device cost: tests/estimate/test_compiled_step.py)
    plain = dataclasses.replace(named, host_step_s=0.0, score_s_per_position=0.0, _linear={}, _prefill_attn={},
                                _decode_attn={})
    # Qwen3-8B (qwen3-8b.json): 36 layers, 32 query heads -> 8 per chip at tp 4, one pass of 128 lanes.
    # A decoding step adds host + 36 layers x (sequences x mean context) positions x the per-position cost;
    # a prefill-only step adds the host time alone.
    for step, positions in (((0, 0, 64, 64 * 1500), 64 * 1500), ((1024, 1024, 0, 0), 0), ((512, 512, 32, 32 * 800), 32 * 800)):
        extra = host + 36 * positions * score
        assert named.step_time_s(*step) - plain.step_time_s(*step) == pytest.approx(extra, rel=1e-9), step


def test_a_rank_per_neuroncore_replicates_the_kv_heads():
    # Llama-2-70B: 64 query heads, 8 KV heads of 128, 80 layers. Transformers NeuronX on 16 trn1 chips runs
    # 32 ranks (2 per chip), more than the 8 KV heads: each rank keeps its group's KV head, 32 in all, so a
    # chip holds 2 KV heads (1 if a chip were one rank) and the model's KV bytes per token grow 4x:
    # 80 layers x 2 (K, V) x 32 heads x 128 x 2 bytes = 1,310,720 B instead of 327,680 B.
    from fabless.estimate.engine import Plan, heads_per_rank, sharded_config
    from fabless.workload import load_model

    cfg = load_model("llama-2-70b")
    sw = software_stacks()["neuron-inference"]
    assert sw.tp_ranks_per_chip == 2
    rep = heads_per_rank(cfg, 16, sw)
    assert rep.num_kv_heads == 32 and sharded_config(rep, Plan(tp=16)).num_kv_heads == 2
    assert sharded_config(heads_per_rank(cfg, 16, None), Plan(tp=16)).num_kv_heads == 1
    assert rep.kv_cache_bytes_per_token("bf16") == 80 * 2 * 32 * 128 * 2 == 4 * cfg.kv_cache_bytes_per_token("bf16")
    # KV heads enough for every rank (Llama-2-7B: 32 heads, MHA): nothing changes
    assert heads_per_rank(load_model("llama-2-7b"), 16, sw) == load_model("llama-2-7b")


def test_ranks_that_do_not_divide_the_heads_run_padded_heads():
    # Transformers NeuronX pads the query heads with zero heads to a multiple of its ranks
    # (tp_degree - n_head % tp_degree extra heads). inf2.48xlarge: 12 chips x 2 NeuronCores = 24 ranks.
    # Llama-2-13B (40 heads, MHA): 40 + (24 - 40 % 24) = 48 query heads, its KV heads padded alike, 4 per chip;
    # the attention weights of a layer grow from 4 x 5120 x 5120 to 4 x 5120 x 48 x 128 = 125,829,120.
    # Llama-3.1-8B (32 heads, 8 KV heads): 48 query heads, 8 KV heads copied to one per rank, 24.
    # trn1 (16 chips, 32 ranks): Llama-2-13B 40 -> 64 heads.
    from fabless.estimate.engine import heads_per_rank
    from fabless.workload import load_model

    sw = software_stacks()["neuron-inference"]
    l13 = heads_per_rank(load_model("llama-2-13b"), 12, sw)
    assert (l13.num_heads, l13.num_kv_heads, l13.hidden_size, l13.head_dim) == (48, 48, 5120, 128)
    assert l13.attention_params() == 4 * 5120 * 48 * 128
    l8 = heads_per_rank(load_model("llama-3.1-8b"), 12, sw)
    assert (l8.num_heads, l8.num_kv_heads) == (48, 24)
    assert heads_per_rank(load_model("llama-2-13b"), 16, sw).num_heads == 64
    # one rank per chip (a GPU stack): nothing is padded, and tp must divide the heads
    assert heads_per_rank(load_model("llama-2-13b"), 12, None) == load_model("llama-2-13b")
    neuron = {"model": "llama-2-13b", "system": {"name": "inf2-server", "count": 12}, "precision": "bf16",
              "parallel": {"tp": 12}, "inference": {"batch": 1, "input_tokens": 128, "output_tokens": 128}}
    assert estimate(scenario_from_dict(neuron, "test")).metrics["tpot_s"] > 0
    with pytest.raises(FablessError, match="does not divide the 32 attention heads"):
        estimate(scenario_from_dict({**neuron, "model": "llama-3.1-8b", "system": {"name": "dgx-h100", "count": 6},
                                     "parallel": {"tp": 6}}, "test"))


def _inf2_8b(batch: int, input_tokens: int, output_tokens: int) -> dict:
    return {"model": "llama-3.1-8b", "system": {"name": "inf2-server", "count": 12},
            "precision": {"weights": "int8", "activations": "bf16", "kv_cache": "bf16"}, "parallel": {"tp": 12},
            "inference": {"batch": batch, "input_tokens": input_tokens, "output_tokens": output_tokens}}


def test_neuron_decode_attends_the_whole_compiled_cache_and_pays_per_score():
    # Neuron's benchmark table (inf2, Llama-3-8B, batch 8, max_seq 8192): in 128 / out 8064 and
    # in 4096 / out 4096 both decode at 15.2-15.3 ms TPOT (within 1%), though their mean contexts are
    # 4,160 and 6,144 tokens: the decode attends all 8,192 compiled positions. The score term of one
    # step by hand: each NeuronCore walks 32 layers x 8 sequences x 8,192 positions at
    # decode_score_cost_s each, its 48 / 24 = 2 query heads side by side (one pass: <= 128 lanes).
    from fabless.estimate.engine import decode_context

    sw = software_stacks()["neuron-inference"]
    assert sw.decode_full_cache and decode_context(128, 8064, sw) == decode_context(4096, 4096, sw) == 8192
    assert decode_context(128, 8064, None) == 128 + 4032
    a = estimate(scenario_from_dict(_inf2_8b(8, 128, 8064), "test"))
    b = estimate(scenario_from_dict(_inf2_8b(8, 4096, 4096), "test"))
    assert a.metrics["tpot_s"] == pytest.approx(b.metrics["tpot_s"], rel=0.01)
    assert a.metrics["tpot_s"] == pytest.approx(15.22e-3, rel=0.35)  # the row's TPOT P50, a held-out check
    steps = 8064 - 1
    assert a.breakdown_s["decode.attention_scores"] / steps == pytest.approx(
        32 * 8 * 8192 * sw.decode_score_cost_s, rel=1e-9)
    # a rank holding more query heads than the lanes takes one more pass: Llama-2-70B on one inf2
    # chip (tp 1): 64 heads on its 2 cores = 32 per rank, one pass; with 16 lanes, two passes
    import dataclasses

    from fabless.estimate.engine import Plan, decode_score_s, heads_per_rank
    from fabless.workload import load_model

    cfg = heads_per_rank(load_model("llama-2-70b"), 1, sw)
    one = decode_score_s(cfg, Plan(tp=1), 1, 1000, sw)
    assert one == pytest.approx(80 * 1000 * sw.decode_score_cost_s, rel=1e-12)
    assert decode_score_s(cfg, Plan(tp=1), 1, 1000, dataclasses.replace(sw, decode_score_lanes=16)) == pytest.approx(2 * one)


def test_a_neuron_serving_step_of_a_static_batch_is_its_tpot():
    # The serving step cost times a step of 8 decoding sequences at 8,192 cached positions each as
    # fabless estimate's TPOT for that batch (and the stack's host time per serving step) (whose decode attends all 8,192 compiled positions), the
    # score term included: 32 layers x 8 sequences x 8,192 positions x decode_score_cost_s per rank.
    import dataclasses

    from fabless.estimate.stepcost import EngineStepCost

    sw = software_stacks()["neuron-inference"]
    cost = EngineStepCost.from_scenario(scenario_from_dict(_inf2_8b(8, 128, 8064), "test"))
    tpot = estimate(scenario_from_dict(_inf2_8b(8, 128, 8064), "test")).metrics["tpot_s"]
    # plus the host's time per serving step, which a static batch's TPOT does not carry
    assert cost.step_time_s(0, 0, 8, 8 * 8192) == pytest.approx(tpot + sw.host_step_overhead_s, rel=1e-3)
    plain = dataclasses.replace(cost, score_s_per_position=0.0, _decode_attn={})
    assert cost.step_time_s(0, 0, 8, 8 * 8192) - plain.step_time_s(0, 0, 8, 8 * 8192) == pytest.approx(
        32 * 8 * 8192 * sw.decode_score_cost_s, rel=1e-9)


def _sgl_qwen7b() -> dict:
    return {"software": "sglang-jax", "model": "qwen-7b", "system": {"name": "tpu-v6e-256", "count": 4},
            "precision": "bf16", "parallel": {"tp": 4, "mesh": {"tp": [2, 2]}},
            "inference": {"batch": 1, "input_tokens": 512, "output_tokens": 128}}


def test_sglang_jax_host_time_is_a_floor_under_the_step_not_an_addition():
    # sglang-jax's overlap scheduler runs the host's work for the next step while the device runs this
    # one: a step takes max(device, host). A one-sequence decode step of Qwen-7B on 4 v6e chips streams
    # 7.72e9 x 2 B / 4 = 3.86 GB per chip, 3.86e9 / 1.64e12 = 2.35 ms at the HBM rate (plus the
    # tensor-parallel all-reduces), under the floor; a 2048-token prompt step computes 2 x 7.72e9 x 2048 / 4 = 7.9 TFLOP per chip, 8.6 ms at
    # 918 TFLOP/s peak, 10.8 ms at 80 %, above it.
    import dataclasses

    from fabless.estimate.stepcost import EngineStepCost

    sw = software_stacks()["sglang-jax"]
    assert sw.named_only and 0 < sw.host_step_floor_s < 0.05 and sw.host_step_overhead_s == 0
    cost = EngineStepCost.from_scenario(scenario_from_dict(_sgl_qwen7b(), "test"))
    bare = dataclasses.replace(cost, host_floor_s=0.0)
    assert 2.35e-3 < bare.step_time_s(0, 0, 1, 512) < sw.host_step_floor_s  # the device step alone
    assert cost.step_time_s(0, 0, 1, 512) == sw.host_step_floor_s
    long = bare.step_time_s(2048, 2048, 0, 0)
    assert long > sw.host_step_floor_s and cost.step_time_s(2048, 2048, 0, 0) == long


def test_an_estimate_with_no_stack_names_the_stacks_it_could_run():
    from fabless.estimate.software import no_stack_note

    # Google has no default inference stack (each of its serving stacks is named-only): the note lists the
    # ones fitted on serve rows, not tpu-inference (no fit rows), and a chip's own phase with a default has none
    stacks = software_stacks()
    google = {n for n, s in stacks.items() if s.phase == "inference" and "Google" in s.vendors}
    assert default_software(load_chip("tpu-v5e"), "inference") is None and {"sglang-jax", "vllm-tpu", "tpu-inference"} <= google
    note = no_stack_note(load_chip("tpu-v5e"), "inference")
    assert note is not None and note.endswith("for software: sglang-jax, vllm-tpu")
    e = estimate(scenario_from_dict({"model": "llama-3.1-8b", "system": {"name": "tpu-v5e-256", "count": 1}, "precision": "bf16",
                                     "parallel": {"tp": 1}, "inference": {"batch": 1, "input_tokens": 64, "output_tokens": 8}}))
    assert e.metrics["software"] is None and note in e.notes
    assert no_stack_note(load_chip("h100-sxm"), "inference") is None  # NVIDIA has a default inference stack
