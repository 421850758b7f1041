"""The three effects that AMD's MLPerf Inference v4.1 harness relies on: prompts admitted only when
enough KV is free (ROCm vLLM's VLLM_SCHED_PREFILL_KVC_FREEPCT), a step's prompts attending to
their own requests only, and queries handed to the engine in groups (the harness batcher)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fabless.errors import FablessError
from fabless.serve.request import Request
from fabless.serve.scheduler import Scheduler, SchedulerConfig
from fabless.serve.stepcost import ConstantStepCost, StepTimeCache
from fabless.serve.workload import Batched, Poisson


def _run_until_decoding(s: Scheduler, step: int = 0) -> int:
    while s.prefilling or s.waiting:
        assert s.schedule(float(step)) is not None
        s.complete(float(step + 1))
        step += 1
    return step


def _gated(frac: float) -> tuple[Scheduler, Request]:
    # 10 blocks of 16 tokens; one running request of 112 prompt tokens holds 7 blocks after its
    # prefill and takes an 8th for its first decode: 2 of 10 blocks (20%) free.
    cfg = SchedulerConfig(max_num_batched_tokens=256, max_num_seqs=8, chunked_prefill=False, mixed_chunks=False,
                          prefill_min_free_kv_fraction=frac)
    s = Scheduler(cfg, kv_capacity_tokens=160)
    s.add(Request(0, 0.0, 112, 50))
    _run_until_decoding(s)
    s.schedule(1.0)
    s.complete(2.0)
    assert s.alloc.num_blocks - s.alloc.used_blocks == 2
    late = Request(1, 2.0, 16, 4)  # needs 1 block: fits the 2 free
    s.add(late)
    s.schedule(2.0)
    return s, late


def test_prompt_waits_while_less_than_the_gate_is_free():
    s, late = _gated(0.31)  # 20% free < 31%: the prompt waits, the running request decodes
    assert late.rid not in s.running and s.prefill_seqs == 0 and s._decode_step


def test_prompt_admitted_when_the_gate_is_open_or_off():
    for frac in (0.0, 0.2):  # no gate, or 20% free >= 20%
        s, late = _gated(frac)
        assert late.rid in s.running and s.prefill_seqs == 1 and not s._decode_step  # a prompt-only step


def test_gate_out_of_range_is_refused():
    with pytest.raises(FablessError, match="prefill_min_free_kv_fraction"):
        SchedulerConfig(prefill_min_free_kv_fraction=1.0)


def test_step_counts_its_prompt_chunks():
    s = Scheduler(SchedulerConfig(max_num_batched_tokens=1024, max_num_seqs=8, chunked_prefill=False), 4096)
    for i in range(3):
        s.add(Request(i, 0.0, 100, 5))
    assert s.schedule(0.0)[0] == 300 and s.prefill_seqs == 3


class _Recorder:
    kv_capacity_tokens = 1000
    kv_bytes_per_token = 0.0

    def __init__(self):
        self.seen = []

    def step_time_s(self, prefill_tokens, prefill_context_tokens, decode_seqs, decode_context_tokens, prefill_seqs=1):
        self.seen.append(prefill_seqs)
        return 1.0


def test_cache_hands_prompt_count_to_models_that_take_it_only():
    rec = _Recorder()
    StepTimeCache(rec, None)(300, 300, 0, 0, 3)
    assert rec.seen == [3]
    assert StepTimeCache(ConstantStepCost(0.5, 1000), None)(300, 300, 0, 0, 3) == 0.5  # four-argument model


def test_engine_prefill_attention_of_separate_prompts_is_one_nth_of_one_long_prompt():
    """Causal attention of one prompt of L tokens is ~L^2/2 scores: n prompts of L cost n L^2/2,
    one sequence of n L costs (n L)^2/2, n times more. Attention is the step time less the
    token-wise part, which both steps share (same token count)."""
    from fabless.estimate.scenario import scenario_from_dict
    from fabless.estimate.stepcost import EngineStepCost

    m = EngineStepCost.from_scenario(scenario_from_dict(
        {"model": "llama-2-70b", "system": {"name": "mi300x-8", "count": 1}, "precision": "fp8", "parallel": {"tp": 1},
         "inference": {"batch": 1, "input_tokens": 1024, "output_tokens": 1}}, "test"))
    # the device's time only: vllm-rocm's host time per sequence would charge the n L decode rows below
    m = dataclasses.replace(m, host_step_s=0.0, host_seq_s=0.0)
    n, L = 8, 2048
    linear_only = m.step_time_s(0, 0, n * L, n * L)  # n L decode rows at context 1: token-wise work, tiny attention
    one_long = m.step_time_s(n * L, n * L, 0, 0, prefill_seqs=1) - linear_only
    separate = m.step_time_s(n * L, n * L, 0, 0, prefill_seqs=n) - linear_only
    assert one_long > 0 and separate > 0
    assert separate / one_long == pytest.approx(1 / n, rel=0.25)


def test_batched_arrivals_release_each_window_at_its_end():
    w = 2.4
    t = Batched(10.0, w).times_s(600.0, np.random.default_rng(3))
    raw = Poisson(10.0).times_s(600.0, np.random.default_rng(3))
    assert len(t) == len(raw)
    assert np.allclose(t / w, np.round(t / w))  # released on window ends only
    assert np.all(t >= raw) and np.all(t - raw < w + 1e-9)  # never before it arrived, within one window
    with pytest.raises(FablessError, match="window"):
        Batched(10.0, 0.0)
