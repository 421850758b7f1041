"""Fit AWS p5.48xlarge's EFA network: the achievable fraction of its 400 Gb/s per GPU that NCCL
reaches over EFA (systems/p5-48xlarge.yaml ``calibration.collectives.scale_out.bw_efficiency``).

The rule, fixed before fitting: of published_aws_p5_comm.csv (nccl-tests all-reduce, all-gather
and all-to-all on 2-32 p5.48xlarge, 32 MiB-8 GiB, one source), every other row in id order from the
first is a fit row (``fabless.validate.comm.FIT_IDS_SYSTEMS``); the others are held out and only
scored here, after the fit. Every other collective parameter stays as data/perf/collectives.yaml
sets it. Each row is predicted as ``fabless validate`` predicts it (:func:`fabless.validate.comm.predict`
on the preset); the value kept is the one of least mean |log(predicted / measured)| on a grid
0.30-1.00, step 0.01. Prints the grid's best and the held-out rows' median |error| before (the
shipped InfiniBand value) and after, per collective.

    python scripts/fit_p5_efa.py
"""

from __future__ import annotations

import math

import numpy as np

from fabless.hardware.presets import load_system
from fabless.hardware.schema import CollectiveCalibration, FabricCalibration, SystemCalibration
from fabless.validate import comm

FILE = "published_aws_p5_comm.csv"
PRESET = "p5-48xlarge"
GRID = [round(0.30 + 0.01 * i, 2) for i in range(71)]


def _with_efficiency(eff: float | None):
    """A resolver giving the preset with its scale-out efficiency at ``eff`` (None: no calibration of its own)."""
    base = load_system(PRESET)
    cal = None if eff is None else SystemCalibration(
        collectives=CollectiveCalibration(scale_out=FabricCalibration(bw_efficiency=eff)))
    system = base.model_copy(update={"calibration": cal})
    return lambda name: system if name == PRESET else load_system(name)


def _log_errors(rows: list[dict], eff: float | None) -> np.ndarray:
    resolver = _with_efficiency(eff)
    return np.array([math.log(comm.predict(r, resolver=resolver) / float(r["value"])) for r in rows])


def fit() -> tuple[float, dict[float, float]]:
    """The grid's best efficiency on the fit rows, and the mean |log error| at every grid point."""
    rows = [r for r in comm.comm_rows() if r["_file"] == FILE and r["id"] in comm.FIT_IDS_SYSTEMS]
    loss_at = {e: float(np.mean(np.abs(_log_errors(rows, e)))) for e in GRID}
    return min(GRID, key=loss_at.get), loss_at


def main() -> None:
    rows = [r for r in comm.comm_rows() if r["_file"] == FILE]
    fit_rows = [r for r in rows if r["id"] in comm.FIT_IDS_SYSTEMS]
    held = [r for r in rows if r["id"] not in comm.FIT_IDS_SYSTEMS]
    best, loss_at = fit()
    near = ", ".join(f"{loss_at[e]:.4f} at {e:.2f}" for e in GRID if e != best and abs(e - best) < 0.015)
    print(f"{PRESET}: scale_out bw_efficiency {best:.2f} (mean |log err| of the {len(fit_rows)} fit rows "
          f"{loss_at[best]:.4f}; {near})")
    for label, eff in (("shipped InfiniBand value", None), (f"{best:.2f}", best)):
        err = np.expm1(_log_errors(held, eff))
        kinds = {k: [abs(e) for r, e in zip(held, err) if k in r["model_or_kernel"]]
                 for k in ("all_reduce", "all_gather", "all_to_all")}
        parts = ", ".join(f"{k} {np.median(v) * 100:.1f}%" for k, v in kinds.items())
        print(f"  held-out ({len(held)} rows) median |error| at {label}: {np.median(np.abs(err)) * 100:.1f}% ({parts})")


if __name__ == "__main__":
    main()
