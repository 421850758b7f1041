"""Queueing-theory checks: the simulator against formulas it does not contain."""

from __future__ import annotations

import numpy as np
import pytest

from fabless.serve import (ConstantStepCost, Disaggregated, Fixed, Fleet, Lengths, LogNormal, Poisson,
                           RooflineStepCost, SchedulerConfig, run)
from fabless.serve.sim import simulate
from fabless.serve.workload import Requests


def _roofline(capacity_tokens=200_000, **kw):
    # Coefficients chosen for the test, not a real chip: 4 ms of weights per step,
    # 2 us per prompt token, KV reads at 1 MB per context-token-step over 1 TB/s.
    base = dict(weights_bytes=4e9, kv_bytes_per_token=1e5, flops_per_token=2e9, mem_bytes_per_s=1e12,
                peak_flops_per_s=1e15, kv_capacity_tokens=capacity_tokens, overhead_s=0.001)
    base.update(kw)
    return RooflineStepCost(**base)


LENGTHS = Lengths(LogNormal(400, 200, 4000), LogNormal(100, 50, 1000))


@pytest.mark.parametrize("fleet", [Fleet(1), Fleet(2, "least_loaded"),
                                   Disaggregated(1, 2, link_bytes_per_s=50e9, link_latency_s=0.002)],
                         ids=["one-replica", "two-replicas", "disaggregated"])
def test_littles_law_on_a_steady_run(fleet):
    rate = 8.0
    duration_s = 1500.0
    res = run(_roofline(), Poisson(rate), LENGTHS, SchedulerConfig(), seed=1, duration_s=duration_s, fleet=fleet)
    s = res.summary
    assert s["requests"] > 0.9 * rate * duration_s
    # L: time-average of the requests held by the replicas (and in transfer), counted by the event loop;
    # W: mean of the per-request latencies; lambda: the nominal arrival rate.
    L = s["mean_in_system"]
    W = res.requests["e2e_s"].mean()
    assert L == pytest.approx(rate * W, rel=0.02)
    assert L > 1.0  # not a trivially empty system


def _pk_wait_s(rate_per_s: float, service_s: float) -> float:
    """Pollaczek-Khinchine mean wait in queue of M/D/1: rho * S / (2 (1 - rho))."""
    rho = rate_per_s * service_s
    return rho * service_s / (2 * (1 - rho))


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_batch_size_one_with_constant_step_is_md1(rho):
    step_s = 0.1
    rate = rho / step_s
    res = run(ConstantStepCost(step_s, kv_capacity_tokens=1000), Poisson(rate), Lengths(Fixed(1), Fixed(1)),
              SchedulerConfig(max_num_batched_tokens=16, max_num_seqs=1), seed=0, duration_s=12_000)
    df = res.requests
    wait = df["queue_s"].mean()
    assert wait == pytest.approx(_pk_wait_s(rate, step_s), rel=0.04)
    # one step makes the only token: TTFT = wait + one step
    assert (df["ttft_s"] - df["queue_s"]).to_numpy() == pytest.approx(step_s)
    assert res.summary["busy_fraction"] == pytest.approx(rho, rel=0.02)


def test_three_token_answers_at_batch_size_one_are_md1_with_three_steps():
    step_s = 0.05
    service_s = 3 * step_s  # three decode steps per request, nothing else can run
    rate = 0.6 / service_s
    res = run(ConstantStepCost(step_s, kv_capacity_tokens=1000), Poisson(rate), Lengths(Fixed(4), Fixed(3)),
              SchedulerConfig(max_num_batched_tokens=16, max_num_seqs=1), seed=3, duration_s=15_000)
    df = res.requests
    assert df["queue_s"].mean() == pytest.approx(_pk_wait_s(rate, service_s), rel=0.04)
    assert (df["e2e_s"] - df["queue_s"]).to_numpy() == pytest.approx(service_s)
    assert df["tpot_s"].to_numpy() == pytest.approx(step_s)


def test_closed_loop_clients_send_as_answers_come_back():
    # Two clients, 1-token prompts, 20-token answers, 10 ms a step whatever it holds, room for
    # two sequences: each pair runs 20 steps together (the prompt's step makes the first token)
    # and finishes at 0.2 s, 0.4 s, 0.6 s; the next pair is sent the moment the last ends.
    reqs = Requests(np.zeros(6), np.ones(6, dtype=int), np.full(6, 20))
    res = simulate(reqs, ConstantStepCost(0.01, kv_capacity_tokens=10**6),
                   SchedulerConfig(max_num_batched_tokens=64, max_num_seqs=2), clients=2)
    df = res.requests
    assert df["arrival_s"].tolist() == pytest.approx([0, 0, 0.2, 0.2, 0.4, 0.4])
    assert df["finish_s"].tolist() == pytest.approx([0.2, 0.2, 0.4, 0.4, 0.6, 0.6])
    # Two in the system all the time: Little's law over the whole run.
    assert res.summary["mean_in_system"] == pytest.approx(2.0)
