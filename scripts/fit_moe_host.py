"""Fit the Megatron-Bridge stacks' ``moe_host_s`` (data/estimate/software.yaml): the seconds per
mixture-of-experts layer and micro-batch (forward + backward) in which the device waits for the
host on the dropless expert path (docs/perf-model.md, "MoE layers"; estimate.step.step_terms).

Fit rows, chosen by a rule before any fit was run (scenarios_newchips.yaml): the B200 and GB200
rows of the Qwen3 30B-A3B table in Megatron-Bridge's 26.02.01 performance summary (train-nc-013,
-014). Objective: the mean |log(predicted / measured)| over them, on a grid of 0-10 ms in steps
of 0.05 ms. Nothing held out is read. Prints the grid minimum, and the value each fit row alone
would take (how far the two rows agree); writes nothing: the value goes into software.yaml by hand,
with ``fitted_on``.

Usage: python scripts/fit_moe_host.py
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from fabless.estimate import software as swmod
from fabless.validate import train
from fabless.validate.core import load_rows

FIT_ROWS = ("train-nc-013", "train-nc-014")
GRID_S = np.round(np.arange(0.0, 10.0001e-3, 0.05e-3), 7)
#: the stacks that run Megatron-Bridge's dropless MoE path and share the value
STACKS = ("megatron-bridge", "megatron-bridge-nvfp4", "megatron-bridge-ep-overlap")


def errors(rows: list[dict], host_s: float) -> list[float]:
    """|log(predicted / measured)| of each row with every Megatron-Bridge stack at ``host_s``."""
    stacks = swmod.software_stacks()
    saved = {n: stacks[n] for n in STACKS}
    try:
        for n in STACKS:
            stacks[n] = dataclasses.replace(saved[n], moe_host_s=float(host_s))
        train._estimate_cached.cache_clear()
        return [abs(math.log(train.predict(r) / float(r["value"]))) for r in rows]
    finally:
        stacks.update(saved)
        train._estimate_cached.cache_clear()


def main() -> None:
    by_id = {r["id"]: r for r in load_rows()}
    rows = [by_id[i] for i in FIT_ROWS]
    table = np.array([errors(rows, h) for h in GRID_S])  # grid x rows
    mean = table.mean(axis=1)
    best = int(np.argmin(mean))
    print(f"moe_host_s = {GRID_S[best] * 1e3:.2f} ms (mean |log err| {mean[best]:.4f} on {', '.join(FIT_ROWS)}; "
          f"at 0: {mean[0]:.4f})")
    for j, rid in enumerate(FIT_ROWS):
        print(f"  {rid} alone: {GRID_S[int(np.argmin(table[:, j]))] * 1e3:.2f} ms")
    if best in (0, len(GRID_S) - 1):
        print("  the minimum sits at the grid's edge: the term does not explain these rows")


if __name__ == "__main__":
    main()
