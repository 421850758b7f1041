"""Fit a serving stack's framework_kernel_efficiency (data/estimate/software.yaml) on the serve
rows listed in its ``fit_rows`` (each must be ``set: fit`` in a serve_scenarios file); the
held-out rows are never read.

The serve rows are simulated request by request (fabless.validate.serve), so the efficiency acts
through every step the simulator prices, not through one static batch. Prints the mean
|log(predicted / measured)| of the fit rows for each value of a grid and the best one, to be
recorded in software.yaml with ``fitted_on``. Usage:
python scripts/fit_serve_efficiency.py [STACK [LO HI]] (default trt-llm-mlperf-v4.1, grid 0.50-0.90)
LO HI narrow the grid (same 0.02 steps), e.g. around the last fit when one pass is slow.
"""

from __future__ import annotations

import sys

import numpy as np

from fabless.estimate import software
from fabless.validate import serve
from fabless.validate.core import load_rows

GRID = np.round(np.arange(0.50, 0.9001, 0.02), 2)


def main(stack: str = "trt-llm-mlperf-v4.1", lo: str | None = None, hi: str | None = None) -> None:
    grid = GRID if lo is None else np.round(np.arange(float(lo), float(hi) + 1e-9, 0.02), 2)
    by_id = {r["id"]: r for r in load_rows()}
    ids = list(software.software_stacks()[stack].fit_rows)
    not_fit = [i for i in ids if i not in serve.FIT_IDS]
    if not_fit:
        raise SystemExit(f"{stack}: fit_rows not marked set: fit in the serve mapping: {', '.join(not_fit)}")
    rows = [by_id[i] for i in ids]
    print(f"{stack}: {len(rows)} fit rows {', '.join(ids)}")
    scores = serve.stack_grid_scores(stack, "framework_kernel_efficiency", grid, rows)
    for err, eff in scores:
        print(f"efficiency {eff:.2f}: mean |log err| {err:.4f}")
    best_err, best = min(scores)
    print(f"best: {best:.2f} (mean |log err| {best_err:.4f}); fitted_on: [{', '.join(ids)}]")


if __name__ == "__main__":
    main(*sys.argv[1:4])
