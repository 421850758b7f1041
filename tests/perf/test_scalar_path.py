"""The operator models' scalar path (one design, Python floats) against their array path.

Every model is evaluated two ways (see ``fabless.perf.params.OneDesign``): on numpy arrays
over designs -- the reference -- and, for a ChipParams of one design, on Python floats.
Here every result of the scalar path must equal the array path's entry for the same design
exactly: times, terms, FLOPs, bytes, peaks and every tiling field, on every chip preset
and on random designs, over a grid of shapes. The array path runs on several designs at
once (mixed tensor-core and systolic designs, and designs of one kind), so it never takes
the scalar path itself.
"""

from __future__ import annotations

import itertools
from dataclasses import fields

import numpy as np
import pytest

from fabless.errors import FablessError
from fabless.hardware import chip_names, load_chip
from fabless.perf.attention import attention_time
from fabless.perf.gemm import gemm_time
from fabless.perf.memory import elementwise_time, hbm_read_time, memcpy_time, norm_time, stream_time
from fabless.perf.params import ChipParams, concat
from fabless.perf.result import OpTime

#: the accelerator presets (a kind: cpu chip runs the CPU model, tests/perf/test_cpu.py)
PRESETS = [c for c in chip_names() if load_chip(c).kind != "cpu"]


def take(p: ChipParams, i: int) -> ChipParams:
    """Design ``i`` of ``p`` as a one-design ChipParams (fresh arrays)."""
    kw = {}
    for f in fields(ChipParams):
        v = getattr(p, f.name)
        if f.name in ("name", "family", "sources"):
            kw[f.name] = v[i:i + 1]
        elif f.name == "peak_flops_per_s":
            kw[f.name] = {d: a[i:i + 1].copy() for d, a in v.items()}
        else:
            kw[f.name] = v[i:i + 1].copy()
    return ChipParams(**kw)


def random_designs(n: int = 16) -> ChipParams:
    """Random GPUs and systolic designs, mixed block sizes, some scratchpads too small for any
    tile, some shared SRAMs big enough to hold a whole GEMM, and GPUs and arrays with and without an
    exposed part of a K step (the split-K search's two branches; an array's unoverlapped K panels)."""
    rng = np.random.default_rng(7)
    gpus = ChipParams.from_arrays(
        peak_flops_per_s={"bf16": rng.uniform(2e14, 3e15, n), "fp8": rng.uniform(4e14, 6e15, n),
                          "fp32": rng.uniform(2e13, 1e14, n)},
        cores=rng.integers(1, 300, n), hbm_bytes_per_s=rng.uniform(1e11, 1e13, n),
        boost_clock_hz=rng.uniform(1e9, 2.5e9, n), sram_per_core_bytes=rng.choice([8e3, 64e3, 228 * 1024, 1e6], n),
        sram_shared_bytes=rng.choice([0.0, 5e7, 1e10], n), attention_block=rng.choice([64.0, 128.0], n),
        launch_overhead_s=rng.uniform(0, 1e-5, n), gemm_exposed_steps=rng.choice([0.0, 0.3, 1.0], n),
        family="nvidia-hopper")
    arrays = ChipParams.from_arrays(
        kind="systolic_array", peak_flops_per_s={"bf16": rng.uniform(2e14, 3e15, n), "int8": rng.uniform(4e14, 6e15, n)}, cores=rng.integers(1, 8, n),
        mu_count=rng.integers(1, 32, n), mu_rows=rng.choice([64, 128, 256], n), mu_cols=rng.choice([128, 256], n),
        mu_reshape=rng.choice([1.0, 2.0], n), mu_split=rng.choice([1.0, 2.0], n),
        hbm_bytes_per_s=rng.uniform(1e11, 1e13, n), boost_clock_hz=rng.uniform(1e9, 2e9, n),
        sram_per_core_bytes=rng.uniform(1e5, 1.3e8, n), sram_shared_bytes=rng.choice([0.0, 1e9], n),
        attention_block=rng.choice([128.0, 256.0], n), gemm_exposed_steps=rng.choice([0.0, 2.1], n),
        family="default-systolic")
    return concat([gpus, arrays])


ALL = concat([ChipParams.from_chip(c) for c in PRESETS])
RANDOM = random_designs()
SINGLES = {"preset": [ChipParams.from_chip(c) for c in PRESETS],
           "random": [take(RANDOM, i) for i in range(len(RANDOM))]}
MANY = {"preset": ALL, "random": RANDOM}


def assert_same(one: OpTime, many: OpTime, i: int) -> None:
    """``one`` (a one-design result) equals design ``i`` of ``many``, bit for bit."""
    assert (one.op, one.model) == (many.op, many.model)
    for name in ("time_s", "compute_s", "memory_s", "overhead_s", "flops", "bytes", "peak_flops_per_s",
                 "peak_bytes_per_s"):
        a, b = getattr(one, name), getattr(many, name)
        assert a.shape == (1,) and a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b[i:i + 1], err_msg=name, strict=True)
    assert list(one.tiling) == list(many.tiling)
    for key, v in many.tiling.items():
        w = one.tiling[key]
        if isinstance(v, np.ndarray) and v.shape == many.time_s.shape:
            assert isinstance(w, np.ndarray) and w.shape == (1,) and w.dtype == v.dtype, key
            np.testing.assert_array_equal(w, v[i:i + 1], err_msg=key, strict=True)
        else:
            assert type(w) is type(v) and w == v, key
    assert repr(one.row()) == repr(many.row(i))


def check(fn, *, which: str) -> None:
    """``fn(chip)`` on every single design of ``which`` against the array path on all of them,
    and on each design twice over; a design the scalar path rejects (no matrix path for the
    dtype) is NaN in the mixed array call and rejected twice over."""
    many = fn(MANY[which])
    for i, single in enumerate(SINGLES[which]):
        assert single.single is not None
        try:
            one = fn(single)
        except FablessError as e:
            assert np.isnan(many.time_s[i]), single.name
            with pytest.raises(FablessError, match=str(e)[:20]):
                fn(concat([single, single]))
            continue
        assert_same(one, many, i)  # the array path's index-array branch: kinds mixed
        assert_same(one, fn(concat([single, single])), 1)  # its slice branch: one kind


GEMM_SHAPES = [(1, 1, 1), (1, 8192, 8192), (17, 129, 4096), (128, 128, 128), (129, 1000, 257),
               (4096, 4096, 4096), (8192, 8192, 8192), (8192, 28672, 8192), (65536, 64, 512)]


@pytest.mark.parametrize("which", ["preset", "random"])
@pytest.mark.parametrize("dtype", ["bf16", "fp8", "fp32", "int8"])
def test_gemm(which, dtype):
    for (m, n, k), batch, b_shared in itertools.product(GEMM_SHAPES, (1, 3), (False, True)):
        check(lambda p: gemm_time(m, n, k, p, dtype, batch=batch, b_shared=b_shared), which=which)


@pytest.mark.parametrize("which", ["preset", "random"])
def test_gemm_options(which):
    check(lambda p: gemm_time(4096, 4096, 4096, p, tiles=[(128, 128), (64, 256)]), which=which)
    check(lambda p: gemm_time(333, 4096, 4096, p, tiles=[(256, 256)]), which=which)  # too big for some
    check(lambda p: gemm_time(4096, 4096, 4096, p, "fp8", out_dtype="fp32"), which=which)
    check(lambda p: gemm_time(4096, 4096, 4096, p, model="roofline"), which=which)


ATTENTION = [
    # batch, q_len, kv_len, heads, head_dim, kv_heads, v_head_dim, latent_kv
    (1, 1, 4096, 32, 128, 8, None, False),
    (64, 1, 8192, 32, 128, 8, None, False),
    (8, 4, 8192, 16, 64, 16, None, False),
    (16, 1, 32768, 128, 576, 1, 512, True),
    (1, 16, 16, 8, 128, 1, None, False),
    (2, 100, 1000, 12, 64, 12, None, False),
    (8, 2048, 2048, 16, 128, 16, None, False),
    (1, 4096, 8192, 32, 128, 8, None, False),
    (4, 300, 300, 128, 192, 128, 128, False),
]


@pytest.mark.parametrize("which", ["preset", "random"])
@pytest.mark.parametrize("case", ATTENTION)
def test_attention(which, case):
    b, q, kv, h, d, kvh, dv, latent = case
    for causal, phase, dtype in itertools.product((False, True), (None, "prefill", "decode"), ("bf16", "fp8")):
        check(lambda p: attention_time(b, q, kv, h, d, p, dtype, kv_heads=kvh, v_head_dim=dv, causal=causal,
                                       phase=phase, latent_kv=latent), which=which)


@pytest.mark.parametrize("which", ["preset", "random"])
def test_memory_bound(which):
    for nbytes in (1.0, 4096, 2**30, 3.3e12):
        check(lambda p: memcpy_time(nbytes, p), which=which)
        check(lambda p: hbm_read_time(nbytes, p), which=which)
        check(lambda p: memcpy_time(nbytes, p, model="roofline"), which=which)
    for fused in (True, False):
        check(lambda p: elementwise_time(1e8, p, "fp32", n_inputs=2, flops_per_element=3, n_ops=4, fused=fused),
              which=which)
    for kind, residual in itertools.product(("rmsnorm", "layernorm"), (False, True)):
        check(lambda p: norm_time(8192, 4096, p, kind=kind, fused_ops=2, residual=residual), which=which)
    check(lambda p: stream_time("router", 1e6, 2e3, 5e9, p), which=which)


def test_single_is_none_for_many_designs():
    assert ALL.single is None
    assert ChipParams.from_chip("h100-sxm").single.cores == float(ALL.cores[PRESETS.index("h100-sxm")])


def test_degenerate_design_falls_back_to_the_array_path():
    """A zero rate makes Python's float division raise where numpy gives inf: the scalar path
    hands the design to the array path, which answers as it does for many designs."""
    p = take(RANDOM, 0).replace(operand_bytes_per_cycle_per_core=0.0)
    with np.errstate(all="ignore"):
        one = gemm_time(4096, 4096, 4096, p)
        many = gemm_time(4096, 4096, 4096, concat([p, p]))
    assert_same(one, many, 0)
