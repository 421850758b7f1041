"""The GEMM model's per-wave tile overhead (``tile_overhead_s``) and the 128-byte K step of 8-bit
tiles, each checked against a hand calculation."""

from __future__ import annotations

import pytest

from fabless.errors import FablessError
from fabless.perf.gemm import gemm_time
from fabless.perf.libraries import library, with_library
from fabless.perf.params import ChipParams

TAU = 2e-6


def _chip(tau: float) -> ChipParams:
    # 100 cores of 1 TFLOP/s bf16 each, a perfect main loop, no launch cost and HBM so fast that
    # every GEMM below is compute-bound: the time is waves x (main loop of a tile + tau)
    return ChipParams.from_arrays(peak_flops_per_s={"bf16": 100e12}, cores=100, hbm_bytes_per_s=1e18,
                                  boost_clock_hz=1e9, mma_efficiency=1.0, launch_overhead_s=0.0,
                                  tile_overhead_s=tau)


def test_each_wave_pays_the_overhead_once():
    # 250 tiles of 128 x 128 on 100 cores: 3 waves (250 > 100 cores, so no split-K); a tile's
    # main loop is 2 x 128 x 128 x 1024 FLOP at 1e12 FLOP/s = 33.554 us
    m, n, k = 128 * 250, 128, 1024
    main_s = 2 * 128 * 128 * 1024 / 1e12
    with_tau = gemm_time(m, n, k, _chip(TAU), "bf16", tiles=[(128, 128)])
    without = gemm_time(m, n, k, _chip(0.0), "bf16", tiles=[(128, 128)])
    assert float(without.time_s[0]) == pytest.approx(3 * main_s, rel=1e-9)
    assert float(with_tau.time_s[0]) == pytest.approx(3 * (main_s + TAU), rel=1e-9)  # 3 waves, not 250 tiles


def test_a_split_k_wave_pays_it_once_too():
    # 10 tiles on 100 cores: K = 8192 (128 steps of 64) is cut into 10 slices that run in one
    # wave (memory is free, so the largest split wins): 2 x 128 x 128 x 8192 / 1e12 / 10 + tau
    t = gemm_time(128 * 10, 128, 8192, _chip(TAU), "bf16", tiles=[(128, 128)])
    assert float(t.time_s[0]) == pytest.approx(2 * 128 * 128 * 8192 / 1e12 / 10 + TAU, rel=1e-9)


def test_the_overhead_cannot_be_negative():
    with pytest.raises(FablessError, match="tile_overhead_s"):
        _chip(-1e-6)


def test_harness_library_sets_it_on_hopper_and_cdna3_only():
    lib = library("azure-benchmarking-guide")
    assert float(with_library(ChipParams.from_chip("h100-sxm"), lib).tile_overhead_s[0]) == pytest.approx(2.50e-6)
    assert float(with_library(ChipParams.from_chip("mi300x"), lib).tile_overhead_s[0]) == pytest.approx(2.70e-6)
    # the families' own: fitted on the small-K shapes of NVIDIA's GEMM tables for Hopper (0.85 us) and Blackwell
    # (0.05 us: its kernels overlap a tile's epilogue with the next main loop, and the exposed part of a K step,
    # gemm_exposed_steps, fitted with it, holds the rest), none on CDNA 3; the harness sets no Blackwell value,
    # so a GB200 row under it keeps the family's
    assert float(ChipParams.from_chip("h100-sxm").tile_overhead_s[0]) == pytest.approx(0.85e-6)
    assert float(ChipParams.from_chip("gb200").tile_overhead_s[0]) == pytest.approx(0.05e-6)
    assert float(ChipParams.from_chip("mi300x").tile_overhead_s[0]) == 0.0
    assert float(with_library(ChipParams.from_chip("gb200"), lib).tile_overhead_s[0]) == pytest.approx(0.05e-6)


def test_fp8_k_steps_are_a_whole_line_so_cdna3_lds_limits_fp8_tiles_like_bf16():
    # MI300X: 64 KiB LDS per CU, 85 % of it for operand tiles = 55,705 bytes; two stages of
    # (BM + BN) rows of one 128-byte line each fit while BM + BN <= 55,705 / 256 = 217.6:
    # 64x64, 64x128 and 128x64 do, 128x128 and larger do not, in FP8 as in BF16
    mi300x = ChipParams.from_chip("mi300x")
    for dtype in ("fp8", "bf16"):
        t = gemm_time(8192, 8192, 8192, mi300x, dtype)
        assert float(t.tiling["tile_m"][0] + t.tiling["tile_n"][0]) <= 217.6, dtype
    # H100 (256 KiB): 2 x (128 + 256) x 128 = 98,304 bytes fit, so its large FP8 tiles stay
    t = gemm_time(8192, 8192, 8192, ChipParams.from_chip("h100-sxm"), "fp8")
    assert float(t.tiling["tile_m"][0] + t.tiling["tile_n"][0]) > 217.6


@pytest.mark.parametrize("hbm_bytes_per_s, s_best", [(2e10, 1), (2e11, 3), (1e12, 10), (2e12, 13), (5e12, 18), (2e13, 25)])
def test_the_split_k_factor_is_the_least_time_of_every_split_with_exposed_steps(hbm_bytes_per_s, s_best):
    # 4 tiles of 128 x 128 on 100 cores, K = 2048 (32 steps of 64): any split s of 1-25 runs in one wave. By hand,
    # with a = one tile's whole main loop, b0 = the compulsory traffic / bandwidth, p = one slice's fp32 partial
    # outputs (8 bytes an element) / bandwidth and q = 1.5 steps exposed a slice of 32 / s steps:
    #   t(s) = max(a / s + tau, b0 + p s) + q s / 32 x min(a / s + tau, b0 + p s)   (p s only for s > 1)
    # and the model's time is the least of them. The bandwidths put that least time at no split, inside, where the
    # plain balance of the two sides lies (s 3, 10), well below it (s 13 and 18 against 18 and 25) and at the most
    m, n, k, q = 128 * 4, 128, 2048, 1.5
    chip = ChipParams.from_arrays(peak_flops_per_s={"bf16": 100e12}, cores=100, hbm_bytes_per_s=hbm_bytes_per_s,
                                  boost_clock_hz=1e9, mma_efficiency=1.0, launch_overhead_s=0.0, tile_overhead_s=TAU,
                                  gemm_exposed_steps=q, hbm_efficiency=1.0, sram_shared_bytes=1e9)
    a = 2 * 128 * 128 * k / 1e12
    b0 = (m * k + k * n + m * n) * 2 / hbm_bytes_per_s
    p = 8 * m * n / hbm_bytes_per_s

    def t(s):
        compute, memory = a / s + TAU, b0 + (p * s if s > 1 else 0.0)
        return max(compute, memory) + q * s / (k / 64) * min(compute, memory)

    times = [t(s) for s in range(1, 26)]
    assert times.index(min(times)) + 1 == s_best
    assert float(gemm_time(m, n, k, chip, "bf16", tiles=[(128, 128)]).time_s[0]) == pytest.approx(min(times), rel=1e-12)
