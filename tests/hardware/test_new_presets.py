"""The presets added for issue #17 (B300, GB300, MI355X, H800, GH200, Trainium3, TPU v7 pod,
TPU v4 slices): each validates through the CLI, its key figures equal the published ones
(hand-copied below with their source), and each system has the sourced chip count and topology."""

from __future__ import annotations

from pathlib import Path

import pytest

from fabless.hardware import load_chip, load_system
from fabless.validate.hardware_map import Unmapped, preset_for_hardware

DATA = Path(__file__).resolve().parents[2] / "src" / "fabless" / "data"
NEW_CHIPS = ["b300", "gb300", "mi355x", "h800", "gh200", "trainium3"]
NEW_SYSTEMS = ["hgx-b300", "gb300-nvl72", "mi355x-8", "dgx-h800", "dgx-gh200", "trn3-ultraserver",
               "tpu-v7-pod", "tpu-v4-128", "tpu-v4-384"]


@pytest.mark.parametrize("name", NEW_CHIPS)
def test_chip_file_passes_fabless_chips_validate(cli, name):
    res = cli("chips", "validate", str(DATA / "chips" / f"{name}.yaml"))
    assert res.code == 0, res.out


@pytest.mark.parametrize("name", NEW_SYSTEMS)
def test_system_loads_on_its_chip(name):
    s = load_system(name)
    assert s.chips % s.chips_per_node == 0
    assert s.scale_up.size <= s.chips


def test_gb300():
    # Verda 'GB300 NVL72: GPU Architecture & Performance' per-GPU dense table: BF16 2.5 PF,
    # FP8 5 PF, TF32 1.25 PF, 8 TB/s, 1.4 kW; NVIDIA 'Inside Blackwell Ultra' blog: 160 SMs,
    # 640 Tensor Cores, 15 PF dense NVFP4, 8 HBM3e stacks, NVLink 5 1.8 TB/s.
    c = load_chip("gb300")
    assert c.compute.peak_tflops.bf16 == pytest.approx(2500)
    assert c.compute.peak_tflops.fp8 == pytest.approx(5000)
    assert c.compute.peak_tflops.fp4 == pytest.approx(15000)
    assert c.compute.peak_tflops.tf32 == pytest.approx(1250)
    assert c.compute.cores == 160 and c.compute.matrix_units.count == 640
    assert c.memory.hbm.bandwidth_gb_s == pytest.approx(8000)
    assert c.memory.hbm.stacks == 8
    assert c.links.scale_up.bidir_gb_s == pytest.approx(1800)
    assert c.physical.tdp_w == 1400
    # NVFP4 at 3x FP8 (15 / 5 PF), FP8 at 2x BF16: the units must say the same at one clock.
    assert c.derived_peak_tflops("fp4") / c.derived_peak_tflops("fp8") == pytest.approx(15 / 5)
    assert c.derived_peak_tflops("bf16") == pytest.approx(2500, rel=0.001)


def test_b300():
    # Verda per-GPU dense table, B300 (HGX): BF16 2.25 PF, FP8 4.5 PF, INT8 0.15 POPS, 270 GB,
    # 7.7 TB/s, 1.1 kW; Lockwood 'B300': FP64 1.25 TFLOPS (vs 37 on B200).
    c = load_chip("b300")
    assert c.compute.peak_tflops.bf16 == pytest.approx(2250)
    assert c.compute.peak_tflops.fp8 == pytest.approx(4500)
    assert c.compute.peak_tflops.int8 == pytest.approx(150)
    assert c.compute.peak_tflops.fp64 == pytest.approx(1.25)
    assert c.memory.hbm.capacity_bytes == pytest.approx(270e9)
    assert c.memory.hbm.bandwidth_gb_s == pytest.approx(7700)
    assert c.physical.tdp_w == 1100
    # DGX B300: 72 PF FP8 with sparsity for 8 GPUs -> 72 / 8 / 2 = 4.5 PF dense per GPU.
    assert c.compute.peak_tflops.fp8 == pytest.approx(72e3 / 8 / 2)
    # DGX B300: 8 ConnectX-8 SuperNICs, 800 Gb/s per GPU.
    assert c.links.scale_out.bandwidth_gbit_s == pytest.approx(800)


def test_mi355x():
    # AMD ISSCC 2026 (news coverage): 8,192 FP8 FLOPs per CU per clock; ROCm spec table:
    # 256 CUs; Hot Chips 2025: 2.4 GHz peak -> 256 x 8192 x 2.4e9 = 5,033 TFLOPS FP8,
    # half for BF16; Tom's Hardware (ISC 2025): 288 GB, 8 TB/s, 1,400 W, FP4 20.1 PF sparse.
    c = load_chip("mi355x")
    assert c.compute.cores == 256
    assert c.clock.boost_mhz == 2400
    assert c.compute.peak_tflops.fp8 == pytest.approx(256 * 8192 * 2.4e9 / 1e12, rel=1e-4)
    assert c.compute.peak_tflops.bf16 == pytest.approx(256 * 4096 * 2.4e9 / 1e12, rel=1e-4)
    assert c.compute.peak_tflops.fp4 == pytest.approx(20.1e3 / 2, rel=0.005)
    assert c.memory.hbm.capacity_bytes == pytest.approx(288e9)
    assert c.memory.hbm.bandwidth_gb_s == pytest.approx(8000)
    assert c.physical.tdp_w == 1400
    assert c.physical.process_node == "N3"


def test_h800():
    # Epoch AI H800 SXM5 row / Philisun: the H100's 989 TFLOPS bf16 dense, 80 GB, 3.35 TB/s,
    # 700 W; NVLink 400 GB/s bidirectional (DeepSeek-V3 issue #28; H100: 900); FP64 ~1 TFLOPS.
    c = load_chip("h800")
    assert c.compute.peak_tflops.bf16 == pytest.approx(989, rel=0.005)
    assert c.memory.hbm.capacity_bytes == pytest.approx(80e9)
    assert c.memory.hbm.bandwidth_gb_s == pytest.approx(3350, rel=0.005)
    assert c.links.scale_up.bidir_gb_s == pytest.approx(400)
    assert c.compute.peak_tflops.fp64 == pytest.approx(1)
    assert c.physical.tdp_w == 700


def test_gh200():
    # Epoch AI 'NVIDIA GH200' row: 989.5 TFLOPS bf16 dense, 4.9 TB/s; 144 GB HBM3e (Lockwood:
    # the H200-class 144 GB), six 24 GB stacks (HWCooling); NVLink 4 900 GB/s.
    c = load_chip("gh200")
    assert c.compute.peak_tflops.bf16 == pytest.approx(989.5)
    assert c.memory.hbm.bandwidth_gb_s == pytest.approx(4900)
    assert c.memory.hbm.capacity_bytes == pytest.approx(144e9)
    assert c.memory.hbm.stacks == 6
    assert c.links.scale_up.bidir_gb_s == pytest.approx(900)


def test_trainium3():
    # AWS Neuron docs 'Trainium3 Architecture': 8 NeuronCore-v4, 2,517 MXFP8 / 671 BF16 /
    # 183 FP32 dense TFLOPS, 144 GiB at 4.9 TB/s, NeuronLink-v4 2.56 TB/s per device;
    # NKI guide: 4 HBM stacks, 32 MiB SBUF per core.
    c = load_chip("trainium3")
    assert c.compute.cores == 8
    assert c.compute.peak_tflops.fp8 == pytest.approx(2517)
    assert c.compute.peak_tflops.bf16 == pytest.approx(671)
    assert c.compute.peak_tflops.fp32 == pytest.approx(183)
    assert c.memory.hbm.capacity_bytes == pytest.approx(144 * 2**30)
    assert c.memory.hbm.bandwidth_gb_s == pytest.approx(4900)
    assert c.memory.hbm.stacks == 4
    assert c.links.scale_up.bidir_gb_s == pytest.approx(2560)
    assert c.memory.level("sbuf").capacity_kib == 32 * 1024
    # Trn3 Gen2 UltraServer: 28,800 Gb/s EFA for 144 chips -> 200 Gb/s per chip.
    assert c.links.scale_out.bandwidth_gbit_s == pytest.approx(28800 / 144)


def test_blackwell_ultra_systems():
    # GB300 NVL72: 72 GPUs in one NVLink domain, 18 trays of 4 GPUs (Lockwood, OxMaint);
    # HGX/DGX B300: 8 GPUs on NVLink switches (AceCloud, aiwiki).
    nvl = load_system("gb300-nvl72")
    assert (nvl.chips, nvl.chips_per_node, nvl.scale_up.size) == (72, 4, 72)
    assert nvl.scale_up.topology == "switch" and nvl.scale_up.in_network_reduction
    assert nvl.chip.name == "gb300"
    hgx = load_system("hgx-b300")
    assert (hgx.chips, hgx.chips_per_node, hgx.scale_up.size) == (8, 8, 8)
    assert hgx.scale_up.topology == "switch"
    # 800 Gb/s per GPU -> 100 GB/s of scale-out per chip
    assert hgx.scale_out_bytes_per_s == pytest.approx(800e9 / 8)


def test_other_systems_topology():
    # MI355X platform: 8 GPUs fully connected over Infinity Fabric (Hot Chips 2025).
    amd = load_system("mi355x-8")
    assert (amd.chips, amd.scale_up.size, amd.scale_up.topology) == (8, 8, "fully_connected")
    # HGX H800: 8 GPUs on NVSwitch.
    h8 = load_system("dgx-h800")
    assert (h8.chips, h8.scale_up.size, h8.scale_up.topology) == (8, 8, "switch")
    # DGX GH200: 256 superchips in one NVLink domain (NVIDIA forum reply).
    gh = load_system("dgx-gh200")
    assert (gh.chips, gh.scale_up.size, gh.chips_per_node) == (256, 256, 1)
    # Trn3 Gen2 UltraServer: 36 servers x 4 Trainium3 = 144 in one NeuronSwitch domain.
    trn = load_system("trn3-ultraserver")
    assert (trn.chips, trn.chips_per_node, trn.scale_up.size) == (36 * 4, 4, 144)
    assert trn.scale_up.topology == "switch"


def test_tpu_systems_topology():
    # TPU7x: 9,216 chips per pod (Google docs) = 144 racks x 64 (Hot Chips 2025), 3D torus.
    v7 = load_system("tpu-v7-pod")
    assert v7.chips == 9216 == 144 * 64
    assert v7.scale_up.topology == "torus" and len(v7.scale_up.torus_dims) == 3
    # v4-128 = 128 TensorCores / 2 per chip = 64 chips = 4x4x4; v4-384 = 192 chips = 4x4x12.
    for name, chips, dims in (("tpu-v4-128", 128 // 2, [4, 4, 4]), ("tpu-v4-384", 384 // 2, [4, 4, 12])):
        s = load_system(name)
        assert s.chips == chips and s.scale_up.size == chips
        assert list(s.scale_up.torus_dims) == dims
        assert s.scale_out.topology == "dcn"


def test_hardware_map_for_the_new_rows():
    # The Megatron-Bridge rows' texts map to the new presets ...
    assert preset_for_hardware("NVIDIA GB300 (DGX-GB300)")[0] == "gb300"
    assert preset_for_hardware("NVIDIA B300 (DGX-B300)")[0] == "b300"
    # ... and GB200 / B200 texts still map where they did.
    assert preset_for_hardware("NVIDIA GB200 (DGX-GB200)")[0] == "gb200"
    assert preset_for_hardware("NVIDIA B200 (DGX-B200)")[0] == "b200"
    # the held-back kernel row's text stays unmapped
    with pytest.raises(Unmapped):
        preset_for_hardware("NVIDIA B300 SXM")


@pytest.mark.parametrize("name", NEW_CHIPS)
def test_fabless_cost_runs_on_the_new_chip(cli, name):
    # the economics inputs (HBM stacks, node, dies) are enough for `fabless cost`; before the
    # B200-class die area was given, gb300's modelled dies came out over the reticle limit
    res = cli("cost", name, "--json")
    assert res.code == 0, res.err
    assert res.json()["summary"]["unit_usd"] > 0


def test_blackwell_ultra_cost_uses_the_reticle_sized_die():
    # NVIDIA: two reticle-sized dies; ~800 mm2 each carried over from the B200 estimate,
    # under the ~858 mm2 reticle (26 x 33 mm).
    c = load_chip("gb300")
    assert c.physical.dies == 2
    assert c.physical.die_area_mm2 == pytest.approx(800)
    assert c.physical.die_area_mm2 < 26 * 33
