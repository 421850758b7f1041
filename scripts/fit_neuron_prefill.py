"""Fit the Neuron inference stack's prefill (context-encoding) graph efficiency
(data/estimate/software.yaml, ``neuron-inference.prefill_kernel_efficiency``) on the serve rows
that name the stack and are marked ``set: fit`` in the serve_scenarios files; held-out rows are
never read.

The prefill graph's efficiency sets how long a prompt's context encoding takes (the prompt padded
to its power-of-two bucket, ``prefill_bucket_min_tokens``); only rows whose time holds a prefill
(TTFT, throughput and latency of whole requests) depend on it. Prints the mean
|log(predicted / measured)| of the fit rows for each value on a grid (0.10-0.80, step 0.01) and
the best one. Usage: python scripts/fit_neuron_prefill.py [STACK] (default neuron-inference)
"""

from __future__ import annotations

import sys

from fabless.validate import serve
from fabless.validate.core import load_rows

GRID = [round(0.01 * i, 2) for i in range(10, 81)]


def main(stack: str = "neuron-inference") -> None:
    by_id = {r["id"]: r for r in load_rows()}
    ids = [k for k, v in serve.serve_map().items()
           if isinstance(v, dict) and v.get("set") == "fit" and (v.get("scenario") or {}).get("software") == stack]
    rows = [by_id[i] for i in sorted(ids)]
    print(f"{stack}: fit rows {', '.join(r['id'] for r in rows)}")
    scores = serve.stack_grid_scores(stack, "prefill_kernel_efficiency", GRID, rows)
    for err, eff in scores:
        print(f"prefill efficiency {eff:.2f}: mean |log err| {err:.4f}")
    print(f"best: {min(scores)[1]:.2f}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
