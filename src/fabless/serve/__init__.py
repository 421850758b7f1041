"""Request-level serving simulation (see docs/serving.md).

``run(step_model, arrivals, lengths, sched_cfg, seed, duration_s=...)`` returns a
:class:`SimResult` with ``.requests`` (a DataFrame, one row per request), ``.summary`` and
``.timeseries``; :func:`max_throughput` finds the highest rate that meets an :class:`SLO`.
The step time comes from a :class:`StepCostModel` (the performance engine plugs in there).
"""

from fabless.serve.metrics import SLO, summarize
from fabless.serve.scheduler import SchedulerConfig
from fabless.serve.search import MaxThroughput, max_throughput
from fabless.serve.sim import Disaggregated, Fleet, SimResult, run, simulate
from fabless.serve.stepcost import ConstantStepCost, RooflineStepCost, StepCostModel, StepTimeCache
from fabless.serve.workload import (Bursty, Fixed, Lengths, LogNormal, Poisson, Requests, SharedPrefix, Trace,
                                    Uniform, read_trace)

__all__ = [
    "SLO", "summarize", "SchedulerConfig", "MaxThroughput", "max_throughput", "Disaggregated", "Fleet",
    "SimResult", "run", "simulate", "ConstantStepCost", "RooflineStepCost", "StepCostModel", "StepTimeCache",
    "Bursty", "Fixed", "Lengths", "LogNormal", "Poisson", "Requests", "SharedPrefix", "Trace", "Uniform",
    "read_trace",
]

from fabless.callmod import make_callable  # noqa: E402

make_callable(__name__, "serve")  # fabless.serve(...) is the public API function (docs/api.md)
