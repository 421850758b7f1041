"""Pareto fronts of feasible designs.

``pareto_mask(F)``: the non-dominated rows of ``F`` (every column to be minimised; flip
the sign of a column to maximise). A row is dominated when another is no worse in every
column and better in one. Rows are visited in lexicographic order, so a row can only be
dominated by one already kept: the loop compares each row with the front so far, one
numpy call per row (``n x |front|``).
"""

from __future__ import annotations

import numpy as np


def pareto_mask(F: np.ndarray) -> np.ndarray:
    F = np.asarray(F, dtype=float)
    n = F.shape[0]
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    order = np.lexsort(F.T[::-1])
    front = np.empty((0, F.shape[1]))
    for i in order:
        f = F[i]
        if not np.all(np.isfinite(f)):
            continue
        if front.shape[0]:
            dominated = np.any(np.all(front <= f, axis=1) & np.any(front < f, axis=1))
            if dominated or np.any(np.all(front == f, axis=1)):
                continue  # equal points: the first (lowest id in lexsort ties) is kept
        mask[i] = True
        front = np.vstack([front, f])
    return mask


def front(df, objectives: list[tuple[str, str]]):
    """The feasible non-dominated designs of ``df``, best first by the first objective."""
    if df.empty:
        return df
    feas = df[df["feasible"]]
    if feas.empty:
        return feas
    F = np.column_stack([feas[m].to_numpy(float) * (-1.0 if s == "max" else 1.0) for m, s in objectives])
    out = feas[pareto_mask(F)]
    m0, s0 = objectives[0]
    return out.sort_values([m0, "id"], ascending=[s0 == "min", True]).reset_index(drop=True)


__all__ = ["pareto_mask", "front"]
