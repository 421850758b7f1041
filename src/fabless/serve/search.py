"""The highest request rate a deployment sustains within a latency SLO."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from fabless.errors import FablessError
from fabless.serve.metrics import SLO
from fabless.serve.scheduler import SchedulerConfig
from fabless.serve.sim import Disaggregated, Fleet, SimResult, run
from fabless.serve.stepcost import StepCostModel
from fabless.serve.workload import Lengths, Poisson, SharedPrefix


@dataclass
class MaxThroughput:
    """``rate_per_s``: the highest rate found to meet the SLO (0 if none did); ``result``: its run.
    ``tried``: every (rate, met) evaluated, in order; ``runs``: the same runs' throughput,
    goodput and p99 latencies (:data:`RUN_FIELDS` of each run's summary, those it has a finite
    value for), in the same order."""

    rate_per_s: float
    result: SimResult | None
    tried: list = field(default_factory=list)
    runs: list = field(default_factory=list)


#: What :attr:`MaxThroughput.runs` keeps of each run's summary (a report plots them against the rate).
RUN_FIELDS = ("requests", "throughput_req_per_s", "output_tokens_per_s", "goodput_req_per_s", "goodput_fraction",
              "ttft_p99_s", "tpot_p99_s", "e2e_p99_s")


def max_throughput(step_model: StepCostModel, lengths: Lengths, slo: SLO | None, sched_cfg: SchedulerConfig | None = None,
                   seed: int = 0, *, duration_s: float = 600.0, warmup_s: float = 0.0,
                   arrivals: Callable[[float], object] = Poisson, fleet: Fleet | Disaggregated | None = None,
                   prefix: SharedPrefix | None = None, start_rate_per_s: float = 1.0, rel_tol: float = 0.02,
                   max_runs: int = 40, growth: float = 2.0,
                   accept: Callable[[dict], bool] | None = None,
                   on_run: Callable[[float, bool], None] | None = None) -> MaxThroughput:
    """Bisection on the arrival rate for the highest rate whose run meets ``slo`` and ``accept``
    (a test of the run's summary, e.g. that its backlog does not grow; at least one of the two).
    ``on_run(rate, met)`` is called after each run (progress).

    From ``start_rate_per_s`` the rate is multiplied by ``growth`` (default 2) until a run fails
    (or divided by it until one passes), then the bracket is halved until its width is within
    ``rel_tol`` of the rate. A start near the answer with a small ``growth`` saves runs.
    Every run uses the same ``seed``; with Poisson arrivals that means the same requests with
    arrival times scaled by 1/rate (common random numbers), so the answer is deterministic.
    Assumes latency grows with rate (true of the SLO's percentiles away from noise).
    ``on_run(rate_per_s, slo_met)`` is called after each run (for a progress display).
    """
    if not 0 < rel_tol < 1:
        raise FablessError(f"rel_tol must be in (0, 1), got {rel_tol}")
    if not growth > 1:
        raise FablessError(f"growth must be > 1, got {growth}")
    if not start_rate_per_s > 0:
        raise FablessError(f"start_rate_per_s must be > 0, got {start_rate_per_s}")
    if slo is None and accept is None:
        raise FablessError("max_throughput needs an SLO or an acceptance test")
    tried: list = []
    runs: list = []
    results: dict[float, SimResult] = {}

    def ok(rate: float) -> bool:
        res = run(step_model, arrivals(rate), lengths, sched_cfg, seed, duration_s=duration_s, fleet=fleet,
                  prefix=prefix, slo=slo, warmup_s=warmup_s)
        met = bool(res.summary["requests"] > 0 and (slo is None or slo.met_by(res.summary))
                   and (accept is None or accept(res.summary)))
        tried.append((rate, met))
        runs.append({k: v for k in RUN_FIELDS if isinstance(v := res.summary.get(k), (int, float)) and math.isfinite(v)})
        if on_run is not None:
            on_run(rate, met)
        if met:
            results[rate] = res
        return met

    rate = float(start_rate_per_s)
    if ok(rate):
        lo, hi = rate, None
        while hi is None:
            if len(tried) >= max_runs:
                raise FablessError(f"no failing rate found up to {lo:g}/s in {max_runs} runs; is the SLO reachable at any load?")
            rate *= growth
            if ok(rate):
                lo = rate
            else:
                hi = rate
    else:
        lo, hi = None, rate
        while lo is None:
            rate /= growth
            if rate < start_rate_per_s * 2.0**-20 or len(tried) >= max_runs:
                return MaxThroughput(0.0, None, tried, runs)
            if ok(rate):
                lo = rate
            else:
                hi = rate
    while (hi - lo) > rel_tol * lo and len(tried) < max_runs:
        mid = (lo + hi) / 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return MaxThroughput(lo, results[lo], tried, runs)
