"""Predictions for the recommendation-model rows (category ``recsys``).

Each row's mapping lives in ``data/measurements/scenarios_recsys.yaml``: an estimate scenario and
the metric compared with the row's value, or two scenarios whose metrics' ratio is compared with a
published ratio (Meta's "3x over the first generation"). The recommendation step model
(:mod:`fabless.estimate.recsys`) fits no parameter of its own, so no row is a fit row.
"""

from __future__ import annotations

from functools import lru_cache

from fabless.errors import FablessError
from fabless.estimate.engine import estimate
from fabless.estimate.scenario import scenario_from_dict
from fabless.loading import read_yaml
from fabless.measurements import MEASUREMENTS_DIR
from fabless.validate.core import Skip

MAPPING = MEASUREMENTS_DIR / "scenarios_recsys.yaml"

#: rows the model's parameters were fitted on: none (nothing is fitted)
FIT_IDS: frozenset[str] = frozenset()


@lru_cache(maxsize=1)
def mapping() -> dict:
    raw = read_yaml(MAPPING) or {}
    return {k: v for k, v in raw.items() if not str(k).startswith("_")}


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
    try:
        if "ratio" in m:
            num, den = m["ratio"]
            return _metric(num, m["metric"], row["id"]) / _metric(den, m["metric"], row["id"])
        return _metric(m["scenario"], m["metric"], row["id"])
    except FablessError as exc:
        raise Skip(str(exc)) from None


__all__ = ["FIT_IDS", "MAPPING", "mapping", "predict"]
