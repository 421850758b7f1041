"""The single-chip operator models: hand-computed cases and physical invariants.

Hand-computed values are worked out in the comments from the formulas in
docs/perf-model.md, never pasted from the code's output."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fabless.errors import FablessError
from fabless.perf.attention import attention_time, mask_pairs
from fabless.perf.gemm import gemm_time
from fabless.perf.memory import elementwise_time, hbm_read_time, memcpy_time, norm_time
from fabless.perf.params import ChipParams, families

KIB = 1024


def ideal_gpu(**kw):
    """A GPU with round numbers and every efficiency 1: 132 cores, 132 TFLOP/s bf16
    (1 TFLOP/s per core), 1 TB/s HBM, 50 MB L2, no launch cost."""
    args = dict(peak_flops_per_s={"bf16": 132e12}, cores=132, hbm_bytes_per_s=1e12, boost_clock_hz=1e9,
                sustained_clock_hz=1e9, sram_per_core_bytes=228 * KIB, sram_shared_bytes=50e6,
                mma_efficiency=1.0, hbm_efficiency=1.0, launch_overhead_s=0.0,
                operand_bytes_per_cycle_per_core=1e9, attention_mma_ratio=1.0)
    args.update(kw)
    return ChipParams.from_arrays(**args)


def one_array(**kw):
    """One 128x128 systolic array at 1 GHz: 2 x 16384 x 1e9 = 32.768 TFLOP/s."""
    args = dict(kind="systolic_array", peak_flops_per_s={"bf16": 2 * 128 * 128 * 1e9}, cores=1, mu_count=1,
                mu_rows=128, mu_cols=128, hbm_bytes_per_s=1e15, boost_clock_hz=1e9, sustained_clock_hz=1e9,
                sram_per_core_bytes=64e6, sram_shared_bytes=0.0, mma_efficiency=1.0, hbm_efficiency=1.0,
                launch_overhead_s=0.0, family="default-systolic")
    args.update(kw)
    return ChipParams.from_arrays(**args)


# ---------------------------------------------------------------------------- hand-computed


def test_gemm_exactly_one_wave_on_a_gpu():
    # 1408 = 11 x 128 rows, 1536 = 12 x 128 columns: 132 tiles of 128x128 = one per core.
    # Each core: 2 x 128 x 128 x 4096 = 134,217,728 FLOP at 1 TFLOP/s = 134.217728 us.
    # A + B + C = (1408x4096 + 4096x1536 + 1408x1536) x 2 B = 28,442,624 B < 50 MB L2, read
    # once: 28.44 us at 1 TB/s, hidden under the compute.
    r = gemm_time(1408, 1536, 4096, ideal_gpu(), "bf16", tiles=[(128, 128)])
    assert r.time_s[0] == pytest.approx(134.217728e-6, rel=1e-9)
    assert r.memory_s[0] == pytest.approx(28.442624e-6, rel=1e-9)
    assert r.bound[0] == "compute"
    assert r.tiling["waves"][0] == 1
    assert r.flops_utilisation[0] == pytest.approx(1.0)
    # One more row: 12 x 12 = 144 tiles, a second wave of 12 tiles: twice the time.
    r2 = gemm_time(1409, 1536, 4096, ideal_gpu(), "bf16", tiles=[(128, 128)])
    assert r2.tiling["waves"][0] == 2
    assert r2.time_s[0] == pytest.approx(2 * 134.217728e-6, rel=1e-9)


def test_gemm_on_a_128_array_with_a_dimension_of_129():
    # k = 128: one pass streams 4096 rows (4096 cycles) + fill and drain 128 + 128:
    # 4352 cycles = 4.352 us; utilisation 4096x128x128 / (4352 x 16384) = 16/17 = 0.941.
    r128 = gemm_time(4096, 128, 128, one_array(), "bf16")
    assert r128.time_s[0] == pytest.approx(4.352e-6, rel=1e-9)
    assert r128.tiling["tiling_utilisation"][0] == pytest.approx(16 / 17)
    # k = 129: two passes (128 + 1 rows of the array): 2 x 4096 + 256 = 8448 cycles;
    # utilisation 4096x128x129 / (8448 x 16384) = 0.4886.
    r129 = gemm_time(4096, 128, 129, one_array(), "bf16")
    assert r129.time_s[0] == pytest.approx(8.448e-6, rel=1e-9)
    assert r129.tiling["tiling_utilisation"][0] == pytest.approx(4096 * 128 * 129 / (8448 * 16384))
    # the same for n = 129 (two column blocks)
    assert gemm_time(4096, 129, 128, one_array(), "bf16").time_s[0] == pytest.approx(8.448e-6, rel=1e-9)


def test_small_m_on_a_systolic_array_is_weight_load_bound():
    # m = 8 rows: each pass still costs R = 128 cycles to load the weights: 128 + 256 cycles.
    r = gemm_time(8, 128, 128, one_array(), "bf16")
    assert r.time_s[0] == pytest.approx(384e-9, rel=1e-9)


def test_decode_step_bound_by_kv_cache_reads():
    # 8 sequences x 4096 cached tokens x 8 KV heads x (128 K + 128 V) x 2 B = 134,217,728 B,
    # plus Q and O: 8 x 32 heads x 256 x 2 B = 131,072 B. At 2 TB/s: 67.1744 us.
    # FLOPs 2 x 8 x 32 x 4096 x 256 = 536,870,912; the 4 query heads of a group fill 4 of 64
    # MMA rows: at 1 PFLOP/s x 4/64 that is 8.59 us, well under the memory time.
    chip = ideal_gpu(peak_flops_per_s={"bf16": 1e15}, hbm_bytes_per_s=2e12)
    r = attention_time(8, 1, 4096, 32, 128, chip, "bf16", kv_heads=8)
    assert r.bound[0] == "memory"
    assert r.time_s[0] == pytest.approx(134_348_800 / 2e12, rel=1e-9)
    assert r.compute_s[0] == pytest.approx(536_870_912 / (1e15 * 4 / 64), rel=1e-9)


def test_mla_decode_reads_the_latent_once_and_is_compute_heavy():
    # MLA: 1 latent head of 576 (K) whose first 512 are also V: cache bytes = 64 x 4096 x 576 x 2.
    chip = ideal_gpu(peak_flops_per_s={"bf16": 1e15}, hbm_bytes_per_s=3e12)
    r = attention_time(64, 1, 4096, 128, 576, chip, kv_heads=1, v_head_dim=512, latent_kv=True)
    cache = 64 * 4096 * 576 * 2
    qo = 64 * 128 * (576 + 512) * 2
    assert r.bytes[0] == cache + qo
    # 128 stacked heads fill two 64-row instructions completely
    assert r.tiling["row_fill"][0] == 1.0
    assert r.compute_s[0] == pytest.approx(2 * 64 * 128 * 4096 * (576 + 512) / 1e15)


def test_flash_prefill_blocks_and_overhead():
    # One core, 128 blocks, seq 256 non-causal: 2 query blocks, each walks 2 KV blocks and
    # pays 1 block of overhead: 2 waves x 3 = 6 block-times of 2x128x128x(128+128) FLOP
    # = 8,388,608 FLOP at 1 TFLOP/s: 50.331648 us.
    chip = ideal_gpu(cores=1, peak_flops_per_s={"bf16": 1e12}, attention_overhead_blocks=1.0)
    r = attention_time(1, 256, 256, 1, 128, chip, phase="prefill")
    assert r.compute_s[0] == pytest.approx(6 * 8_388_608 / 1e12, rel=1e-9)


def test_flash_prefill_softmax_bound_at_small_head_dims():
    # The same one-core chip at 1 GHz, 0.25 cycles per score for the softmax: a 128 x 128 block's 16384 scores take
    # 4.096 us. Head dimension 64: the block's products are 2x128x128x(64+64) = 4,194,304 FLOP, 4.194304 us at 1 TFLOP/s,
    # longer, so the products bound it. Each query block's overhead is one head-128 block, 8.388608 us whatever the head
    # dimension: 2 waves x (2 x 4.194304 + 8.388608) = 33.554432 us. Head dimension 32: 2,097,152 FLOP, 2.097152 us,
    # now shorter than the softmax's 4.096 us, which bounds it: 2 x (2 x 4.096 + 8.388608) = 33.161216 us.
    chip = ideal_gpu(cores=1, peak_flops_per_s={"bf16": 1e12}, attention_overhead_blocks=1.0,
                     attention_softmax_cycles=0.25)
    assert attention_time(1, 256, 256, 1, 64, chip, phase="prefill").compute_s[0] == pytest.approx(33.554432e-6)
    assert attention_time(1, 256, 256, 1, 32, chip, phase="prefill").compute_s[0] == pytest.approx(33.161216e-6)
    # with no softmax term the head-32 block is its products' 2.097152 us: 2 x (2 x 2.097152 + 8.388608) = 25.165824 us
    free = ideal_gpu(cores=1, peak_flops_per_s={"bf16": 1e12}, attention_overhead_blocks=1.0)
    assert attention_time(1, 256, 256, 1, 32, free, phase="prefill").compute_s[0] == pytest.approx(25.165824e-6)


def test_flash_prefill_overhead_is_counted_in_head_128_blocks():
    # A query block's own cost (load Q, fill the pipeline, normalise and store O) is attention_overhead_blocks blocks of
    # head dimension 128, not of the row's: at head dimension 256 a block's products are 2x128x128x512 = 16,777,216
    # FLOP, 16.777216 us at 1 TFLOP/s, and the overhead stays 8.388608 us: 2 waves x (2 x 16.777216 + 8.388608)
    # = 83.886080 us (100.663296 us if the overhead were a head-256 block)
    chip = ideal_gpu(cores=1, peak_flops_per_s={"bf16": 1e12}, attention_overhead_blocks=1.0)
    assert attention_time(1, 256, 256, 1, 256, chip, phase="prefill").compute_s[0] == pytest.approx(83.88608e-6)


def test_causal_mask_about_halves_the_work():
    assert mask_pairs(2048, 2048, True) == 2048 * 2049 / 2
    assert mask_pairs(4, 10, True) == 4 * 6 + 10  # 6 earlier keys for all, then 1+2+3+4
    chip = ChipParams.from_chip("h100-sxm")
    full = attention_time(8, 4096, 4096, 16, 128, chip, causal=False)
    half = attention_time(8, 4096, 4096, 16, 128, chip, causal=True)
    assert 0.45 < half.time_s[0] / full.time_s[0] < 0.6


def test_memcpy_moves_twice_the_bytes():
    # 1 GiB read + 1 GiB written at 1 TB/s x 0.5 = 4.294967296 ms, plus 3 us launch.
    chip = ideal_gpu(hbm_efficiency=0.5, launch_overhead_s=3e-6)
    r = memcpy_time(2**30, chip)
    assert r.time_s[0] == pytest.approx(2 * 2**30 / 0.5e12 + 3e-6, rel=1e-12)
    assert r.bound[0] == "memory"
    assert hbm_read_time(2**30, chip).time_s[0] == pytest.approx(2**30 / 0.5e12 + 3e-6)


def test_fusion_saves_trips_and_launches():
    chip = ideal_gpu(launch_overhead_s=2e-6)
    fused = elementwise_time(1e8, chip, n_ops=3, fused=True)
    unfused = elementwise_time(1e8, chip, n_ops=3, fused=False)
    # fused: 1e8 x 2 B read + written once = 4e8 B = 400 us + 2 us; unfused three times that
    assert fused.time_s[0] == pytest.approx(400e-6 + 2e-6)
    assert unfused.time_s[0] == pytest.approx(3 * (400e-6 + 2e-6))
    plain = norm_time(4096, 8192, chip)
    with_act = norm_time(4096, 8192, chip, fused_ops=2)
    assert with_act.time_s[0] == plain.time_s[0]  # fused activation: no extra traffic


def test_roofline_model_is_the_bare_bound():
    chip = ideal_gpu(launch_overhead_s=5e-6)
    r = gemm_time(8192, 8192, 8192, chip, model="roofline")
    assert r.time_s[0] == pytest.approx(2 * 8192**3 / 132e12)
    assert r.overhead_s[0] == 0


# ---------------------------------------------------------------------------- arrays


def test_many_designs_in_one_call_match_one_at_a_time():
    peaks = np.linspace(100e12, 2000e12, 7)
    bws = np.linspace(1e12, 8e12, 7)
    many = gemm_time(4096, 4096, 1024, ideal_gpu(peak_flops_per_s={"bf16": peaks}, hbm_bytes_per_s=bws))
    for i in range(7):
        one = gemm_time(4096, 4096, 1024, ideal_gpu(peak_flops_per_s={"bf16": peaks[i]}, hbm_bytes_per_s=bws[i]))
        assert many.time_s[i] == pytest.approx(one.time_s[0], rel=1e-12)


def test_mixed_kinds_in_one_call():
    p = ChipParams.from_chips(["h100-sxm", "tpu-v5p"])
    r = gemm_time(4096, 4096, 4096, p)
    assert list(r.tiling["mapping"]) == ["tiles", "systolic"]
    assert np.all(r.time_s > 0)


def test_bad_inputs_are_one_line_errors():
    chip = ideal_gpu()
    for call in (lambda: gemm_time(0, 1, 1, chip), lambda: gemm_time(1, 1, 1, chip, "fp4"),
                 lambda: attention_time(1, 1, 8, 6, 64, chip, kv_heads=4),
                 lambda: memcpy_time(-1, chip), lambda: gemm_time(8, 8, 8, chip, model="fancy"),
                 lambda: ideal_gpu(cores=[1, 2], hbm_bytes_per_s=[1, 2, 3]),
                 lambda: ideal_gpu(hbm_efficiency=1.5)):
        with pytest.raises(FablessError) as e:
            call()
        assert "\n" not in str(e.value)


def test_every_family_parameter_has_a_source_and_confidence():
    for fam in families().values():
        for key in fam.values:
            meta = fam.sources.get(key)
            assert meta and meta.get("source") and meta.get("confidence"), (fam.name, key)


def test_presets_map_to_their_family():
    assert ChipParams.from_chip("h100-sxm").family == ("nvidia-hopper",)
    assert ChipParams.from_chip("tpu-v5p").family == ("google-tpu",)


# ---------------------------------------------------------------------------- invariants

dims = st.integers(1, 20000)
designs = st.fixed_dictionaries({
    "peak": st.floats(1e13, 5e15), "cores": st.integers(1, 256), "hbm": st.floats(1e11, 2e13),
    "clock_frac": st.floats(0.5, 1.0), "l2": st.floats(0, 2e8), "eff": st.floats(0.3, 1.0),
    "kind": st.sampled_from(["tensor_core", "systolic_array"]), "arr": st.sampled_from([32, 128, 256]),
    "units": st.integers(1, 64),
})


def _design(d, **over):
    kw = dict(peak_flops_per_s={"bf16": d["peak"]}, cores=d["cores"], hbm_bytes_per_s=d["hbm"],
              boost_clock_hz=1.5e9, sustained_clock_hz=1.5e9 * d["clock_frac"], sram_shared_bytes=d["l2"],
              mma_efficiency=d["eff"], kind=d["kind"], mu_count=d["units"], mu_rows=d["arr"], mu_cols=d["arr"],
              family="default-gpu" if d["kind"] == "tensor_core" else "default-systolic")
    kw.update(over)
    return ChipParams.from_arrays(**kw)


@settings(max_examples=150, deadline=None)
@given(designs, dims, dims, dims, st.integers(1, 4), st.sampled_from(["m", "n", "k", "batch"]), st.integers(1, 5000))
# found by hypothesis: split-K over 3 cores once cut k = 129 into fewer slices than k = 177
@example({"peak": 1e13, "cores": 3, "hbm": 1e11, "clock_frac": 1.0, "l2": 0.0, "eff": 1.0, "kind": "tensor_core",
          "arr": 32, "units": 1}, 1, 1, 129, 1, "k", 48)
def test_gemm_time_never_decreases_when_work_grows(d, m, n, k, batch, which, extra):
    chip = _design(d)
    shape = {"m": m, "n": n, "k": k, "batch": batch}
    base = gemm_time(shape["m"], shape["n"], shape["k"], chip, batch=shape["batch"]).time_s[0]
    shape[which] += extra
    grown = gemm_time(shape["m"], shape["n"], shape["k"], chip, batch=shape["batch"]).time_s[0]
    assert grown >= base * (1 - 1e-12)


@settings(max_examples=150, deadline=None)
@given(designs, dims, dims, dims, st.floats(1.0, 4.0), st.floats(1.0, 4.0))
def test_gemm_time_never_increases_with_bandwidth_or_clock(d, m, n, k, bw_x, clock_x):
    base = gemm_time(m, n, k, _design(d)).time_s[0]
    more_bw = gemm_time(m, n, k, _design(d, hbm_bytes_per_s=d["hbm"] * bw_x)).time_s[0]
    faster_clock = min(1.0, d["clock_frac"] * clock_x)
    more_clock = gemm_time(m, n, k, _design(d, sustained_clock_hz=1.5e9 * faster_clock)).time_s[0]
    assert more_bw <= base * (1 + 1e-12)
    assert more_clock <= base * (1 + 1e-12)


@settings(max_examples=150, deadline=None)
@given(designs, dims, dims, dims, st.integers(1, 4))
def test_gemm_never_beats_the_roofline(d, m, n, k, batch):
    chip = _design(d)
    detailed = gemm_time(m, n, k, chip, batch=batch).time_s[0]
    roof = gemm_time(m, n, k, chip, batch=batch, model="roofline").time_s[0]
    assert detailed >= roof * (1 - 1e-12)


attn_shape = st.fixed_dictionaries({
    "batch": st.integers(1, 16), "groups": st.integers(1, 8), "kv_heads": st.integers(1, 8),
    "q_len": st.integers(1, 4096), "extra_kv": st.integers(0, 4096), "head_dim": st.sampled_from([64, 96, 128, 192, 256]),
    "causal": st.booleans(),
})


def _attn(chip, s, model="detailed"):
    return attention_time(s["batch"], s["q_len"], s["q_len"] + s["extra_kv"], s["groups"] * s["kv_heads"],
                          s["head_dim"], chip, kv_heads=s["kv_heads"], causal=s["causal"], model=model).time_s[0]


@settings(max_examples=150, deadline=None)
@given(designs, attn_shape, st.sampled_from(["batch", "groups", "kv_heads", "extra_kv"]), st.integers(1, 1000))
def test_attention_time_never_decreases_when_work_grows(d, s, which, extra):
    chip = _design(d)
    base = _attn(chip, s)
    s = {**s, which: s[which] + extra}
    assert _attn(chip, s) >= base * (1 - 1e-12)


@settings(max_examples=150, deadline=None)
@given(designs, attn_shape, st.floats(1.0, 4.0))
def test_attention_never_beats_roofline_and_likes_bandwidth(d, s, bw_x):
    chip = _design(d)
    t = _attn(chip, s)
    assert t >= _attn(chip, s, "roofline") * (1 - 1e-12)
    assert _attn(_design(d, hbm_bytes_per_s=d["hbm"] * bw_x), s) <= t * (1 + 1e-12)


@settings(max_examples=100, deadline=None)
@given(designs, st.floats(1.0, 1e11), st.floats(1.0, 100.0))
def test_memcpy_invariants(d, nbytes, grow):
    chip = _design(d)
    t = memcpy_time(nbytes, chip).time_s[0]
    assert memcpy_time(nbytes * grow, chip).time_s[0] >= t
    assert memcpy_time(nbytes, _design(d, hbm_bytes_per_s=d["hbm"] * grow)).time_s[0] <= t * (1 + 1e-12)
    assert t >= memcpy_time(nbytes, chip, model="roofline").time_s[0]
    assert math.isfinite(t)


def test_measured_sustained_clock_sets_the_matrix_rate_of_cdna3():
    # MI300X (750 W) and MI325X (1000 W) have the same 304 CUs and datasheet peak; under a dense
    # BF16 GEMM AMD measured 1207 and 1447 MHz (ROCm blog 'Measuring Max-Achievable FLOPs - Part 2',
    # in each chip file's clock.sustained_mhz). A compute-bound GEMM's time then scales as
    # 1207 / 1447 from one to the other (the HBM, faster on MI325X, does not bound an 8192^3 GEMM).
    a = gemm_time(8192, 8192, 8192, ChipParams.from_chip("mi300x"), "bf16")
    b = gemm_time(8192, 8192, 8192, ChipParams.from_chip("mi325x"), "bf16")
    assert a.bound == "compute" and b.bound == "compute"
    assert b.time_s / a.time_s == pytest.approx(1207 / 1447, rel=0.01)
