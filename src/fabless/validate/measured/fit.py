"""Fit a chip's (or a system's) model parameters to a user's own measurements.

The same procedure as the project's own fits (:func:`fabless.validate.fit.coordinate_descent`
on the sum of |log(predicted / measured)|, as :func:`fabless.validate.comm.calibrate`), on
the user's rows instead of the shipped ones:

* GEMM rows (:class:`~fabless.validate.measured.KernelRow`) are predicted by
  :func:`fabless.perf.gemm.gemm_time` and fit the chip's ``mma_efficiency``,
  ``hbm_efficiency``, ``launch_overhead_s``, ``mma_8bit_ratio`` and ``gemm_exposed_steps`` (see
  :data:`KERNEL_PARAMS`).
* Collective rows (:class:`~fabless.validate.measured.CommRow`) are predicted by
  :func:`fabless.perf.collectives.collective_time` on the system and fit the collective
  parameters of :data:`COMM_PARAMS`.
* Whole-model rows (:class:`~fabless.validate.measured.ScenarioRow`: a training step, a
  serving TTFT or TPOT) are predicted by :func:`fabless.estimate.engine.estimate` on the
  user's scenario and fit the chip's ``framework_kernel_efficiency``.

Only the parameters the rows can tell apart are fitted (:func:`identifiable`): a sweep of
large GEMMs says nothing about the launch overhead, an all-reduce on one node nothing about
the network; the others keep their starting value (the chip's family, or the file's own).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from fabless.errors import FablessError, require
from fabless.estimate.engine import estimate
from fabless.estimate.optime import engine_params
from fabless.estimate.software import resolve_software, with_chip_calibration
from fabless.estimate.scenario import Scenario
from fabless.hardware.schema import Chip, ChipCalibration, System
from fabless.perf.collectives import (CollectiveParams, collective_time, params_for, scale_up_params,
                                      with_system_values)
from fabless.perf.gemm import gemm_time
from fabless.perf.params import ChipParams
from fabless.validate.comm import BOUNDS_ELSEWHERE, CALIBRATED
from fabless.validate.fit import coordinate_descent
from fabless.validate.measured import CommRow, KernelRow, ScenarioRow

#: Chip parameters a GEMM sweep can fit, in order of preference, with bounds.
KERNEL_PARAMS: dict[str, tuple[float, float]] = {
    "mma_efficiency": (0.05, 1.0),
    "hbm_efficiency": (0.05, 1.0),
    "launch_overhead_s": (0.0, 1e-3),
    "mma_8bit_ratio": (0.05, 1.0),
    # short-K GEMMs (a few K steps of 64) tell it apart; the bounds are those of scripts/fit_exposed_steps.py's grid
    "gemm_exposed_steps": (0.0, 4.0),
}

#: Collective parameters a collective sweep can fit, in order of preference, with the bounds of
#: :data:`fabless.validate.comm.CALIBRATED` (or BOUNDS_ELSEWHERE). They are the system's own: a scale-up value also
#: replaces the one its link generation (NVLink 3, NVLink 5, ICI) would set
#: (:func:`fabless.perf.collectives.with_system_values`).
COMM_PARAMS: dict[str, tuple[float, float]] = {
    "launch_latency_s": CALIBRATED["launch_latency_s"],
    "scale_up__bw_efficiency": CALIBRATED["scale_up__bw_efficiency"],
    "nvls__bw_efficiency": CALIBRATED["nvls__bw_efficiency"],
    "scale_up__simple_step_overhead_s": CALIBRATED["scale_up__simple_step_overhead_s"],
    "scale_up__ll_step_overhead_s": CALIBRATED["scale_up__ll_step_overhead_s"],
    "scale_up__ll128_step_overhead_s": CALIBRATED["scale_up__ll128_step_overhead_s"],
    "nvls__latency_s": CALIBRATED["nvls__latency_s"],
    "scale_out__bw_efficiency": CALIBRATED["scale_out__bw_efficiency"],
    "scale_out__simple_step_overhead_s": BOUNDS_ELSEWHERE["scale_out__simple_step_overhead_s"],
    "scale_out__ll_step_overhead_s": CALIBRATED["scale_out__ll_step_overhead_s"],
    # the tree's chunk across domains (the pipeline's fill): up to 64 MiB per chip, 8x NCCL's 8 MiB buffer
    "scale_out__tree_chunk_bytes": (0.0, 64 * 2**20),
    # a direct all-to-all's own fraction of each fabric (collectives.yaml: the rings' where it sets none; NVLink 5 and
    # p5.48xlarge's EFA set their own): only all-to-all rows move them; the bounds of the rings' fractions
    "scale_up__a2a_bw_efficiency": CALIBRATED["scale_up__bw_efficiency"],
    "scale_out__a2a_bw_efficiency": CALIBRATED["scale_out__bw_efficiency"],
    # and its proxy's cost per peer message on top of one step (p5.48xlarge's EFA sets 7.5 us; 0 elsewhere): small
    # all-to-alls over many peers move it; the bounds of the step costs
    "scale_up__peer_overhead_s": CALIBRATED["scale_up__simple_step_overhead_s"],
    "scale_out__peer_overhead_s": BOUNDS_ELSEWHERE["scale_out__simple_step_overhead_s"],
}

#: The engine parameter a training or serving log fits (the lower bound is far below any
#: value a framework reaches on a supported chip; above 1 the framework would beat the kernels).
FRAMEWORK_PARAMS: dict[str, tuple[float, float]] = {"framework_kernel_efficiency": (0.1, 1.0)}

#: A parameter is fitted when a 1% change moves the rows' log predictions by at least this
#: much (root mean square over rows, per unit log change) ...
MIN_SENSITIVITY = 0.02
#: ... and its effect is not (nearly) a combination of those already chosen: the smallest
#: singular value of the chosen columns, each scaled to unit length, stays above this.
MIN_INDEPENDENCE = 0.1

Predict = Callable[[dict[str, float]], np.ndarray]


@dataclass
class Fitted:
    """One fit: the parameters before and after, which were fitted, and per-row times."""

    target: str  # "chip" or "system"
    before: dict[str, float]
    after: dict[str, float]
    fitted: tuple[str, ...]
    rows: list = field(default_factory=list)  # KernelRow | CommRow
    measured_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    before_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    after_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)  # where a start value came from, where not the chip's family
    trade_off: tuple[str, ...] = ()  # fitted parameters of which the rows pin only a combination (:func:`trade_off`)

    def at_bound(self, name: str) -> float | None:
        """The bound a fitted parameter ended on (the rows want it further), else None."""
        if name not in self.fitted or name not in self.bounds:
            return None
        v = self.after[name]
        return next((b for b in self.bounds[name] if math.isclose(v, b, rel_tol=1e-6, abs_tol=1e-15)), None)


def _loss(predict: Predict, measured: np.ndarray) -> Callable[[dict[str, float]], float]:
    def loss(values: dict[str, float]) -> float:
        pred = predict(values)
        bad = ~(pred > 0) | ~np.isfinite(pred)
        err = np.abs(np.log(np.where(bad, 1.0, pred) / measured))
        return float(np.sum(err[~bad]) + 10.0 * np.count_nonzero(bad))
    return loss


#: Besides the start, :func:`identifiable` probes each parameter's effect where one candidate
#: is moved by this factor down and up (clipped to its bounds): a parameter that is hidden at
#: the start (an LL step cost while the start has LL128 faster at every size, an NVLS latency
#: while NVLS never wins) can still be pinned down by rows where it decides the time.
PROBE_FACTOR = 4.0


def _nonzero(value: float, bound: tuple[float, float]) -> float:
    """``value``, or 1% of its range above the lower bound where it is 0: the point a zero value's
    effect is measured from and the scale of its step, as coordinate descent moves it."""
    lo, hi = bound
    return value if value > 0 else lo + (hi - lo) * 0.01


def _probe_points(start: dict[str, float], candidates: Sequence[str],
                  bounds: dict[str, tuple[float, float]]) -> list[dict[str, float]]:
    """The start, then the start with one candidate at a time divided and multiplied by
    :data:`PROBE_FACTOR` (within its bounds; a zero start value moves to 1% of its range)."""
    points = [dict(start)]
    for name in candidates:
        lo, hi = bounds[name]
        v = _nonzero(start[name], bounds[name])
        for moved in (max(v / PROBE_FACTOR, lo), min(v * PROBE_FACTOR, hi)):
            if moved > 0 and not math.isclose(moved, v, rel_tol=1e-9):
                points.append({**start, name: moved})
    return points


def _log_column(predict: Predict, point: dict[str, float], base: np.ndarray, name: str, scale: float,
                bounds: dict[str, tuple[float, float]]) -> np.ndarray:
    """The change of log(prediction) at ``point`` when ``name`` moves by 1% of ``scale`` (its
    start value), per 1% (a step down at the upper bound). One absolute step at every probe point
    keeps an exact trade-off between parameters (a launch cost against per-step costs) a linear
    dependence of the stacked columns."""
    lo, hi = bounds[name]
    v = point[name]
    h = 0.01 * scale if v + 0.01 * scale <= hi else -0.01 * scale
    ref = base
    if v <= 0:  # a zero start: measure the step from 1% of the range, as coordinate descent moves it
        v = _nonzero(v, bounds[name])
        ref = np.log(predict({**point, name: v}))
    return (np.log(predict({**point, name: max(v + h, lo)})) - ref) / (0.01 if h > 0 else -0.01)


def identifiable(predict: Predict, start: dict[str, float], candidates: Sequence[str],
                 bounds: dict[str, tuple[float, float]]) -> list[str]:
    """The candidates (in order) the rows can pin down near the start.

    Each candidate's effect (the change of the rows' log predictions per unit log change) is
    measured at the start and at the probe points of :func:`_probe_points`, and the effects are
    laid end to end: a candidate is chosen when its effect at some probe point reaches
    :data:`MIN_SENSITIVITY` (root mean square over the rows) and its effect over all probe
    points is not (nearly) a combination of those chosen before it (:data:`MIN_INDEPENDENCE`).
    Probing away from the start matters where the model picks the fastest of several
    algorithms: at the start one may win everywhere and hide the others' parameters. The
    probes look beyond the regime the rows are in, so a trade-off that holds only there (one
    group size: a launch cost against per-step costs) is not caught; the fit then matches the
    rows with one of several equivalent sets of values."""
    points = _probe_points(start, candidates, bounds)
    bases = [np.log(predict(p)) for p in points]
    scale = {n: _nonzero(start[n], bounds[n]) for n in candidates}
    cols: list[np.ndarray] = []
    chosen: list[str] = []
    for name in candidates:
        blocks = [_log_column(predict, p, b, name, scale[name], bounds) for p, b in zip(points, bases)]
        col = np.concatenate(blocks)
        if not np.all(np.isfinite(col)) or max(math.sqrt(float(np.mean(b**2))) for b in blocks) < MIN_SENSITIVITY:
            continue
        mat = np.stack([c / np.linalg.norm(c) for c in (*cols, col)], axis=1)
        if np.linalg.svd(mat, compute_uv=False).min() < MIN_INDEPENDENCE:
            continue
        cols.append(col)
        chosen.append(name)
    return chosen


def _fit(predict: Predict, measured: np.ndarray, start: dict[str, float],
         bounds: dict[str, tuple[float, float]]) -> tuple[dict[str, float], tuple[str, ...], tuple[str, ...]]:
    """(fitted values, the parameters fitted, those of them the rows pin only in combination)."""
    names = identifiable(predict, start, list(bounds), bounds)
    if not names:
        return dict(start), (), ()
    loss = _loss(predict, measured)
    values, best = coordinate_descent(loss, start, {n: bounds[n] for n in names}, sweeps=400, min_step=1e-4)
    # polish from the coordinate-descent result, then from the probe points: where the model takes
    # the fastest of several protocols, a protocol that never wins leaves its parameter flat, and
    # a search that starts there can stall with two protocols' costs swapped; keep the lowest
    for point in [values] + _probe_points(start, names, bounds):
        if best < 1e-3 * len(measured):
            break
        polished = _polish(predict, measured, point, names, bounds)
        polished_loss = loss(polished)
        if polished_loss < best:
            values, best = polished, polished_loss
    values, names = _keep_pinned(predict, loss, start, values, names, bounds, len(measured))
    return values, tuple(names), trade_off(predict, values, names, bounds)


#: How much a fitted parameter put back at its start may raise the fit's loss (the sum of |log error|), per row, and
#: still count as unpinned (:func:`_keep_pinned`): 1e-4, a hundredth of a percent per row.
UNPINNED_LOSS_PER_ROW = 1e-4


def _keep_pinned(predict: Predict, loss: Callable[[dict[str, float]], float], start: dict[str, float],
                 values: dict[str, float], names: Sequence[str], bounds: dict[str, tuple[float, float]],
                 n_rows: int) -> tuple[dict[str, float], list[str]]:
    """The fitted values with every parameter the rows do not pin at them put back at its start, and the names
    still fitted. :func:`identifiable` chooses a parameter by its effect at the start and at probe points away from
    it; at the fitted values its effect can vanish (a scale-up share hidden behind the network's in every row), and
    the search may then have moved it along a flat direction. Such a parameter, whose 1% change moves the rows'
    log predictions by less than MIN_SENSITIVITY (root mean square) and whose start value fits as well (the loss
    over the ``n_rows`` rows rises by at most UNPINNED_LOSS_PER_ROW per row), keeps its start value and is not
    reported as fitted."""
    kept = list(names)
    base, at = np.log(predict(values)), loss(values)
    for name in reversed(list(names)):
        if math.isclose(values[name], start[name], rel_tol=1e-12):
            continue
        col = _log_column(predict, values, base, name, _nonzero(values[name], bounds[name]), bounds)
        if np.all(np.isfinite(col)) and math.sqrt(float(np.mean(col**2))) >= MIN_SENSITIVITY:
            continue
        back = {**values, name: start[name]}
        back_loss = loss(back)
        if back_loss <= at + UNPINNED_LOSS_PER_ROW * n_rows:
            values, at, base = back, back_loss, np.log(predict(back))
            kept.remove(name)
    return values, kept


def trade_off(predict: Predict, values: dict[str, float], names: Sequence[str],
              bounds: dict[str, tuple[float, float]]) -> tuple[str, ...]:
    """The fitted parameters that trade off at the fitted ``values``: their effects on the rows
    (as :func:`identifiable` measures them, here at the fitted values only) are (nearly) linearly
    dependent, so the rows pin a combination of them and not each. E.g. an NVLS-on all-reduce sweep
    where NVLS wins at every size pays launch + NVLS latency on every row: a lower launch and a
    higher NVLS latency fit as well. The parameters that weigh most in that combination, or ()
    where every fitted parameter is pinned on its own."""
    if len(names) < 2:
        return ()
    base = np.log(predict(values))
    cols, kept = [], []
    for n in names:
        col = _log_column(predict, values, base, n, _nonzero(values[n], bounds[n]), bounds)
        if np.all(np.isfinite(col)) and np.linalg.norm(col) > 0:
            cols.append(col / np.linalg.norm(col))
            kept.append(n)
    if len(kept) < 2:
        return ()
    _, sv, vt = np.linalg.svd(np.stack(cols, axis=1), full_matrices=False)
    if sv[-1] >= MIN_INDEPENDENCE:
        return ()
    weights = np.abs(vt[-1])
    return tuple(kept[i] for i in np.argsort(-weights) if weights[i] >= 0.25)


def _polish(predict: Predict, measured: np.ndarray, start: dict[str, float], names: Sequence[str],
            bounds: dict[str, tuple[float, float]]) -> dict[str, float]:
    """Refine a coordinate-descent result jointly (trust-region least squares on the log
    errors, robust ``soft_l1`` loss, parameters on a log scale): coordinate descent stalls where
    two parameters trade off (a launch cost against a per-step cost), and the model's choice of
    the fastest algorithm makes its loss kinked. Kept only if it lowers the coordinate-descent
    loss."""
    least_squares = require("scipy.optimize", "explore", "the joint least-squares polish of fabless calibrate").least_squares

    floor = {n: max(bounds[n][0], (bounds[n][1] - bounds[n][0]) * 1e-6) for n in names}
    x0 = np.array([math.log(min(max(start[n], floor[n]), bounds[n][1])) for n in names])
    lo = np.array([math.log(floor[n]) for n in names])
    hi = np.array([math.log(bounds[n][1]) for n in names])
    x0 = np.clip(x0, lo, np.nextafter(hi, -np.inf))

    def resid(x: np.ndarray) -> np.ndarray:
        pred = predict({**start, **{n: float(math.exp(v)) for n, v in zip(names, x)}})
        return np.log(np.where(pred > 0, pred, 1e-30) / measured)

    try:
        sol = least_squares(resid, x0, bounds=(lo, hi), loss="soft_l1", f_scale=0.05, x_scale=1.0,
                            diff_step=1e-4, xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=400)
    except ValueError:
        return dict(start)
    return {**start, **{n: float(math.exp(v)) for n, v in zip(names, sol.x)}}


# ----------------------------------------------------------------------------- kernels


def kernel_predictor(rows: Sequence[KernelRow], chip: Chip | ChipParams) -> Predict:
    """Seconds of each GEMM row on ``chip`` with some family parameters replaced."""
    base = chip if isinstance(chip, ChipParams) else ChipParams.from_chip(chip)

    def predict(values: dict[str, float]) -> np.ndarray:
        p = base.replace(**values)
        return np.array([float(gemm_time(r.m, r.n, r.k, p, r.dtype, batch=r.batch).time_s[0]) for r in rows])
    return predict


def fit_kernel(rows: Sequence[KernelRow], chip: Chip) -> Fitted:
    """Fit :data:`KERNEL_PARAMS` of ``chip`` (its calibration section or family values as the
    start) to GEMM rows measured on it."""
    base = ChipParams.from_chip(chip)
    for r in rows:
        try:
            base.peak(r.dtype)
        except FablessError as exc:
            raise FablessError(f"{r.where}: {exc}") from None
    start = {k: float(getattr(base, k)[0]) for k in KERNEL_PARAMS}
    predict = kernel_predictor(rows, base)
    measured = np.array([r.time_s for r in rows])
    after, names, trade = _fit(predict, measured, start, KERNEL_PARAMS)
    return Fitted("chip", start, after, names, list(rows), measured, predict(start), predict(after), KERNEL_PARAMS,
                  trade_off=trade)


# ----------------------------------------------------------------------------- collectives


def comm_predictor(rows: Sequence[CommRow], system: System, base: CollectiveParams) -> Predict:
    """Seconds of each collective row on ``system`` with some parameters replaced (rows of
    one kind and group size are evaluated together, sizes as an array)."""
    groups: dict[tuple[str, int, bool], list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault((r.kind, r.ranks, r.nvls), []).append(i)
    sizes = {key: np.array([rows[i].bytes for i in idx]) for key, idx in groups.items()}
    no_nvls = system.model_copy(update={"scale_up": system.scale_up.model_copy(update={"in_network_reduction": False})})
    su = system.chip.links.scale_up
    technology = su.technology if su is not None else None

    def predict(values: dict[str, float]) -> np.ndarray:
        p = with_system_values(base, values, technology)
        out = np.empty(len(rows))
        for key, idx in groups.items():
            kind, n, nvls = key
            out[idx] = collective_time(kind, sizes[key], n, system if nvls else no_nvls, params=p).time_s
        return out
    return predict


def fit_comm(rows: Sequence[CommRow], system: System) -> Fitted:
    """Fit :data:`COMM_PARAMS` (the system file's calibration or the shipped values as the
    start) to collective rows measured on ``system``."""
    domain = system.scale_up.size
    for r in rows:
        if r.ranks > domain and system.scale_out is None:
            raise FablessError(f"{r.where}: {r.ranks} ranks but system '{system.name}' joins {domain} chips "
                               f"and has no scale-out network")
        if r.nodes and r.nodes > 1 and r.ranks > domain and r.ranks != r.nodes * domain:
            raise FablessError(f"{r.where}: {r.ranks} ranks on {r.nodes} hosts, but system '{system.name}' fills "
                               f"scale-up domains of {domain}; give a --system whose domain matches the hosts")
    base = params_for(system)
    # the start: the values these links use now (their generation's where it sets its own)
    su = system.chip.links.scale_up
    fab, nvls_eff, launch = scale_up_params(su.technology if su is not None else None, base)
    now = {"scale_up__bw_efficiency": fab.bw_efficiency, "scale_up__simple_step_overhead_s": fab.simple_step_overhead_s,
           "scale_up__ll_step_overhead_s": fab.ll_step_overhead_s, "nvls__bw_efficiency": nvls_eff,
           "launch_latency_s": launch,
           # an all-to-all fraction of 0 means the rings': start from the fraction the all-to-all runs at now
           "scale_up__a2a_bw_efficiency": fab.a2a_efficiency(), "scale_out__a2a_bw_efficiency": base.scale_out.a2a_efficiency()}
    start = {k: now.get(k, v) for k, v in base.flat().items() if k in COMM_PARAMS}
    predict = comm_predictor(rows, system, base)
    try:
        before = predict(start)
    except FablessError as exc:
        raise FablessError(f"{rows[0].where}: {exc}") from None
    measured = np.array([r.time_s for r in rows])
    after, names, trade = _fit(predict, measured, start, COMM_PARAMS)
    return Fitted("system", start, after, names, list(rows), measured, before, predict(after), COMM_PARAMS, trade_off=trade)


# ----------------------------------------------------------------------------- whole-model rows


def with_calibration(chip: Chip, values: dict[str, float]) -> Chip:
    """``chip`` with ``values`` on top of its own calibration section (validated)."""
    own = chip.calibration.model_dump(exclude_none=True) if chip.calibration is not None else {}
    return chip.model_copy(update={"calibration": ChipCalibration(**{**own, **values})})


def scenario_predictor(rows: Sequence[ScenarioRow], scn: Scenario, chip: Chip) -> Predict:
    """Seconds of each whole-model row: the estimate of ``scn`` with ``chip`` (its calibration
    section updated with the trial values) in the scenario's system."""
    def predict(values: dict[str, float]) -> np.ndarray:
        est = estimate(scn, chip=with_calibration(chip, values))
        return np.array([float(est.metrics[r.metric]) for r in rows])
    return predict


def fit_framework(rows: Sequence[ScenarioRow], scn: Scenario, chip: Chip, scenario_name: str) -> Fitted:
    """Fit ``framework_kernel_efficiency`` of ``chip`` to training-step or serving rows of
    ``scn`` (its start: the chip file's own value, else engine.yaml's)."""
    metrics = estimate(scn, chip=chip).metrics
    batch = scn.inference.batch if scn.inference is not None else None
    for r in rows:
        if r.concurrency is not None and isinstance(batch, int) and r.concurrency != batch:
            raise FablessError(f"{r.where}: the benchmark ran at a maximum concurrency of {r.concurrency}; set "
                               f"inference.batch: {r.concurrency} in {scenario_name} (it has {batch})")
        if r.metric not in metrics:
            kind = "a training" if r.metric == "step_time_s" else "an inference"
            raise FablessError(f"{r.where}: a {r.label} needs {kind} scenario; {scenario_name} has no {r.metric}")
    # the start: what the estimate uses now (the chip file's own value, else the scenario's
    # software stack's, else engine.yaml's)
    sw = with_chip_calibration(resolve_software(scn.software, chip, scn.phase), chip, scn.phase)
    if sw is not None:
        start = {"framework_kernel_efficiency": sw.framework_kernel_efficiency}
        origin = (f"software stack {sw.name}" if sw.name != "chip-calibration" else "this chip file's calibration")
    else:
        start = {"framework_kernel_efficiency": engine_params()["framework_kernel_efficiency"]}
        origin = "data/estimate/engine.yaml"
    predict = scenario_predictor(rows, scn, chip)
    measured = np.array([r.time_s for r in rows])
    after, names, trade = _fit(predict, measured, start, FRAMEWORK_PARAMS)
    return Fitted("chip", start, after, names, list(rows), measured, predict(start), predict(after), FRAMEWORK_PARAMS,
                  {"framework_kernel_efficiency": origin}, trade_off=trade)


def median_abs_error(pred: np.ndarray, measured: np.ndarray) -> float:
    """Median of |predicted / measured - 1| over rows."""
    return float(np.median(np.abs(pred / measured - 1))) if len(measured) else float("nan")
