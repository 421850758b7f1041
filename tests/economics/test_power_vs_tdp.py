"""Power at peak (every matrix unit busy at the peak clock, memory and links at full
bandwidth) against the published TDP, for every chip preset that has one. The issue asks
for 20%; the chips the model misses are listed as strict xfails with the measured error,
so a model change that fixes one shows up as an XPASS (see docs/economics.md, Power)."""

from __future__ import annotations

import pytest

from fabless.economics import chip_power
from fabless.hardware.presets import load_chip

WITHIN = ["a100-sxm", "h100-sxm", "h200-sxm", "mtia-v2", "tpu-v5e"]
MISSES = {  # model / TDP - 1 at the time of writing
    "b200": "+78%", "gb200": "+76%", "mi300x": "+73%", "mtia-v1": "+65%", "tpu-v7": "+60% (TDP an estimate)",
    "gaudi3": "+49%", "trainium2": "+42% (TDP an estimate)", "openai-broadcom-xpu": "+40% (TDP assumed)",
    "mi325x": "+33%", "tpu-v4": "+21%",
}


def _error(name: str) -> float:
    chip = load_chip(name)
    pw = chip_power(chip, dtype="bf16", enforce_budget=False)
    return pw.total_w / chip.physical.tdp_w - 1


@pytest.mark.parametrize("name", WITHIN + [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=f"model {e}"))
                                            for n, e in MISSES.items()])
def test_power_at_peak_within_20_percent_of_tdp(name):
    assert abs(_error(name)) <= 0.20


def test_every_chip_with_a_tdp_is_listed():
    from fabless.hardware.presets import chip_names

    with_tdp = {n for n in chip_names() if load_chip(n).physical.tdp_w is not None}
    assert with_tdp == set(WITHIN) | set(MISSES)


def test_h100_by_hand():
    # static 0.05 W/mm2 x 814 = 40.7; HBM3 3350 GB/s x 8 x 3.9 pJ = 104.5;
    # matrix 989.4e12 x 0.349 pJ x 0.95 (N4) x 1.83 (clock / 1 GHz) = 600.3; links 4112 Gb/s x 5.5 pJ = 22.6
    pw = chip_power(load_chip("h100-sxm"), enforce_budget=False)
    assert pw.terms_w["static"] == pytest.approx(40.7, abs=0.1)
    assert pw.terms_w["matrix"] == pytest.approx(989.4e12 * 0.349e-12 * 0.95 * 1.83, rel=0.01)


# At the clock a chip is measured to hold under dense GEMM at its TDP (AMD's MAF blog:
# MI300X 1207 MHz at 94% of its units, MI325X 1447 MHz at 93%), the model should draw the TDP,
# and the clock the model picks for the TDP should be the measured one.


def _sustained(name: str) -> dict:
    from fabless.economics.power import sustained_errors

    return next(r for r in sustained_errors() if r["name"] == name)


def test_mi300x_matrix_term_by_hand():
    # 1307.4e12 FLOP/s x 0.942 x 0.349 pJ x 1.0 (N5) x 2.1 (peak clock / 1 GHz) x (1207 / 2100)^2 = 298 W
    from fabless.economics.power import chip_power

    pw = chip_power(load_chip("mi300x"), matrix_util=0.942, clock_mhz=1207, enforce_budget=False)
    assert pw.terms_w["matrix"] == pytest.approx(1307.4e12 * 0.942 * 0.349e-12 * 2.1 * (1207 / 2100) ** 2, rel=0.01)


@pytest.mark.parametrize("name", ["mi300x", pytest.param("mi325x", marks=pytest.mark.xfail(strict=True, reason="model -20.5%"))])
def test_power_at_measured_sustained_clock_within_20_percent_of_tdp(name):
    assert abs(_sustained(name)["power_error"]) <= 0.20


@pytest.mark.parametrize("name", ["mi300x", pytest.param("mi325x", marks=pytest.mark.xfail(strict=True, reason="model +21.7%"))])
def test_model_sustained_clock_within_20_percent_of_measured(name):
    assert abs(_sustained(name)["clock_error"]) <= 0.20
