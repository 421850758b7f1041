"""Die area of a chip from its parts, at a process node.

A design is counted as a :class:`DieInventory` (the *physical* parts: harvested
units included) and its area is the sum of

- matrix units: ``units x max_dtype(MACs/cycle x area-per-MAC relative to bf16)
  x bf16 MAC area at N5 x logic scale of the node``, plus vector lanes counted as
  fp32 MACs;
- SRAM: ``bits x bit-cell area / array efficiency x layout factor``;
- memory PHYs: per HBM stack, or per GB/s of LPDDR/DDR;
- SerDes: per Gbit/s of off-chip link bandwidth (scale-up and host);
- die-to-die interfaces when the design is split into chiplets;

divided by ``1 - overhead_fraction`` for the NoC, control, clocking, pads and
white space. Every coefficient is a parameter in ``data/economics/silicon.yaml``;
which chips calibrated which is in ``area_reference.yaml`` and docs/economics.md.

The core formula, :func:`die_area_terms_mm2`, takes numpy arrays, so thousands of
designs are sized in one call.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

from fabless.errors import FablessError, InfeasibleDesign
from fabless.hardware.schema import Chip, Dtype, Frozen, ProcessNode
from fabless.loading import read_yaml, validate
from fabless.provenance import Source

from .params import EconomicsParams, SiliconParams, default_params, node_value


class DieInventory(Frozen):
    """The physical parts of a design (all dies of the package together).

    Counts are physical: a GPU that ships 132 of 144 SMs is counted with 144."""

    name: str = "design"
    process_node: ProcessNode
    dies: PositiveInt = 1
    matrix_units: NonNegativeInt = 0
    macs_per_cycle: dict[Dtype, PositiveFloat] = Field(default_factory=dict, description="per matrix unit")
    vector_fp32_lanes: NonNegativeFloat = 0
    sram_core_kib: NonNegativeFloat = Field(0, description="SRAM replicated per core (registers, L1, local stores)")
    sram_chip_kib: NonNegativeFloat = Field(0, description="shared SRAM (L2, global buffers)")
    hbm_stacks: NonNegativeInt = Field(0, description="HBM PHY sites (disabled ones included)")
    dram_gb_s: NonNegativeFloat = Field(0, description="off-package DRAM (LPDDR/DDR) bandwidth")
    memory_gb_s: NonNegativeFloat = Field(0, description="total memory bandwidth (sizes die-to-die links)")
    serdes_gbit_s: NonNegativeFloat = Field(0, description="off-chip links, one direction, all of them")
    cores_physical: PositiveInt | None = None
    cores_enabled: PositiveInt | None = None
    die_area_mm2: PositiveFloat | None = Field(None, description="published area of one die, where known")
    role: str | None = Field(None, description="calibrate or check (reference chips only)")
    provenance: dict[str, Source] = Field(default_factory=dict)

    @property
    def bf16_equiv_macs(self) -> float:
        """Matrix MACs in bf16-MAC area units (the costliest datatype of each unit)."""
        return self.matrix_units * _unit_bf16_equiv(self.macs_per_cycle, default_params().silicon)


def _unit_bf16_equiv(macs: dict[str, float], sp: SiliconParams) -> float:
    best = 0.0
    for dtype, n in macs.items():
        rel = sp.mac_area_rel_to_bf16.get(dtype)
        if rel is None:
            raise FablessError(f"no mac_area_rel_to_bf16 for datatype '{dtype}'; set it with --params")
        best = max(best, n * rel)
    return best


# ---------------------------------------------------------------- core formula


def die_area_terms_mm2(
    *,
    logic_scale,
    bitcell_um2,
    bf16_equiv_macs,
    vector_fp32_lanes,
    sram_bits,
    hbm_stacks,
    dram_gb_s,
    serdes_gbit_s,
    d2d_gb_s_per_die,
    dies,
    sp: SiliconParams,
) -> dict[str, np.ndarray]:
    """Area of each part, mm2, for the whole package (all dies). Every argument
    may be a numpy array (broadcast together); ``sp`` holds the coefficients.

    ``logic_scale`` and ``bitcell_um2`` are the node's values (see
    :func:`node_factors`). Returns the parts and ``total`` (parts / (1 - overhead))."""
    fp32_rel = sp.mac_area_rel_to_bf16["fp32"]
    mac_mm2 = sp.bf16_mac_area_um2 * 1e-6
    matrix = np.asarray(logic_scale) * mac_mm2 * np.asarray(bf16_equiv_macs, dtype=float)
    vector = np.asarray(logic_scale) * mac_mm2 * fp32_rel * np.asarray(vector_fp32_lanes, dtype=float)
    sram = np.asarray(sram_bits, dtype=float) * np.asarray(bitcell_um2) * 1e-6 / sp.sram_array_efficiency * sp.sram_layout_factor
    hbm_phy = sp.hbm_phy_mm2_per_stack * np.asarray(hbm_stacks, dtype=float)
    dram_phy = sp.dram_phy_mm2_per_gb_s * np.asarray(dram_gb_s, dtype=float)
    serdes = sp.serdes_mm2_per_gbit_s * np.asarray(serdes_gbit_s, dtype=float)
    dies = np.asarray(dies, dtype=float)
    d2d = np.where(dies > 1, dies * np.asarray(d2d_gb_s_per_die, dtype=float) / sp.d2d_gb_s_per_mm * sp.d2d_depth_mm, 0.0)
    parts = {"matrix_units": matrix, "vector_units": vector, "sram": sram, "hbm_phy": hbm_phy,
             "dram_phy": dram_phy, "serdes": serdes, "die_to_die": d2d}
    subtotal = sum(parts.values())
    total = subtotal / (1.0 - sp.overhead_fraction)
    parts["overhead"] = total - subtotal
    parts["total"] = total
    parts["per_die"] = total / dies
    return parts


def node_factors(node: str, sp: SiliconParams) -> tuple[float, float]:
    """(logic area scale relative to N5, SRAM bit-cell um2) for a node."""
    return (node_value(sp.logic_area_scale, node, "logic_area_scale"),
            node_value(sp.sram_bitcell_um2, node, "sram_bitcell_um2"))


# ---------------------------------------------------------------- one design


@dataclass(frozen=True)
class AreaResult:
    inventory: DieInventory
    parts_mm2: dict[str, float]  # whole package, all dies
    total_mm2: float
    per_die_mm2: float
    dies: int
    harvested_area_mm2: float  # model area of the replicated cores (repairable by disabling)
    basis: str = "model"  # "model", or "published" where the design states its die area
    model_per_die_mm2: float = 0.0

    @property
    def repairable_fraction(self) -> float:
        """Share of the die that sits in replicated cores (0 without harvesting)."""
        model_total = self.model_per_die_mm2 * self.dies
        return self.harvested_area_mm2 / model_total if model_total else 0.0


def die_to_die_gb_s(memory_gb_s, dies, sp: SiliconParams):
    """Vectorised: die-to-die bandwidth of each die (GB/s) of a package of ``dies`` dies
    whose memory bandwidth is ``memory_gb_s`` (GB/s, all dies): ``memory_gb_s x
    d2d_bandwidth_over_memory`` where ``dies > 1``, else 0. Arrays broadcast together."""
    return np.where(np.asarray(dies) > 1, np.asarray(memory_gb_s, dtype=float) * sp.d2d_bandwidth_over_memory, 0.0)


def d2d_gb_s_per_die(inv: DieInventory, sp: SiliconParams) -> float:
    """Die-to-die bandwidth of each die of ``inv`` (GB/s): :func:`die_to_die_gb_s`."""
    return float(die_to_die_gb_s(inv.memory_gb_s, inv.dies, sp))


def die_area(inv: DieInventory, params: EconomicsParams | None = None, *, check_reticle: bool = True,
             use_published: bool = True) -> AreaResult:
    """The area of a design, by part. Where the design states its die area
    (``die_area_mm2``, e.g. a shipped chip) and ``use_published``, that area is
    the one used (``basis='published'``) and the model's is kept for comparison.
    A die over the reticle: :class:`InfeasibleDesign`."""
    params = params or default_params()
    sp = params.silicon
    logic_scale, bitcell = node_factors(inv.process_node, sp)
    sram_bits = (inv.sram_core_kib + inv.sram_chip_kib) * 1024 * 8
    terms = die_area_terms_mm2(
        logic_scale=logic_scale, bitcell_um2=bitcell,
        bf16_equiv_macs=inv.matrix_units * _unit_bf16_equiv(inv.macs_per_cycle, sp),
        vector_fp32_lanes=inv.vector_fp32_lanes, sram_bits=sram_bits, hbm_stacks=inv.hbm_stacks,
        dram_gb_s=inv.dram_gb_s, serdes_gbit_s=inv.serdes_gbit_s,
        d2d_gb_s_per_die=d2d_gb_s_per_die(inv, sp), dies=inv.dies, sp=sp,
    )
    parts = {k: float(v) for k, v in terms.items() if k not in ("total", "per_die")}
    total, per_die = float(terms["total"]), float(terms["per_die"])
    model_per_die = per_die
    basis = "model"
    if use_published and inv.die_area_mm2:
        per_die, total, basis = inv.die_area_mm2, inv.die_area_mm2 * inv.dies, "published"
    if check_reticle and per_die > sp.reticle_limit_mm2:
        need = math.ceil(total / sp.reticle_limit_mm2)
        if inv.dies == 1:
            raise InfeasibleDesign(
                f"{inv.name}: the die would be {per_die:.0f} mm2, over the {sp.reticle_limit_mm2:.0f} mm2 reticle limit; "
                f"split it into at least {need} chiplets (set physical.dies) or shrink it")
        raise InfeasibleDesign(
            f"{inv.name}: each of the {inv.dies} dies would be {per_die:.0f} mm2, over the "
            f"{sp.reticle_limit_mm2:.0f} mm2 reticle limit; use at least {max(need, inv.dies + 1)} dies or shrink the design")
    core_sram = inv.sram_core_kib * 1024 * 8 * bitcell * 1e-6 / sp.sram_array_efficiency * sp.sram_layout_factor
    harvested = parts["matrix_units"] + parts["vector_units"] + core_sram if inv.cores_physical else 0.0
    return AreaResult(inv, parts, total, per_die, inv.dies, harvested, basis, model_per_die)


# ---------------------------------------------------------------- from a Chip

_PCIE = re.compile(r"pcie\s*gen\s*(\d)\s*x\s*(\d+)", re.I)


def host_gbit_s(host: str | None, sp: SiliconParams) -> float:
    """Bandwidth (Gbit/s, one direction) of a chip's host link from its ``links.host`` text
    (``PCIe Gen5 x16`` -> lanes x ``pcie_gbit_s_per_lane[gen5]``); 0 without one or where the
    text names no PCIe link."""
    if not host:
        return 0.0
    m = _PCIE.search(host)
    if not m:
        return 0.0
    gen, lanes = f"gen{m.group(1)}", int(m.group(2))
    rate = sp.pcie_gbit_s_per_lane.get(gen)
    if rate is None:
        raise FablessError(f"unknown PCIe generation in host link '{host}'; known: {', '.join(sp.pcie_gbit_s_per_lane)}")
    return rate * lanes


def serdes_gbit_s(scale_up_bidir_gb_s, host: str | None, sp: SiliconParams):
    """Vectorised: off-chip SerDes bandwidth (Gbit/s, one direction, all links) of a chip with
    ``scale_up_bidir_gb_s`` (GB/s, both directions, all scale-up links; 0 without any) and the
    host link ``host`` (:func:`host_gbit_s`): ``scale_up_bidir_gb_s / 2 x 8 + host Gbit/s``."""
    return np.asarray(scale_up_bidir_gb_s, dtype=float) / 2 * 8 + host_gbit_s(host, sp)


def is_hbm(generation: str) -> bool:
    return generation.strip().lower().startswith("hbm")


@lru_cache(maxsize=1)
def harvesting_table() -> dict[str, dict]:
    """Physical counts of shipped presets that disable units (data/economics/harvesting.yaml)."""
    path = Path(str(resources.files("fabless") / "data" / "economics" / "harvesting.yaml"))
    raw = read_yaml(path) or {}
    out = {}
    for name, entry in raw.items():
        if str(name).startswith("_"):
            continue
        out[name] = validate(Harvest, entry, f"{path} ({name})")
    return out


class Harvest(Frozen):
    """Physical counts behind a product that ships with units disabled."""

    cores_physical: PositiveInt
    hbm_sites: NonNegativeInt | None = None
    sram_chip_kib_physical: PositiveFloat | None = None
    provenance: dict[str, Source] = Field(default_factory=dict)


def inventory_from_chip(chip: Chip, params: EconomicsParams | None = None, *, cores_physical: int | None = None,
                        hbm_sites: int | None = None) -> DieInventory:
    """Count a chip's physical parts. Harvested units come from ``cores_physical``
    (or the harvesting table for presets); without either, every unit is counted as enabled."""
    params = params or default_params()
    sp = params.silicon
    harvest = harvesting_table().get(chip.name)
    if cores_physical is None and harvest is not None:
        cores_physical = harvest.cores_physical
    if hbm_sites is None and harvest is not None:
        hbm_sites = harvest.hbm_sites
    enabled = chip.compute.cores
    physical = cores_physical or enabled
    if physical < enabled:
        raise FablessError(f"{chip.name}: physical cores ({physical}) fewer than enabled cores ({enabled})")
    ratio = physical / enabled
    mu = chip.compute.matrix_units
    sram_core = sum(lv.total_bytes for lv in chip.memory.on_chip if lv.scope == "core") / 1024 * ratio
    sram_chip = sum(lv.total_bytes for lv in chip.memory.on_chip if lv.scope == "chip") / 1024
    if harvest is not None and harvest.sram_chip_kib_physical and cores_physical == harvest.cores_physical:
        sram_chip = max(sram_chip, harvest.sram_chip_kib_physical)
    hbm = chip.memory.hbm
    stacks = 0
    dram = 0.0
    if is_hbm(hbm.generation):
        stacks = hbm_sites or hbm.stacks or 0
        if not stacks:
            raise FablessError(f"{chip.name}: memory.hbm.stacks is needed to size the HBM PHYs")
    else:
        dram = hbm.bandwidth_gb_s
    serdes = float(serdes_gbit_s(chip.links.scale_up.bidir_gb_s if chip.links.scale_up is not None else 0.0, chip.links.host, sp))
    vector = chip.compute.vector_units.fp32_flops_per_cycle / 2 * ratio if chip.compute.vector_units else 0.0
    return DieInventory(
        name=chip.name, process_node=chip.physical.process_node, dies=chip.physical.dies,
        matrix_units=round(mu.count * ratio) if mu else 0, macs_per_cycle=dict(mu.macs_per_cycle) if mu else {},
        vector_fp32_lanes=vector, sram_core_kib=sram_core, sram_chip_kib=sram_chip,
        hbm_stacks=stacks, dram_gb_s=dram, memory_gb_s=hbm.bandwidth_gb_s, serdes_gbit_s=serdes,
        cores_physical=physical if physical != enabled else None, cores_enabled=enabled if physical != enabled else None,
        die_area_mm2=chip.physical.die_area_mm2,
    )


def chip_area(chip: Chip, params: EconomicsParams | None = None, **kw) -> AreaResult:
    """Area of a chip preset or a user's chip description."""
    return die_area(inventory_from_chip(chip, params, **kw), params)


# ---------------------------------------------------------------- reference chips


@lru_cache(maxsize=1)
def reference_inventories() -> dict[str, DieInventory]:
    """Full-die inventories of chips with a published die area (data/economics/area_reference.yaml)."""
    path = Path(str(resources.files("fabless") / "data" / "economics" / "area_reference.yaml"))
    raw = read_yaml(path)
    out = {}
    for name, entry in raw.items():
        if str(name).startswith("_"):
            continue
        out[name] = validate(DieInventory, {"name": name, **entry}, f"{path} ({name})")
    return out


def fit_area_coefficients(names: list[str], params: EconomicsParams | None = None) -> dict[str, float]:
    """Least-squares fit (relative error) of the two calibrated coefficients,
    ``bf16_mac_area_um2`` and ``sram_layout_factor``, to the published areas of
    the reference chips ``names``. Everything else (node scales, bit cells, PHYs,
    the overhead fraction) is held at its sourced or assumed value. This produced
    the shipped values; the tests rerun it."""
    params = params or default_params()
    sp = params.silicon
    refs = reference_inventories()
    unit = sp.model_copy(update={"bf16_mac_area_um2": 1.0, "sram_layout_factor": 1.0})
    rows, target = [], []
    for n in names:
        inv = refs[n]
        t = _terms(inv, unit)
        area = inv.die_area_mm2 * inv.dies
        # area * (1 - f) = a * logic + k * sram + io
        logic = float(t["matrix_units"] + t["vector_units"])
        io = float(t["hbm_phy"] + t["dram_phy"] + t["serdes"] + t["die_to_die"])
        rows.append(np.array([logic, float(t["sram"])]) / area)
        target.append((area * (1 - sp.overhead_fraction) - io) / area)
    x, *_ = np.linalg.lstsq(np.array(rows), np.array(target), rcond=None)
    return {"bf16_mac_area_um2": float(x[0]), "sram_layout_factor": float(x[1])}


def _terms(inv: DieInventory, sp: SiliconParams) -> dict[str, np.ndarray]:
    logic_scale, bitcell = node_factors(inv.process_node, sp)
    return die_area_terms_mm2(
        logic_scale=logic_scale, bitcell_um2=bitcell,
        bf16_equiv_macs=inv.matrix_units * _unit_bf16_equiv(inv.macs_per_cycle, sp),
        vector_fp32_lanes=inv.vector_fp32_lanes, sram_bits=(inv.sram_core_kib + inv.sram_chip_kib) * 8192,
        hbm_stacks=inv.hbm_stacks, dram_gb_s=inv.dram_gb_s, serdes_gbit_s=inv.serdes_gbit_s,
        d2d_gb_s_per_die=d2d_gb_s_per_die(inv, sp), dies=inv.dies, sp=sp,
    )


def area_errors(params: EconomicsParams | None = None) -> list[dict]:
    """Model vs published area for every reference chip: name, role, node, model, published, error."""
    out = []
    for name, inv in reference_inventories().items():
        res = die_area(inv, params, check_reticle=False, use_published=False)
        out.append({"name": name, "role": inv.role, "node": inv.process_node, "model_mm2": res.model_per_die_mm2,
                    "published_mm2": inv.die_area_mm2, "error": res.model_per_die_mm2 / inv.die_area_mm2 - 1})
    return out
