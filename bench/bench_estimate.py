"""Speed of the system estimate, against a baseline commit in the same run.

Goals (issue 12): one inference estimate of Llama-3.1-70B on 8 H100 with the plan given, warm
(presets and the model read, operator times cached from an earlier call), in at most 1 ms
in-process; a training estimate of Llama-3.1-405B on 16,384 H100 with parallel: auto in under 2 s.

Each figure is measured in fresh processes that alternate between this checkout and the baseline
(default 0991533, where the speed work started), ``--rounds`` of each; medians are printed.

    python bench/bench_estimate.py [--baseline REV|none] [--rounds 3] [--calls 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

INFER = {
    "model": "llama-3.1-70b", "system": {"name": "dgx-h100", "count": 8}, "precision": "fp8",
    "parallel": {"tp": 8}, "inference": {"batch": 64, "input_tokens": 2048, "output_tokens": 256},
}
TRAIN_PLAN = {
    "model": "llama-3.1-70b", "system": {"name": "dgx-h100", "count": 64}, "precision": "bf16",
    "parallel": {"tp": 8, "pp": 2}, "training": {"global_batch": 64, "seq_len": 4096},
}
TRAIN = {
    "model": "llama-3.1-405b", "system": {"name": "dgx-h100", "count": 16384}, "precision": "bf16",
    "parallel": "auto", "training": {"global_batch": 2048, "micro_batch": 1, "seq_len": 8192},
}


def _measure(calls: int) -> dict:
    from fabless.estimate.engine import estimate
    from fabless.estimate.scenario import scenario_from_dict

    infer = scenario_from_dict(INFER)
    t0 = time.perf_counter()
    estimate(infer)
    cold = time.perf_counter() - t0
    warm = []
    c0 = time.process_time()
    for _ in range(calls):
        t0 = time.perf_counter()
        estimate(infer)
        warm.append(time.perf_counter() - t0)
    warm_cpu = (time.process_time() - c0) / calls
    # a new batch size each call: no operator-time cache hits (the per-scenario cost of a sweep)
    fresh = []
    for batch in range(65, 105):
        scn = scenario_from_dict({**INFER, "inference": {**INFER["inference"], "batch": batch}})
        t0 = time.perf_counter()
        estimate(scn)
        fresh.append(time.perf_counter() - t0)
    train_plan = scenario_from_dict(TRAIN_PLAN)
    estimate(train_plan)
    tw = []
    for _ in range(calls):
        t0 = time.perf_counter()
        estimate(train_plan)
        tw.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    estimate(scenario_from_dict(TRAIN))
    train = time.perf_counter() - t0
    return {"warm_ms": statistics.median(warm) * 1e3, "warm_cpu_ms": warm_cpu * 1e3, "cold_ms": cold * 1e3,
            "fresh_ms": statistics.median(fresh) * 1e3, "train_auto_s": train,
            "train_warm_ms": statistics.median(tw) * 1e3}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default=None, help="commit to compare with (default 0991533; none: skip)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.measure:
        print(json.dumps(_measure(a.calls)))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _baseline import DEFAULT_BASELINE, compare

    rev = a.baseline or DEFAULT_BASELINE
    new, old = compare(__file__, ["--calls", str(a.calls)], rev, a.rounds)

    def line(label: str, key: str, unit: str, goal: str = "") -> None:
        text = f"{label}: {new[key]:.3g} {unit}{goal}"
        if old is not None:
            text += f"; {rev}: {old[key]:.3g} {unit}, {old[key] / new[key]:.1f}x faster"
        print(text)

    print(f"Llama-3.1-70B inference on 8 x h100-sxm, tp=8, batch 64 (medians of {a.rounds} processes each)")
    line("  one estimate, warm, plan given", "warm_ms", "ms", " (goal <= 1 ms)")
    line("  the same, CPU time", "warm_cpu_ms", "ms")
    line("  a new batch size each call (no cached operator times)", "fresh_ms", "ms")
    line("  first call in a process (reads presets and the model)", "cold_ms", "ms")
    line("Llama-3.1-70B training on 64 x h100-sxm, tp=8 pp=2, one estimate warm", "train_warm_ms", "ms", " (goal <= 1 ms)")
    line("Llama-3.1-405B training on 16,384 x h100-sxm, parallel auto (every plan of the space;"
         " bench_plan_search.py counts them)", "train_auto_s", "s", " (goal: >= 100,000 plans in <= 1 s)")


if __name__ == "__main__":
    main()
