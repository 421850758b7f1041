"""Fit the sglang-jax stack's overlapped host time per engine step (data/estimate/software.yaml,
``sglang-jax.host_step_floor_s``) on the serve rows that name the stack and are marked ``set: fit``
in the serve_scenarios files; the held-out rows are never read.

sglang-jax's overlap scheduler builds the next batch on the host while the device runs the current
one, so a step takes the longer of the two: the host time is a floor under every step, which only
the rows whose device step is shorter than it can show (small models at low concurrency). Prints
the mean |log(predicted / measured)| of the fit rows for each value on the grid and the best value.
Usage: python scripts/fit_sgljax_floor.py
"""

from __future__ import annotations

from fabless.validate import serve
from fabless.validate.core import load_rows

STACK = "sglang-jax"
FLOOR_GRID_S = [round(0.00025 * i, 6) for i in range(0, 61)]  # 0-15 ms, 0.25 ms steps


def main() -> None:
    by_id = {r["id"]: r for r in load_rows()}
    rows = [by_id[i] for i in serve.stack_fit_ids(STACK)]
    print(f"{STACK}: fit rows {', '.join(r['id'] for r in rows)}")
    scores = serve.stack_grid_scores(STACK, "host_step_floor_s", FLOOR_GRID_S, rows)
    for err, floor in scores:
        print(f"host floor {floor * 1e3:5.2f} ms: mean |log err| {err:.4f}")
    err, floor = min(scores)
    print(f"best: host floor {floor * 1e3:.2f} ms per step (mean |log err| {err:.4f}); "
          f"fitted_on: [{', '.join(r['id'] for r in rows)}]")


if __name__ == "__main__":
    main()
