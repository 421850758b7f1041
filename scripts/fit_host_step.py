"""Fit a serving stack's host time per engine step (data/estimate/software.yaml,
``host_step_overhead_s``) jointly with its decode attention cost per cached position
(``decode_score_cost_s``) on the serve rows that name the stack and are marked ``set: fit`` in
the serve_scenarios files; the held-out rows are never read.

The two act on different steps: the host time is the same for every step, the per-position cost
grows with the decoding sequences' cached context (batch x context), so rows with short and long
prompts and with 64 and 256 concurrent requests separate them. Prints the mean
|log(predicted / measured)| of the fit rows for each pair on the grid and the best pair.
Usage: python scripts/fit_host_step.py [STACK] [--op-fixed-s SECONDS] (default vllm-tpu)
With --op-fixed-s the pair is refitted with the stack's cost per operator (``op_fixed_s``) set to
that value: ``--op-fixed-s 1e-6`` is the refit at the TPU's on-device cost quoted in its note.
"""

from __future__ import annotations

import sys

from fabless.validate import serve
from fabless.validate.core import load_rows

HOST_GRID_S = [round(0.001 * i, 6) for i in range(0, 13)]  # 0-12 ms, 1 ms steps
SCORE_GRID_S = [round(0.25e-9 * i, 15) for i in range(0, 17)]  # 0-4 ns per position, 0.25 ns steps


def main(stack: str = "vllm-tpu", op_fixed_s: float | None = None) -> None:
    by_id = {r["id"]: r for r in load_rows()}
    rows = [by_id[i] for i in serve.stack_fit_ids(stack)]
    print(f"{stack}: fit rows {', '.join(r['id'] for r in rows)}")
    if op_fixed_s is None:
        grid = [(h, s) for h in HOST_GRID_S for s in SCORE_GRID_S]
        scores = serve.stack_grid_scores(stack, ("host_step_overhead_s", "decode_score_cost_s"), grid, rows)
    else:
        print(f"cost per operator {op_fixed_s * 1e6:g} us")
        grid = [(op_fixed_s, h, s) for h in HOST_GRID_S for s in SCORE_GRID_S]
        scores = [(err, key[1:]) for err, key in serve.stack_grid_scores(
            stack, ("op_fixed_s", "host_step_overhead_s", "decode_score_cost_s"), grid, rows)]
    for err, (host, score) in scores:
        print(f"host step {host * 1e3:5.1f} ms, score {score * 1e9:4.2f} ns: mean |log err| {err:.4f}")
    err, (host, score) = min(scores)
    print(f"best: host step {host * 1e3:.1f} ms, score {score * 1e9:.2f} ns per position (mean |log err| {err:.4f}); "
          f"fitted_on: [{', '.join(r['id'] for r in rows)}]")


if __name__ == "__main__":
    args = sys.argv[1:]
    op = None
    if "--op-fixed-s" in args:
        i = args.index("--op-fixed-s")
        op = float(args[i + 1])
        del args[i:i + 2]
    main(*args[:1], op_fixed_s=op)
