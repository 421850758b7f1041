"""Chip power at a workload's utilisation, and the clock a power budget allows.

    P = P_static + P_active + P_matrix + P_memory + P_links + P_d2d
    P_static  = leakage_w_per_mm2[node] x die area
    P_active  = active_rel_to_matrix x peak FLOP/s(bf16, f) x e_flop(bf16) x node_energy_scale[node]
                x (f / reference_clock)^gamma
                (the clocked power of a chip that is running kernels, whatever their FLOPs: clock
                tree, instruction issue, register files, caches and the on-chip network moving
                data to the units, as a multiple of its matrix units' power at full rate at the
                same node, voltage and clock; fitted on measured GPU power under decode load,
                scripts/fit_active_power.py)
    P_matrix  = peak FLOP/s(dtype, f) x utilisation x e_flop x node_energy_scale[node]
                x op_energy_rel_to_bf16[dtype] x (f / reference_clock)^gamma
    e_flop    = bf16_flop_energy_pj + operand_energy_pj x (1/sqrt(M) - 1/sqrt(M_ref))
                (M = the matrix unit's MACs per cycle: a unit of M MACs reuses each operand
                it reads ~sqrt(M) times, so operand delivery per FLOP falls as 1/sqrt(M);
                bf16_flop_energy_pj is stated at M_ref = reference_macs_per_unit)
    P_memory  = memory bytes/s x 8 x memory_pj_per_bit[generation] (HBM: DRAM + I/O;
                off-package DRAM: the chip's PHY only)
    P_links   = SerDes bits/s x serdes_pj_per_bit;  P_d2d likewise between chiplets

Energy per operation rises with the clock (CV^2 with V rising with f), so the
matrix and active power go as f^(1 + gamma). Over a power budget (the TDP), the sustained
clock is the one that meets it; below ``min_clock_fraction`` of the peak clock
the design is :class:`InfeasibleDesign`. Functions take numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from fabless.errors import FablessError, InfeasibleDesign
from fabless.hardware.schema import Chip
from fabless.loading import read_yaml
from fabless.measurements import rows_by_id
from fabless.provenance import split_provenance

from .area import d2d_gb_s_per_die, die_area, inventory_from_chip
from .params import EconomicsParams, default_params, memory_value, node_value


def operand_reuse_energy_pj(macs_per_unit, params: EconomicsParams | None = None):
    """bf16 energy per FLOP at N5 and the reference clock in a matrix unit of
    ``macs_per_unit`` MACs per cycle: the MAC's own energy plus operand delivery, which
    falls as 1/sqrt(MACs per unit) (each operand read is reused across a row or column
    of the unit). Equals ``bf16_flop_energy_pj`` at ``reference_macs_per_unit``."""
    pw = (params or default_params()).power
    m = np.asarray(macs_per_unit, dtype=float)
    return pw.bf16_flop_energy_pj + pw.operand_energy_pj * (m ** -0.5 - pw.reference_macs_per_unit ** -0.5)


def flop_energy_pj(node: str, dtype: str, clock_mhz, params: EconomicsParams | None = None, macs_per_unit=None):
    """Energy of one dense FLOP (operand delivery included) at ``node``, ``dtype``, clock and
    matrix-unit size (``macs_per_unit``; None = ``reference_macs_per_unit``)."""
    p = params or default_params()
    pw = p.power
    rel = pw.op_energy_rel_to_bf16.get(dtype)
    if rel is None:
        raise FablessError(f"no op_energy_rel_to_bf16 for datatype '{dtype}'")
    scale = node_value(pw.node_energy_scale, node, "node_energy_scale")
    f = np.asarray(clock_mhz, dtype=float) / pw.reference_clock_mhz
    e = operand_reuse_energy_pj(pw.reference_macs_per_unit if macs_per_unit is None else macs_per_unit, p)
    return e * scale * rel * f ** pw.energy_clock_exponent


def macs_per_unit(chip: Chip, dtype: str = "bf16") -> float | None:
    """MACs per cycle of one of ``chip``'s matrix units in ``dtype`` (else bf16), or, where
    the preset states none, backed out of the peak: peak / (units x clock x 2)."""
    mu = chip.compute.matrix_units
    if mu is None or not mu.count:
        return None
    m = mu.macs_per_cycle.get(dtype) or mu.macs_per_cycle.get("bf16")
    if m:
        return float(m)
    peak = chip.peak_flops(dtype) or chip.peak_flops("bf16")
    return peak / (mu.count * chip.clock.boost_mhz * 1e6 * 2) if peak else None


def active_power_w(matrix_w_full, params: EconomicsParams | None = None):
    """Vectorised: the clocked power (W) of a chip running kernels, apart from the matrix FLOPs:
    ``active_rel_to_matrix`` x ``matrix_w_full``, its matrix units' power at full rate (peak
    FLOP/s x energy per FLOP) at the same clock."""
    return (params or default_params()).power.active_rel_to_matrix * np.asarray(matrix_w_full, dtype=float)


def memory_pj_per_bit(generation: str, params: EconomicsParams) -> float:
    """Energy (pJ) per bit moved to or from memory of ``generation`` (HBM: DRAM + I/O;
    off-package DRAM: the chip's PHY only)."""
    return memory_value(params.power.memory_pj_per_bit, generation, "memory energy")


def io_power_w(*, memory_bytes_per_s, memory_pj_per_bit, d2d_gb_s_per_die, dies, serdes_gbit_s,
               params: EconomicsParams | None = None) -> dict[str, np.ndarray]:
    """Vectorised: power (W) of a chip's I/O, each part at full rate: ``memory`` (bytes/s x 8 x
    ``memory_pj_per_bit``), ``d2d`` (die-to-die links of a package of ``dies`` > 1 dies: each
    die's GB/s x 8 x ``d2d_pj_per_bit`` x dies; 0 for one die) and ``links`` (off-chip SerDes
    Gbit/s, one direction, x ``serdes_pj_per_bit``). Arrays broadcast together. Scale each by
    its utilisation (:func:`power_terms_w`)."""
    pw = (params or default_params()).power
    dies = np.asarray(dies)
    memory = np.asarray(memory_bytes_per_s, dtype=float) * 8 * np.asarray(memory_pj_per_bit, dtype=float) * 1e-12
    d2d = np.asarray(d2d_gb_s_per_die, dtype=float) * 1e9 * 8 * pw.d2d_pj_per_bit * 1e-12 * np.where(dies > 1, dies, 0)
    links = np.asarray(serdes_gbit_s, dtype=float) * 1e9 * pw.serdes_pj_per_bit * 1e-12
    return {"memory": memory, "d2d": d2d, "links": links}


def power_terms_w(*, peak_flops, clock_mhz, peak_clock_mhz, flop_pj_at_peak_clock, matrix_util, static_w,
                  active_w_at_peak_clock, memory_w_full, memory_util, link_w_full, link_util, gamma):
    """Vectorised power by term. ``flop_pj_at_peak_clock`` is the energy per FLOP and
    ``active_w_at_peak_clock`` the active power (:func:`active_power_w`) at ``peak_clock_mhz``;
    both terms scale as (clock / peak clock)^(1 + gamma)."""
    ratio = np.asarray(clock_mhz, dtype=float) / np.asarray(peak_clock_mhz, dtype=float)
    matrix = np.asarray(peak_flops) * np.asarray(matrix_util) * np.asarray(flop_pj_at_peak_clock) * 1e-12 * ratio ** (1 + gamma)
    active = np.asarray(active_w_at_peak_clock, dtype=float) * ratio ** (1 + gamma)
    memory = np.asarray(memory_w_full) * np.asarray(memory_util)
    links = np.asarray(link_w_full) * np.asarray(link_util)
    total = np.asarray(static_w) + active + matrix + memory + links
    return {"static": np.asarray(static_w, dtype=float), "active": active, "matrix": matrix, "memory": memory, "links": links,
            "total": total}


def sustained_clock_mhz(*, budget_w, peak_clock_mhz, fixed_w, matrix_w_at_peak, gamma):
    """The clock at which ``fixed_w + matrix_w_at_peak x (f/f_peak)^(1+gamma)`` meets
    ``budget_w``, capped at the peak clock; NaN where even a zero clock is over budget.
    ``matrix_w_at_peak`` is every clock-dependent term at the peak clock (matrix + active)."""
    room = np.asarray(budget_w, dtype=float) - np.asarray(fixed_w, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(room > 0, (room / np.asarray(matrix_w_at_peak, dtype=float)) ** (1.0 / (1 + gamma)), np.nan)
    return np.asarray(peak_clock_mhz, dtype=float) * np.minimum(frac, 1.0)


@dataclass(frozen=True)
class PowerResult:
    dtype: str
    clock_mhz: float
    peak_clock_mhz: float
    terms_w: dict[str, float]
    tdp_w: float | None
    sustained_clock_mhz: float | None

    @property
    def total_w(self) -> float:
        return self.terms_w["total"]


def chip_power(chip: Chip, params: EconomicsParams | None = None, *, dtype: str = "bf16", matrix_util: float = 1.0,
               memory_util: float = 1.0, link_util: float = 1.0, clock_mhz: float | None = None,
               power_budget_w: float | None = None, die_area_mm2_total: float | None = None,
               enforce_budget: bool = True) -> PowerResult:
    """Power of ``chip`` at the given utilisations (1.0 each = everything at full rate).

    ``power_budget_w`` defaults to the chip's TDP; over it, the sustained clock is
    lowered, and a design that cannot meet it is :class:`InfeasibleDesign` (unless
    ``enforce_budget`` is False: then the sustained clock is left None, for a shipped
    chip whose published TDP the model overshoots)."""
    p = params or default_params()
    pw = p.power
    for name, u in (("matrix_util", matrix_util), ("memory_util", memory_util), ("link_util", link_util)):
        if not 0 <= u <= 1:
            raise FablessError(f"{name} must be between 0 and 1, got {u}")
    peak = chip.peak_flops(dtype)
    if peak is None:
        raise FablessError(f"{chip.name} has no {dtype} peak; pick one of its datatypes")
    node = chip.physical.process_node
    f_peak = chip.clock.boost_mhz
    f = clock_mhz or f_peak
    inv = inventory_from_chip(chip, p)
    area = die_area_mm2_total or ((chip.physical.die_area_mm2 or 0) * chip.physical.dies)
    if not area:
        area = die_area(inv, p, check_reticle=False).total_mm2
    static = node_value(pw.leakage_w_per_mm2, node, "leakage_w_per_mm2") * area
    hbm = chip.memory.hbm
    io = io_power_w(memory_bytes_per_s=hbm.bandwidth_bytes_per_s, memory_pj_per_bit=memory_pj_per_bit(hbm.generation, p),
                    d2d_gb_s_per_die=d2d_gb_s_per_die(inv, p.silicon), dies=inv.dies, serdes_gbit_s=inv.serdes_gbit_s, params=p)
    e_peak = float(flop_energy_pj(node, dtype, f_peak, p, macs_per_unit(chip, "bf16")))
    ref_dtype = power_dtype(chip)  # the matrix machinery at full rate, for the active term
    peak_ref = chip.peak_flops(ref_dtype)
    e_ref = float(flop_energy_pj(node, ref_dtype, f_peak, p, macs_per_unit(chip, "bf16")))
    t = power_terms_w(peak_flops=peak, clock_mhz=f, peak_clock_mhz=f_peak, flop_pj_at_peak_clock=e_peak,
                      matrix_util=matrix_util, static_w=static, active_w_at_peak_clock=active_power_w(peak_ref * e_ref * 1e-12, p),
                      memory_w_full=io["memory"] + io["d2d"], memory_util=memory_util,
                      link_w_full=io["links"], link_util=link_util, gamma=pw.energy_clock_exponent)
    terms = {k: float(v) for k, v in t.items()}
    budget = power_budget_w if power_budget_w is not None else chip.physical.tdp_w
    sustained = None
    if budget is not None:
        if budget <= 0:
            raise FablessError(f"power budget must be positive, got {budget}")
        fixed = terms["static"] + terms["memory"] + terms["links"]
        matrix_at_peak = (terms["matrix"] + terms["active"]) * (f_peak / f) ** (1 + pw.energy_clock_exponent) if f else 0.0
        s = float(sustained_clock_mhz(budget_w=budget, peak_clock_mhz=f_peak, fixed_w=fixed,
                                      matrix_w_at_peak=max(matrix_at_peak, 1e-30), gamma=pw.energy_clock_exponent))
        if not np.isfinite(s) or s < pw.min_clock_fraction * f_peak:
            if not enforce_budget:
                return PowerResult(dtype, f, f_peak, terms, budget, None)
            raise InfeasibleDesign(
                f"{chip.name}: {terms['total']:.0f} W at {f:.0f} MHz is over its {budget:.0f} W power budget, and "
                f"it cannot meet it above {pw.min_clock_fraction:.0%} of its clock (static + memory + links alone: {fixed:.0f} W)")
        sustained = s
    return PowerResult(dtype, f, f_peak, terms, budget, sustained)


# ---------------------------------------------------------------- the load a TDP is set for
# (the calibration of the energies against TDPs is validation work: fabless.validate.power)


def tdp_load(chip: Chip, params: EconomicsParams | None = None) -> tuple[float, float, str]:
    """(clock MHz, matrix utilisation, basis) of the load a chip's TDP is set for, from
    power_sustained.yaml: the clock measured under sustained dense bf16 matrix load at the
    TDP; else the clock derived from a measured max-achievable GEMM throughput (MAMF) for a
    chip that lowers its clock under that load (:func:`mamf_clock_mhz`); else every matrix
    unit busy at the peak clock."""
    ref = sustained_references().get(chip.name)
    if ref is not None and ref.get("dtype", "bf16") == "bf16":
        if "mamf_row" in ref:
            p = params or default_params()
            return mamf_clock_mhz(chip, ref["mamf_row"], p), p.power.gemm_efficiency_at_clock, "clock derived from measured GEMM"
        return _measured_clock_mhz(chip, ref), float(ref["matrix_util"]), "measured sustained clock"
    return float(chip.clock.boost_mhz), 1.0, "peak clock"


def _measured_clock_mhz(chip: Chip, ref: dict) -> float:
    """A measured entry's clock: its own ``sustained_clock_mhz``, else the chip file's
    ``clock.sustained_mhz`` (one place for a chip's measured clock, shared with the
    performance model)."""
    if "sustained_clock_mhz" in ref:
        return float(ref["sustained_clock_mhz"])
    if chip.clock.sustained_mhz is None:
        raise FablessError(f"power_sustained.yaml: {chip.name} has a measured entry but neither it nor the chip file "
                           f"gives a sustained clock")
    return float(chip.clock.sustained_mhz)


def mamf_clock_mhz(chip: Chip, row_id: str, params: EconomicsParams | None = None) -> float:
    """The clock (MHz) at which ``chip`` delivers the max-achievable GEMM throughput of
    measurement row ``row_id`` running at ``gemm_efficiency_at_clock`` of that clock's peak:
    boost x achieved / (bf16 peak x efficiency)."""
    p = params or default_params()
    achieved = mamf_tflops(row_id) * 1e12
    return float(chip.clock.boost_mhz) * achieved / (chip.peak_flops("bf16") * p.power.gemm_efficiency_at_clock)


def mamf_tflops(row_id: str) -> float:
    """Achieved TFLOP/s of a max-achievable-matmul row of measurements/published.csv."""
    r = rows_by_id().get(row_id)
    if r is None:
        raise FablessError(f"power_sustained.yaml: no measurement row '{row_id}' in measurements/published.csv")
    if "MAMF" not in r["metric"]:
        raise FablessError(f"power_sustained.yaml: row {row_id} is not a max-achievable matmul (MAMF) row")
    return float(r["value"])


def power_at_tdp_load(chip: Chip, params: EconomicsParams | None = None) -> PowerResult:
    """Model power in bf16 at the load the chip's TDP is set for (:func:`tdp_load`),
    memory and links at full rate."""
    f, u, _ = tdp_load(chip, params)
    return chip_power(chip, params, dtype="bf16", matrix_util=u, clock_mhz=f, enforce_budget=False)


def power_dtype(chip: Chip) -> str:
    """The datatype whose peak sets a chip's full-load power: bf16, else the first it has."""
    for dt in ("bf16", "fp16", "fp8", "int8", "fp32"):
        if chip.peak_flops(dt) is not None:
            return dt
    raise FablessError(f"{chip.name} states no matrix peak; its power cannot be modelled")


def ownership_power_w(chip: Chip, params: EconomicsParams | None = None) -> tuple[float, str]:
    """The power that ownership costs are charged on: the published TDP, or, for a chip
    without one, the model's full-load power (every unit at full rate, peak clock)."""
    if chip.physical.tdp_w is not None:
        return float(chip.physical.tdp_w), "published TDP"
    pw = chip_power(chip, params, dtype=power_dtype(chip))
    return pw.total_w, "modelled (no published TDP)"


# ---------------------------------------------------------------- measured sustained clocks


@lru_cache(maxsize=1)
def sustained_references() -> dict[str, dict]:
    """Clocks under sustained dense matrix load at TDP (power_sustained.yaml): measured
    entries (``sustained_clock_mhz``, ``matrix_util``) and derived ones (``mamf_row``)."""
    path = Path(str(resources.files("fabless") / "data" / "economics" / "power_sustained.yaml"))
    plain, _ = split_provenance(read_yaml(path))
    return {n: e for n, e in plain.items() if not str(n).startswith("_")}
