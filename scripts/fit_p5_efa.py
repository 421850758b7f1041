"""Fit AWS p5.48xlarge's EFA network (systems/p5-48xlarge.yaml ``calibration.collectives.scale_out``): the
achievable fraction of its 400 Gb/s per GPU that NCCL reaches over EFA (``bw_efficiency``) and the software cost of
one network step (``simple_step_overhead_s``, with ``ll_step_overhead_s`` equal to it: over EFA no protocol has
the LL protocols' cheap step, see the preset's note).

The rule, fixed before fitting: of published_aws_p5_comm.csv (nccl-tests all-reduce, all-gather
and all-to-all on 2-32 p5.48xlarge, 32 MiB-8 GiB, one source), every other row in id order from the
first is a fit row (``fabless.validate.comm.FIT_IDS_SYSTEMS``); the others are held out and only
scored here, after the fit. Every other collective parameter stays as data/perf/collectives.yaml
sets it. Each row is predicted as ``fabless validate`` predicts it (:func:`fabless.validate.comm.predict`
on the preset); the values kept are those of least mean |log(predicted / measured)| on a grid
(efficiency 0.50-1.00, step 0.01; step cost 0-150 us, step 5 us). Prints the grid's best and the
held-out rows' median |error| before (the shipped InfiniBand values) and after, per collective.

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
EFFICIENCIES = [round(0.50 + 0.01 * i, 2) for i in range(51)]
STEPS_S = [round(5e-6 * i, 10) for i in range(31)]
GRID = [(e, t) for e in EFFICIENCIES for t in STEPS_S]


def _with_network(point: tuple[float, float] | None):
    """A resolver giving the preset with its scale-out (efficiency, step cost) at ``point`` (None: no
    calibration of its own, the shipped InfiniBand values)."""
    base = load_system(PRESET)
    cal = None if point is None else SystemCalibration(collectives=CollectiveCalibration(scale_out=FabricCalibration(
        bw_efficiency=point[0], simple_step_overhead_s=point[1], ll_step_overhead_s=point[1])))
    system = base.model_copy(update={"calibration": cal})
    return lambda name: system if name == PRESET else load_system(name)


def _log_errors(rows: list[dict], point: tuple[float, float] | None) -> np.ndarray:
    resolver = _with_network(point)
    return np.array([math.log(comm.predict(r, resolver=resolver) / float(r["value"])) for r in rows])


def fit_rows() -> list[dict]:
    return [r for r in comm.comm_rows() if r["_file"] == FILE and r["id"] in comm.FIT_IDS_SYSTEMS]


def loss(point: tuple[float, float] | None, rows: list[dict] | None = None) -> float:
    """Mean |log(predicted / measured)| of the fit rows at (efficiency, step cost in s); None: the shipped values."""
    return float(np.mean(np.abs(_log_errors(rows if rows is not None else fit_rows(), point))))


def neighbours(point: tuple[float, float]) -> list[tuple[float, float]]:
    """The grid points one step away along either axis."""
    i, j = EFFICIENCIES.index(point[0]), STEPS_S.index(point[1])
    return [(EFFICIENCIES[a], STEPS_S[b]) for a, b in ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1))
            if 0 <= a < len(EFFICIENCIES) and 0 <= b < len(STEPS_S)]


def fit() -> tuple[tuple[float, float], dict[tuple[float, float], float]]:
    """The grid's best (efficiency, step cost in s) on the fit rows, and the mean |log error| at every point."""
    rows = fit_rows()
    loss_at = {p: loss(p, rows) for p in GRID}
    return min(GRID, key=loss_at.get), loss_at


def main() -> None:
    rows = [r for r in comm.comm_rows() if r["_file"] == FILE]
    fitted = [r for r in rows if r["id"] in comm.FIT_IDS_SYSTEMS]
    held = [r for r in rows if r["id"] not in comm.FIT_IDS_SYSTEMS]
    best, loss_at = fit()
    near = ", ".join(f"{loss_at[p]:.4f} at {p[0]:.2f} / {p[1] * 1e6:.0f} us" for p in neighbours(best))
    print(f"{PRESET}: scale_out bw_efficiency {best[0]:.2f}, step cost {best[1] * 1e6:.0f} us (mean |log err| of the "
          f"{len(fitted)} fit rows {loss_at[best]:.4f}; {near}; the shipped InfiniBand values {loss(None, fitted):.4f})")
    for label, point in (("the shipped InfiniBand values", None), (f"{best[0]:.2f} / {best[1] * 1e6:.0f} us", best)):
        err = np.expm1(_log_errors(held, point))
        kinds = {k: [abs(e) for r, e in zip(held, err) if k in r["model_or_kernel"]]
                 for k in ("all_reduce", "all_gather", "all_to_all")}
        parts = ", ".join(f"{k} {np.median(v) * 100:.1f}%" for k, v in kinds.items())
        print(f"  held-out ({len(held)} rows) median |error| at {label}: {np.median(np.abs(err)) * 100:.1f}% ({parts})")


if __name__ == "__main__":
    main()
