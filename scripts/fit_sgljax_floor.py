"""Fit the sglang-jax stack's overlapped host time per engine step (data/estimate/software.yaml,
``sglang-jax.host_step_floor_s``) on the serve rows that name the stack and are marked ``set: fit``
in the serve_scenarios files; the held-out rows are never read.

sglang-jax's overlap scheduler builds the next batch on the host while the device runs the current
one, so a step takes the longer of the two: the host time is a floor under every step, which only
the rows whose device step is shorter than it can show (small models at low concurrency). Prints
the mean |log(predicted / measured)| of the fit rows for each value on the grid and the best value.
Usage: python scripts/fit_sgljax_floor.py [--with-op-cost]
With --with-op-cost the floor is fitted jointly with the stack's cost per operator (``op_fixed_s``,
1-20 us): the joint refit quoted in the note of ``sglang-jax.op_fixed_s``.
"""

from __future__ import annotations

import sys

from fabless.validate import serve
from fabless.validate.core import load_rows

STACK = "sglang-jax"
FLOOR_GRID_S = [round(0.00025 * i, 6) for i in range(0, 61)]  # 0-15 ms, 0.25 ms steps
OP_GRID_S = [1e-6, 2e-6, 3e-6, 4e-6, 5e-6, 6e-6, 8e-6, 10e-6, 12e-6, 15e-6, 20e-6]  # seconds per operator


def main() -> None:
    by_id = {r["id"]: r for r in load_rows()}
    rows = [by_id[i] for i in serve.stack_fit_ids(STACK)]
    print(f"{STACK}: fit rows {', '.join(r['id'] for r in rows)}")
    if "--with-op-cost" in sys.argv[1:]:
        joint = serve.stack_grid_scores(STACK, ("op_fixed_s", "host_step_floor_s"),
                                        [(o, f) for o in OP_GRID_S for f in FLOOR_GRID_S], rows)
        for op in OP_GRID_S:
            err, (_, floor) = min(x for x in joint if x[1][0] == op)
            print(f"cost per operator {op * 1e6:4.1f} us: best floor {floor * 1e3:5.2f} ms (mean |log err| {err:.4f})")
        err, (op, floor) = min(joint)
        print(f"best: {op * 1e6:.1f} us per operator, host floor {floor * 1e3:.2f} ms (mean |log err| {err:.4f})")
        return
    scores = serve.stack_grid_scores(STACK, "host_step_floor_s", FLOOR_GRID_S, rows)
    for err, floor in scores:
        print(f"host floor {floor * 1e3:5.2f} ms: mean |log err| {err:.4f}")
    err, floor = min(scores)
    print(f"best: host floor {floor * 1e3:.2f} ms per step (mean |log err| {err:.4f}); "
          f"fitted_on: [{', '.join(r['id'] for r in rows)}]")


if __name__ == "__main__":
    main()
