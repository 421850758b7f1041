"""Chip power at a workload's utilisation, and the clock a power budget allows.

    P = P_static + P_matrix + P_memory + P_links + P_d2d
    P_static  = leakage_w_per_mm2[node] x die area
    P_matrix  = peak FLOP/s(dtype, f) x utilisation x e_bf16 x node_energy_scale[node]
                x op_energy_rel_to_bf16[dtype] x (f / reference_clock)^gamma
    P_memory  = memory bytes/s x 8 x memory_pj_per_bit[generation] (HBM: DRAM + I/O;
                off-package DRAM: the chip's PHY only)
    P_links   = SerDes bits/s x serdes_pj_per_bit;  P_d2d likewise between chiplets

Energy per operation rises with the clock (CV^2 with V rising with f), so the
matrix power goes as f^(1 + gamma). Over a power budget (the TDP), the sustained
clock is the one that meets it; below ``min_clock_fraction`` of the peak clock
the design is :class:`InfeasibleDesign`. Functions take numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
from pydantic import Field, NonNegativeFloat, PositiveFloat

from fabless.errors import FablessError, InfeasibleDesign
from fabless.hardware.schema import Chip, Frozen, ProcessNode
from fabless.loading import read_yaml, validate
from fabless.provenance import Source

from .area import d2d_gb_s_per_die, inventory_from_chip, is_hbm
from .params import EconomicsParams, default_params, node_value


def flop_energy_pj(node: str, dtype: str, clock_mhz, params: EconomicsParams | None = None):
    """Energy of one dense FLOP (operand delivery included) at ``node``, ``dtype`` and clock."""
    pw = (params or default_params()).power
    rel = pw.op_energy_rel_to_bf16.get(dtype)
    if rel is None:
        raise FablessError(f"no op_energy_rel_to_bf16 for datatype '{dtype}'")
    scale = node_value(pw.node_energy_scale, node, "node_energy_scale")
    f = np.asarray(clock_mhz, dtype=float) / pw.reference_clock_mhz
    return pw.bf16_flop_energy_pj * scale * rel * f ** pw.energy_clock_exponent


def memory_pj_per_bit(generation: str, params: EconomicsParams) -> float:
    key = generation.strip().lower().replace(" ", "")
    table = params.power.memory_pj_per_bit
    if key not in table:
        raise FablessError(f"no memory energy for '{generation}'; known: {', '.join(sorted(table))}")
    return table[key]


def power_terms_w(*, peak_flops, clock_mhz, peak_clock_mhz, flop_pj_at_peak_clock, matrix_util, static_w,
                  memory_w_full, memory_util, link_w_full, link_util, gamma):
    """Vectorised power by term. ``flop_pj_at_peak_clock`` is the energy per FLOP at
    ``peak_clock_mhz``; the matrix term scales as (clock / peak clock)^(1 + gamma)."""
    ratio = np.asarray(clock_mhz, dtype=float) / np.asarray(peak_clock_mhz, dtype=float)
    matrix = np.asarray(peak_flops) * np.asarray(matrix_util) * np.asarray(flop_pj_at_peak_clock) * 1e-12 * ratio ** (1 + gamma)
    memory = np.asarray(memory_w_full) * np.asarray(memory_util)
    links = np.asarray(link_w_full) * np.asarray(link_util)
    total = np.asarray(static_w) + matrix + memory + links
    return {"static": np.asarray(static_w, dtype=float), "matrix": matrix, "memory": memory, "links": links, "total": total}


def sustained_clock_mhz(*, budget_w, peak_clock_mhz, fixed_w, matrix_w_at_peak, gamma):
    """The clock at which ``fixed_w + matrix_w_at_peak x (f/f_peak)^(1+gamma)`` meets
    ``budget_w``, capped at the peak clock; NaN where even a zero clock is over budget."""
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
        from .area import die_area

        area = die_area(inv, p, check_reticle=False).total_mm2
    static = node_value(pw.leakage_w_per_mm2, node, "leakage_w_per_mm2") * area
    hbm = chip.memory.hbm
    mem_full = hbm.bandwidth_bytes_per_s * 8 * memory_pj_per_bit(hbm.generation, p) * 1e-12
    d2d = d2d_gb_s_per_die(inv, p.silicon) * 1e9 * 8 * pw.d2d_pj_per_bit * 1e-12 * (inv.dies if inv.dies > 1 else 0)
    link_full = inv.serdes_gbit_s * 1e9 * pw.serdes_pj_per_bit * 1e-12
    e_peak = float(flop_energy_pj(node, dtype, f_peak, p))
    t = power_terms_w(peak_flops=peak, clock_mhz=f, peak_clock_mhz=f_peak, flop_pj_at_peak_clock=e_peak,
                      matrix_util=matrix_util, static_w=static, memory_w_full=mem_full + d2d, memory_util=memory_util,
                      link_w_full=link_full, link_util=link_util, gamma=pw.energy_clock_exponent)
    terms = {k: float(v) for k, v in t.items()}
    budget = power_budget_w if power_budget_w is not None else chip.physical.tdp_w
    sustained = None
    if budget is not None:
        if budget <= 0:
            raise FablessError(f"power budget must be positive, got {budget}")
        fixed = terms["static"] + terms["memory"] + terms["links"]
        matrix_at_peak = terms["matrix"] * (f_peak / f) ** (1 + pw.energy_clock_exponent) if f else 0.0
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


# ---------------------------------------------------------------- calibration


class PowerReference(Frozen):
    """A chip with a published TDP, for calibrating and checking the power model."""

    role: str
    process_node: ProcessNode
    bf16_tflops: PositiveFloat
    clock_mhz: PositiveFloat
    memory_generation: str
    memory_gb_s: PositiveFloat
    serdes_gbit_s: NonNegativeFloat = 0
    dies: int = 1
    die_area_mm2_total: PositiveFloat
    tdp_w: PositiveFloat
    provenance: dict[str, Source] = Field(default_factory=dict)


@lru_cache(maxsize=1)
def power_references() -> dict[str, PowerReference]:
    path = Path(str(resources.files("fabless") / "data" / "economics" / "power_reference.yaml"))
    raw = read_yaml(path)
    return {n: validate(PowerReference, e, f"{path} ({n})") for n, e in raw.items() if not str(n).startswith("_")}


def _reference_terms(ref: PowerReference, p: EconomicsParams) -> tuple[float, float]:
    """(fixed W, matrix W per pJ of bf16_flop_energy_pj) at full load."""
    pw = p.power
    static = node_value(pw.leakage_w_per_mm2, ref.process_node, "leakage") * ref.die_area_mm2_total
    mem = ref.memory_gb_s * 1e9 * 8 * memory_pj_per_bit(ref.memory_generation, p) * 1e-12
    d2d = ref.memory_gb_s * p.silicon.d2d_bandwidth_over_memory * 1e9 * 8 * pw.d2d_pj_per_bit * 1e-12 * ref.dies if ref.dies > 1 else 0.0
    links = ref.serdes_gbit_s * 1e9 * pw.serdes_pj_per_bit * 1e-12
    per_pj = ref.bf16_tflops * 1e12 * float(flop_energy_pj(ref.process_node, "bf16", ref.clock_mhz, p)) / pw.bf16_flop_energy_pj * 1e-12
    return static + mem + d2d + links, per_pj


def fit_flop_energy(names: list[str], params: EconomicsParams | None = None) -> float:
    """Least-squares (relative) ``bf16_flop_energy_pj`` that makes the full-load power
    of the reference chips ``names`` equal their TDP."""
    p = params or default_params()
    refs = power_references()
    xs, ys = [], []
    for n in names:
        fixed, per_pj = _reference_terms(refs[n], p)
        xs.append(per_pj / refs[n].tdp_w)
        ys.append((refs[n].tdp_w - fixed) / refs[n].tdp_w)
    xs, ys = np.array(xs), np.array(ys)
    return float(xs @ ys / (xs @ xs))


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


def power_errors(params: EconomicsParams | None = None) -> list[dict]:
    """Full-load model power vs TDP for every reference chip."""
    p = params or default_params()
    out = []
    for n, ref in power_references().items():
        fixed, per_pj = _reference_terms(ref, p)
        model = fixed + per_pj * p.power.bf16_flop_energy_pj
        out.append({"name": n, "role": ref.role, "node": ref.process_node, "model_w": model, "tdp_w": ref.tdp_w,
                    "error": model / ref.tdp_w - 1})
    return out


# ---------------------------------------------------------------- measured sustained clocks


@lru_cache(maxsize=1)
def sustained_references() -> dict[str, dict]:
    """Measured clocks under sustained dense matrix load at TDP (power_sustained.yaml)."""
    from fabless.provenance import split_provenance

    path = Path(str(resources.files("fabless") / "data" / "economics" / "power_sustained.yaml"))
    plain, _ = split_provenance(read_yaml(path))
    return {n: e for n, e in plain.items() if not str(n).startswith("_")}


def sustained_errors(params: EconomicsParams | None = None) -> list[dict]:
    """For chips with a measured sustained clock: the model's power at that clock and the
    measured utilisation against the TDP, and the clock the model predicts for the TDP
    against the measured one."""
    from fabless.hardware.presets import load_chip

    out = []
    for name, ref in sustained_references().items():
        chip = load_chip(name)
        f, u, dt = float(ref["sustained_clock_mhz"]), float(ref["matrix_util"]), ref["dtype"]
        at = chip_power(chip, params, dtype=dt, matrix_util=u, clock_mhz=f, enforce_budget=False)
        pred = chip_power(chip, params, dtype=dt, matrix_util=u, enforce_budget=False).sustained_clock_mhz
        tdp = float(chip.physical.tdp_w)
        out.append({"name": name, "tdp_w": tdp, "clock_mhz": f, "model_w_at_clock": at.total_w,
                    "power_error": at.total_w / tdp - 1, "model_clock_mhz": pred,
                    "clock_error": (pred / f - 1) if pred else float("nan")})
    return out
