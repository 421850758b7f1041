"""nvidia-ampere's pow2_tiles_only: the sm80 GEMM libraries tile the output in power-of-two
sides only (CUTLASS's sm80 tile list, families.yaml), so a 192-wide tile is never chosen on
A100. Hand calculation for one shape, M=802816, N=192, K=768 (kernel-fresh-008's shape)."""

import math

import numpy as np
import pytest

from fabless.perf.gemm import gemm_time
from fabless.perf.params import ChipParams, families

M, N, K = 802816, 192, 768
SMS = 108  # A100's SMs (chip file compute.cores)


def test_family_values():
    fams = families()
    assert fams["nvidia-ampere"].values["pow2_tiles_only"] == 1
    assert fams["nvidia-hopper"].values["pow2_tiles_only"] == 0


@pytest.mark.parametrize("one_design", [True, False])
def test_a100_tile_is_power_of_two(one_design):
    p = ChipParams.from_chip("a100-sxm")
    assert float(p.cores[0]) == SMS
    if not one_design:  # the array path: the same chip twice
        from fabless.perf.params import concat
        p = concat([p, p])
    r = gemm_time(M, N, K, p, "fp16")
    bm, bn = float(r.tiling["tile_m"][0]), float(r.tiling["tile_n"][0])
    assert (bm, bn) == (128.0, 64.0)
    # 128 x 64 tiles: 802816 / 128 = 6272 row tiles x 192 / 64 = 3 column tiles, no padding
    tiles = 6272 * 3
    waves = math.ceil(tiles / SMS)  # 18816 / 108 = 174.2 -> 175
    assert r.tiling["tiles"][0] == tiles
    assert r.tiling["waves"][0] == waves == 175
    util = (M * N * K) / (waves * SMS * 128 * 64 * K)
    assert r.tiling["tiling_utilisation"][0] == pytest.approx(util, rel=1e-12)


def test_flag_off_allows_192_wide_tile():
    # with a time per wave (the Azure harness's cuBLASLt, libraries.yaml: 2.50 us) fewer waves win
    lib = ChipParams.from_chip("a100-sxm").replace(tile_overhead_s=np.array([2.50e-6]))
    p = lib.replace(pow2_tiles_only=np.array([0.0]))
    r = gemm_time(M, N, K, p, "fp16")
    assert (float(r.tiling["tile_m"][0]), float(r.tiling["tile_n"][0])) == (128.0, 192.0)
    # one column tile of 192: 6272 tiles in ceil(6272 / 108) = 59 waves
    assert r.tiling["tiles"][0] == 6272
    assert r.tiling["waves"][0] == math.ceil(6272 / SMS) == 59
    # the 192-wide tile's fewer waves are faster: what the model chose before the flag
    on = gemm_time(M, N, K, lib, "fp16")
    assert r.time_s[0] < on.time_s[0]
