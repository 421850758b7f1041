"""Fit each GPU family's ``gemm_exposed_steps`` (data/perf/families.yaml): the part of one K step of a GEMM
tile's main loop that its pipeline does not overlap (fabless.perf.gemm).

The rule: the families whose fit rows include small GEMMs of NVIDIA's GEMM tables (k 128-1024, every
other shape in id order from the first: fabless.validate.kernel.FIT_IDS), Hopper, Blackwell and Ampere. On a
grid (0 to 4 K steps, step 0.05; a multistage pipeline's prologue can expose more than one) each table's efficiency and tile overhead are refitted at every point by the
families' rule (fabless.validate.kernel.calibrate_library's); the value kept is the one of least mean
|log(predicted / measured)| on those small-K rows. The held-out shapes are never read here. Then refit,
in this order, with the value in place: the families' efficiencies and tile overheads
(fabless.validate.kernel.calibrate), the tables' own (scripts/fit_gemm_tables.py) and the Azure harness's
overhead and 8-bit ratio (scripts/fit_tile_overhead.py).

    python scripts/fit_exposed_steps.py [--grid]    # --grid: print every point
"""

from __future__ import annotations

import sys

from fabless.validate import kernel

FAMILIES = ("nvidia-hopper", "nvidia-blackwell", "nvidia-ampere")


def main() -> None:
    for fam in FAMILIES:
        if "--grid" in sys.argv:
            for q in kernel.EXPOSED_STEPS_GRID:
                print(f"  {fam} {q:.2f}: {kernel.exposed_steps_loss(fam, q):.4f}")
        q, loss = kernel.calibrate_exposed_steps(fam)
        print(f"{fam}: gemm_exposed_steps {q:.2f} (mean |log err| {loss:.4f} on its small-K table fit rows; "
              f"at 0: {kernel.exposed_steps_loss(fam, 0.0):.4f})")


if __name__ == "__main__":
    main()
