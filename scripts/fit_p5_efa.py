"""Fit AWS p5.48xlarge's EFA network (systems/p5-48xlarge.yaml ``calibration.collectives.scale_out``): the
achievable fraction of its 400 Gb/s per GPU that NCCL's rings reach over EFA (``bw_efficiency``), the software cost
of one network step (``simple_step_overhead_s``, with ``ll_step_overhead_s`` equal to it: over EFA no protocol has
the LL protocols' cheap step, see the preset's note), and what a direct all-to-all (NCCL's grouped sends and
receives, one pair per peer) reaches instead: its own fraction (``a2a_bw_efficiency``) and the proxy's cost per
remote peer message (``peer_overhead_s``).

The rule, fixed before fitting: of published_aws_p5_comm.csv (nccl-tests all-reduce, all-gather
and all-to-all on 2-32 p5.48xlarge, 32 MiB-8 GiB, one source), every other row in id order from the
first is a fit row (``fabless.validate.comm.FIT_IDS_SYSTEMS``); the others are held out and only
scored here, after the fit. Every other collective parameter stays as data/perf/collectives.yaml
sets it. Each row is predicted as ``fabless validate`` predicts it (:func:`fabless.validate.comm.predict`
on the preset); the values kept are those of least mean |log(predicted / measured)| over all the fit rows
on a grid (each efficiency 0.50-1.00, step 0.01; step cost 0-150 us, step 5 us; cost per peer 0-10 us,
step 0.5 us). The all-reduce and all-gather rows depend on the rings' efficiency and the step cost only,
the all-to-all rows on the step cost and the all-to-all pair only, so the grid's minimum is found exactly
one step cost at a time. Prints the grid's best and the held-out rows' median |error| before (the shipped
InfiniBand values) and after, per collective.

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
PEERS_S = [round(0.5e-6 * i, 10) for i in range(21)]
#: (rings' efficiency, step cost s, all-to-all efficiency, cost per peer s)
Point = tuple[float, float, float, float]
_AXES = (EFFICIENCIES, STEPS_S, EFFICIENCIES, PEERS_S)


def _with_network(point: Point | None):
    """A resolver giving the preset with its scale-out values at ``point`` (None: no calibration of its own,
    the shipped InfiniBand values)."""
    base = load_system(PRESET)
    cal = None if point is None else SystemCalibration(collectives=CollectiveCalibration(scale_out=FabricCalibration(
        bw_efficiency=point[0], simple_step_overhead_s=point[1], ll_step_overhead_s=point[1],
        a2a_bw_efficiency=point[2], peer_overhead_s=point[3])))
    system = base.model_copy(update={"calibration": cal})
    return lambda name: system if name == PRESET else load_system(name)


def _log_errors(rows: list[dict], point: Point | None) -> np.ndarray:
    resolver = _with_network(point)
    return np.array([math.log(comm.predict(r, resolver=resolver) / float(r["value"])) for r in rows])


def _is_a2a(row: dict) -> bool:
    return "all_to_all" in row["model_or_kernel"]


def fit_rows() -> list[dict]:
    return [r for r in comm.comm_rows() if r["_file"] == FILE and r["id"] in comm.FIT_IDS_SYSTEMS]


def loss(point: Point | None, rows: list[dict] | None = None) -> float:
    """Mean |log(predicted / measured)| of the fit rows at ``point``; None: the shipped values."""
    return float(np.mean(np.abs(_log_errors(rows if rows is not None else fit_rows(), point))))


def neighbours(point: Point) -> list[Point]:
    """The grid points one step away along any axis."""
    idx = [axis.index(v) for axis, v in zip(_AXES, point)]
    out = []
    for d in range(4):
        for step in (-1, 1):
            j = idx[d] + step
            if 0 <= j < len(_AXES[d]):
                q = list(point)
                q[d] = _AXES[d][j]
                out.append(tuple(q))
    return out


def fit() -> tuple[Point, float]:
    """The grid's best point on the fit rows and its mean |log error|."""
    rows = fit_rows()
    rings, a2a = [r for r in rows if not _is_a2a(r)], [r for r in rows if _is_a2a(r)]

    def total(rs: list[dict], point: Point) -> float:
        return float(np.sum(np.abs(_log_errors(rs, point))))

    best: tuple[float, Point] | None = None
    for step in STEPS_S:
        # the rings ignore the all-to-all pair and the all-to-alls the rings' efficiency
        r_loss, eff = min((total(rings, (e, step, 1.0, 0.0)), e) for e in EFFICIENCIES)
        a_loss, a_eff, peer = min((total(a2a, (eff, step, e, c)), e, c) for e in EFFICIENCIES for c in PEERS_S)
        cand = ((r_loss + a_loss) / len(rows), (eff, step, a_eff, peer))
        if best is None or cand[0] < best[0]:
            best = cand
    assert best is not None
    return best[1], best[0]


def main() -> None:
    rows = [r for r in comm.comm_rows() if r["_file"] == FILE]
    fitted = [r for r in rows if r["id"] in comm.FIT_IDS_SYSTEMS]
    held = [r for r in rows if r["id"] not in comm.FIT_IDS_SYSTEMS]
    best, at = fit()
    near = min(loss(q, fitted) for q in neighbours(best))
    print(f"{PRESET}: scale_out bw_efficiency {best[0]:.2f}, step cost {best[1] * 1e6:.0f} us, all-to-all efficiency "
          f"{best[2]:.2f}, cost per peer {best[3] * 1e6:.1f} us (mean |log err| of the {len(fitted)} fit rows {at:.4f}; "
          f"best neighbour {near:.4f}; the shipped InfiniBand values {loss(None, fitted):.4f})")
    label = f"{best[0]:.2f} / {best[1] * 1e6:.0f} us / {best[2]:.2f} / {best[3] * 1e6:.1f} us"
    for name, point in (("the shipped InfiniBand values", None), (label, best)):
        err = np.expm1(_log_errors(held, point))
        kinds = {k: [abs(e) for r, e in zip(held, err) if k in r["model_or_kernel"]]
                 for k in ("all_reduce", "all_gather", "all_to_all")}
        parts = ", ".join(f"{k} {np.median(v) * 100:.1f}%" for k, v in kinds.items())
        print(f"  held-out ({len(held)} rows) median |error| at {name}: {np.median(np.abs(err)) * 100:.1f}% ({parts})")


if __name__ == "__main__":
    main()
