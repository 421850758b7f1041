"""Request-level serving simulation (see docs/serving.md).

``run(step_model, arrivals, lengths, sched_cfg, seed, duration_s=...)`` returns a
:class:`SimResult` with ``.requests`` (a DataFrame, one row per request), ``.summary`` and
``.timeseries``; :func:`max_throughput` finds the highest rate that meets an :class:`SLO`.
The step time comes from a :class:`StepCostModel` (the performance engine plugs in there).
"""

from fabless.callmod import lazy_exports, make_callable

#: The package's names and the module each lives in; loaded on first use, so that importing
#: ``fabless.serve`` (the CLI's ``serve --help``) does not pull in pandas.
_EXPORTS = {
    "SLO": "metrics",
    "summarize": "metrics",
    "SchedulerConfig": "scheduler",
    "MaxThroughput": "search",
    "max_throughput": "search",
    "Disaggregated": "sim",
    "Fleet": "sim",
    "SimResult": "sim",
    "run": "sim",
    "simulate": "sim",
    "ConstantStepCost": "stepcost",
    "RooflineStepCost": "stepcost",
    "StepCostModel": "stepcost",
    "StepTimeCache": "stepcost",
    "Batched": "workload",
    "Bursty": "workload",
    "Fixed": "workload",
    "Lengths": "workload",
    "LogNormal": "workload",
    "Poisson": "workload",
    "Requests": "workload",
    "SharedPrefix": "workload",
    "Trace": "workload",
    "Uniform": "workload",
    "read_trace": "workload",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = sorted(_EXPORTS)


make_callable(__name__, "serve")  # fabless.serve(...) is the public API function (docs/api.md)
