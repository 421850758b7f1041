"""The systolic GEMM's pipeline fill (perf/gemm.py ``_systolic_fill``, docs/perf-model.md
"Pipeline fill (systolic)"): the first K step's operand load (or, memory-bound, its multiply) is
not hidden. Values worked out by hand in the comments from the chip files' datasheet figures and
the formula in the docs, never pasted from the code's output."""

from __future__ import annotations

import pytest

from fabless.hardware.presets import load_chip
from fabless.perf.gemm import gemm_time
from fabless.perf.params import ChipParams
from fabless.perf.resident import resident_time

# TPU7x chiplet (chips/tpu-v7-chiplet.yaml): 1153.5 TFLOP/s bf16, 3690 GB/s HBM; default-systolic:
# mma_efficiency 0.85, hbm_efficiency 0.9, no VMEM size listed so the 32 MiB scratchpad default.
V7_RATE = 1153.5e12 * 0.85  # 980.475 TFLOP/s
V7_BW = 3690e9 * 0.9  # 3.321 TB/s
# Output block side T: double-buffered T x 512 bf16 panels of A and B in 0.85 of 32 MiB:
# T = 0.85 x 33,554,432 / (4 x 512 x 2) = 6963.2, so any side up to 6963 is one block.


def _v7() -> ChipParams:
    return ChipParams.from_chip(load_chip("tpu-v7-chiplet"))


def test_compute_bound_gemm_pays_its_first_panel_load():
    # 2048^3: first step loads A's 2048 x 512 and B's 512 x 2048 bf16 panels, 4,194,304 B:
    # 4,194,304 / 3.321e12 = 1.26297 us; its multiply, 2 x 2048 x 2048 x 512 / 980.475e12 = 4.3805 us,
    # is longer, so the load is the bubble.
    p = _v7()
    r = gemm_time(2048, 2048, 2048, p, "bf16")
    fill = float(r.overhead_s[0] - p.launch_overhead_s[0])
    assert fill == pytest.approx(4_194_304 / V7_BW, rel=1e-9)
    assert fill == pytest.approx(1.26297e-6, rel=1e-5)
    assert 2 * 2048 * 2048 * 512 / V7_RATE > fill


def test_memory_bound_gemm_pays_only_its_first_multiply():
    # m = 1 (decode), n = k = 4096: the first step loads 1 x 512 + 512 x 4096 bf16 = 4,195,328 B
    # (1.2633 us) but multiplies only 2 x 1 x 4096 x 512 = 4,194,304 FLOP: 4.2778 ns. The weight
    # stream is the pipeline; its bubble is the first multiply.
    r = gemm_time(1, 4096, 4096, _v7(), "bf16")
    fill = float(r.overhead_s[0] - _v7().launch_overhead_s[0])
    assert fill == pytest.approx(4_194_304 / V7_RATE, rel=1e-9)
    assert fill == pytest.approx(4.2778e-9, rel=1e-4)


def test_short_k_is_one_panel_deep():
    # k = 256 < 512: the first (and only) step is 256 deep: (4096 + 4096) x 256 x 2 B = 4,194,304 B
    # against 2 x 4096 x 4096 x 256 / 980.475e12 = 8.76 us of multiply: the load, 1.26297 us.
    r = gemm_time(4096, 4096, 256, _v7(), "bf16")
    assert float(r.overhead_s[0] - _v7().launch_overhead_s[0]) == pytest.approx(4_194_304 / V7_BW, rel=1e-9)


def test_gpu_tiles_have_no_systolic_fill():
    # The GPU tile mapping has its own per-wave tile_overhead_s (0 in default-gpu): the fixed cost
    # per kernel stays the launch overhead.
    p = ChipParams.from_chip(load_chip("h100-sxm"))
    r = gemm_time(2048, 2048, 2048, p, "bf16")
    assert float(r.overhead_s[0]) == float(p.launch_overhead_s[0])


def test_resident_operands_fill_from_sram():
    # One 128x128 array at 1 GHz (32.768 TFLOP/s), 1 TB/s HBM, 64 MB scratchpad, no launch cost.
    # 4096 x 128 x 128: A + B + C = (4096x128 + 128x128 + 4096x128) x 2 B = 2,129,920 B read once:
    # 2.12992 us from HBM. First step: (4096 + 128) x 128 x 2 B = 1,081,344 B = 1.081344 us (its
    # multiply, 4.096 us, is longer). With every byte in SRAM at 10 TB/s the traffic takes 0.212992 us
    # and the first step's load 0.1081344 us.
    chip = ChipParams.from_arrays(kind="systolic_array", peak_flops_per_s={"bf16": 2 * 128 * 128 * 1e9}, cores=1,
                                  mu_count=1, mu_rows=128, mu_cols=128, hbm_bytes_per_s=1e12, boost_clock_hz=1e9,
                                  sustained_clock_hz=1e9, sram_per_core_bytes=64e6, sram_shared_bytes=0.0,
                                  mma_efficiency=1.0, hbm_efficiency=1.0, launch_overhead_s=0.0,
                                  family="default-systolic")
    r = gemm_time(4096, 128, 128, chip, "bf16")
    assert float(r.memory_s[0]) == pytest.approx(2.12992e-6, rel=1e-9)
    assert float(r.overhead_s[0]) == pytest.approx(1.081344e-6, rel=1e-9)
    res = resident_time(r, 2_129_920, 10e12)
    assert float(res.memory_s[0]) == pytest.approx(0.212992e-6, rel=1e-9)
    assert float(res.overhead_s[0]) == pytest.approx(0.1081344e-6, rel=1e-9)
