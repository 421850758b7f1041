"""Power at the load a TDP is set for (every matrix unit busy, memory and links at full
bandwidth, at the clock measured under sustained dense bf16 matrix load at the TDP where there
is one, else the clock derived from a measured max-achievable GEMM, else the peak clock)
against the published TDP, for every chip preset that has one.
The issue asks for 20%; the chips the model misses are listed as strict xfails with the
measured error, so a model change that fixes one shows up as an XPASS (see
docs/economics.md, Power). The energies are fitted on power.CALIBRATION_CHIPS only."""

from __future__ import annotations

import pytest

from fabless.economics import chip_power, default_params
from fabless.economics.power import power_at_tdp_load
from fabless.validate.power import CALIBRATION_CHIPS, fit_flop_energy
from fabless.hardware.presets import load_chip

WITHIN = ["a100-sxm", "h100-sxm", "h200-sxm", "mtia-v2", "tpu-v5e", "tpu-v4", "tpu-v7", "gaudi3", "trainium2",
          "openai-broadcom-xpu", "mi300x", "mi325x", "b200", "gb200",
          "h800",  # +19.8% at its 1.83 GHz peak clock: within, barely, since the active term (was +21%)
          "tpu-v7-chiplet"]  # one JAX device of a TPU7x: half of tpu-v7's estimated 980 W (+9%, as the whole chip)
MISSES = {  # model / TDP - 1 at the time of writing
    "mtia-v1": "+77% (19 W of the 44 W is the assumed 0.05 W/mm2 leakage, sized for GPUs)",
    # the issue-17 presets have no measured sustained clock (data/economics/power_sustained.yaml),
    # so every unit is taken busy at the peak clock, which their TDPs are not set for
    "gh200": "+28% (at the 1.83 GHz peak clock; HBM3e at 4.9 TB/s adds 48 W over H100)",
    "b300": "+50% (at the derived 1,717 MHz peak clock; B200 is +17% at its measured sustained clock)",
    "gb300": "+39% (at the derived 1,907 MHz peak clock)",
    "mi355x": "+54% (at the 2.4 GHz peak clock)",
    # Gaudi 2: 600 W OAM TDP; every unit busy at the 1.648 GHz clock backed out of its 432 TFLOPS peak
    # (no measured sustained clock) draws 343 W in the model (matrix + active, HBM2e, static)
    "gaudi2": "-43% (343 W at the derived 1.648 GHz clock against the 600 W TDP)",
}


def _error(name: str) -> float:
    chip = load_chip(name)
    return power_at_tdp_load(chip).total_w / chip.physical.tdp_w - 1


@pytest.mark.parametrize("name", WITHIN + [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=f"model {e}"))
                                            for n, e in MISSES.items()])
def test_power_at_tdp_load_within_20_percent_of_tdp(name):
    assert abs(_error(name)) <= 0.20


def test_energies_are_the_fit_on_at_most_half_the_chips():
    from fabless.hardware.presets import chip_names

    with_tdp = [n for n in chip_names() if load_chip(n).physical.tdp_w is not None]
    assert set(CALIBRATION_CHIPS) <= set(with_tdp) and len(CALIBRATION_CHIPS) <= len(with_tdp) / 2
    e_ref, e_op = fit_flop_energy()
    pw = default_params().power
    assert pw.bf16_flop_energy_pj == pytest.approx(e_ref, abs=0.001)
    assert pw.operand_energy_pj == pytest.approx(e_op, abs=0.01)


def test_operand_energy_falls_with_unit_size():
    from fabless.economics.power import operand_reuse_energy_pj

    # 0.1272 + 2.596 x (1/sqrt(M) - 1/256): 256-MAC tensor core, 1024-MAC, 128 x 128, 256 x 256 arrays
    for m, e in ((256, 0.27931), (1024, 0.19818), (16384, 0.13734), (65536, 0.1272)):
        assert float(operand_reuse_energy_pj(m)) == pytest.approx(e, abs=2e-4)


def test_every_chip_with_a_tdp_is_listed():
    from fabless.hardware.presets import chip_names

    with_tdp = {n for n in chip_names() if load_chip(n).physical.tdp_w is not None}
    assert with_tdp == set(WITHIN) | set(MISSES)


def test_h100_by_hand():
    # static 0.05 W/mm2 x 814 = 40.7; HBM3 3350 GB/s x 8 x 3.9 pJ = 104.5; 512 MACs per tensor core:
    # e = 0.1272 + 2.596 x (1/sqrt(512) - 1/256) = 0.23179 pJ;
    # matrix 989.4e12 x 0.23179 pJ x 0.95 (N4) x 1.83 (clock / 1 GHz) = 398.7; links 4112 Gb/s x 5.5 pJ = 22.6;
    # active 0.71 x the matrix units' full-rate 398.7 = 283.1
    pw = chip_power(load_chip("h100-sxm"), enforce_budget=False)
    assert pw.terms_w["static"] == pytest.approx(40.7, abs=0.1)
    assert pw.terms_w["matrix"] == pytest.approx(989.4e12 * 0.23179e-12 * 0.95 * 1.83, rel=0.01)
    assert pw.terms_w["active"] == pytest.approx(0.71 * 398.7, rel=0.01)


def test_h100_decode_power_by_hand_and_against_ml_energy():
    # memory-bound decode: 10% of the FLOPs, the peak clock, HBM and links at full rate:
    # 40.7 + 0.71 x 398.7 + 0.10 x 398.7 + 104.5 + 22.6 = 490.7 W. ML.ENERGY v3.0 measured an
    # H100 at 513-560 W serving Llama 3.1 8B at batch 16-32 (a few to ~10% of its FLOPs;
    # energy-030/-031): the model is within 15% where, with no active term, it drew ~210-240 W.
    pw = chip_power(load_chip("h100-sxm"), matrix_util=0.10, enforce_budget=False)
    assert pw.total_w == pytest.approx(40.7 + 0.81 * 398.7 + 104.5 + 22.6, rel=0.01)
    assert 513 * 0.85 <= pw.total_w <= 560 * 1.15


def test_active_term_scales_with_the_clock_like_the_matrix_term():
    # both go as f^(1 + gamma) = f^2: at half the clock, a quarter of the power
    chip = load_chip("h100-sxm")
    full = chip_power(chip, enforce_budget=False).terms_w
    half = chip_power(chip, clock_mhz=chip.clock.boost_mhz / 2, enforce_budget=False).terms_w
    assert half["active"] == pytest.approx(full["active"] / 4, rel=1e-9)
    assert half["static"] == full["static"] and half["memory"] == full["memory"]


# At the clock a chip is measured to hold under dense matrix load at its TDP (AMD's MAF blog:
# MI300X 1207 MHz at 94% of its units, MI325X 1447 MHz at 93%; flashinfer PR 2899: B200 ~1580 MHz
# at ~1000 W in FA4 at 65%), the model should draw the TDP, and the clock the model picks for the
# TDP should be the measured one.


def _sustained(name: str) -> dict:
    from fabless.validate.power import sustained_errors

    return next(r for r in sustained_errors() if r["name"] == name)


def test_mi300x_matrix_term_by_hand():
    # 256 MACs per unit: e = 0.1272 + 2.596 x (1/16 - 1/256) = 0.27931 pJ;
    # 1307.4e12 FLOP/s x 0.942 x 0.27931 pJ x 1.0 (N5) x 2.1 (peak clock / 1 GHz) x (1207 / 2100)^2 = 240 W
    pw = chip_power(load_chip("mi300x"), matrix_util=0.942, clock_mhz=1207, enforce_budget=False)
    assert pw.terms_w["matrix"] == pytest.approx(1307.4e12 * 0.942 * 0.27931e-12 * 2.1 * (1207 / 2100) ** 2, rel=0.01)


@pytest.mark.parametrize("name", ["mi300x", "mi325x", "b200"])
def test_power_at_measured_sustained_clock_within_20_percent_of_tdp(name):
    assert abs(_sustained(name)["power_error"]) <= 0.20


@pytest.mark.parametrize("name", ["mi300x", "mi325x", "b200"])
def test_model_sustained_clock_within_20_percent_of_measured(name):
    assert abs(_sustained(name)["clock_error"]) <= 0.20


def test_mamf_derived_clock_by_hand():
    # H100 SXM: MAMF 794.5 TFLOPS (kernel-264) at 94% of the clock's peak: 1830 x 794.5 / (989.4 x 0.94)
    from fabless.economics.power import tdp_load

    f, u, basis = tdp_load(load_chip("h100-sxm"))
    assert f == pytest.approx(1830 * 794.5 / (989.4 * 0.94), rel=1e-3) and u == 0.94
    assert basis == "clock derived from measured GEMM"


def test_mamf_derived_clock_agrees_with_the_measured_one_on_b200():
    # Two independent measurements on B200 at ~1000 W: the FA4 run's ~1580 MHz (flashinfer PR 2899)
    # and the clock implied by its MAMF (kernel-266, 1745 TFLOPS): 1856 x 1745 / (2250 x 0.94) = 1531 MHz.
    from fabless.economics.power import mamf_clock_mhz

    assert mamf_clock_mhz(load_chip("b200"), "kernel-266") == pytest.approx(1580, rel=0.05)


def test_a_bad_mamf_row_is_a_clear_error():
    from fabless.economics.power import mamf_clock_mhz
    from fabless.errors import FablessError

    with pytest.raises(FablessError, match="no measurement row"):
        mamf_clock_mhz(load_chip("h100-sxm"), "kernel-999999")
    with pytest.raises(FablessError, match="not a max-achievable matmul"):
        mamf_clock_mhz(load_chip("h100-sxm"), "train-021")


def test_active_term_and_energies_are_what_the_fit_script_gives():
    # power.yaml holds what scripts/fit_active_power.py prints (fit rows: validate.energy.FIT_IDS)
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "fit_active_power.py"
    spec = importlib.util.spec_from_file_location("fit_active_power", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    base, rows = default_params(), mod.fit_rows()
    scores = {}
    for a in mod.GRID:
        q = mod.with_power(base, active_rel_to_matrix=float(a))
        e_ref, e_op = fit_flop_energy(params=q)
        scores[float(a)] = mod.score(rows, mod.with_power(q, bf16_flop_energy_pj=e_ref, operand_energy_pj=e_op))
    pw = base.power
    assert min(scores, key=scores.get) == pytest.approx(pw.active_rel_to_matrix, abs=1e-9)
    # a clear minimum: no active term at all is far worse on the fit rows
    assert scores[0.0] > 3 * scores[pw.active_rel_to_matrix]
