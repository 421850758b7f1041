"""Speed of the serving simulator (a benchmark, not a test).

Goal (issue "Serving simulation"): one simulated hour at 20 requests/s on one replica in under
10 s of wall time on one core.

The replica is an 8B-parameter dense model in bf16 on one accelerator, costed by the analytic
RooflineStepCost: memory bandwidth and peak FLOPs are taken from the h100-sxm chip preset (no
efficiency factor: this is a speed benchmark, not a prediction); weights, KV bytes per token and
FLOPs per token are Llama-3-8B-shaped (32 layers, 8 KV heads of 128, bf16). Prompts lognormal
mean 1024 (sd 512), answers lognormal mean 256 (sd 128).

``--engine`` costs steps with the performance engine instead (fabless.estimate.stepcost.EngineStepCost,
llama-3.1-8b on one H100 of dgx-h100, bf16, tp=1): the wall time is then mostly the engine's calls.
By the engine's step times that replica is at its capacity at 20 req/s (batches full at 256
sequences every step, the backlog creeping up by under 1% of arrivals): the slowest case for the
simulator, which is why it is the benchmark; the last line says so.

``--concurrency C`` times one closed loop of C clients instead (fabless.serve.modes.closed_loop,
what ``fabless serve --concurrency`` runs), same lengths; goal: 4,096 clients, the largest
accepted, in under 10 s, the fuzz suite's hang limit for one command (tests/fuzz/cases.py).

Run: python bench/bench_serve.py [--rate 20] [--hours 1] [--rel-bits 6] [--engine] [--concurrency C]
"""

from __future__ import annotations

import argparse
import time

from fabless.hardware.presets import load_chip
from fabless.serve import Lengths, LogNormal, Poisson, RooflineStepCost, SchedulerConfig, SLO, run
from fabless.serve.modes import closed_loop


def replica_model(kv_capacity_tokens: int = 400_000) -> RooflineStepCost:
    chip = load_chip("h100-sxm")
    params = 8.0e9
    layers, kv_heads, head_dim, bytes_per = 32, 8, 128, 2
    return RooflineStepCost(
        weights_bytes=params * bytes_per,
        kv_bytes_per_token=2 * layers * kv_heads * head_dim * bytes_per,
        flops_per_token=2 * params,
        attn_flops_per_context_token=4 * layers * 32 * head_dim,
        mem_bytes_per_s=chip.memory.hbm.bandwidth_gb_s * 1e9,
        peak_flops_per_s=chip.compute.peak_tflops.bf16 * 1e12,
        kv_capacity_tokens=kv_capacity_tokens,
    )


def engine_model():
    from fabless.estimate.scenario import scenario_from_dict
    from fabless.estimate.stepcost import EngineStepCost

    return EngineStepCost.from_scenario(scenario_from_dict({
        "model": "llama-3.1-8b", "system": {"name": "dgx-h100", "count": 1}, "precision": "bf16",
        "parallel": {"tp": 1}, "inference": {"batch": 1, "input_tokens": 1024, "output_tokens": 256}}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--rel-bits", type=int, default=6)
    ap.add_argument("--engine", action="store_true", help="cost steps with the performance engine")
    ap.add_argument("--concurrency", type=int, default=None, help="time a closed loop of this many clients")
    args = ap.parse_args()
    model = engine_model() if args.engine else replica_model()
    lengths = Lengths(LogNormal(1024, 512, 8192), LogNormal(256, 128, 2048))
    if args.concurrency is not None:
        t0 = time.perf_counter()
        out = closed_loop(model, SchedulerConfig(), lengths, args.concurrency)
        wall = time.perf_counter() - t0
        verdict = ("PASS" if wall < 10 else "FAIL") if args.concurrency == 4096 else "n/a"
        print(f"closed loop of {args.concurrency} clients ({out['loop']}): {out['rate_per_s']:.2f} req/s, "
              f"E2E {out['e2e_s']:.2f} s, TPOT {out['tpot_s'] * 1e3:.2f} ms")
        print(f"wall time {wall:.2f} s  (goal: 4,096 clients in < 10 s: {verdict})")
        return
    t0 = time.perf_counter()
    res = run(model, Poisson(args.rate), lengths, SchedulerConfig(), seed=0, duration_s=args.hours * 3600,
              slo=SLO.parse("ttft_p99=2s,tpot_p99=50ms"), cache_rel_bits=args.rel_bits)
    wall = time.perf_counter() - t0
    s = res.summary
    print(f"simulated {args.hours:g} h at {args.rate:g} req/s: {s['requests']} requests, {s['steps']} steps, "
          f"step-model calls {s['step_model_calls']} (cache hit rate {s['step_cache_hit_rate']:.1%})")
    verdict = ("PASS" if wall < 10 else "FAIL") if (args.hours, args.rate) == (1.0, 20.0) else "n/a"
    print(f"wall time {wall:.2f} s  (goal: 1 h at 20 req/s in < 10 s: {verdict})")
    print(f"TTFT p50/p99 {s['ttft_p50_s'] * 1e3:.1f}/{s['ttft_p99_s'] * 1e3:.1f} ms, "
          f"TPOT p50/p99 {s['tpot_p50_s'] * 1e3:.2f}/{s['tpot_p99_s'] * 1e3:.2f} ms, "
          f"mean batch {s['mean_batch_seqs']:.1f} seqs, KV use mean/max {s['mean_kv_used_fraction']:.1%}/"
          f"{s['max_kv_used_fraction']:.1%}, preemptions {s['preemptions']}")
    print(f"stable: {s['stable']}, near capacity: {s['near_capacity']} (backlog growth over the second half: "
          f"{s['backlog_growth']:.0f} requests)")


if __name__ == "__main__":
    main()
