"""The fitting routine the calibrations share: coordinate descent on a loss over named
parameters, each kept within its bounds.

Used by :func:`fabless.validate.comm.calibrate` (the shipped collective parameters) and by
``fabless calibrate`` (a user's own measurements, :mod:`fabless.validate.measured.fit`), so
that a user's fit and the project's are the same procedure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping


def coordinate_descent(loss: Callable[[dict[str, float]], float], start: Mapping[str, float],
                       bounds: Mapping[str, tuple[float, float]], *, sweeps: int = 12, step: float = 0.5,
                       min_step: float = 0.01) -> tuple[dict[str, float], float]:
    """Minimise ``loss(values)`` over the parameters named in ``bounds`` (others keep their
    ``start`` value). Each sweep tries, for each parameter in turn, multiplying it by
    ``1 + step``, ``1 / (1 + step)``, ``1 + step/4`` and ``1 / (1 + step/4)`` (clipped to its
    bounds; a zero value jumps to 1% of its range) and keeps any strict improvement; a sweep
    without one halves ``step``, and the search ends when ``step`` falls below ``min_step`` or
    after ``sweeps`` sweeps. Returns the values and their loss."""
    x = dict(start)
    best = loss(x)
    for _ in range(sweeps):
        improved = False
        for name, (lo, hi) in bounds.items():
            cur = x[name]
            for factor in (1 + step, 1 / (1 + step), 1 + step / 4, 1 / (1 + step / 4)):
                trial_v = min(max(cur * factor if cur > 0 else lo + (hi - lo) * 0.01, lo), hi)
                trial = {**x, name: trial_v}
                val = loss(trial)
                if val < best - 1e-12:
                    x, best, improved, cur = trial, val, True, trial_v
        if not improved:
            step /= 2
            if step < min_step:
                break
    return x, best
