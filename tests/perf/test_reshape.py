"""Reconfigurable systolic arrays (the chip file's ``reshape_factor``, ChipParams ``mu_reshape``):
an array of R x C MACs that also runs as (R/f) x (C*f) and (R*f) x (C/f), each GEMM and attention
taking its fastest shape (docs/perf-model.md, "Reconfigurable arrays"). Gaudi 2's MMEs do
(chips/gaudi2.yaml: 256 x 256, 128 x 512 or 512 x 128). Values are worked out by hand in the
comments from the documented formulas."""

from __future__ import annotations

import json

import pytest

from fabless.hardware import load_chip
from fabless.perf.attention import attention_time
from fabless.perf.gemm import gemm_time
from fabless.perf.params import ChipParams


def one_array(reshape: float) -> ChipParams:
    """One 256 x 256 array at 1 GHz (2 x 65536 x 1e9 = 131.072 TFLOP/s bf16), every efficiency 1, no
    launch cost, HBM so fast that compute bounds every GEMM here."""
    return ChipParams.from_arrays(
        kind="systolic_array", peak_flops_per_s={"bf16": 2 * 65536 * 1e9}, cores=1, mu_count=1, mu_rows=256,
        mu_cols=256, mu_reshape=reshape, hbm_bytes_per_s=1e18, boost_clock_hz=1e9, sustained_clock_hz=1e9,
        sram_per_core_bytes=32 * 2**20, sram_shared_bytes=0.0, mma_efficiency=1.0, hbm_efficiency=1.0,
        launch_overhead_s=0.0, attention_mma_ratio=1.0, family="default-systolic")


def test_gemv_streams_its_weights_through_the_wide_shape():
    # m=1, k=n=4096. Fixed 256 x 256: ceil(4096/256) x ceil(4096/256) = 256 passes of max(1, 256) = 256
    # cycles, plus one fill-and-drain of 256 + 256: 65536 + 512 = 66048 cycles = 66.048 us at 1 GHz.
    fixed = gemm_time(1, 4096, 4096, one_array(1.0), "bf16")
    assert float(fixed.compute_s[0]) == pytest.approx(66.048e-6, rel=1e-12)
    # f = 2, wide 128 x 512: 32 x 8 = 256 passes of max(1, 128) = 128 cycles, plus 128 + 512:
    # 32768 + 640 = 33408 cycles. (High 512 x 128: 8 x 32 passes of 512 cycles, 131712: slower.)
    wide = gemm_time(1, 4096, 4096, one_array(2.0), "bf16")
    assert float(wide.compute_s[0]) == pytest.approx(33.408e-6, rel=1e-12)
    assert (float(wide.tiling["tile_m"][0]), float(wide.tiling["tile_n"][0])) == (128.0, 512.0)


def test_a_square_gemm_keeps_the_square_shape():
    # m=k=n=4096: every shape does 4096^3 MACs in 256 passes of 4096 cycles (the rows stream), so the
    # square one's smaller fill-and-drain (512 against 640 cycles) wins: 1048576 + 512 = 1049088 cycles.
    r = gemm_time(4096, 4096, 4096, one_array(2.0), "bf16")
    assert float(r.compute_s[0]) == pytest.approx(1049088e-9, rel=1e-12)
    assert (float(r.tiling["tile_m"][0]), float(r.tiling["tile_n"][0])) == (256.0, 256.0)


def test_decode_attention_takes_the_shape_of_least_time():
    # Multi-head decode: 1 query row per KV head, head_dim 128 = v_head_dim. Per shape, the row fill
    # (1 row padded to R) times the head-dimension fill (256 / (128/fill_rows + 128/fill_cols)):
    # 256 x 256: 1/256 x 256/(256 + 256) = 1/512; 128 x 512: 1/128 x 256/(128 + 512) = 1/320;
    # 512 x 128: 1/512 x 256/(512 + 128) = 1/1280. Compute = FLOPs / (peak x fill).
    flops = 2 * 1 * 32 * 4096 * (128 + 128)
    peak = 2 * 65536 * 1e9
    fixed = attention_time(1, 1, 4096, 32, 128, one_array(1.0), "bf16", phase="decode")
    wide = attention_time(1, 1, 4096, 32, 128, one_array(2.0), "bf16", phase="decode")
    assert float(fixed.compute_s[0]) == pytest.approx(flops / (peak / 512), rel=1e-12)
    assert float(wide.compute_s[0]) == pytest.approx(flops / (peak / 320), rel=1e-12)


def test_gaudi2_batch1_decode_gemm_is_hbm_bound():
    # Llama-3-8B's MLP up projection at batch 1 on Gaudi 2: m=1, k=4096, n=14336, bf16 weights
    # 4096 x 14336 x 2 = 117.44 MB. Wide MMEs take 2 x 512 weights a cycle: 2 x 512 x 2 B x 1.648 GHz
    # = 3.375 TB/s (times the family's mma_efficiency, at most 1), above the 2.46 TB/s HBM x 0.9 =
    # 2.214 TB/s once the efficiency is above 0.66: HBM-bound, 117.44e6 / 2.214e12 = 53.0 us (plus
    # the few activation bytes).
    chip = ChipParams.from_chip("gaudi2")
    eff = float(chip.mma_efficiency[0])
    assert eff > 2.46e12 * 0.9 / 3.375e12
    weights = 4096 * 14336 * 2
    r = gemm_time(1, 14336, 4096, chip, "bf16")
    assert float(r.memory_s[0]) == pytest.approx(weights / (2.46e12 * 0.9), rel=0.002)
    assert float(r.compute_s[0]) < float(r.memory_s[0])
    # the fixed 256 x 256 shape took 256 weights a cycle per MME: 2 x 256 x 2 x 1.648e9 = 1.688 TB/s
    # (x the efficiency), compute-bound at 117.44e6 / 1.688e12 = 69.6 us at efficiency 1 (plus one
    # fill of 512 cycles, 0.3 us)
    fixed = gemm_time(1, 14336, 4096, chip.replace(mu_reshape=1.0), "bf16")
    assert float(fixed.compute_s[0]) == pytest.approx(weights / (2 * 256 * 2 * 1.648e9 * eff), rel=0.01)
    assert float(fixed.compute_s[0]) > float(fixed.memory_s[0])


def test_gaudi2_preset_declares_its_mme_shapes():
    mu = load_chip("gaudi2").compute.matrix_units
    assert (mu.rows, mu.cols, mu.reshape_factor) == (256, 256, 2)
    assert ChipParams.from_chip("h100-sxm").mu_reshape[0] == 1.0  # a fixed shape where none is given


@pytest.mark.parametrize("factor, bad", [(3, "must divide rows"), (2, "applies to a systolic_array")])
def test_a_reshape_factor_that_cannot_be_built_is_one_line(cli, tmp_path, factor, bad):
    doc = json.loads(load_chip("gaudi2" if "divide" in bad else "h100-sxm").model_dump_json())
    doc["compute"]["matrix_units"]["reshape_factor"] = factor
    path = tmp_path / "chip.yaml"  # JSON is YAML
    path.write_text(json.dumps(doc))
    res = cli("chips", "validate", str(path))
    assert res.code == 2
    assert "reshape_factor" in res.err and bad in res.err
    assert "Traceback" not in res.err and len(res.err.strip().splitlines()) == 1
