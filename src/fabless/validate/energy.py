"""Predictions of published energy-per-token and power-under-load measurements (category ``energy``).

A row's config names the model, tensor parallelism, the batch (a serving engine's maximum
concurrent sequences) and the request lengths. Three metrics:

    GPU energy per output token (J)              = work_power_w / output tokens/s per chip
    average GPU power, all GPUs (W)              = work_power_w x chips
    output tokens/s per GPU watt (tokens/s/W)    = output tokens/s per chip / work_power_w

``work_power_w`` (economics/tco.py) is economics/power.py's chip power at the matrix
utilisation the estimate implies, capped at the TDP; the throughput is the static-batch
inference estimate's (:func:`fabless.estimate.estimate`). The power rows test the power model
alone; the energy rows test it together with the throughput.

Fit / held-out rule (fixed before any fitting): the power rows whose batch is 32, 128 or 512
are the fit rows of ``power.active_rel_to_matrix`` (scripts/fit_active_power.py); every other
power row and every energy-per-token row is held out.
"""

from __future__ import annotations

from fabless.economics.params import default_params
from fabless.economics.tco import work_power_w
from fabless.estimate import estimate
from fabless.estimate.scenario import scenario_from_dict
from fabless.validate.core import Skip, parse_config
from fabless.validate.hardware_map import chip_for_hardware

#: The power rows ``power.active_rel_to_matrix`` is fitted on (batch 32, 128 or 512; module docstring).
FIT_IDS: frozenset[str] = frozenset({"energy-031", "energy-034", "energy-038", "energy-041", "energy-044", "energy-048",
                                     "energy-052", "energy-055"})

METRIC = "GPU energy per output token (J)"
POWER_METRIC = "average GPU power, all GPUs (W)"
PER_WATT_METRIC = "output tokens/s per GPU watt (tokens/s/W)"
METRICS = (METRIC, POWER_METRIC, PER_WATT_METRIC)


def scenario_of(row: dict):
    """The inference scenario a row describes (one replica of tp chips)."""
    cfg = parse_config(row["config"])
    chip = chip_for_hardware(row["hardware"])
    tp = int(cfg.get("tp", 1))
    return scenario_from_dict({
        "model": cfg["model"], "system": {"chip": chip.name, "count": tp}, "precision": row["precision"].lower(),
        "parallel": {"tp": tp},
        "inference": {"batch": int(cfg["batch"]), "input_tokens": int(cfg["input"]), "output_tokens": int(cfg["output"])},
    }, f"energy row {row['id']}"), chip


def predict(row: dict, params=None) -> float | None:
    if row["metric"] not in METRICS:
        raise Skip(f"metric '{row['metric']}' is none of {', '.join(repr(m) for m in METRICS)}")
    scn, chip = scenario_of(row)
    est = estimate(scn)
    if not est.fits:
        raise Skip(f"the batch does not fit: {est.notes[0]}")
    watts, _, _ = work_power_w(est, scn, chip, params or default_params())
    if row["metric"] == POWER_METRIC:
        return watts * est.chips
    joules = watts / float(est.metrics["output_tokens_per_s_per_chip"])
    return 1.0 / joules if row["metric"] == PER_WATT_METRIC else joules


__all__ = ["FIT_IDS", "METRIC", "METRICS", "PER_WATT_METRIC", "POWER_METRIC", "predict", "scenario_of"]
