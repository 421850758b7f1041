"""Speed of the system estimate (issue goals: an inference estimate of Llama-3.1-70B on 8 H100
with a given plan in under 10 ms in-process; a training estimate of Llama-3.1-405B on 16,384
H100 with parallel: auto in under 2 s).

Run: python bench/bench_estimate.py
"""

from __future__ import annotations

import time

from fabless.estimate.engine import estimate
from fabless.estimate.scenario import scenario_from_dict


def _best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    infer = scenario_from_dict({
        "model": "llama-3.1-70b", "system": {"name": "dgx-h100", "count": 8}, "precision": "fp8",
        "parallel": {"tp": 8}, "inference": {"batch": 64, "input_tokens": 2048, "output_tokens": 256},
    })
    t0 = time.perf_counter()
    estimate(infer)
    cold = time.perf_counter() - t0
    warm = _best_of(lambda: estimate(infer), 20)
    # New shapes every call (no operator-time cache hits): the honest per-scenario cost.
    fresh = []
    for batch in range(65, 85):
        scn = infer.model_copy(update={"inference": infer.inference.model_copy(update={"batch": batch})})
        t0 = time.perf_counter()
        estimate(scn)
        fresh.append(time.perf_counter() - t0)
    fresh.sort()
    print(f"inference llama-3.1-70b on 8 x h100-sxm, tp=8: first call {cold * 1e3:.1f} ms (loads presets), "
          f"new batch size each call median {fresh[len(fresh) // 2] * 1e3:.2f} ms, same scenario again {warm * 1e3:.2f} ms (goal < 10 ms)")

    train = scenario_from_dict({
        "model": "llama-3.1-405b", "system": {"name": "dgx-h100", "count": 16384}, "precision": "bf16",
        "parallel": "auto", "training": {"global_batch": 2048, "micro_batch": 1, "seq_len": 8192},
    })
    t0 = time.perf_counter()
    est = estimate(train)
    cold = time.perf_counter() - t0
    print(f"training llama-3.1-405b on 16,384 x h100-sxm, parallel auto: {cold:.2f} s (goal < 2 s); "
          f"chose tp={est.plan.tp} pp={est.plan.pp} dp={est.plan.dp}")


if __name__ == "__main__":
    main()
