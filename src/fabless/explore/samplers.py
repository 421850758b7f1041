"""Where the designs of a space come from: grid, random and Sobol samplers.

Every design has an integer id, and the sampler maps an id to the same parameter values
whenever it is asked (given the space and its seed). That is what lets a search be
stopped and resumed in batches: a batch is a range of ids, and a resumed search
evaluates only the ranges the store lacks.

- grid: id -> the id-th point of the cartesian product (last parameter fastest).
- random: uniform numbers from a counter-based stream, one block of 1024 ids per seed
  ``(seed, block)``: the same id gets the same point whatever the batch size.
- sobol: scipy's scrambled Sobol sequence (``scipy.stats.qmc.Sobol``), fast-forwarded to
  the first id of the batch.

The multi-objective optimiser (NSGA-II) lives in :mod:`fabless.explore.optimise`.
"""

from __future__ import annotations

import warnings

import numpy as np

from fabless.errors import FablessError, require

from .space import Space, grid_size

_BLOCK = 1024


def _decode(space: Space, u: np.ndarray) -> dict[str, np.ndarray]:
    """Uniform numbers (n x d) to parameter values, in the space's parameter order."""
    out: dict[str, np.ndarray] = {}
    for j, (name, p) in enumerate(space.params.items()):
        x = p.from_unit(u[:, j])
        out[name] = np.asarray(p.values, dtype=object if p.kind == "choice" else float)[x] if p.is_choice else x
    return out


def values_of(space: Space, ids: np.ndarray, sampler: str | None = None) -> dict[str, np.ndarray]:
    """Parameter values of designs ``ids`` (choice parameters as arrays of names)."""
    ids = np.asarray(ids, dtype=np.int64)
    sampler = sampler or space.search.sampler
    seed = space.search.seed
    d = len(space.params)
    if sampler == "grid":
        grids = [p.grid() for p in space.params.values()]
        shape = tuple(len(g) for g in grids)
        if ids.size and ids.max() >= grid_size(space):
            raise FablessError(f"design id {int(ids.max())} is outside the grid of {grid_size(space)} points")
        idx = np.unravel_index(ids, shape)
        out = {}
        for (name, p), g, i in zip(space.params.items(), grids, idx):
            arr = np.asarray(g, dtype=object if p.kind == "choice" else float)
            out[name] = arr[i]
        return out
    if sampler == "random":
        u = np.empty((ids.size, d))
        blocks = ids // _BLOCK
        for b in np.unique(blocks):
            rows = np.random.default_rng([seed, int(b)]).random((_BLOCK, d))
            sel = blocks == b
            u[sel] = rows[ids[sel] % _BLOCK]
        return _decode(space, u)
    if sampler == "sobol":
        qmc = require("scipy.stats.qmc", "explore", "the sobol sampler")

        if ids.size == 0:
            return _decode(space, np.empty((0, d)))
        lo, hi = int(ids.min()), int(ids.max()) + 1
        eng = qmc.Sobol(d, scramble=True, seed=seed)
        if lo:
            eng.fast_forward(lo)
        with warnings.catch_warnings():  # any n is fine here: ids, not a balanced design, are what resume needs
            warnings.simplefilter("ignore")
            u = eng.random(hi - lo)
        return _decode(space, u[ids - lo])
    raise FablessError(f"sampler '{sampler}' does not map ids to designs; known: grid, random, sobol")


def total_designs(space: Space) -> int:
    """How many designs the search evaluates: the grid's size, or ``search.samples``."""
    if space.search.sampler == "grid":
        return grid_size(space)
    return space.search.samples


__all__ = ["values_of", "total_designs"]
