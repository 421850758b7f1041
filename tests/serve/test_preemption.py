"""Preemption by recompute when the KV cache is short, and that every request still finishes."""

from __future__ import annotations

import numpy as np
import pytest

from fabless.serve import ConstantStepCost, Requests, SchedulerConfig, run


def _reqs(arrival_s, inp, out, prefix_id=None, prefix_tokens=None):
    n = len(arrival_s)
    return Requests(np.array(arrival_s, float), np.array(inp), np.array(out),
                    prefix_id or [None] * n, None if prefix_tokens is None else np.array(prefix_tokens))


def test_preemption_worked_by_hand():
    # 4 blocks of 4 tokens; two requests of 4 prompt + 8 answer tokens (11 tokens of KV each, 3 blocks).
    # Steps of 1 s. Step 0 prefills both (1 block each, first tokens at t=1). Step 1 both need a 2nd block (4 used).
    # Step 5 both need a 3rd block with none free: the newest (r1) is preempted, having made 5 tokens.
    # r0 finishes its 8th token at the end of step 7 (t=8). Step 8 recomputes r1's 4 + 5 tokens (3 blocks)
    # and samples its 6th token; steps 9 and 10 make the 7th and 8th: r1 finishes at t=11.
    # r2 (4 + 1 tokens, one block) arrives at t=2.5 into a full cache. From step 6 one block is free,
    # but r1 went back to the *front* of the queue and needs 3, so r2 waits behind it (first come, first
    # served) and both are admitted in step 8: r2 finishes at t=9.
    res = run(ConstantStepCost(1.0, kv_capacity_tokens=16), _reqs([0, 0, 2.5], [4, 4, 4], [8, 8, 1]), None,
              SchedulerConfig(max_num_batched_tokens=16, max_num_seqs=4, block_size_tokens=4), cache_rel_bits=None)
    df = res.requests
    assert df["preemptions"].tolist() == [0, 1, 0]
    assert df["first_token_s"].tolist() == [1.0, 1.0, 9.0]
    assert df["finish_s"].tolist() == [8.0, 11.0, 9.0]
    assert res.summary["steps"] == 11
    assert res.summary["max_kv_used_fraction"] == 1.0


@pytest.mark.parametrize("prefix_caching", [False, True])
def test_everything_finishes_when_kv_is_far_below_demand(prefix_caching):
    rng = np.random.default_rng(5)
    n = 60
    inp = rng.integers(50, 400, n)
    out = rng.integers(20, 300, n)
    pid = [int(p) if p < 3 else None for p in rng.integers(0, 5, n)]
    ptok = [40 if p is not None else 0 for p in pid]
    reqs = _reqs(np.sort(rng.uniform(0, 2, n)), inp, out, pid, ptok)
    demand = int((inp + out).sum())
    cap = 1000  # a few requests' worth; demand is ~25x this
    assert demand > 20 * cap
    res = run(ConstantStepCost(0.01, kv_capacity_tokens=cap), reqs, None,
              SchedulerConfig(max_num_batched_tokens=512, max_num_seqs=32, prefix_caching=prefix_caching))
    df = res.requests
    assert res.summary["preemptions"] > 0
    assert df["finish_s"].notna().all() and len(df) == n
    assert (df["finish_s"] >= df["first_token_s"]).all() and (df["first_token_s"] > df["arrival_s"]).all()
    assert res.summary["max_kv_used_fraction"] <= 1.0


def test_output_reserve_admits_only_what_the_answers_leave_room_for():
    # 9 blocks of 10 tokens; three requests of 10 prompt + 30 answer tokens (39 tokens of KV: 4 blocks each).
    # Reserve 1.0 (SGLang with ignore_eos and no radix cache): a prompt is admitted if, with requests taken in
    # order of tokens left, free + freed - left x bs > bs (bs = requests not yet finished) at every finish.
    # r0: free (9 - 1) x 10 = 80; 80 - 30 = 50 > 1: admitted. r1: free 70; 70 - 2 x 30 = 10 > 2, then
    # 70 + 10 - 30 = 50 > 1: admitted. r2: free 60; 60 - 3 x 30 < 3: waits. While r0 and r1 decode (k tokens
    # made), the first check needs free - 3 (30 - k) > 3, while their growth leaves free = 80 - 20 ceil((10 + k) / 10)
    # or less: it fails until they finish at t = 30 (prefill step 0, then a token a step): r2 runs from step 30
    # and finishes at 30 + 1 + 29 = 60, and nothing is preempted (r0 + r1 hold 8 of the 9 blocks at most).
    # Greedy admission (reserve 0, vLLM) takes all three at once; they need 12 blocks, so one is preempted.
    reqs = _reqs([0, 0, 0], [10, 10, 10], [30, 30, 30])

    def go(frac):
        return run(ConstantStepCost(1.0, kv_capacity_tokens=90), reqs, None,
                   SchedulerConfig(max_num_batched_tokens=64, max_num_seqs=4, block_size_tokens=10,
                                   reserve_output_fraction=frac), cache_rel_bits=None).requests

    df = go(1.0)
    assert df["preemptions"].tolist() == [0, 0, 0]
    assert df["first_scheduled_s"].tolist() == [0.0, 0.0, 30.0]
    assert df["finish_s"].tolist() == [30.0, 30.0, 60.0]
    greedy = go(0.0)
    assert greedy["first_scheduled_s"].tolist() == [0.0, 0.0, 0.0]
    assert greedy["preemptions"].sum() >= 1


def test_output_reserve_counts_what_earlier_finishers_free():
    # 10 blocks of 10 tokens; prompts of 10 tokens with answers of 5 (r0), 60 (r1) and 30 (r2), all at t = 0.
    # r0: free 90; 90 - 5 > 1. r1: free 80; in order of tokens left, 80 - 2 x 5 > 2 and 80 + 10 - 60 > 1.
    # r2: free 70; r0 (5 left), r2 (30), r1 (60): 70 - 3 x 5 = 55 > 3, 70 + 10 - 2 x 30 = 20 > 2,
    # 70 + 20 - 60 = 30 > 1: admitted, although the three answers' 95 tokens exceed the 70 free, because r0
    # finishes first and frees its blocks. The peak is then 8 blocks (r1 4 + r2 4 at step 29): no preemption.
    # Finishes: r0 at 1 + 4 = 5, r2 at 30, r1 at 60.
    df = run(ConstantStepCost(1.0, kv_capacity_tokens=100), _reqs([0, 0, 0], [10, 10, 10], [5, 60, 30]), None,
             SchedulerConfig(max_num_batched_tokens=64, max_num_seqs=4, block_size_tokens=10,
                             reserve_output_fraction=1.0), cache_rel_bits=None).requests
    assert df["first_scheduled_s"].tolist() == [0.0, 0.0, 0.0]
    assert df["preemptions"].tolist() == [0, 0, 0]
    assert df["finish_s"].tolist() == [5.0, 60.0, 30.0]


@pytest.mark.parametrize("frac", [-0.1, 1.5])
def test_output_reserve_outside_0_1_is_refused(frac):
    with pytest.raises(Exception, match="reserve_output_fraction"):
        SchedulerConfig(reserve_output_fraction=frac)


def test_output_reserve_never_stalls_a_request_that_fits_alone():
    # 4 blocks of 10 tokens; one request of 10 + 30 tokens (39 tokens of KV, 4 blocks) fits the cache, but
    # the full reserve would ask 40 - 10 - 30 > 1 of it: with nothing running it is admitted anyway, and
    # finishes at 1 (prefill) + 29 = 30 s.
    df = run(ConstantStepCost(1.0, kv_capacity_tokens=40), _reqs([0], [10], [30]), None,
             SchedulerConfig(max_num_batched_tokens=64, max_num_seqs=4, block_size_tokens=10,
                             reserve_output_fraction=1.0), cache_rel_bits=None).requests
    assert df["finish_s"].tolist() == [30.0]
