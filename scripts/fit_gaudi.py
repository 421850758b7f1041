"""Fit the intel-gaudi2 family's mma_efficiency (Gaudi 2; it inherits the rest from intel-gaudi) (data/perf/families.yaml) on the Gaudi 2 fit rows,
and print the value to enter in the file with the error on the fit and held-out rows at it.

The fit rows are the Gaudi 2 rows of data/measurements/published_gaudi.csv marked ``set: fit`` in
scenarios_gaudi.yaml (every row whose id number is 1 mod 3, fixed before any prediction was
scored; the Gaudi 3 rows of the same rule are of the intel-gaudi family, which this value does not
reach, and are reported with the fit rows). The value is the grid point (0.50-1.00, step 0.01)
that minimises the mean squared log(predicted / measured) over them; the held-out rows (the other
Gaudi rows, and the Gaudi 2 / Gaudi 3 kernel rows) are only reported.

Why squared: the batch-1 decode fit rows are HBM-bound (the MMEs run their GEMMs in the wide
128 x 512 shape, chips/gaudi2.yaml reshape_factor) and hardly depend on the value, which is then
set by the two training fit rows, BF16 (train-gaudi-001, v3.0) and FP8 (train-gaudi-004, v3.1),
that err in opposite directions; the mean square is lowest where the two balance. With the Gaudi
training stacks' TPC work pipelined under the MME matmuls (software.yaml pipelined_vector) that
balance lies below the bound (0.88).

    PYTHONPATH=src python scripts/fit_gaudi.py
"""

from __future__ import annotations

import math
import statistics
import tempfile
from pathlib import Path

import yaml

import fabless.perf.params as perf_params
from fabless.measurements import load_rows
from fabless.validate import train
from fabless.validate.core import evaluate
from fabless.validate.hardware_map import preset_for_hardware
from fabless.validate.train import fit_ids_from_map

FAMILY, PARAM = "intel-gaudi2", "mma_efficiency"
GRID = [round(0.50 + 0.01 * i, 2) for i in range(51)]


def gaudi_rows() -> list[dict]:
    return [r for r in load_rows() if r["_file"] == "published_gaudi.csv"]


def fit_rows() -> list[dict]:
    """The Gaudi 2 fit rows (the Gaudi 3 ones, 1 mod 3 too, are of the intel-gaudi family, which this
    value does not reach)."""
    ids = fit_ids_from_map()
    return [r for r in gaudi_rows() if r["id"] in ids and preset_for_hardware(r["hardware"])[0] == "gaudi2"]


def _use_value(value: float, tmp: Path) -> None:
    """Point the operator models at a copy of families.yaml with the family's value replaced."""
    src = Path(str(perf_params._FAMILIES_PATH))
    doc = yaml.safe_load(src.read_text())
    doc["families"][FAMILY][PARAM]["value"] = value
    path = tmp / f"families-{value:.2f}.yaml"
    path.write_text(yaml.safe_dump(doc))
    perf_params._FAMILIES_PATH = path
    perf_params._FROM_CHIP.clear()
    perf_params._FROM_CHIP_BY_ID.clear()
    train._estimate_cached.cache_clear()


def errors_at(value: float, rows: list[dict], tmp: Path) -> dict[str, float]:
    """Signed relative error of each scored row at ``value``."""
    _use_value(value, tmp)
    return {o.id: o.error for o in evaluate(rows=rows) if o.error is not None}


def fit() -> tuple[float, float]:
    """(best value, its mean squared log(predicted / measured)) over the fit rows; the grid's
    scores are printed with both means, squared and absolute."""
    original = perf_params._FAMILIES_PATH
    rows = fit_rows()
    with tempfile.TemporaryDirectory() as d:
        scores = []
        for v in GRID:
            errs = errors_at(v, rows, Path(d))
            scores.append((statistics.fmean(math.log1p(e) ** 2 for e in errs.values()), v))
            if round(v * 100) % 5 == 0:
                print(f"  grid {v:.2f}: mean log^2 {scores[-1][0]:.5f}, "
                      f"mean |log| {statistics.fmean(abs(math.log1p(e)) for e in errs.values()):.4f}")
        perf_params._FAMILIES_PATH = original
    score, best = min(scores)
    return best, score


def main() -> None:
    best, score = fit()
    ids = sorted(r["id"] for r in fit_rows())
    print(f"{FAMILY}.{PARAM} = {best:.2f}  (mean squared log error {score:.5f} on {', '.join(ids)})")
    others = [r for r in load_rows() if r["_file"] == "published_gaudi.csv"
              or r["id"] in ("kernel-260", "kernel-267")]
    original = perf_params._FAMILIES_PATH
    with tempfile.TemporaryDirectory() as d:
        errs = errors_at(best, others, Path(d))
    perf_params._FAMILIES_PATH = original
    fit_ids = fit_ids_from_map()
    for label, keep in (("fit", True), ("held_out", False)):
        sel = {k: e for k, e in errs.items() if (k in fit_ids) == keep}
        for k, e in sorted(sel.items()):
            print(f"  {label:8s} {k}: error {e:+.1%}")
        print(f"  {label}: n {len(sel)}, median |err| {statistics.median(abs(e) * 100 for e in sel.values()):.1f}%")


if __name__ == "__main__":
    main()
