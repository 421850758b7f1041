"""Fit the Neuron inference stack's serving parameters (data/estimate/software.yaml,
``neuron-inference``): the prefill (context-encoding) graph's efficiency
``prefill_kernel_efficiency`` and the host's time per serving step ``host_step_overhead_s``,
jointly, on the serve rows that name the stack and are marked ``set: fit`` in the serve_scenarios
files; held-out rows are never read.

The prefill efficiency sets how long a prompt's context encoding takes (the prompt padded to its
power-of-two bucket, ``prefill_bucket_min_tokens``): TTFT and the throughput of whole requests
depend on it. The host step is the CPU's work per engine step (scheduling, input preparation,
the sampled token's way back) that the device waits out; every step pays it. Prints the mean
|log(predicted / measured)| of the fit rows on a grid (efficiency 0.20-0.90 step 0.01, host step
0-3 ms step 0.25 ms) and the best pair. Usage: python scripts/fit_neuron_prefill.py [STACK]
(default neuron-inference)
"""

from __future__ import annotations

import dataclasses
import sys

from fabless.estimate.software import software_stacks
from fabless.validate import serve
from fabless.validate.core import load_rows

EFF_GRID = [round(0.01 * i, 2) for i in range(20, 91)]
HOST_GRID_S = [round(0.00025 * i, 6) for i in range(0, 13)]


def main(stack: str = "neuron-inference") -> None:
    by_id = {r["id"]: r for r in load_rows()}
    rows = [by_id[i] for i in serve.stack_fit_ids(stack)]
    print(f"{stack}: fit rows {', '.join(r['id'] for r in rows)}")
    stacks = software_stacks()
    original = stacks[stack]
    results = []
    try:
        for host in HOST_GRID_S:
            stacks[stack] = dataclasses.replace(original, host_step_overhead_s=host)
            for err, eff in serve.stack_grid_scores(stack, "prefill_kernel_efficiency", EFF_GRID, rows):
                results.append((err, eff, host))
            best = min(r for r in results if r[2] == host)
            print(f"host step {host * 1e3:4.2f} ms: best prefill efficiency {best[1]:.2f}, mean |log err| {best[0]:.4f}")
    finally:
        stacks[stack] = original
    err, eff, host = min(results)
    print(f"best: prefill_kernel_efficiency {eff:.2f}, host_step_overhead_s {host * 1e3:.2f} ms (mean |log err| {err:.4f})")


if __name__ == "__main__":
    main(*sys.argv[1:2])
