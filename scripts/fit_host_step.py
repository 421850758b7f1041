"""Fit a serving stack's host time per engine step (data/estimate/software.yaml,
``host_step_overhead_s``) on the serve rows that name the stack and are marked ``set: fit``
in the serve_scenarios files; the held-out rows are never read.

Prints the mean |log(predicted / measured)| of the fit rows for each candidate value on a grid
and the best one. Usage: python scripts/fit_host_step.py [STACK] (default vllm-tpu)
"""

from __future__ import annotations

import sys

from fabless.validate import serve
from fabless.validate.core import load_rows

GRID_S = [round(0.0005 * i, 6) for i in range(0, 81)]  # 0-40 ms, 0.5 ms steps


def main(stack: str = "vllm-tpu") -> None:
    by_id = {r["id"]: r for r in load_rows()}
    ids = [k for k, v in serve.serve_map().items()
           if isinstance(v, dict) and v.get("set") == "fit" and (v.get("scenario") or {}).get("software") == stack]
    rows = [by_id[i] for i in sorted(ids)]
    print(f"{stack}: fit rows {', '.join(r['id'] for r in rows)}")
    scores = serve.stack_grid_scores(stack, "host_step_overhead_s", GRID_S, rows)
    for err, host in scores:
        print(f"host step {host * 1e3:5.1f} ms: mean |log err| {err:.4f}")
    print(f"best: {min(scores)[1] * 1e3:.1f} ms")


if __name__ == "__main__":
    main(*sys.argv[1:2])
