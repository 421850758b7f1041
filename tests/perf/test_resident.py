"""On-chip SRAM residency (fabless.perf.resident) and its use in the DLRM step, checked by hand."""

from __future__ import annotations

import pytest

from fabless.estimate.optime import framework_chip
from fabless.estimate.recsys import recsys_step
from fabless.hardware.presets import load_chip, load_system
from fabless.perf.ops import op_time
from fabless.perf.params import ChipParams
from fabless.perf.resident import residency, resident_time, sram_level
from fabless.workload.catalog import load_recsys
from fabless.workload.ops import Elementwise, MatMul


def test_sram_level_is_the_presets_sourced_figures():
    # Meta's MTIA v2 blog: 256 MB of on-chip SRAM at 2.7 TB/s; v1: half the SRAM at 1/3.5 the bandwidth
    assert sram_level(load_chip("mtia-v2")) == (256 * 2**20, 2.7e12)
    assert sram_level(load_chip("mtia-v1")) == pytest.approx((128 * 2**20, 2.7e12 / 3.5), rel=1e-3)
    # an A100/H100 preset lists its L2 without a bandwidth: nothing is resident
    assert sram_level(load_chip("a100-sxm")) is None
    assert sram_level(load_chip("h100-sxm")) is None


@pytest.mark.parametrize("weights, acts, cap, mode", [
    (32e6, 14e6, 268e6, "all"),        # DLRM-v2 dense part at batch 512 on MTIA v2
    (32e6, 453e6, 268e6, "weights"),   # the same at batch 16384: the activations no longer fit
    (300e6, 1e6, 268e6, "none"),       # weights larger than the SRAM
    (1e6, 1e6, None, "none"),          # a chip listing no SRAM bandwidth
])
def test_residency_rule(weights, acts, cap, mode):
    assert residency(weights, acts, cap) == mode


def test_resident_time_moves_bytes_from_dram_to_sram_by_hand():
    chip = framework_chip(ChipParams.from_chip(load_chip("mtia-v2")))
    # the DCN cross of DLRM-v2 at 512 samples: x0, x and u(v x) read, one output written, fp16
    cross = Elementwise("cross", elements=512 * 3456, inputs=3, outputs=1, flops_per_element=3.0, dtype="fp16")
    nbytes = 512 * 3456 * 4 * 2  # 14.16 MB
    r = op_time(cross, chip)
    assert float(r.bytes[0]) == pytest.approx(nbytes)
    all_sram = resident_time(r, nbytes, 2.7e12)
    launch = float(r.overhead_s[0])
    assert float(all_sram.time_s[0]) == pytest.approx(launch + max(float(r.compute_s[0]), nbytes / 2.7e12), rel=1e-9)
    assert float(all_sram.bytes[0]) == 0.0  # no DRAM traffic left
    # a weight-bound GEMM (16 rows, 3456 x 512 fp16 weight): with the weight from SRAM the
    # DRAM part keeps only the activations' share of the op model's memory time
    gemm = MatMul("v", m=16, n=512, k=3456, dtype_a="fp16", dtype_b="fp16", dtype_out="fp16", weight=True)
    g = op_time(gemm, chip)
    w = 3456 * 512 * 2
    total = float(g.bytes[0])
    hand_memory = max(float(g.memory_s[0]) * (1 - w / total), w / 2.7e12)
    got = resident_time(g, w, 2.7e12)
    assert float(got.memory_s[0]) == pytest.approx(hand_memory, rel=1e-9)
    assert float(got.time_s[0]) < float(g.time_s[0])  # LPDDR5 at 204.8 GB/s is 13x slower than the SRAM


def _one(system: str):
    return load_system(system).resized(1)


def test_dlrm_v2_dense_part_is_resident_on_mtia_and_not_on_a100():
    cfg = load_recsys("dlrm-v2")
    kw = dict(training=False, act_dtype="fp16", compute_dtype="fp16", embedding_dtype="fp16", step_overhead_s=0.0)
    v2 = _one("mtia-v2-chassis")
    small = recsys_step(cfg, v2, ChipParams.from_chip(v2.chip), batch=512, **kw)
    assert small.resident == "all"  # 32 MB of weights + 14 MB of the largest kernel's activations < 256 MB
    # with everything on chip the DCN cross streams 14.16 MB at 2.7 TB/s: 5.2 us of memory, so the
    # interaction is no longer bound by LPDDR5 (14.16 MB / 204.8 GB/s = 69 us)
    assert small.bounds["interaction"] == "compute"
    big = recsys_step(cfg, v2, ChipParams.from_chip(v2.chip), batch=16384, **kw)
    assert big.resident == "weights"  # 16384 x 3456 x 8 bytes = 453 MB of activations do not fit
    a100 = _one("dgx-a100")
    on_a100 = recsys_step(cfg, a100, ChipParams.from_chip(a100.chip), batch=512, **kw)
    assert on_a100.resident == "none"


def test_mtia_dense_part_scales_with_compute_not_lpddr():
    # Meta's v2 vs v1: GEMM peak 177 / 51.2 = 3.46x, SRAM bandwidth 3.5x (the blog), LPDDR5 only
    # 204.8 / 176 = 1.16x. With the dense part resident, everything in it but the kernels' launch
    # cost (26 kernels x 5 us on both chips) scales by the peak ratio: v1 = 26 L + (v2 - 26 L) x 3.46
    cfg = load_recsys("dlrm-v2")
    kw = dict(training=False, act_dtype="fp16", compute_dtype="fp16", embedding_dtype="fp16", step_overhead_s=0.0)
    v1, v2 = _one("mtia-v1-server"), _one("mtia-v2-chassis")
    p1, p2 = ChipParams.from_chip(v1.chip), ChipParams.from_chip(v2.chip)
    s1 = recsys_step(cfg, v1, p1, batch=512, **kw)
    s2 = recsys_step(cfg, v2, p2, batch=512, **kw)
    dense = ("bottom_mlp", "interaction", "top_mlp")
    launch = 26 * float(framework_chip(p2).launch_overhead_s[0])
    assert float(framework_chip(p1).launch_overhead_s[0]) == float(framework_chip(p2).launch_overhead_s[0])
    t1, t2 = (sum(s.parts_s[k] for k in dense) for s in (s1, s2))
    assert t1 == pytest.approx(launch + (t2 - launch) * 177 / 51.2, rel=0.02)
    # the lookups still come from LPDDR5 (no cache_hit_rate given): their ratio stays near 1.16x
    assert s1.parts_s["embedding_lookup"] / s2.parts_s["embedding_lookup"] == pytest.approx(1.16, abs=0.1)
