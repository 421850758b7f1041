"""SLO parsing, goodput, the step-time cache, the router and the max-throughput search."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fabless.errors import FablessError
from fabless.serve import (SLO, ConstantStepCost, Fixed, Fleet, Lengths, Requests, SchedulerConfig, StepTimeCache,
                           max_throughput, run, summarize)
from fabless.serve.stepcost import _bucket
from tests.serve.test_queueing import _roofline


def test_slo_parse_and_errors():
    assert SLO.parse("ttft_p99=2s, tpot_p99=50ms").limits_s == {"ttft_p99": 2.0, "tpot_p99": 0.05}
    with pytest.raises(FablessError, match="ttft_p99"):
        SLO.parse("latency_p99=2s")
    with pytest.raises(FablessError, match="key=time"):
        SLO.parse("ttft_p99")
    with pytest.raises(FablessError, match="cannot read 'soon' as a time"):
        SLO.parse("ttft_p99=soon")


def test_goodput_and_percentiles_by_hand():
    df = pd.DataFrame({
        "arrival_s": [0.0, 1.0, 2.0, 3.0],
        "finish_s": [2.0, 3.0, 4.0, 10.0],
        "input_tokens": [10, 10, 10, 10], "output_tokens": [2, 2, 1, 2], "preemptions": [0, 0, 0, 0],
        "ttft_s": [1.0, 0.5, 3.0, 0.2],
        "tpot_s": [0.01, 0.2, np.nan, 0.03],
        "e2e_s": [2.0, 2.0, 2.0, 7.0],
    })
    s = summarize(df, SLO.parse("ttft_p90=1s,tpot_p90=50ms"))
    # request 1 misses TPOT, request 2 misses TTFT (its NaN TPOT passes): 2 of 4 meet the SLO
    assert s["goodput_fraction"] == 0.5
    assert s["goodput_req_per_s"] == pytest.approx(2 / 10.0)   # span: 0 .. last finish (10 s)
    assert s["throughput_req_per_s"] == pytest.approx(4 / 10.0)
    assert s["ttft_p50_s"] == pytest.approx(0.75)               # median of 0.2, 0.5, 1, 3
    assert s["ttft_p90_s"] == pytest.approx(1.0 + 0.7 * 2.0)    # linear interpolation: 2.4 s
    assert s["slo_met"] is False
    assert s["output_tokens_per_s"] == pytest.approx(7 / 10.0)


@given(x=st.integers(0, 10**9))
def test_bucketing_moves_a_count_by_at_most_one_128th(x):
    b = _bucket(x, 6)
    assert abs(b - x) <= x / 128
    if x < 128:
        assert b == x


def test_bucketing_is_unbiased_on_average():
    xs = range(1000, 200_000, 7)
    mean_rel = sum((_bucket(x, 6) - x) / x for x in xs) / len(xs)
    assert abs(mean_rel) < 1e-3  # rounding up would give about +0.4%


def test_step_cache_is_close_and_hits():
    model = _roofline(attn_flops_per_context_token=1e6)
    cache = StepTimeCache(model)
    for batch in [(0, 0, 37, 51_234), (1000, 3001, 5, 777), (513, 513, 0, 0)]:
        assert cache(*batch) == pytest.approx(model.step_time_s(*batch), rel=1 / 128)
    cache(0, 0, 37, 51_240)  # same bucket as the first (grid of 512 tokens there)
    assert (cache.hits, cache.misses) == (1, 3)
    assert StepTimeCache(model, rel_bits=None)(0, 0, 37, 51_240) == model.step_time_s(0, 0, 37, 51_240)


def test_step_cache_rejects_a_zero_time():
    class Broken:
        kv_capacity_tokens, kv_bytes_per_token = 100, 0.0

        def step_time_s(self, *batch):
            return 0.0

    with pytest.raises(FablessError, match="a step must take a finite time > 0"):
        StepTimeCache(Broken())(1, 1, 0, 0)


def _reqs(arrival_s, out):
    n = len(arrival_s)
    return Requests(np.array(arrival_s, float), np.full(n, 4), np.array(out))


def test_round_robin_and_least_loaded_routing():
    reqs = _reqs([0.0, 0.0, 0.5], [100, 1, 1])  # r0 keeps replica 0 busy; r1 is done on replica 1 by t=0.1
    model = ConstantStepCost(0.1, kv_capacity_tokens=1000)
    rr = run(model, reqs, None, SchedulerConfig(), fleet=Fleet(2, "round_robin"))
    ll = run(model, reqs, None, SchedulerConfig(), fleet=Fleet(2, "least_loaded"))
    assert rr.requests["replica"].tolist() == [0, 1, 0]
    assert ll.requests["replica"].tolist() == [0, 1, 1]
    with pytest.raises(FablessError, match="unknown router policy 'fastest'"):
        run(model, reqs, None, SchedulerConfig(), fleet=Fleet(2, "fastest"))


def test_max_throughput_finds_the_md1_rate():
    # M/D/1 with a 100 ms service: mean TTFT = D + rho D / (2 (1 - rho)) <= 0.2 s  <=>  rho <= 2/3, rate <= 6.67/s
    model = ConstantStepCost(0.1, kv_capacity_tokens=1000)
    cfg = SchedulerConfig(max_num_batched_tokens=16, max_num_seqs=1)
    found = max_throughput(model, Lengths(Fixed(1), Fixed(1)), SLO.parse("ttft_mean=200ms"), cfg, seed=0,
                           duration_s=6000, rel_tol=0.01)
    assert found.rate_per_s == pytest.approx(20 / 3, rel=0.05)
    assert found.result.summary["ttft_mean_s"] <= 0.2
    assert any(not met and rate < 20 / 3 * 1.1 for rate, met in found.tried)  # the bracket closed from above too


def test_max_throughput_is_deterministic():
    model = _roofline()
    kw = dict(duration_s=30, rel_tol=0.05, start_rate_per_s=100)
    lengths = Lengths(Fixed(300), Fixed(50))
    slo = SLO.parse("ttft_p99=300ms")
    a = max_throughput(model, lengths, slo, SchedulerConfig(), seed=4, **kw)
    b = max_throughput(model, lengths, slo, SchedulerConfig(), seed=4, **kw)
    assert a.tried == b.tried and a.rate_per_s > 0


def test_user_errors_are_one_line():
    with pytest.raises(FablessError, match="must be >= max_num_seqs"):
        SchedulerConfig(max_num_batched_tokens=64, max_num_seqs=128)
    with pytest.raises(FablessError, match="request 1 needs KV for 1099 tokens but a replica holds 992"):
        run(ConstantStepCost(0.1, kv_capacity_tokens=1000), Requests(np.array([0.0, 1.0]), np.array([10, 1000]),
            np.array([5, 100])), None, SchedulerConfig())
    with pytest.raises(FablessError, match="with chunked_prefill off"):
        run(ConstantStepCost(0.1, kv_capacity_tokens=100_000), _reqs([0.0], [5000]), None,
            SchedulerConfig(max_num_batched_tokens=2048, chunked_prefill=False))
