"""Every shipped preset loads, validates, sources every number, and agrees with itself."""

from __future__ import annotations

import pytest

from fabless.hardware import chip_names, load_chip, load_system, system_names
from fabless.hardware.checks import consistency_issues, unsourced_numbers


@pytest.mark.parametrize("name", chip_names())
def test_chip_preset_loads_and_is_sourced(name):
    chip = load_chip(name)
    assert chip.name == name
    assert unsourced_numbers(chip) == [], f"{name}: numbers without a source"


@pytest.mark.parametrize("name", chip_names())
def test_chip_preset_consistent(name):
    # Peak FLOPS from units x MACs x clock within 3% of the stated peak, HBM
    # bandwidth and capacity equal to stacks x per-stack figures, links likewise.
    assert consistency_issues(load_chip(name)) == []


@pytest.mark.parametrize("name", system_names())
def test_system_preset_loads_and_is_sourced(name):
    system = load_system(name)
    assert system.name == name
    assert system.scale_up.size <= system.chips or system.scale_up.size % system.chips == 0
    assert unsourced_numbers(system) == [], f"{name}: numbers without a source"


def test_h100_spot_values():
    # NVIDIA H100 SXM datasheet: 989 TFLOPS bf16 dense (1,979 sparse), 3.35 TB/s, 700 W; its "80 GB"
    # is binary: nvidia-smi reports 81559 MiB (NCCL issue #1264), i.e. 85.5e9 bytes.
    h = load_chip("h100-sxm")
    assert h.compute.peak_tflops.bf16 == pytest.approx(989, rel=0.005)
    assert h.memory.hbm.bandwidth_gb_s == pytest.approx(3350)
    assert h.memory.hbm.capacity_bytes == pytest.approx(81559 * 2**20, rel=1e-4)
    assert h.physical.tdp_w == 700
    # 528 tensor cores x 512 bf16 MACs x 2 x 1.83 GHz = 989.4 TFLOPS
    assert h.derived_peak_tflops("bf16") == pytest.approx(528 * 512 * 2 * 1.83e9 / 1e12)


def test_resized_system_keeps_its_fabric_and_fills_nodes_up_to_the_count():
    """DGX H100 is one 8-GPU node: 4 of its chips are a half node (4 per node), 32 are four nodes of 8 on its network;
    the chip, the scale-up domain and the network are the preset's (only the counts change)."""
    s = load_system("dgx-h100")
    half, four = s.resized(4), s.resized(32)
    assert (half.chips, half.chips_per_node) == (4, 4)
    assert (four.chips, four.chips_per_node) == (32, 8)
    assert four.chips // four.chips_per_node == 4
    for r in (half, four):
        assert r.chip == s.chip and r.scale_up == s.scale_up and r.scale_out == s.scale_out
    assert (s.chips, s.chips_per_node) == (8, 8)  # the preset itself is untouched
