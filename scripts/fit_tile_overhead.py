"""Fit the Azure GEMM harness's per-wave tile overhead (data/perf/libraries.yaml,
``tile_overhead_s``) together with its 8-bit ratio (``mma_8bit_ratio``), per chip family.

The rule, fixed before fitting and the same as the ratio's: on the family's first product (H100
for nvidia-hopper, MI300X for amd-cdna3), the harness's rows are cut by shape: the large GEMMs
(every dimension >= 4096) fit the ratio, the others (a dimension below 4096, where a tile's
prologue and epilogue are not amortised over a long K loop or many waves) fit the overhead; of
each group, every other row in id order from the first is a fit row (-003, -005, -008 and
-001, -007), every other row of the harness (and every row of the sibling chips, H200) is held
out and never read here. Blackwell has no entry: its kernels keep the accumulator in tensor
memory and overlap a tile's epilogue with the next tile's main loop (see docs/perf-model.md).

For each overhead on a grid (0 to 6 us, step 0.05 us) the ratio is refitted (grid 0.40-1.50,
step 0.01, mean |log(predicted / measured)| on its rows); the overhead kept is the one of least
mean |log error| on its own rows. Prints the grid's best and both values.

    python scripts/fit_tile_overhead.py
"""

from __future__ import annotations

import math

import numpy as np

from fabless.validate import kernel
from fabless.validate.core import load_rows

#: family -> (rows fitting mma_8bit_ratio, rows fitting tile_overhead_s)
FIT = {
    "nvidia-hopper": (["kernel-h100az-003", "kernel-h100az-005", "kernel-h100az-008"],
                      ["kernel-h100az-001", "kernel-h100az-007"]),
    "amd-cdna3": (["kernel-amd-003", "kernel-amd-005", "kernel-amd-008"],
                  ["kernel-amd-001", "kernel-amd-007"]),
}
OVERHEAD_GRID_S = [round(0.05e-6 * i, 10) for i in range(121)]
RATIO_GRID = [round(0.40 + 0.01 * i, 2) for i in range(111)]


def _err(rows: list[dict], overrides: dict) -> float:
    return float(np.mean([abs(math.log(kernel.predict(r, overrides=overrides) / float(r["value"]))) for r in rows]))


def fit_family(ratio_rows: list[dict], overhead_rows: list[dict]) -> tuple[float, float, float]:
    """(overhead_s, ratio, mean |log error| on the overhead rows) of the grid's best overhead."""
    best = (math.inf, 0.0, 0.0)
    for tau in OVERHEAD_GRID_S:
        ratio = min(RATIO_GRID, key=lambda r: _err(ratio_rows, {"tile_overhead_s": tau, "mma_8bit_ratio": min(r, 1.0)}))
        e = _err(overhead_rows, {"tile_overhead_s": tau, "mma_8bit_ratio": min(ratio, 1.0)})
        if e < best[0]:
            best = (e, tau, ratio)
    return best[1], best[2], best[0]


def main() -> None:
    by_id = {r["id"]: r for r in load_rows()}
    for fam, (ratio_ids, overhead_ids) in FIT.items():
        tau, ratio, err = fit_family([by_id[i] for i in ratio_ids], [by_id[i] for i in overhead_ids])
        print(f"{fam}: tile_overhead_s {tau * 1e6:.2f} us, mma_8bit_ratio {ratio:.2f} "
              f"(mean |log err| on {', '.join(overhead_ids)}: {err:.4f})")


if __name__ == "__main__":
    main()
