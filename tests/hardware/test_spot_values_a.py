"""Spot values of the NVIDIA, AMD and Intel presets against published figures.

Each expected value is the vendor's published figure (source in the comment), not read
back from the preset; tolerances are stated where the published figure is rounded.
Peaks are dense: vendors' "with sparsity" figures are twice these."""

from __future__ import annotations

import pytest

from fabless.hardware import load_chip, load_system
from fabless.hardware.checks import consistency_issues


def test_a100_sxm():
    # NVIDIA A100 datasheet: 312 TFLOPS bf16 dense (624 sparse), 156 TF32, 19.5 FP64 Tensor,
    # 624 INT8 TOPS, 80 GB HBM2e at 2,039 GB/s, 600 GB/s NVLink, 400 W; no FP8.
    c = load_chip("a100-sxm")
    assert c.compute.peak_tflops.bf16 == pytest.approx(312)
    assert c.compute.peak_tflops.tf32 == pytest.approx(156)
    assert c.compute.peak_tflops.int8 == pytest.approx(624)
    assert c.compute.peak_tflops.fp8 is None
    assert c.memory.hbm.capacity_bytes == pytest.approx(80e9)
    assert c.memory.hbm.bandwidth_gb_s == pytest.approx(2039)
    assert c.links.scale_up.bidir_gb_s == pytest.approx(600)
    assert c.physical.tdp_w == 400
    # 108 SMs x 4 tensor cores x 256 FMA (8x4x8 fp16 matmul) x 2 x 1.41 GHz = 311.9 TFLOPS
    assert c.derived_peak_tflops("bf16") == pytest.approx(108 * 4 * 256 * 2 * 1.41e9 / 1e12)
    assert c.derived_peak_tflops("bf16") == pytest.approx(312, rel=0.001)


def test_h200_sxm():
    # NVIDIA H200 product page: 141 GB HBM3e at 4.8 TB/s, same compute as H100 SXM
    # (989 TFLOPS bf16 dense, 1,979 fp8), 900 GB/s NVLink, 700 W. The "141 GB" is binary:
    # nvidia-smi reports 143771 MiB (cuda-samples issue #311), i.e. 150.8e9 bytes.
    c = load_chip("h200-sxm")
    assert c.memory.hbm.capacity_bytes == pytest.approx(143771 * 2**20, rel=1e-4)
    assert c.memory.hbm.bandwidth_gb_s == pytest.approx(4800)
    assert c.compute.peak_tflops.bf16 == pytest.approx(989, rel=0.005)
    assert c.compute.peak_tflops.fp8 == pytest.approx(1979, rel=0.005)
    assert c.links.scale_up.bidir_gb_s == pytest.approx(900)
    assert c.physical.tdp_w == 700
    # Same GH100 die as H100: identical peak and SM count.
    h100 = load_chip("h100-sxm")
    assert c.compute.peak_tflops.bf16 == h100.compute.peak_tflops.bf16
    assert c.compute.cores == h100.compute.cores == 132
    # Six 1024-bit stacks (6144-bit bus, AnandTech): 6 x 24 GB = 144 GB physical, 141 usable.
    assert c.memory.hbm.stacks == 6


def test_b200():
    # NVIDIA HGX B200 table (1,000 W): 2.25 PFLOPS bf16 dense (4.5 sparse), 4.5 fp8, 9 fp4,
    # 180 GB HBM3e at 7.7 TB/s, 1.8 TB/s NVLink 5; two dies, 208 B transistors.
    c = load_chip("b200")
    assert c.compute.peak_tflops.bf16 == pytest.approx(2250)
    assert c.compute.peak_tflops.fp8 == pytest.approx(4500)
    assert c.compute.peak_tflops.fp4 == pytest.approx(9000)
    assert c.memory.hbm.capacity_bytes == pytest.approx(180e9)
    assert c.memory.hbm.bandwidth_gb_s == pytest.approx(7700)
    assert c.links.scale_up.bidir_gb_s == pytest.approx(1800)
    assert c.physical.tdp_w == 1000
    assert c.physical.dies == 2
    assert c.physical.transistors_billion == pytest.approx(208)
    # 148 SMs (Chips and Cheese) and fp32 75 TFLOPS = 148 x 128 lanes x 2 x 1.98 GHz (within 0.1%).
    assert c.compute.cores == 148
    assert 148 * 128 * 2 * 1.98e9 / 1e12 == pytest.approx(c.compute.peak_tflops.fp32, rel=0.001)


def test_gb200():
    # NVIDIA GB200 NVL72 table, per GPU (1,200 W): 2.5 PFLOPS bf16 dense, 5 fp8, 10 fp4,
    # 186 GB HBM3e at 8 TB/s; faster than the HGX B200 at the same silicon.
    c = load_chip("gb200")
    assert c.compute.peak_tflops.bf16 == pytest.approx(2500)
    assert c.compute.peak_tflops.fp4 == pytest.approx(10000)
    assert c.memory.hbm.capacity_bytes == pytest.approx(186e9)
    assert c.memory.hbm.bandwidth_gb_s == pytest.approx(8000)
    assert c.physical.tdp_w == 1200
    b = load_chip("b200")
    assert c.compute.peak_tflops.bf16 > b.compute.peak_tflops.bf16
    assert c.clock.boost_mhz > b.clock.boost_mhz
    # Unpublished clock, backed out of the peak: 2.5e15 / (592 x 1024 x 2) = 2062 MHz.
    assert c.clock.boost_mhz == pytest.approx(2.5e15 / (592 * 1024 * 2) / 1e6, rel=0.001)
    assert "backed out" in c.compute.peak_note


def test_mi300x():
    # AMD MI300X data sheet: 1,307.4 TFLOPS bf16 dense (2,614.9 sparse), 2,614.9 fp8,
    # 653.7 TF32, 163.4 fp32; 192 GB HBM3 at 5.3 TB/s; 304 CUs at 2,100 MHz; 750 W.
    c = load_chip("mi300x")
    assert c.compute.peak_tflops.bf16 == pytest.approx(1307.4)
    assert c.compute.peak_tflops.fp8 == pytest.approx(2614.9)
    assert c.compute.peak_tflops.tf32 == pytest.approx(653.7)
    assert c.memory.hbm.capacity_bytes == pytest.approx(192e9)
    assert c.memory.hbm.bandwidth_gb_s == pytest.approx(5300)
    assert c.compute.cores == 304
    assert c.physical.tdp_w == 750
    # 304 CUs x 4 matrix cores x 256 bf16 MACs x 2 x 2.1 GHz = 1307.4 TFLOPS
    assert c.derived_peak_tflops("bf16") == pytest.approx(1307.4, rel=0.001)
    # 8 XCD compute dies on N5; 8 stacks x 662.4 GB/s = 5299 GB/s
    assert c.physical.dies == 8
    assert c.physical.process_node == "N5"
    assert c.memory.hbm.stacks * c.memory.hbm.per_stack_gb_s == pytest.approx(5300, rel=0.001)
    # 256 MB Infinity Cache + 8 x 4 MB L2 (ROCm docs, STH)
    assert c.memory.level("infinity_cache").total_bytes == 256 * 2**20
    assert c.memory.level("l2").total_bytes == 32 * 2**20


def test_mi325x():
    # AMD MI325X: same compute as MI300X (1,307.4 bf16), 256 GB HBM3E at 6 TB/s, 1,000 W.
    c = load_chip("mi325x")
    assert c.compute.peak_tflops.bf16 == load_chip("mi300x").compute.peak_tflops.bf16
    assert c.memory.hbm.capacity_bytes == pytest.approx(256e9)
    assert c.memory.hbm.bandwidth_gb_s == pytest.approx(6000)
    assert c.physical.tdp_w == 1000


def test_gaudi3():
    # Intel Gaudi 3 (Hot Chips 2024): 1,835 TFLOPS bf16 and fp8 dense (MME), 128 GB HBM2e at
    # 3.67 TB/s, 96 MB SRAM, 8 MMEs + 64 TPCs, 2 dies; Intel Gaudi docs: 21 scale-up ports
    # (1,050 GB/s bidirectional) and 3 scale-out ports (600 Gb/s) at 200 Gb/s.
    c = load_chip("gaudi3")
    assert c.compute.peak_tflops.bf16 == pytest.approx(1835)
    assert c.compute.peak_tflops.fp8 == pytest.approx(1835)
    assert c.memory.hbm.capacity_bytes == pytest.approx(128e9)
    assert c.memory.hbm.bandwidth_gb_s == pytest.approx(3670)
    assert c.memory.on_chip_bytes == pytest.approx(96 * 2**20)
    assert c.links.scale_up.bidir_gb_s == pytest.approx(21 * 200 / 8 * 2)
    assert c.links.scale_out.bandwidth_gbit_s == pytest.approx(3 * 200)
    assert c.physical.dies == 2
    # 8 MMEs of 256x256 MACs at the implied 1.75 GHz: 8 x 65536 x 2 x 1.75e9 = 1835 TFLOPS
    assert c.derived_peak_tflops("bf16") == pytest.approx(1835, rel=0.001)


@pytest.mark.parametrize("name", ["a100-sxm", "h200-sxm", "b200", "gb200", "mi300x", "mi325x", "gaudi3"])
def test_part_a_presets_consistent(name):
    assert consistency_issues(load_chip(name)) == []


@pytest.mark.parametrize(
    "name,chip,chips,domain,topology,reduces",
    [
        # DGX A100: 8 GPUs, 6 second-generation NVSwitch (no SHARP)
        ("dgx-a100", "a100-sxm", 8, 8, "switch", False),
        # DGX H100/H200: 8 GPUs, 4 third-generation NVSwitch with NVLink SHARP
        ("dgx-h100", "h100-sxm", 8, 8, "switch", True),
        ("dgx-h200", "h200-sxm", 8, 8, "switch", True),
        ("hgx-b200", "b200", 8, 8, "switch", True),
        # GB200 NVL72: 72 GPUs in one NVLink domain
        ("gb200-nvl72", "gb200", 72, 72, "switch", True),
        # MI300X UBB: 7 xGMI links per GPU, one to each peer
        ("mi300x-8", "mi300x", 8, 8, "fully_connected", False),
    ],
)
def test_systems(name, chip, chips, domain, topology, reduces):
    s = load_system(name)
    assert s.chip.name == chip
    assert s.chips == chips
    assert s.scale_up.size == domain
    assert s.scale_up.topology == topology
    assert s.scale_up.in_network_reduction is reduces


def test_scale_out_per_gpu():
    # DGX A100: 8 x 200 Gb/s HDR; DGX H100/H200: 8 x 400 Gb/s NDR, one NIC per GPU.
    assert load_system("dgx-a100").scale_out_bytes_per_s == pytest.approx(200e9 / 8)
    assert load_system("dgx-h100").scale_out_bytes_per_s == pytest.approx(400e9 / 8)
    assert load_system("dgx-h200").scale_out_bytes_per_s == pytest.approx(400e9 / 8)
    # A fully connected MI300X box has 7 peers, each on one of the 7 links.
    mi = load_chip("mi300x").links.scale_up
    assert mi.links == load_system("mi300x-8").scale_up.size - 1
