"""The Azure harness's H100 / H200 FP8 GEMM rows (published_hopper_fp8.csv): sourced, three H100
rows in the fit set of the harness's library (data/perf/libraries.yaml), the rest held out, and
below the FP8 dense peak (1,979 TFLOP/s for both, the H100 SXM datasheet figure)."""

from __future__ import annotations

import re

from fabless.validate import kernel
from fabless.validate.core import load_rows

ROWS = [r for r in load_rows() if r["_file"] == "published_hopper_fp8.csv"]


def test_rows_are_sourced_and_split_by_the_rule():
    from fabless.perf.libraries import library

    assert len(ROWS) == 18
    for r in ROWS:
        assert re.search(r"commit [0-9a-f]{40}", r["source"]) and "github.com/" in r["source"], r["id"]
    fit = {r["id"] for r in ROWS if r["id"] in kernel.FIT_IDS}
    # the rule: of the large GEMMs (ids 003-006, 008), and of the others (001, 002, 007, 009), every
    # other one in id order from the first, H100 only (scripts/fit_tile_overhead.py)
    assert fit == {"kernel-h100az-003", "kernel-h100az-005", "kernel-h100az-008", "kernel-h100az-001", "kernel-h100az-007"}
    assert fit <= set(library("azure-benchmarking-guide").rows)


def test_values_below_the_fp8_peak_and_every_row_predicted():
    for r in ROWS:
        assert 0 < float(r["value"]) < 1979.0, r["id"]
        assert kernel.predict(r) > 0


def test_shipped_tile_overheads_are_the_fit_scripts_minimum():
    """libraries.yaml holds what scripts/fit_tile_overhead.py fits: at the shipped overhead (with the
    ratio refitted there) the overhead's fit rows have no higher error than one grid step (0.05 us)
    either side. Checks the neighbourhood, not the whole 121-step grid, to stay quick."""
    import importlib.util
    from pathlib import Path

    from fabless.perf.libraries import library

    spec = importlib.util.spec_from_file_location("fit_tile_overhead", Path(__file__).resolve().parents[2] / "scripts" / "fit_tile_overhead.py")
    fit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fit)
    lib = library("azure-benchmarking-guide")
    by_id = {r["id"]: r for r in load_rows()}
    for fam, (ratio_ids, tau_ids) in fit.FIT.items():
        tau = lib.values_for(fam)["tile_overhead_s"]
        assert set(tau_ids) <= kernel.FIT_IDS and set(ratio_ids) <= kernel.FIT_IDS
        ratio_rows, tau_rows = [by_id[i] for i in ratio_ids], [by_id[i] for i in tau_ids]

        def loss(t: float) -> float:
            ratio = min(fit.RATIO_GRID, key=lambda r: fit._err(ratio_rows, {"tile_overhead_s": t, "mma_8bit_ratio": min(r, 1.0)}))
            return fit._err(tau_rows, {"tile_overhead_s": t, "mma_8bit_ratio": min(ratio, 1.0)})

        at = loss(tau)
        assert at <= loss(tau - 0.05e-6) and at <= loss(tau + 0.05e-6), fam
