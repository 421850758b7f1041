"""Design-space evaluation speed, against a baseline commit in the same run: complete evaluations
(performance, power, area, cost) of a Llama-3.1-70B serving scenario per second, on 2 cores
(goal: >= 100,000 designs/s).

    python bench/bench_explore.py [--designs 20000] [--batch 10000] [--cores 2]
                                  [--space examples/openai-xpu/space.yaml] [--baseline REV|none]
                                  [--rounds 3] [--store]

Each measurement runs in a fresh process pinned to ``--cores`` CPUs (Linux), BLAS threads
limited to match, alternating between this checkout and the baseline (default 0991533, where
the speed work started); medians of ``--rounds`` are printed. It times sampling + evaluation of
Sobol designs in batches of ``--batch``, by the wall clock and by CPU time (on a machine shared
with other work the CPU-time rate is what the cores deliver). ``--store`` also times this
checkout's search with the DuckDB store write. Not a test: speed is measured here, not asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

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


def _pin(cores: int) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:cores])
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(cores)


def _space(path: str | None, designs: int, batch: int):
    from fabless.explore import load_space, space_from_dict

    if path:
        return load_space(path)
    return space_from_dict({**SPACE, "search": {**SPACE["search"], "samples": designs, "batch_size": batch}})


def _measure(a) -> dict:
    _pin(a.cores)
    import numpy as np

    from fabless.explore import Evaluator, values_of

    space = _space(a.space, a.designs, a.batch)
    t = time.perf_counter()
    ev = Evaluator(space)
    setup = time.perf_counter() - t
    ev.evaluate(values_of(space, np.arange(64)))  # warm-up (imports, caches)
    t, c = time.perf_counter(), time.process_time()
    n = feas = 0
    for lo in range(0, a.designs, a.batch):
        ids = np.arange(lo, min(lo + a.batch, a.designs))
        r = ev.evaluate(values_of(space, ids))
        n += len(ids)
        feas += int(r["feasible"].sum())
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    return {"designs_per_s": n / wall, "designs_per_cpu_s": n / cpu, "setup_s": setup, "designs": n, "feasible": feas}


def _store(a) -> None:
    _pin(a.cores)
    import numpy as np

    from fabless.explore import Evaluator, run_search, values_of

    space = _space(a.space, a.designs, a.batch)
    ev = Evaluator(space)
    ev.evaluate(values_of(space, np.arange(64)))  # warm-up (imports: the sampler's scipy, caches)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        store = run_search(space, tmp, progress=False, evaluator=ev)
        dt = time.perf_counter() - t
        print(f"search with DuckDB store ({store.count():,} designs): {store.count() / dt:,.0f} designs/s")
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--designs", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=10000)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--space", default=None, help="a space YAML (default: the Llama-3.1-70B serving space above)")
    ap.add_argument("--baseline", default=None, help="commit to compare with (default 0991533; none: skip)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--store", action="store_true", help="also time this checkout's search with the store write")
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.measure:
        print(json.dumps(_measure(a)))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _baseline import DEFAULT_BASELINE, compare

    rev = a.baseline or DEFAULT_BASELINE
    args = ["--designs", str(a.designs), "--batch", str(a.batch), "--cores", str(a.cores)]
    if a.space:
        args += ["--space", str(Path(a.space).resolve())]
    new, old = compare(__file__, args, rev, a.rounds)
    what = a.space or "Llama-3.1-70B serving, batch auto over 11 sizes, TPOT SLO"
    print(f"{what}: {int(new['designs']):,} designs ({int(new['feasible']):,} feasible) in batches of {a.batch:,} "
          f"on {a.cores} cores, perf + power + area + cost; medians of {a.rounds} processes each")
    for key, label in (("designs_per_s", "wall clock"), ("designs_per_cpu_s", "CPU time")):
        text = f"  evaluate ({label}): {new[key]:,.0f} designs/s (goal >= 100,000)"
        if old is not None:
            text += f"; {rev}: {old[key]:,.0f} designs/s, {new[key] / old[key]:.1f}x"
        print(text)
    print(f"  setup (graphs, collectives): {new['setup_s']:.2f} s")
    if a.store:
        _store(a)


if __name__ == "__main__":
    sys.exit(main())
