"""The power model checked against TDPs and measured clocks, and its energies fitted on them.

Validation work on :mod:`fabless.economics.power` (the physics): :func:`fit_flop_energy` fits
``bf16_flop_energy_pj`` and ``operand_energy_pj`` (data/economics/power.yaml) on the TDPs of
:data:`CALIBRATION_CHIPS`; :func:`power_errors` compares every preset with a TDP;
:func:`sustained_errors` compares the model's clock at the TDP with the measured sustained
clocks.
"""

from __future__ import annotations

import numpy as np

from fabless.economics.params import EconomicsParams, default_params
from fabless.economics.power import (_measured_clock_mhz, chip_power, macs_per_unit, power_at_tdp_load,
                                     sustained_references, tdp_load)
from fabless.hardware.presets import chip_names, load_chip

#: The chips whose TDPs ``bf16_flop_energy_pj`` and ``operand_energy_pj`` are fitted on
#: (at most half of the presets with a TDP; the rest are held out).
CALIBRATION_CHIPS = ("h100-sxm", "a100-sxm", "mi300x", "tpu-v5e", "gaudi3", "mtia-v2")


def fit_flop_energy(names=CALIBRATION_CHIPS, params: EconomicsParams | None = None) -> tuple[float, float]:
    """Least-squares (relative) ``(bf16_flop_energy_pj, operand_energy_pj)`` that make the
    model power at the TDP load (:func:`power_at_tdp_load`) of the chip presets ``names``
    equal their TDPs. The matrix term is linear in the two: per unit of each, it is the
    model's matrix power with (e_ref, e_op) = (1, 0) and (0, 1)."""
    p = params or default_params()
    xs, ys = [], []
    for n in names:
        chip = load_chip(n)
        tdp = float(chip.physical.tdp_w)
        cols = []
        for e_ref, e_op in ((1.0, 0.0), (0.0, 1.0)):
            q = p.model_copy(update={"power": p.power.model_copy(update={"bf16_flop_energy_pj": e_ref, "operand_energy_pj": e_op})})
            t = power_at_tdp_load(chip, q).terms_w
            cols.append((t["matrix"] + t["active"]) / tdp)
        fixed = power_at_tdp_load(chip, p).terms_w
        xs.append(cols)
        ys.append((tdp - fixed["static"] - fixed["memory"] - fixed["links"]) / tdp)
    sol, *_ = np.linalg.lstsq(np.array(xs), np.array(ys), rcond=None)
    return float(sol[0]), float(sol[1])


def power_errors(params: EconomicsParams | None = None) -> list[dict]:
    """Model power at the TDP load (:func:`power_at_tdp_load`) vs TDP for every chip preset
    with a TDP; ``role`` says whether it was one the energies were fitted on."""
    out = []
    for n in chip_names():
        chip = load_chip(n)
        if chip.physical.tdp_w is None:
            continue
        pw = power_at_tdp_load(chip, params)
        tdp = float(chip.physical.tdp_w)
        out.append({"name": n, "role": "calibrate" if n in CALIBRATION_CHIPS else "check",
                    "node": chip.physical.process_node, "clock_mhz": pw.clock_mhz, "basis": tdp_load(chip, params)[2],
                    "macs_per_unit": macs_per_unit(chip, "bf16"), "model_w": pw.total_w, "tdp_w": tdp,
                    "error": pw.total_w / tdp - 1})
    return out


def sustained_errors(params: EconomicsParams | None = None) -> list[dict]:
    """For chips with a measured sustained clock: the model's power at that clock and the
    measured utilisation against the TDP, and the clock the model predicts for the TDP
    against the measured one."""
    out = []
    for name, ref in sustained_references().items():
        if "mamf_row" in ref:
            continue
        chip = load_chip(name)
        f, u, dt = _measured_clock_mhz(chip, ref), float(ref["matrix_util"]), ref["dtype"]
        at = chip_power(chip, params, dtype=dt, matrix_util=u, clock_mhz=f, enforce_budget=False)
        pred = chip_power(chip, params, dtype=dt, matrix_util=u, enforce_budget=False).sustained_clock_mhz
        tdp = float(chip.physical.tdp_w)
        out.append({"name": name, "tdp_w": tdp, "clock_mhz": f, "model_w_at_clock": at.total_w,
                    "power_error": at.total_w / tdp - 1, "model_clock_mhz": pred,
                    "clock_error": (pred / f - 1) if pred else float("nan")})
    return out


__all__ = ["CALIBRATION_CHIPS", "fit_flop_energy", "power_errors", "sustained_errors"]
