"""TPU7x (Ironwood) as JAX sees it: the tpu-v7-chiplet device preset and the device-level slices
tpu-v7-2x2x1 / -2x2x2 / -4x4x4. Every expected number is worked out here from Google's published chip
figures (docs.cloud.google.com/tpu/docs/tpu7x: 2307 bf16 TFLOPS, 192 GiB, 7380 GB/s and 1200 GB/s ICI per
chip over 6 links, two chiplets per chip, each a JAX device, the die-to-die link 6x one ICI link)."""

from __future__ import annotations

import pytest

from fabless.hardware.presets import load_chip, load_system
from fabless.perf.collectives import collective_time, load_params, scale_up_params
from fabless.validate.hardware_map import preset_for_hardware


def test_a_chiplet_is_half_a_chip():
    chip, dev = load_chip("tpu-v7"), load_chip("tpu-v7-chiplet")
    # per device: 2307 / 2 TFLOPS bf16, 4614 / 2 fp8; 192 GiB / 2 = 96 GiB; 7380 / 2 GB/s
    assert dev.peak_flops("bf16") == pytest.approx(1153.5e12)
    assert dev.peak_flops("fp8") == pytest.approx(2307e12)
    assert dev.memory.hbm.capacity_bytes == 96 * 2**30
    assert dev.memory.hbm.bandwidth_bytes_per_s == pytest.approx(3690e9)
    assert 2 * dev.peak_flops("bf16") == pytest.approx(chip.peak_flops("bf16"))
    assert 2 * dev.memory.hbm.capacity_bytes == pytest.approx(chip.memory.hbm.capacity_bytes)
    # the MXU arithmetic agrees with the halved peak: 4 MXUs x 256 x 256 MACs x 2 FLOPs x 2.2 GHz
    assert 4 * 256 * 256 * 2 * 2.2e9 == pytest.approx(dev.peak_flops("bf16"), rel=1e-3)
    assert dev.compute.cores == 1 and dev.perf_family == chip.perf_family == "google-tpu"


@pytest.mark.parametrize("name, chips, dims", [
    ("tpu-v7-2x2x1", 4, [2, 2, 2]),
    ("tpu-v7-2x2x2", 8, [2, 2, 2, 2]),
    ("tpu-v7-4x4x4", 64, [2, 4, 4, 4]),
])
def test_slices_count_devices_two_per_chip(name, chips, dims):
    s = load_system(name)
    assert s.chip.name == "tpu-v7-chiplet"
    assert s.chips == s.scale_up.size == 2 * chips
    assert list(s.scale_up.torus_dims) == dims and dims[0] == 2  # the die-to-die pair first
    assert s.chips_per_node == 8  # one 4-chip host
    # die-to-die: 6 x one ICI link of 1200 / 6 = 200 GB/s
    assert s.scale_up.torus_dim_bidir_gb_s[0] == pytest.approx(6 * 1200 / 6)


def test_torus_hops_and_the_die_to_die_pair():
    # Diameter of the device torus: 1 hop across the chiplet pair, + 1 per axis of a 2-chip line,
    # + 4 // 2 = 2 per ring of 4 chips.
    def diameter(dims, wraps):
        return sum(d // 2 if w else d - 1 for d, w in zip(dims, wraps))
    assert diameter([2, 2, 2], [True, False, False]) == 3
    assert diameter([2, 4, 4, 4], [True, True, True, True]) == 7
    # An all-reduce of S over the two chiplets of one chip runs on the die-to-die link alone: a ring of 2
    # over 2 links of 1200e9 / 4 B/s each way, so 600e9 B/s x the ICI efficiency; it moves S/2 out and S/2
    # back, and pays 2 steps of (hop latency + ICI step cost).
    s = load_system("tpu-v7-2x2x1")
    fab, _, _ = scale_up_params(s.chip.links.scale_up.technology, load_params())  # the shipped ICI values
    eff, step = fab.bw_efficiency, s.scale_up.latency_us * 1e-6 + fab.simple_step_overhead_s
    S = 2.0**30
    t = collective_time("all_reduce", S, 2, s)
    assert t.algorithm.startswith("torus-rings")
    expect = S / (600e9 * eff) + 2 * step
    assert t.time_s == pytest.approx(expect, rel=0.01), (t.time_s, expect)
    # Over all 8 devices the ICI (one 200 GB/s link per axis shared by a chip's 2 chiplets: 25e9 B/s per
    # link each way) dominates: the slowest share (x, y, then the die-to-die pair) takes
    # 1/6 / 50 + 1/12 / 50 + 1/24 / 600 (in 1 / (GB/s x efficiency)) per byte and phase; 2 phases, 6 steps.
    worst = (1 / 6) / 50e9 + (1 / 12) / 50e9 + (1 / 24) / 600e9
    t8 = collective_time("all_reduce", S, 8, s)
    assert t8.time_s == pytest.approx(2 * worst * S / eff + 6 * step, rel=0.01)


def test_rows_measured_on_one_device_map_to_the_chiplet():
    assert preset_for_hardware("Google TPU v7 (Ironwood chiplet: one TensorCore, one JAX device)")[0] == "tpu-v7-chiplet"
    assert preset_for_hardware("Google TPU v7 (Ironwood) v7x-4")[0] == "tpu-v7"
