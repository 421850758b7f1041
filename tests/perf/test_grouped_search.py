"""The systolic tiling search of many designs, done once per distinct array shape and count
(``ChipParams.array_shapes``), against each design searched on its own (the scalar path, one
design at a time: a per-design brute force over the splits of m), bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from fabless.perf.gemm import gemm_time
from fabless.perf.params import ChipParams

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the NaN and zero rates, as intended


def designs(n: int = 300) -> ChipParams:
    """Systolic designs sharing a few array shapes and counts (as a design search's do), with
    continuous clocks, bandwidths and SRAM; design 0 has no bf16 path (NaN peak) and design 1 a
    zero peak, where the shortcut does not apply."""
    rng = np.random.default_rng(3)
    bf16 = rng.uniform(2e14, 3e15, n)
    bf16[0], bf16[1] = np.nan, 0.0
    return ChipParams.from_arrays(
        kind="systolic_array", peak_flops_per_s={"bf16": bf16, "fp8": 2 * bf16}, cores=rng.choice([1, 2, 4], n),
        mu_count=rng.integers(4, 9, n), mu_rows=rng.choice([128, 256], n), mu_cols=rng.choice([128, 256], n),
        hbm_bytes_per_s=rng.uniform(1e12, 8e12, n), boost_clock_hz=rng.uniform(1e9, 2.4e9, n),
        sram_per_core_bytes=rng.uniform(1.6e7, 2.6e8, n), sram_shared_bytes=rng.choice([0.0, 6.7e7], n),
        family="default-systolic")


def one(p: ChipParams, i: int) -> ChipParams:
    return ChipParams.from_arrays(
        kind="systolic_array", peak_flops_per_s={d: p.peak_flops_per_s[d][i] for d in ("bf16", "fp8")},
        cores=p.cores[i], mu_count=p.mu_count[i], mu_rows=p.mu_rows[i], mu_cols=p.mu_cols[i],
        hbm_bytes_per_s=p.hbm_bytes_per_s[i], boost_clock_hz=p.boost_clock_hz[i],
        sram_per_core_bytes=p.sram_per_core_bytes[i], sram_shared_bytes=p.sram_shared_bytes[i],
        family="default-systolic")


def test_array_shapes_name_each_designs_own():
    p = designs()
    shapes, inverse = p.array_shapes
    assert shapes.shape[1] <= 2 * 2 * 5 < len(p)  # a few shapes shared by many designs
    np.testing.assert_array_equal(shapes[:, inverse], np.stack([p.array_rows, p.array_cols, p.mu_count]))
    assert len({tuple(c) for c in shapes.T}) == shapes.shape[1]  # each combination once


@pytest.mark.parametrize("m, n, k, batch", [(1, 1280, 8192, 1), (64, 8192, 1024, 1), (2048, 7168, 8192, 1),
                                            (129, 257, 4096, 3), (65536, 64, 512, 1)])
@pytest.mark.parametrize("dtype", ["bf16", "fp8"])
def test_grouped_search_equals_each_design_searched_alone(m, n, k, batch, dtype):
    p = designs()
    many = gemm_time(m, n, k, p, dtype, batch=batch)
    for i in range(1, len(p), 7):  # design 0 alone has no bf16 path at all: an error, not NaN
        alone = gemm_time(m, n, k, one(p, i), dtype, batch=batch)
        for name in ("time_s", "compute_s", "memory_s"):
            np.testing.assert_array_equal(getattr(alone, name), getattr(many, name)[i:i + 1], err_msg=name)
        for key in ("m_chunks", "waves", "tiles", "tiling_utilisation", "hbm_traffic_bytes"):
            np.testing.assert_array_equal(alone.tiling[key], many.tiling[key][i:i + 1], err_msg=key)
    assert np.isnan(many.compute_s[0]) and np.isinf(many.compute_s[1])
    # every split's time is NaN (no path) or inf (zero rate): a search over them keeps the first
    np.testing.assert_array_equal(many.tiling["m_chunks"][:2], [1.0, 1.0])
