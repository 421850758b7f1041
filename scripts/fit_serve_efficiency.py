"""Fit a serving stack's framework_kernel_efficiency, or its grouped_gemm_efficiency
(data/estimate/software.yaml), on the serve rows listed in its ``fit_rows`` (each must be
``set: fit`` in a serve_scenarios file); the held-out rows are never read.

The serve rows are simulated request by request (fabless.validate.serve), so the efficiency acts
through every step the simulator prices, not through one static batch. Prints the mean
|log(predicted / measured)| of the fit rows for each value of a grid and the best one, to be
recorded in software.yaml with ``fitted_on``. Usage:

    python scripts/fit_serve_efficiency.py [STACK [LO HI [FIELD]]]

(default trt-llm-mlperf-v4.1, grid 0.50-0.90, FIELD framework_kernel_efficiency). LO HI narrow the
grid (same 0.02 steps), e.g. around the last fit when one pass is slow.

FIELD grouped_gemm_efficiency: the share of the stack's dense-GEMM rate its grouped expert GEMMs
reach. It acts only on the fit rows of mixture-of-experts models, so it is fitted on those (the
others would add a constant), with the stack's framework_kernel_efficiency as it stands. The two
are fitted in turn: grouped_gemm_efficiency on the MoE fit rows, then framework_kernel_efficiency
on every fit row with it in place, then grouped_gemm_efficiency again if that moved.
"""

from __future__ import annotations

import sys

import numpy as np

from fabless.estimate import software
from fabless.validate import serve
from fabless.validate.core import load_rows
from fabless.workload import load_model

GRID = np.round(np.arange(0.50, 0.9001, 0.02), 2)
FIELDS = ("framework_kernel_efficiency", "grouped_gemm_efficiency")


def main(stack: str = "trt-llm-mlperf-v4.1", lo: str | None = None, hi: str | None = None,
         field: str = "framework_kernel_efficiency") -> None:
    if field not in FIELDS:
        raise SystemExit(f"FIELD must be one of {', '.join(FIELDS)}, got {field!r}")
    grid = GRID if lo is None else np.round(np.arange(float(lo), float(hi) + 1e-9, 0.02), 2)
    by_id = {r["id"]: r for r in load_rows()}
    ids = list(software.software_stacks()[stack].fit_rows)
    not_fit = [i for i in ids if i not in serve.FIT_IDS]
    if not_fit:
        raise SystemExit(f"{stack}: fit_rows not marked set: fit in the serve mapping: {', '.join(not_fit)}")
    if field == "grouped_gemm_efficiency":
        ids = [i for i in ids if load_model(serve.serve_map()[i]["scenario"]["model"]).is_moe]
        if not ids:
            raise SystemExit(f"{stack}: no fit row of a mixture-of-experts model; nothing fits grouped_gemm_efficiency")
    rows = [by_id[i] for i in ids]
    print(f"{stack}.{field}: {len(rows)} fit rows {', '.join(ids)}")
    scores = serve.stack_grid_scores(stack, field, grid, rows)
    for err, eff in scores:
        print(f"{field} {eff:.2f}: mean |log err| {err:.4f}", flush=True)
    best_err, best = min(scores)
    print(f"best: {best:.2f} (mean |log err| {best_err:.4f}); fitted_on: [{', '.join(ids)}]")


if __name__ == "__main__":
    main(*sys.argv[1:5])
