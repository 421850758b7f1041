"""Neuron's compiled shapes in the static estimate and the serving step cost: prompts padded to
power-of-two prefill buckets, decode steps padded to the compiled batch and sequence length, the
prefill graph's own efficiency, and vLLM-on-Neuron's one prefill per step. Values by hand."""

from __future__ import annotations

import dataclasses

import pytest

from fabless.errors import FablessError
from fabless.estimate.engine import estimate, prefill_bucket
from fabless.estimate.scenario import scenario_from_dict
from fabless.estimate.software import software_stacks
from fabless.estimate.stepcost import EngineStepCost
from fabless.serve.request import Request
from fabless.serve.scheduler import Scheduler, SchedulerConfig


def _trn2_8b(batch: int, inp: int, out: int, software: str = "neuron-inference") -> dict:
    return {"model": "llama-3.1-8b", "software": software, "system": {"name": "trn2-server", "count": 1},
            "precision": "bf16", "parallel": {"tp": 1}, "inference": {"batch": batch, "input_tokens": inp, "output_tokens": out}}


def test_prefill_buckets_are_powers_of_two_from_the_smallest_up_to_the_compiled_length():
    # vllm-neuron neuron-scheduler.md: default buckets 128, 256, ... up to the compiled length
    assert prefill_bucket(100, 128) == 128
    assert prefill_bucket(128, 128) == 128
    assert prefill_bucket(129, 128) == 256
    assert prefill_bucket(500, 128) == 512
    assert prefill_bucket(1500, 128, 4096) == 2048
    assert prefill_bucket(3000, 128, 2560) == 3000  # the last bucket is the compiled length; never below the prompt
    assert prefill_bucket(2100, 128, 2560) == 2560
    assert prefill_bucket(1500, 0) == 1500  # a stack without buckets
    assert prefill_bucket(0, 128) == 0
    sw = software_stacks()["neuron-inference"]
    assert sw.prefill_bucket_min_tokens == 128 and sw.decode_pads_batch


def test_a_neuron_prompt_costs_its_whole_bucket_at_the_prefill_graphs_efficiency():
    # 1,500 and 2,048 prompt tokens run the same 2,048-token context-encoding graph: the same TTFT.
    a = estimate(scenario_from_dict(_trn2_8b(1, 1500, 2596), "test"))
    b = estimate(scenario_from_dict(_trn2_8b(1, 2048, 2048), "test"))
    assert a.metrics["ttft_s"] == pytest.approx(b.metrics["ttft_s"], rel=1e-9)
    # By hand: Llama-3.1-8B's weight matmuls hold 32 x (2 x 4096^2 + 2 x 4096 x 1024 + 3 x 4096 x 14336)
    # = 6.98e9 parameters, 2 FLOPs each per token, over 2,048 tokens, on one Trainium2 (667 bf16 TFLOPS)
    # at the prefill graph's efficiency. The engine's matmul time lies 0-30% above (the LM head, tiles).
    sw = software_stacks()["neuron-inference"]
    per_layer = 2 * 4096 ** 2 + 2 * 4096 * 1024 + 3 * 4096 * 14336
    hand_s = 2 * 32 * per_layer * 2048 / (667e12 * sw.prefill_kernel_efficiency)
    assert 1.0 <= a.breakdown_s["prefill.matmul"] / hand_s <= 1.3
    # the prefill efficiency is the stack's own (fitted) value, not its decode graph's
    assert sw.prefill_kernel_efficiency < sw.framework_kernel_efficiency


def test_a_neuron_decode_step_computes_the_compiled_batch_and_sequence_length():
    # optimum-neuron's Llama-3.1-8B server: batch_size 32, sequence_length 4096. One live sequence
    # decodes as slowly as 32 of them, at any context: the graph computes 32 x 4096 positions.
    scn = scenario_from_dict(_trn2_8b(32, 1500, 237), "test")
    cost = EngineStepCost.from_scenario(scn, max_num_seqs=32, max_model_len=4096)
    assert (cost.compiled_batch, cost.compiled_seq_len) == (32, 4096)
    one = cost.step_time_s(0, 0, 1, 1600)
    assert one == pytest.approx(cost.step_time_s(0, 0, 32, 32 * 4096), rel=1e-12)
    assert one == pytest.approx(cost.step_time_s(0, 0, 7, 7 * 300), rel=1e-12)
    # and the score term is 32 layers x 32 sequences x 4096 positions at decode_score_cost_s (one pass:
    # 32 heads on 2 ranks, 16 each, fewer than the 128 lanes)
    sw = software_stacks()["neuron-inference"]
    plain = dataclasses.replace(cost, score_s_per_position=0.0, _decode_attn={})
    assert one - plain.step_time_s(0, 0, 1, 1600) == pytest.approx(32 * 32 * 4096 * sw.decode_score_cost_s, rel=1e-9)
    # a prompt of 1,500 tokens costs its 2,048-token bucket
    assert cost.step_time_s(1500, 1500, 0, 0) == pytest.approx(cost.step_time_s(2048, 2048, 0, 0), rel=1e-12)
    # without a server's settings the compiled shapes are the scenario's, as for fabless estimate
    own = EngineStepCost.from_scenario(scn)
    assert (own.compiled_batch, own.compiled_seq_len) == (32, 1500 + 237)
    # a stack with prefill buckets but no full-cache decode: the decode attends its own context
    cut = dataclasses.replace(cost, decode_full_cache=False, _decode_attn={}, _linear={})
    assert cut.step_time_s(0, 0, 32, 32 * 1000) < cost.step_time_s(0, 0, 32, 32 * 1000)


def test_a_stack_without_compiled_shapes_is_unchanged():
    cost = EngineStepCost.from_scenario(scenario_from_dict(_trn2_8b(32, 1500, 237, "vllm-tpu"), "test"))
    assert (cost.compiled_batch, cost.compiled_seq_len, cost.prefill_bucket_min_tokens) == (0, 0, 0)
    assert cost.step_time_s(0, 0, 1, 1600) < cost.step_time_s(0, 0, 32, 32 * 4096)
    assert cost.step_time_s(1500, 1500, 0, 0) < cost.step_time_s(2048, 2048, 0, 0)


def test_one_prefill_per_step():
    # vLLM on Neuron runs one prefill per step: three waiting 100-token prompts take three steps,
    # where the default scheduler takes them in one (300 tokens, well under the 8192 budget).
    def first_steps(cfg):
        s = Scheduler(cfg, kv_capacity_tokens=10_000)
        for i in range(3):
            s.add(Request(rid=i, arrival_s=0.0, input_tokens=100, output_tokens=5))
        return s.schedule(0.0)

    assert first_steps(SchedulerConfig(mixed_chunks=False))[0] == 300
    assert first_steps(SchedulerConfig(mixed_chunks=False, max_prefills_per_step=1))[0] == 100
    with pytest.raises(FablessError, match="max_prefills_per_step"):
        SchedulerConfig(max_prefills_per_step=0)


def test_vllm_neuron_overlaps_the_host_step_that_neuron_inference_adds():
    # vllm-neuron (on-device sampling, asynchronous scheduling) is neuron-inference in every kernel
    # and graph parameter; its host time per step runs under the device's step instead of after it.
    # A decode step of 2 sequences then costs the device alone, exactly the synchronous stack's step
    # less its host time; a step shorter than the host time would wait for it (the floor).
    stacks = software_stacks()
    sync, async_ = stacks["neuron-inference"], stacks["vllm-neuron"]
    same = {f.name for f in dataclasses.fields(sync)} - {"name", "display", "date", "sources", "named_only",
                                                          "host_step_overhead_s", "host_step_floor_s"}
    assert {f: getattr(async_, f) for f in same} == {f: getattr(sync, f) for f in same}
    assert async_.named_only and async_.host_step_overhead_s == 0.0
    assert async_.host_step_floor_s == sync.host_step_overhead_s > 0
    s = EngineStepCost.from_scenario(scenario_from_dict(_trn2_8b(2, 512, 128), "test"))
    a = EngineStepCost.from_scenario(scenario_from_dict(_trn2_8b(2, 512, 128, "vllm-neuron"), "test"))
    assert a.step_time_s(0, 0, 2, 1024) == pytest.approx(s.step_time_s(0, 0, 2, 1024) - sync.host_step_overhead_s)
    assert a.step_time_s(0, 0, 2, 1024) > a.host_floor_s  # an 8B decode step on one chip is longer than 1 ms
    assert dataclasses.replace(a, host_floor_s=1.0).step_time_s(0, 0, 2, 1024) == 1.0


def test_cpu_sampling_adds_the_measured_round_trip_to_neuron_inferences_host_step():
    # vllm-neuron-cpu-sampling is neuron-inference in every kernel and graph parameter; its host step is
    # neuron-inference's fitted 1.0 ms plus optimum-neuron's measured CPU-sampling cost, the synchronous
    # inter-token latency with CPU sampling less that with on-device sampling: 26.244 - 23.897 = 2.35 ms
    # (std-cpu-sampling-2026-08-25.csv, std-ods-2026-08-25.csv)
    stacks = software_stacks()
    sync, cpu = stacks["neuron-inference"], stacks["vllm-neuron-cpu-sampling"]
    same = {f.name for f in dataclasses.fields(sync)} - {"name", "display", "date", "sources", "named_only",
                                                          "host_step_overhead_s"}
    assert {f: getattr(cpu, f) for f in same} == {f: getattr(sync, f) for f in same}
    assert cpu.named_only and cpu.host_step_floor_s == 0.0
    assert cpu.host_step_overhead_s == pytest.approx(sync.host_step_overhead_s + (26.244 - 23.897) * 1e-3, abs=1e-5)
    s = EngineStepCost.from_scenario(scenario_from_dict(_trn2_8b(2, 512, 128), "test"))
    c = EngineStepCost.from_scenario(scenario_from_dict(_trn2_8b(2, 512, 128, "vllm-neuron-cpu-sampling"), "test"))
    # every step pays it, decode and prefill alike (the first token is sampled on the CPU too)
    assert c.step_time_s(0, 0, 2, 1024) - s.step_time_s(0, 0, 2, 1024) == pytest.approx(2.35e-3, abs=1e-9)
    assert c.step_time_s(512, 512, 0, 0) - s.step_time_s(512, 512, 0, 0) == pytest.approx(2.35e-3, abs=1e-9)


def test_optimum_neuron_computes_the_compiled_length_for_every_prompt():
    """optimum-neuron before chunked prefill (optimum-neuron-2025) compiles one context-encoding
    graph at the server's sequence length: a 1,500-token prompt of a 4,096-token server computes
    4,096 positions, as a 4,096-token prompt does, where the bucketed stack computes the next
    power of two, 2,048 (by hand: 1,500 -> 2,048). Decode is untouched."""
    scn = scenario_from_dict(_trn2_8b(16, 1500, 200, software="optimum-neuron-2025"), "test")
    model = EngineStepCost.from_scenario(scn, max_num_seqs=16, max_model_len=4096)
    assert model.prefill_full_length and model.compiled_seq_len == 4096
    assert model._compiled(1500, 1500, 0, 0)[:2] == (4096, 4096)
    assert model._compiled(4096, 4096, 0, 0)[:2] == (4096, 4096)
    assert model.step_time_s(1500, 1500, 0, 0) == pytest.approx(model.step_time_s(4096, 4096, 0, 0))
    bucketed = EngineStepCost.from_scenario(scenario_from_dict(_trn2_8b(16, 1500, 200), "test"),
                                            max_num_seqs=16, max_model_len=4096)
    assert bucketed._compiled(1500, 1500, 0, 0)[:2] == (2048, 2048)
    assert model._compiled(0, 0, 3, 900)[2:] == bucketed._compiled(0, 0, 3, 900)[2:]
