"""Fit the Megatron-Bridge stacks' MoE host time (data/estimate/software.yaml): ``moe_host_s``, the
seconds per mixture-of-experts layer and micro-batch (forward + backward) in which the device waits
for the host on the dropless expert path, and ``moe_host_per_expert_s``, the seconds each local
expert adds to it (one grouped-GEMM launch per local expert; docs/perf-model.md, "MoE layers";
estimate.step.step_terms).

Fit rows, chosen by a rule (scenarios_newchips.yaml): every MoE row of Megatron-Bridge's 26.02.01
performance summary whose model the catalog has and whose layout the engine maps (train-nc-013,
-014, -016..022), except its H100 Qwen3 30B-A3B row (train-nc-015), held out as the Hopper check.
Objective: the mean |log(predicted / measured)| over them, on a grid of 0-8 ms (step 0.05 ms) per
layer x 0-0.5 ms (step 0.005 ms) per local expert. A row's step is linear in its host time, so each
row is estimated at two host times and the grid is scored from those (the best point is then
estimated directly, as a check). Nothing held out is read. Prints the grid minimum; writes nothing:
the values go into software.yaml by hand, with ``fitted_on``.

Usage: python scripts/fit_moe_host.py
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fabless.estimate import software as swmod
from fabless.validate import train
from fabless.validate.core import load_rows
from fabless.workload.catalog import load_model

FIT_ROWS = ("train-nc-013", "train-nc-014", "train-nc-016", "train-nc-017", "train-nc-018", "train-nc-019",
            "train-nc-020", "train-nc-021", "train-nc-022")
GRID_LAYER_S = np.round(np.arange(0.0, 8.0001e-3, 0.05e-3), 8)
GRID_EXPERT_S = np.round(np.arange(0.0, 0.5001e-3, 0.005e-3), 9)
#: the stacks that run Megatron-Bridge's dropless MoE path and share the values
STACKS = ("megatron-bridge", "megatron-bridge-nvfp4", "megatron-bridge-ep-overlap")


def predictions(rows: list[dict], layer_s: float, expert_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(predicted tokens/s per chip, local experts) of each row with every Megatron-Bridge stack at
    the given host times."""
    stacks = swmod.software_stacks()
    saved = {n: stacks[n] for n in STACKS}
    try:
        for n in STACKS:
            stacks[n] = dataclasses.replace(saved[n], moe_host_s=float(layer_s), moe_host_per_expert_s=float(expert_s))
        train._estimate_cached.cache_clear()
        pred, local = [], []
        for r in rows:
            scn, est = train.run_entry(r)
            pred.append(train.convert(r, train.entry_for(r), scn, est))
            local.append(load_model(scn.model).num_experts / est.plan.ep)
        return np.array(pred), np.array(local)
    finally:
        stacks.update(saved)
        train._estimate_cached.cache_clear()


def main() -> None:
    by_id = {r["id"]: r for r in load_rows()}
    rows = [by_id[i] for i in FIT_ROWS]
    meas = np.array([float(r["value"]) for r in rows])
    p0, local = predictions(rows, 0.0, 0.0)
    p1, _ = predictions(rows, 1e-3, 0.0)
    inv0, slope = 1 / p0, (1 / p1 - 1 / p0) / 1e-3  # 1 / tokens-per-second is linear in the host time
    host = GRID_LAYER_S[:, None, None] + GRID_EXPERT_S[None, :, None] * local[None, None, :]
    score = np.abs(np.log((inv0 + slope * host) * meas)).mean(axis=2)  # mean |log(predicted / measured)|
    i, j = np.unravel_index(np.argmin(score), score.shape)
    a, b = GRID_LAYER_S[i], GRID_EXPERT_S[j]
    check, _ = predictions(rows, a, b)
    print(f"moe_host_s = {a * 1e3:.2f} ms, moe_host_per_expert_s = {b * 1e3:.3f} ms "
          f"(mean |log err| {score[i, j]:.4f} on {len(rows)} rows; at 0, 0: {np.abs(np.log(p0 / meas)).mean():.4f}; "
          f"estimated directly at the minimum: {np.abs(np.log(check / meas)).mean():.4f})")
    for r, pr, e in zip(rows, check, local):
        print(f"  {r['id']}  {e:4.0f} local experts  {pr / float(r['value']) - 1:+7.1%}")
    if i in (0, len(GRID_LAYER_S) - 1) or j in (0, len(GRID_EXPERT_S) - 1):
        print("  the minimum sits at the grid's edge")


if __name__ == "__main__":
    main()
