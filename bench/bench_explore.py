"""Design-space evaluation speed: complete evaluations (performance, power, area, cost) of
a Llama-3.1-70B serving scenario, per second, on 2 cores (goal: >= 10,000 designs/s).

    python bench/bench_explore.py [--designs 20000] [--batch 10000] [--cores 2]

Pins itself to ``--cores`` CPUs (Linux) and limits BLAS threads to match, then times
(1) sampling + evaluation of Sobol designs and (2) the same with the DuckDB store write.
Prints ``N designs/s`` lines. Not a test: speed is measured here, not asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

SPACE = {
    "name": "bench-70b",
    "base": {"chip": "openai-broadcom-xpu", "system": "tpu-v6e-256"},
    "parameters": {
        "matrix_units": {"min": 4, "max": 32}, "mu_rows": [128, 256], "mu_cols": [128, 256], "cores": [1, 2, 4],
        "clock_mhz": {"min": 1000, "max": 2400}, "sram_per_core_mib": {"min": 16, "max": 256, "log": True},
        "sram_shared_mib": [0, 64], "hbm_generation": ["hbm3e", "hbm4"], "hbm_stacks": [4, 6, 8],
        "links": [4, 8], "link_gb_s": [100, 200, 400], "process_node": ["N5", "N3", "N2"],
        "dtypes": ["bf16", "bf16+fp8", "bf16+fp8+fp4"], "dies": [1, 2],
    },
    "workload": [{"name": "serve-70b", "model": "llama-3.1-70b", "precision": "fp8", "parallel": {"tp": 8},
                  "inference": {"batch": "auto", "input_tokens": 2048, "output_tokens": 256}, "slo": {"tpot_ms": 50}}],
    "objectives": [{"maximize": "tokens_per_usd"}, {"minimize": "joules_per_token"}],
    "constraints": {"tdp_w": {"max": 1500}, "die_area_mm2": {"max": 1800}},
    "economics": {"fleet_chips": 100000},
    "search": {"sampler": "sobol", "samples": 20000, "batch_size": 10000, "seed": 0},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--designs", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=10000)
    ap.add_argument("--cores", type=int, default=2)
    a = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[: a.cores]
        os.sched_setaffinity(0, cpus)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(a.cores)

    import numpy as np

    from fabless.explore import Evaluator, run_search, space_from_dict, values_of

    raw = {**SPACE, "search": {**SPACE["search"], "samples": a.designs, "batch_size": a.batch}}
    space = space_from_dict(raw)
    t = time.perf_counter()
    ev = Evaluator(space)
    setup = time.perf_counter() - t
    ev.evaluate(values_of(space, np.arange(64)))  # warm-up (imports, caches)
    t = time.perf_counter()
    n = feas = 0
    for lo in range(0, a.designs, a.batch):
        ids = np.arange(lo, min(lo + a.batch, a.designs))
        r = ev.evaluate(values_of(space, ids))
        n += len(ids)
        feas += int(r["feasible"].sum())
    dt = time.perf_counter() - t
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(f"setup (graphs, collectives) {setup:.2f} s; {n:,} designs, {feas:,} feasible, on {cores} cores")
    print(f"evaluate: {n / dt:,.0f} designs/s (Llama-3.1-70B serving, batch auto over 11 sizes, TPOT SLO; perf + power + area + cost)")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        store = run_search(space, tmp, progress=False, evaluator=ev)
        dt = time.perf_counter() - t
        print(f"search with DuckDB store: {store.count() / dt:,.0f} designs/s")
        store.close()


if __name__ == "__main__":
    sys.exit(main())
