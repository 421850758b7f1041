"""The GPU GEMM model's split-K and 8-bit rate. Split-K: a GEMM with fewer output tiles than cores cuts each tile's
K loop over several cores (docs/perf-model.md, "Split-K"). Values are worked out by hand in
the comments from the documented formulas."""

from __future__ import annotations

import pytest

from fabless.perf.gemm import gemm_time
from fabless.perf.params import ChipParams

KIB = 1024


def ideal_gpu():
    """132 cores at 1 TFLOP/s bf16 each, 1 TB/s HBM, 50 MB L2, every efficiency 1, no launch cost."""
    return ChipParams.from_arrays(
        peak_flops_per_s={"bf16": 132e12}, cores=132, hbm_bytes_per_s=1e12, boost_clock_hz=1e9,
        sustained_clock_hz=1e9, sram_per_core_bytes=228 * KIB, sram_shared_bytes=50e6, mma_efficiency=1.0,
        hbm_efficiency=1.0, launch_overhead_s=0.0, operand_bytes_per_cycle_per_core=1e9, attention_mma_ratio=1.0)


def test_single_tile_gemv_is_split_over_the_cores():
    # m=1, n=64, k=8192 bf16 on 64x64 tiles: one tile. Unsplit it runs on one core:
    # a = 2*64*64*8192 / 1e12 = 67.108864 us. Up to s_max = min(floor(132/1), floor(8192/64)) = 128
    # slices. Traffic (all fits in L2, read once): A 1*8192*2 = 16384, B 8192*64*2 = 1048576,
    # C 64*2 = 128: 1065088 B, b0 = 1.065088 us; each slice adds fp32 partials written and read,
    # 8*1*64 = 512 B, p = 0.000512 us. Math a/s falls, memory b0 + p*s rises: they meet at
    # p s^2 + b0 s - a = 0, s = (-1.065088 + sqrt(1.065088^2 + 4*0.000512*67.108864)) / 0.001024
    # = 61.2. s = 61: max(67.108864/61 = 1.100145, 1.096320) = 1.100145 us;
    # s = 62: max(1.082401, 1.065088 + 0.031744 = 1.096832) = 1.096832 us, the better (and better
    # than all 128 slices: 1.065088 + 0.065536 = 1.130624 us). Memory-bound at 1.096832 us.
    r = gemm_time(1, 64, 8192, ideal_gpu(), "bf16", tiles=[(64, 64)])
    assert float(r.compute_s[0]) == pytest.approx(2 * 64 * 64 * 8192 / 1e12 / 62, rel=1e-9)
    assert float(r.time_s[0]) == pytest.approx(1.096832e-6, rel=1e-9)
    assert float(r.tiling["waves"][0]) == pytest.approx(1 / 62)
    # every other split factor is slower: the chosen one is the minimum over s = 1 .. 128
    a, b0, p = 67.108864e-6, 1.065088e-6, 0.000512e-6
    assert min(max(a / s, b0 + p * s) for s in range(2, 129)) == pytest.approx(1.096832e-6, rel=1e-9)


def test_full_waves_are_not_split():
    # 8192^3 on 128x128 tiles: 4096 tiles >= 132 cores, s = 1: 32 waves x 2*128*128*8192 / 1e12.
    r = gemm_time(8192, 8192, 8192, ideal_gpu(), "bf16", tiles=[(128, 128)])
    assert float(r.compute_s[0]) == pytest.approx(32 * 2 * 128 * 128 * 8192 / 1e12, rel=1e-9)
    assert float(r.tiling["waves"][0]) == 32


def test_split_not_taken_when_partials_cost_more_than_they_save():
    # m=4096, n=64, k=64 on 64x64 tiles: 64 tiles on 132 cores, but k = 64 is one K step, so
    # s = min(floor(132/64) = 2, floor(64/64) = 1) = 1: no split, one wave of 2*64*64*64 / 1e12.
    r = gemm_time(4096, 64, 64, ideal_gpu(), "bf16", tiles=[(64, 64)])
    assert float(r.compute_s[0]) == pytest.approx(2 * 64 * 64 * 64 / 1e12, rel=1e-9)


def test_mi300x_batch1_decode_gemm_streams_its_weights():
    # Llama-3.1-70B at tp 8, one decode token: the fused QKV weight per chip is 8192 x 1280
    # (64 + 2*8 heads of 128 / 8) in FP8 = 10,485,760 bytes. MI300X: 5.3 TB/s HBM (data sheet)
    # x hbm_efficiency 0.88 (families.yaml default-gpu) = 4.664 TB/s: 2.248 us, plus the 3 us
    # launch overhead. Split over the CUs the math (2 * 1 * 8192 * 1280 FLOPs, padded to a tile)
    # hides under the weight stream; the fp32 partial sums add a few percent of traffic at most.
    r = gemm_time(1, 1280, 8192, ChipParams.from_chip("mi300x"), "fp8", out_dtype="bf16")
    weights_s = 8192 * 1280 / (5.3e12 * 0.88)
    assert float(r.memory_s[0]) > float(r.compute_s[0])
    assert float(r.time_s[0]) == pytest.approx(3e-6 + weights_s, rel=0.03)


def test_mi300x_fp8_gemm_matches_published_8192_cube():
    # Published MI300X FP8 GEMMs at 8192 x 8192 x 8192: 907 TFLOP/s (hipblaslt-bench, ROCm/hipBLASLt
    # issue #1721) and 963 TFLOP/s (HipKittens blockwise FP8, HazyResearch/HipKittens #76).
    # The model should land between them, within 5%: 2 * 8192^3 FLOPs / time.
    r = gemm_time(8192, 8192, 8192, ChipParams.from_chip("mi300x"), "fp8")
    tflops = 2 * 8192 ** 3 / float(r.time_s[0]) / 1e12
    assert 907 * 0.95 < tflops < 963 * 1.05


def test_8bit_ratio_leaves_16bit_gemms_alone():
    # mma_8bit_ratio scales only 1-byte operands: the BF16 shape of AMD's max-achievable-FLOPs run (ROCm blog
    # 'Measuring Max-Achievable FLOPs - Part 2', Table 1: 4096 x 4864 x 32896, 708 TFLOP/s at 1207 MHz; the
    # held-out row kernel-fresh4-002) is the same with the ratio at 1 or 0.5, and within 5% of that figure.
    c = ChipParams.from_chip("mi300x")
    a = gemm_time(4096, 4864, 32896, c, "bf16")
    b = gemm_time(4096, 4864, 32896, c.replace(mma_8bit_ratio=0.5), "bf16")
    assert float(a.time_s[0]) == float(b.time_s[0])
    assert 2 * 4096 * 4864 * 32896 / float(a.time_s[0]) / 1e12 == pytest.approx(708, rel=0.05)
