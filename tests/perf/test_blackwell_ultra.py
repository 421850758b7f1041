"""Blackwell Ultra (GB300, B300) against Blackwell (GB200, B200): the same datasheet FP8/BF16
peak, but more power per Tensor Core (power headroom) and twice the SFU exponential rate.
Expected values are worked out by hand here from the chip files' datasheet numbers and the
power model's published constants (data/economics), not read back from the code."""

from __future__ import annotations

import math

import pytest

from fabless.hardware.presets import load_chip
from fabless.perf.attention import attention_time
from fabless.perf.gemm import gemm_time
from fabless.perf.params import ChipParams, families

# power model constants (data/economics/params): bf16 J per FLOP at N5, 1 GHz, 65,536-MAC unit,
# operand delivery term, N4 scale, HBM3e pJ/bit, die-to-die pJ/bit, SerDes pJ/bit, leakage W/mm2
E_BF16, E_OPERAND, N4, HBM_PJ, D2D_PJ, SERDES_PJ, LEAK = 0.217, 4.61, 0.95, 3.9, 0.3, 5.5, 0.05
GEMM_UTIL = 0.94  # power.gemm_efficiency_at_clock


def _hand_fraction(tdp_w: float, peak_clock_ghz: float) -> float:
    """Sustained / peak-basis clock of a GB200-class GPU (2.5 PF bf16, 2 x 800 mm2, 8 TB/s
    HBM3e, 8 TB/s die-to-die per die, 900 GB/s NVLink each way) at ``tdp_w``, by hand."""
    e_1ghz_pj = N4 * (E_BF16 + E_OPERAND * (1 / math.sqrt(1024) - 1 / math.sqrt(65536)))  # 1,024-MAC Tensor Core
    matrix_w = 2.5e15 * GEMM_UTIL * e_1ghz_pj * peak_clock_ghz * 1e-12  # energy per FLOP grows with f
    fixed_w = (LEAK * 1600  # static
               + 8e12 * 8 * HBM_PJ * 1e-12  # HBM: 249.6 W
               + 2 * 8e12 * 8 * D2D_PJ * 1e-12  # NV-HBI: 38.4 W
               + 900e9 * 8 * SERDES_PJ * 1e-12)  # NVLink: 39.6 W
    return math.sqrt((tdp_w - fixed_w) / matrix_w)  # matrix power ~ f^2 (gamma = 1)


def test_gb300_power_headroom_by_hand():
    # GB200: 1,200 W, 2,062 MHz peak basis; GB300: 1,400 W, 1,907 MHz (both 2.5 PF bf16)
    f200, f300 = _hand_fraction(1200, 2.062), _hand_fraction(1400, 1.907)
    assert f200 == pytest.approx(0.708, abs=0.002) and f300 == pytest.approx(0.824, abs=0.002)
    headroom = f300 / f200  # 1.164
    eff = families()["nvidia-blackwell"].values["mma_efficiency"]
    assert load_chip("gb300").calibration.mma_efficiency == pytest.approx(eff * headroom, rel=0.002)


def test_blackwell_ultra_takes_the_family_attention_ratio():
    # the ratio carries no softmax share (the softmax is its own bound, attention_softmax_cycles): Ultra's doubled
    # exponential rate leaves it as fitted on GB200's cuDNN rows
    r = families()["nvidia-blackwell"].values["attention_mma_ratio"]
    assert r > 1.0  # cuDNN's sm100 loop runs nearer the peak than a cuBLAS GEMM's main loop
    for name in ("gb300", "b300"):
        assert ChipParams.from_chip(name).attention_mma_ratio[0] == pytest.approx(r)


def test_blackwell_ultra_softmax_cycles_lie_above_the_halved_bound():
    # twice the exponential unit's rate at most halves the family's softmax cycles a score (0.066 / 2 = 0.033: max,
    # scale and sum stay); GB300's own 8-bit rows fit its value (tests/validate/test_fresh17_kc_rows.py) and B300, the
    # same GPU, takes it
    c = families()["nvidia-blackwell"].values["attention_softmax_cycles"]
    assert c == pytest.approx(0.066)
    gb300 = load_chip("gb300").calibration.attention_softmax_cycles
    assert c / 2 < gb300 < c
    assert load_chip("b300").calibration.attention_softmax_cycles == gb300


def test_b300_headroom_above_one():
    # HGX B300 has 10% more power (1,100 vs 1,000 W) for the same peak: it must hold more of it
    b200 = families()["nvidia-blackwell"].values["mma_efficiency"]
    assert 1.05 < load_chip("b300").calibration.mma_efficiency / b200 < 1.2


def test_gb300_runs_faster_than_gb200_at_equal_peak():
    """Same datasheet FP8 peak (5 PF), so a large FP8 GEMM is faster on GB300 by the headroom
    (1.164, less <1% of wave quantisation over 160 vs 148 SMs); a long causal attention by
    the same 1.164: at head dimension 128 in 16 bits the matrix products bound a block on both (GB200: 4 x 128
    FLOPs a score at 0.737 of 2.5 PF over 148 SMs at 2.062 GHz is 0.085 cycles, above the softmax's 0.066)."""
    g2, g3 = ChipParams.from_chip("gb200"), ChipParams.from_chip("gb300")
    assert load_chip("gb200").peak_flops("fp8") == load_chip("gb300").peak_flops("fp8")
    # the family's time per wave outside the main loop and its exposed part of a K step are not rates: left
    # out, the main loops compare
    t2 = float(gemm_time(16384, 16384, 16384, g2.replace(tile_overhead_s=0.0, gemm_exposed_steps=0.0), "fp8").time_s[0])
    t3 = float(gemm_time(16384, 16384, 16384, g3.replace(tile_overhead_s=0.0, gemm_exposed_steps=0.0), "fp8").time_s[0])
    assert t2 / t3 == pytest.approx(1.164, rel=0.01)
    a2 = float(attention_time(4, 8192, 8192, 32, 128, g2, causal=True).time_s[0])
    a3 = float(attention_time(4, 8192, 8192, 32, 128, g3, causal=True).time_s[0])
    assert a2 / a3 == pytest.approx(1.164, rel=0.01)
