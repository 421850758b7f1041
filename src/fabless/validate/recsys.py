"""Predictions for the recommendation-model rows (category ``recsys``).

Each row's mapping lives in ``data/measurements/scenarios_recsys.yaml`` (later batches' rows in the
files of ``EXTRA_MAPPINGS``): an estimate scenario and the metric compared with the row's value, or two
scenarios whose metrics' ratio is compared with a published ratio (Meta's "3x over the first
generation"), or ``skip`` with the reason a collected row is not predicted. The recommendation step model
(:mod:`fabless.estimate.recsys`) has one fitted parameter, ``recsys_step_overhead_s`` (the fixed host
and framework cost of a step, data/estimate/engine.yaml), fitted by scripts/fit_recsys.py on the two
smallest-batch inference rows (FIT_IDS); every other row is held out.
"""

from __future__ import annotations

from functools import lru_cache

from fabless.errors import FablessError
from fabless.estimate.engine import estimate
from fabless.estimate.scenario import scenario_from_dict
from fabless.measurements import MEASUREMENTS_DIR
from fabless.validate.core import Skip, merged_mapping

MAPPING = MEASUREMENTS_DIR / "scenarios_recsys.yaml"
#: later batches' recommendation-row mapping files (``scenarios_<batch>_recsys.yaml``), read after MAPPING
#: (an id mapped twice is an error)
EXTRA_MAPPINGS = tuple(sorted(MEASUREMENTS_DIR.glob("scenarios_*_recsys.yaml")))

#: rows recsys_step_overhead_s was fitted on (scripts/fit_recsys.py): NVIDIA's DLRM on one A100 at
#: batch 128 and 32, where the published latency is flat and a fixed per-step cost shows
FIT_IDS: frozenset[str] = frozenset({"recsys-007", "recsys-008"})


@lru_cache(maxsize=1)
def mapping() -> dict:
    return merged_mapping([MAPPING, *EXTRA_MAPPINGS], "recsys mapping file")


def _metric(scn: dict, metric: str, row_id: str) -> float:
    est = estimate(scenario_from_dict(dict(scn), f"{MAPPING.name}: {row_id}"))
    if not est.fits:
        raise Skip(f"{row_id}: the mapped scenario does not fit in memory ({est.notes[0]})")
    value = est.metrics.get(metric)
    if value is None:
        raise Skip(f"{row_id}: the estimate has no {metric}")
    return float(value)


def predict(row: dict) -> float | None:
    m = mapping().get(row["id"])
    if m is None:
        raise Skip("no scenario in scenarios_recsys.yaml")
    if "skip" in m:
        raise Skip(str(m["skip"]))
    try:
        if "ratio" in m:
            num, den = m["ratio"]
            return _metric(num, m["metric"], row["id"]) / _metric(den, m["metric"], row["id"])
        return _metric(m["scenario"], m["metric"], row["id"])
    except FablessError as exc:
        raise Skip(str(exc)) from None


__all__ = ["EXTRA_MAPPINGS", "FIT_IDS", "MAPPING", "mapping", "predict"]
