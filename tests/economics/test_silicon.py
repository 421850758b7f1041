"""Area, wafer, yield, unit cost: hand-computed values and published chips."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fabless.economics import (chip_area, chip_unit_cost, default_params, die_area, dies_per_wafer,
                               harvested_yield, negative_binomial_yield, unit_cost)
from fabless.economics.area import DieInventory, area_errors, fit_area_coefficients, reference_inventories
from fabless.economics.unit_cost import good_die_cost_usd
from fabless.errors import FablessError, InfeasibleDesign
from fabless.hardware.presets import chip_names, load_chip


# ---- dies per wafer and yield, by hand --------------------------------------------

def test_dies_per_wafer_hand_computed():
    # de Vries: pi (d/2)^2 / S - pi d / sqrt(2 S), d = 300 mm, no edge exclusion or scribe
    # 100 mm2: 70685.8/100 - 942.48/14.142 = 706.86 - 66.64 = 640.2
    # 800 mm2: 70685.8/800 - 942.48/40.0  = 88.36 - 23.56 = 64.8
    assert dies_per_wafer(100.0) == pytest.approx(640.2, abs=0.1)
    assert dies_per_wafer(800.0) == pytest.approx(64.8, abs=0.1)
    # survey example: 814 mm2 -> 63.5 gross dies
    assert dies_per_wafer(814.0) == pytest.approx(63.5, abs=0.1)
    # with 3 mm edge exclusion and 0.1 mm scribe: d = 294, S = (10 + 0.1)^2 = 102.01
    # pi 147^2 / 102.01 - pi 294 / sqrt(204.02) = 665.45 - 64.66 = 600.8
    assert dies_per_wafer(100.0, edge_exclusion_mm=3, scribe_lane_mm=0.1) == pytest.approx(600.8, abs=0.2)


def test_yield_hand_computed():
    # NB alpha 2, D0 0.1/cm2: 1 cm2 -> (1 + 0.05)^-2 = 0.9070; 8 cm2 -> (1.4)^-2 = 0.5102
    assert negative_binomial_yield(100.0, 0.1, 2) == pytest.approx(0.9070, abs=1e-4)
    assert negative_binomial_yield(800.0, 0.1, 2) == pytest.approx(0.5102, abs=1e-4)
    # survey yield table, 8.14 cm2: D0 0.1 alpha 2 -> 0.505; alpha 3 -> 0.487; D0 0.2 alpha 2 -> 0.304
    assert negative_binomial_yield(814.0, 0.1, 2) == pytest.approx(0.505, abs=1e-3)
    assert negative_binomial_yield(814.0, 0.1, 3) == pytest.approx(0.487, abs=1e-3)
    assert negative_binomial_yield(814.0, 0.2, 2) == pytest.approx(0.304, abs=1e-3)


def test_harvesting_reduces_to_negative_binomial_without_spares():
    for alpha in (0.5, 2.0, 3.0):
        y = harvested_yield(814.0, 0.1, alpha, repairable_fraction=0.6, cores=144, spare_cores=0)
        assert y == pytest.approx(negative_binomial_yield(814.0, 0.1, alpha), rel=1e-6)


def test_harvesting_with_many_spares_approaches_the_rest_of_the_die():
    # With every core spare-able the die sells if the non-core 40% is clean: NB yield of 0.4 A.
    y = harvested_yield(800.0, 0.1, 2, repairable_fraction=0.6, cores=10, spare_cores=10)
    assert y == pytest.approx(negative_binomial_yield(320.0, 0.1, 2), rel=1e-6)
    few = harvested_yield(800.0, 0.1, 2, repairable_fraction=0.6, cores=144, spare_cores=12)
    assert negative_binomial_yield(800.0, 0.1, 2) < few < float(y)


def test_vectorised_over_designs():
    areas = np.linspace(50, 850, 1000)
    cost = good_die_cost_usd(areas, "N5")
    assert cost.shape == (1000,)


# ---- invariants --------------------------------------------------------------------

def test_cost_per_good_die_rises_faster_than_area():
    areas = np.array([100.0, 200.0, 400.0, 800.0])
    cost = good_die_cost_usd(areas, "N5")
    per_mm2 = cost / areas
    assert np.all(np.diff(per_mm2) > 0)


def _inv(**kw):
    base = dict(name="toy", process_node="N5", matrix_units=64, macs_per_cycle={"bf16": 4096},
                sram_chip_kib=64 * 1024, hbm_stacks=4, memory_gb_s=3000)
    base.update(kw)
    return DieInventory(**base)


def test_more_hbm_stacks_never_cost_less():
    costs = [unit_cost(_inv(hbm_stacks=n), memory_gb=24.0 * n, memory_generation="HBM3E").package_usd for n in range(1, 9)]
    assert all(b >= a for a, b in zip(costs, costs[1:]))


def test_reticle_enforced_and_chiplets_allowed():
    big = _inv(matrix_units=160)
    with pytest.raises(InfeasibleDesign, match="reticle"):
        die_area(big)
    two = die_area(big.model_copy(update={"dies": 2}))
    assert two.per_die_mm2 < default_params().silicon.reticle_limit_mm2
    assert two.parts_mm2["die_to_die"] > 0


# ---- known chips ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["gh100", "ga100", "mtia-v1", "mtia-v2", "gb100", "tpu-v5e"])
def test_area_model_within_15_percent(name):
    err = {r["name"]: r["error"] for r in area_errors()}[name]
    assert abs(err) < 0.15, f"{name}: model off by {err:+.1%}"


def test_mi300x_xcd_area_within_20_percent():
    # Published area is an estimate (Epoch ~115 mm2, a leak ~110); the model gives ~133.
    err = {r["name"]: r["error"] for r in area_errors()}["mi300x-xcd"]
    assert abs(err) < 0.20


def test_shipped_area_coefficients_are_the_fit():
    cal = [n for n, inv in reference_inventories().items() if inv.role == "calibrate"]
    fit = fit_area_coefficients(cal)
    sp = default_params().silicon
    assert sp.bf16_mac_area_um2 == pytest.approx(fit["bf16_mac_area_um2"], rel=0.01)
    assert sp.sram_layout_factor == pytest.approx(fit["sram_layout_factor"], rel=0.01)


@pytest.mark.parametrize("name,published", [("h100-sxm", 814), ("a100-sxm", 826), ("mtia-v1", 373), ("mtia-v2", 421)])
def test_area_of_presets(name, published):
    if name not in chip_names():
        pytest.skip(f"preset {name} not shipped yet")
    res = chip_area(load_chip(name))
    assert res.model_per_die_mm2 == pytest.approx(published, rel=0.15)


def test_h100_manufacturing_cost_within_25_percent():
    # Raymond James via Barron's (Aug 2023): ~$3,320 including HBM, packaging, test.
    uc = chip_unit_cost(load_chip("h100-sxm"))
    assert uc.package_usd == pytest.approx(3320, rel=0.25)
    # harvesting (132 of 144 SMs) sells more dies than the defect-free yield
    assert uc.yield_fraction > uc.yield_no_harvest


def test_partner_margin():
    gm = default_params().partner.gross_margin
    a = chip_unit_cost(load_chip("h100-sxm"))
    b = chip_unit_cost(load_chip("h100-sxm"), partner=True)
    assert b.unit_usd == pytest.approx(a.unit_usd / (1 - gm))


# ---- bad inputs -----------------------------------------------------------------

def test_bad_inputs_are_one_line_errors():
    with pytest.raises(FablessError, match="positive"):
        dies_per_wafer(-5)
    with pytest.raises(FablessError, match="negative"):
        negative_binomial_yield(100, -0.1, 2)
    with pytest.raises(FablessError, match="no memory price"):
        unit_cost(_inv(), memory_gb=96, memory_generation="HBM9")
    with pytest.raises(Exception):
        DieInventory(name="x", process_node="N1")
