"""Kernel libraries (data/perf/libraries.yaml): a benchmark harness's own 8-bit efficiency."""

from __future__ import annotations

import pytest

from fabless.errors import FablessError
from fabless.perf.gemm import gemm_time
from fabless.perf.libraries import libraries, library, library_for_source, with_library
from fabless.perf.params import ChipParams


def test_library_sets_its_family_values_only():
    lib = library("azure-benchmarking-guide")
    h100, a100 = ChipParams.from_chip("h100-sxm"), ChipParams.from_chip("a100-sxm")
    assert float(with_library(h100, lib).mma_8bit_ratio[0]) == pytest.approx(0.93)
    assert float(with_library(a100, lib).mma_8bit_ratio[0]) == float(a100.mma_8bit_ratio[0])  # no ampere value
    assert with_library(h100, None) is h100


def test_a_compute_bound_fp8_gemm_slows_by_the_ratio():
    # 16384^3 in FP8 on H100 is compute-bound: its time scales as 1 / mma_8bit_ratio (1.0 -> 0.93);
    # the per-wave tile overheads (the family's and the library's, tests/perf/test_tile_overhead.py) are left out here
    h100 = ChipParams.from_chip("h100-sxm").replace(tile_overhead_s=0.0)
    base = float(gemm_time(16384, 16384, 16384, h100, "fp8").time_s[0])
    no_tau = with_library(h100, library("azure-benchmarking-guide")).replace(tile_overhead_s=0.0)
    lib = float(gemm_time(16384, 16384, 16384, no_tau, "fp8").time_s[0])
    assert lib / base == pytest.approx(1 / 0.93, rel=0.02)
    # a 16-bit GEMM does not change but for the tile overhead: 4096^3 in 128x256 tiles is 512 tiles,
    # 4 waves on 132 SMs, each 2.50 us longer than with no overhead, 2.50 - 0.85 = 1.65 us longer than the family's
    # (compute-bound: the exposed part of a K step is the memory side's, the same with either overhead)
    assert float(gemm_time(4096, 4096, 4096, no_tau, "bf16").time_s[0]) == \
        pytest.approx(float(gemm_time(4096, 4096, 4096, h100, "bf16").time_s[0]), rel=1e-12)
    family = ChipParams.from_chip("h100-sxm")
    lib16 = gemm_time(4096, 4096, 4096, with_library(family, library("azure-benchmarking-guide")), "bf16")
    assert float(lib16.tiling["waves"][0]) == 4
    assert float(lib16.time_s[0]) - float(gemm_time(4096, 4096, 4096, h100, "bf16").time_s[0]) == pytest.approx(4 * 2.50e-6)
    assert float(lib16.time_s[0]) - float(gemm_time(4096, 4096, 4096, family, "bf16").time_s[0]) == \
        pytest.approx(4 * (2.50e-6 - 0.85e-6))


def test_rows_find_their_library_and_unknown_names_are_one_line():
    assert library_for_source("Azure AI-benchmarking-guide, Azure_Results/ND_H100_v5_results.md").name == "azure-benchmarking-guide"
    assert library_for_source("MLPerf Training v3.1") is None
    for lib in libraries().values():
        assert lib.rows and lib.date
    with pytest.raises(FablessError, match="library") as exc:
        library("cublas-99")
    assert "\n" not in str(exc.value)


def test_blackwell_fp8_gemms_run_at_the_cublaslt_fraction():
    # B200: 4500 TFLOP/s dense FP8 (chip file), mma_efficiency 0.678 (fitted on the B200 BF16 GEMM tables)
    # x mma_8bit_ratio 0.847 (families.yaml, fitted on kernel-bw-003/-005/-008); 16384^3 is compute-bound and
    # tiles well (<= 2% wave loss; 64 waves of 0.05 us tile overhead and the exposed part of a K step add under 0.1%). The product,
    # 0.574 of the FP8 peak, is what GB200's cuBLASLt FP8 GEMMs
    # reach at the large shapes (kernel-bw-005: 2819.5 TFLOP/s at 16384^3 on a 5000 TFLOP/s peak = 0.564)
    b200 = ChipParams.from_chip("b200")
    t = float(gemm_time(16384, 16384, 16384, b200, "fp8").time_s[0])
    assert t == pytest.approx(2 * 16384 ** 3 / (4500e12 * 0.678 * 0.847), rel=0.03)
    # the harness library adds nothing on Blackwell: its fraction is the family's
    assert float(with_library(b200, library("azure-benchmarking-guide")).mma_8bit_ratio[0]) == pytest.approx(0.847)


def test_library_values_carry_their_own_provenance():
    # --explain cites the library's fit, not the family's default, for the values it replaces
    p = with_library(ChipParams.from_chip("mi300x"), library("azure-benchmarking-guide"))
    src = p.sources[0]["tile_overhead_s"]
    assert src["library"] == "azure-benchmarking-guide" and src["confidence"] == "calibrated"
    assert src["fitted_on"] == ["kernel-amd-001", "kernel-amd-007"]
    assert p.sources[0]["mma_8bit_ratio"]["fitted_on"] == ["kernel-amd-003", "kernel-amd-005", "kernel-amd-008"]
    assert "library" not in p.sources[0]["mma_efficiency"]  # not set by the library: the family's


#: each table library -> the chip families it holds values for (A100's TensorRT-LLM table is release 1.0.0)
GEMM_TABLES = {"aiconfigurator-trtllm-1.3.0rc10": {"nvidia-hopper", "nvidia-blackwell"},
               "aiconfigurator-sglang-0.5.9": {"nvidia-hopper", "nvidia-blackwell", "nvidia-ampere"},
               "aiconfigurator-trtllm-1.0.0": {"nvidia-ampere"}}


@pytest.mark.parametrize("name", GEMM_TABLES)
def test_gemm_table_libraries_hold_what_their_fit_gives(name):
    # scripts/fit_gemm_tables.py: the families' rule on one table's fit rows; the file rounds the rate to 3 digits
    from fabless.validate import kernel

    fitted = kernel.calibrate_library(name)
    lib = library(name)
    assert set(fitted) == GEMM_TABLES[name]
    for fam, values in fitted.items():
        shipped = lib.values_for(fam)
        assert set(shipped) == set(values), (fam, shipped)
        assert shipped["mma_efficiency"] == pytest.approx(values["mma_efficiency"], abs=6e-4), fam
        if "tile_overhead_s" in values:
            assert shipped["tile_overhead_s"] == pytest.approx(values["tile_overhead_s"], abs=1e-12), fam
    # its fit rows are fit rows of the families too: the tables' split is unchanged
    assert set(lib.rows) <= kernel.FIT_IDS


def test_a_table_row_is_predicted_at_its_tables_rate():
    from fabless.validate import kernel
    from fabless.validate.core import load_rows

    rows = {r["id"]: r for r in load_rows()}
    # kernel-aic-063 (H100, TensorRT-LLM table, m 4096, n 16384, k 16384) and kernel-aic-090 (the same shape, SGLang's)
    trt, sgl = rows["kernel-aic-063"], rows["kernel-aic-090"]
    assert library_for_source(trt["source"]).name == "aiconfigurator-trtllm-1.3.0rc10"
    assert library_for_source(sgl["source"]).name == "aiconfigurator-sglang-0.5.9"
    # compute-bound, 256 K-steps of 64 a tile: the rate scales as mma_efficiency (0.825 and 0.739 against the
    # family's 0.778); the per-wave overheads (1.15 and 0.85 us over 16 waves) move it by under 0.5%
    family = ChipParams.from_chip("h100-sxm")
    base = float(gemm_time(4096, 16384, 16384, family, "bf16").time_s[0])
    assert base / float(gemm_time(4096, 16384, 16384, with_library(family, library("aiconfigurator-trtllm-1.3.0rc10")), "bf16").time_s[0]) \
        == pytest.approx(0.825 / 0.778, rel=0.005)
    assert base / float(gemm_time(4096, 16384, 16384, with_library(family, library("aiconfigurator-sglang-0.5.9")), "bf16").time_s[0]) \
        == pytest.approx(0.739 / 0.778, rel=0.005)
    # and the two rows, measured 787.5 and 675.1 TFLOP/s, come out within 5% and 10% of the tables' rates
    assert kernel.predict(trt) == pytest.approx(float(trt["value"]), rel=0.05)
    assert kernel.predict(sgl) == pytest.approx(float(sgl["value"]), rel=0.10)


def test_attention_kernel_libraries_match_the_kernel_text_and_scale_the_loop():
    from fabless.perf.attention import attention_time

    kernel = "Triton fused-attention tutorial kernel (triton_tutorial_flash_v2)"
    assert library_for_source("pytorch/benchmark pull request #2296", kernel).name == "triton-tutorial-attention"
    assert library_for_source("x", "Colfax CUTLASS FMHA for Hopper").name == "colfax-cutlass-fmha"
    # since stop 54 nvidia-hopper describes cuDNN, and FlashAttention-3 is a library of its own
    assert library_for_source("x", "FlashAttention-3 (hopper/)").name == "flash-attention-3-2024"
    assert library_for_source("x", "cuDNN 9.19.1 SDPA fprop") is None
    fam = ChipParams.from_chip("h100-sxm")
    for name in ("triton-tutorial-attention", "colfax-cutlass-fmha", "flash-attention-3-2024"):
        lib = with_library(fam, library(name))
        r_lib, r_fam = float(lib.attention_mma_ratio[0]), float(fam.attention_mma_ratio[0])
        assert 0.4 < r_lib < r_fam  # slower than the chip's cuDNN, by the fit
        # a library sets its own per-tile overhead too; with the same overhead, a long 16-bit head-128 attention is
        # bound by its products at both rates (the overhead is counted in block-times), so its time scales by the
        # ratio of the ratios, by hand
        own = library(name).values_for("nvidia-hopper")["attention_overhead_blocks"]
        assert float(lib.attention_overhead_blocks[0]) == own
        same = lib.replace(attention_overhead_blocks=fam.attention_overhead_blocks)
        t_lib = float(attention_time(8, 8192, 8192, 16, 128, same, causal=True).time_s[0])
        t_fam = float(attention_time(8, 8192, 8192, 16, 128, fam, causal=True).time_s[0])
        assert t_lib / t_fam == pytest.approx(r_fam / r_lib, rel=1e-3)
        # on a family the library has no value for, the family's own ratio stays
        mi = ChipParams.from_chip("mi300x")
        assert with_library(mi, library(name)).attention_mma_ratio[0] == mi.attention_mma_ratio[0]
