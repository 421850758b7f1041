"""Predictions of published energy-per-token measurements (category ``energy``).

A row's config names the model, tensor parallelism, the batch (a serving engine's maximum
concurrent sequences) and the request lengths; the prediction is the chip's power while
running that work divided by its output tokens per second:

    J per output token = work_power_w (economics/tco.py: economics/power.py's chip power at the
                         matrix utilisation the estimate implies) / output tokens/s per chip

with the throughput from the static-batch inference estimate (:func:`fabless.estimate.estimate`).
Nothing here is fitted on these rows (``FIT_IDS`` is empty): every row is held out, and the
chip's power comes from the power model whose energies are fitted on TDPs (validate/power.py),
never from the row.
"""

from __future__ import annotations

from fabless.economics.params import default_params
from fabless.economics.tco import work_power_w
from fabless.estimate import estimate
from fabless.estimate.scenario import scenario_from_dict
from fabless.validate.core import Skip, parse_config
from fabless.validate.hardware_map import chip_for_hardware

#: No energy row is fitted.
FIT_IDS: frozenset[str] = frozenset()

METRIC = "GPU energy per output token (J)"


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


def predict(row: dict) -> float | None:
    if row["metric"] != METRIC:
        raise Skip(f"metric '{row['metric']}' is not {METRIC}")
    scn, chip = scenario_of(row)
    est = estimate(scn)
    if not est.fits:
        raise Skip(f"the batch does not fit: {est.notes[0]}")
    watts, _, _ = work_power_w(est, scn, chip, default_params())
    return watts / float(est.metrics["output_tokens_per_s_per_chip"])


__all__ = ["FIT_IDS", "METRIC", "predict", "scenario_of"]
