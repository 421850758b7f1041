"""Benchmark: `parallel: auto` for Llama-3.1-405B training on 16,384 H100 (issue goal: >= 100,000
candidate plans evaluated in <= 1 s), and the plan it picks; also Llama-3.1-70B on a TPU v6e-256 pod.

Run: python bench/bench_plan_search.py   (prints plans evaluated, seconds cold and warm, the best plan)
"""

from __future__ import annotations

import time

from fabless.estimate.engine import estimate
from fabless.estimate.scenario import scenario_from_dict

CASES = {
    "llama-3.1-405b on 16,384 H100 (16M tokens/step, seq 8192)": {
        "model": "llama-3.1-405b", "system": {"name": "dgx-h100", "count": 16384}, "precision": "bf16",
        "parallel": "auto", "training": {"global_batch": 2048, "seq_len": 8192}},
    "llama-3.1-70b on a TPU v6e-256 pod (seq 8192)": {
        "model": "llama-3.1-70b", "system": {"name": "tpu-v6e-256"}, "precision": "bf16",
        "parallel": "auto", "training": {"global_batch": 256, "seq_len": 8192}},
}


def main() -> None:
    for name, raw in CASES.items():
        scn = scenario_from_dict(raw)
        t0 = time.perf_counter()
        est = estimate(scn)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        estimate(scn)
        warm = time.perf_counter() - t0
        note = next((n for n in est.notes if n.startswith("parallel: auto")), "")
        print(f"{name}\n  {note}\n  cold {cold:.2f} s, warm {warm:.2f} s\n  best: {est.plan.label()}  "
              f"step {est.metrics['step_time_s']:.2f} s, MFU {est.metrics['mfu']:.1%}, "
              f"memory {est.memory_bytes['total'] / 1e9:.1f} GB")
        for a in est.alternatives:
            print(f"    next: {a['label']:<55} +{a['slower_by']:.1%}  loses on {a['loses_on']}")


if __name__ == "__main__":
    main()
