"""Fit each aiconfigurator GEMM table's own rate (data/perf/libraries.yaml, the ``aiconfigurator-*``
libraries): ``mma_efficiency`` and, where the table has small-K fit rows, ``tile_overhead_s``.

The rule is the families' (fabless.validate.kernel.calibrate), applied to one table's fit rows
(fabless.validate.kernel.FIT_IDS) at a time: the large BF16 shapes (m, n, k each 4096-16384) set the
efficiency; every other small-K shape (k 128-1024) in id order from the first sets the overhead on a
0-3 us grid, the efficiency refitted at each point; the other small-K shapes are held out and never
read here. Prints each library's values per chip family, to be copied into libraries.yaml (rounded
to three digits; tests/perf/test_libraries.py checks they are what this gives).

    python scripts/fit_gemm_tables.py
"""

from __future__ import annotations

from fabless.perf.libraries import libraries
from fabless.validate import kernel


def main() -> None:
    for name in sorted(n for n in libraries() if n.startswith("aiconfigurator-")):
        for fam, values in kernel.calibrate_library(name).items():
            shown = ", ".join(f"{k} {v * 1e6:.2f} us" if k.endswith("_s") else f"{k} {v:.3f}" for k, v in values.items())
            print(f"{name} {fam}: {shown}")


if __name__ == "__main__":
    main()
