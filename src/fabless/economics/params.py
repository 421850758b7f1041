"""The economics parameters: every real-world number the cost model uses.

Defaults live in ``fabless/data/economics/*.yaml`` (one file per section, each
number with its source and confidence). A user overrides any of them with a
``--params FILE.yaml`` whose top-level keys are section names::

    silicon:
      wafer_price_usd: {N3: 25000}
    ownership:
      electricity_usd_per_kwh: 0.12

Overrides are merged into the defaults key by key, then the whole set is
validated: an unknown field, an unknown node or a negative price is a one-line
:class:`~fabless.errors.FablessError`.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from fabless.errors import FablessError, suggest
from fabless.hardware.schema import Dtype, Frozen, ProcessNode
from fabless.loading import read_yaml, validate
from fabless.params import load_param_file
from fabless.provenance import Source

SECTIONS = ("silicon", "package", "partner", "power", "nre", "ownership")


def _fraction(name: str, value: float, *, upper_open: bool = True) -> None:
    ok = 0 <= value < 1 if upper_open else 0 <= value <= 1
    if not ok:
        raise ValueError(f"{name} must be a fraction in [0, 1{')' if upper_open else ']'}, got {value}")


class SiliconParams(Frozen):
    """Die area, wafer, yield."""

    reticle_limit_mm2: PositiveFloat
    wafer_diameter_mm: PositiveFloat
    edge_exclusion_mm: NonNegativeFloat
    scribe_lane_mm: NonNegativeFloat
    wafer_price_usd: dict[ProcessNode, PositiveFloat]
    defect_density_per_cm2: dict[ProcessNode, NonNegativeFloat]
    yield_clustering_alpha: PositiveFloat
    logic_area_scale: dict[ProcessNode, PositiveFloat] = Field(description="logic area relative to N5 (N5 = 1)")
    bf16_mac_area_um2: PositiveFloat = Field(description="one bf16 MAC of a matrix unit at N5, with its share of the unit")
    mac_area_rel_to_bf16: dict[Dtype, PositiveFloat]
    sram_bitcell_um2: dict[ProcessNode, PositiveFloat]
    sram_array_efficiency: PositiveFloat = Field(description="bitcell area / macro area")
    sram_layout_factor: PositiveFloat = Field(description="cache area / dense macro area (tags, ports, ECC, routing)")
    hbm_phy_mm2_per_stack: NonNegativeFloat
    dram_phy_mm2_per_gb_s: NonNegativeFloat
    serdes_mm2_per_gbit_s: NonNegativeFloat
    pcie_gbit_s_per_lane: dict[str, PositiveFloat]
    d2d_gb_s_per_mm: PositiveFloat = Field(description="die-to-die bandwidth per mm of die edge")
    d2d_depth_mm: PositiveFloat
    d2d_bandwidth_over_memory: PositiveFloat = Field(description="die-to-die bandwidth as a multiple of the memory bandwidth")
    overhead_fraction: float = Field(description="NoC, control, clocking, pads, white space: share of the die")
    provenance: dict[str, Source] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _checks(self) -> SiliconParams:
        _fraction("overhead_fraction", self.overhead_fraction)
        if self.sram_array_efficiency > 1:
            raise ValueError(f"sram_array_efficiency must be at most 1, got {self.sram_array_efficiency}")
        return self


class PackageParams(Frozen):
    """Memory, 2.5D packaging, test and board."""

    memory_usd_per_gb: dict[str, PositiveFloat]
    hbm_stack_footprint_mm2: PositiveFloat
    packaging_usd_per_mm2: dict[str, PositiveFloat] = Field(description="by packaging kind, per mm2 of silicon on the substrate")
    test_assembly_fraction: NonNegativeFloat
    module_board_usd: NonNegativeFloat
    provenance: dict[str, Source] = Field(default_factory=dict)


class PartnerParams(Frozen):
    """A design partner (Broadcom, Marvell, ...) that sells the finished chip."""

    gross_margin: float
    provenance: dict[str, Source] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _checks(self) -> PartnerParams:
        _fraction("gross_margin", self.gross_margin)
        return self


class PowerParams(Frozen):
    bf16_flop_energy_pj: PositiveFloat = Field(description="one dense bf16 FLOP at N5 and the reference clock, operand delivery included, in a matrix unit of reference_macs_per_unit MACs per cycle")
    operand_energy_pj: NonNegativeFloat = Field(0.0, description="operand delivery (register file / SRAM reads) per bf16 FLOP at N5 and the reference clock with no operand reuse; a unit of M MACs per cycle reuses each operand sqrt(M) times")
    reference_macs_per_unit: PositiveFloat = Field(65536, description="the matrix-unit size (MACs per cycle) at which bf16_flop_energy_pj is stated")
    reference_clock_mhz: PositiveFloat
    energy_clock_exponent: NonNegativeFloat
    node_energy_scale: dict[ProcessNode, PositiveFloat]
    op_energy_rel_to_bf16: dict[Dtype, PositiveFloat]
    leakage_w_per_mm2: dict[ProcessNode, NonNegativeFloat]
    active_rel_to_matrix: NonNegativeFloat = Field(0.0, description="clocked power of a chip running kernels apart from the matrix FLOPs (clock tree, issue, register files, caches, on-chip network), as a multiple of its matrix units' power at full rate at the same clock")
    memory_pj_per_bit: dict[str, NonNegativeFloat]
    serdes_pj_per_bit: NonNegativeFloat
    d2d_pj_per_bit: NonNegativeFloat
    min_clock_fraction: float = Field(description="lowest sustained clock, as a fraction of the peak clock, before a design is infeasible")
    gemm_efficiency_at_clock: float = Field(0.94, description="achieved / peak at the running clock of a tuned large bf16 GEMM; turns a measured max-achievable GEMM throughput into the clock the chip held at its TDP")
    provenance: dict[str, Source] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _checks(self) -> PowerParams:
        _fraction("min_clock_fraction", self.min_clock_fraction)
        _fraction("gemm_efficiency_at_clock", self.gemm_efficiency_at_clock, upper_open=False)
        return self


class NreParams(Frozen):
    design_cost_usd: dict[ProcessNode, PositiveFloat]
    mask_set_usd: dict[ProcessNode, PositiveFloat]
    software_share: float
    verification_share: float
    complexity_factor: PositiveFloat
    tapeouts: PositiveInt
    provenance: dict[str, Source] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _checks(self) -> NreParams:
        _fraction("software_share", self.software_share)
        _fraction("verification_share", self.verification_share)
        if self.software_share + self.verification_share >= 1:
            raise ValueError("software_share + verification_share must be below 1")
        return self


class OwnershipParams(Frozen):
    # Spans in years of a real fleet (a month to a century), fractions as fractions.
    depreciation_years: float = Field(ge=1 / 12, le=100)
    server_cost_over_accelerator: PositiveFloat
    network_fraction_of_hardware: float = Field(ge=0, le=1)
    server_power_over_tdp: PositiveFloat
    average_power_fraction: float = Field(gt=0, le=1)
    pue: PositiveFloat
    electricity_usd_per_kwh: NonNegativeFloat
    datacenter_usd_per_mw: NonNegativeFloat
    datacenter_life_years: float = Field(ge=1 / 12, le=100)
    operations_fraction_per_year: float = Field(ge=0, le=1)
    hours_per_year: float = Field(ge=1, le=8784)
    cost_of_capital: float = Field(0.0, ge=0, lt=1, description="weighted average cost of capital per year (0.10 = 10%); capex is recovered as an annuity at this rate")
    provenance: dict[str, Source] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _checks(self) -> OwnershipParams:
        if self.pue < 1:
            raise ValueError(f"pue must be at least 1, got {self.pue}")
        return self


class EconomicsParams(Frozen):
    silicon: SiliconParams
    package: PackageParams
    partner: PartnerParams
    power: PowerParams
    nre: NreParams
    ownership: OwnershipParams

    def source_of(self, dotted: str) -> Source | None:
        """Source of ``section.field[.key]``, e.g. ``silicon.wafer_price_usd.N5``."""
        section, _, rest = dotted.partition(".")
        model = getattr(self, section)
        return model.provenance.get(rest)

    def cite(self, dotted: str) -> str:
        """``'estimate: source'`` for a parameter, for explanations."""
        src = self.source_of(dotted)
        if src is None:
            return "user-set (no source given)"
        return f"{src.confidence}: {src.source or ''}".strip()


_MODELS = {
    "silicon": SiliconParams, "package": PackageParams, "partner": PartnerParams,
    "power": PowerParams, "nre": NreParams, "ownership": OwnershipParams,
}


def _data_dir() -> Path:
    return Path(str(resources.files("fabless") / "data" / "economics"))


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and "value" not in value:
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _raw_defaults() -> dict[str, dict]:
    raw = {}
    for section in SECTIONS:
        path = _data_dir() / f"{section}.yaml"
        raw[section] = load_param_file(path).raw  # every default sourced (fabless.params checks)
    return raw


def _build(raw: dict[str, dict], origin: str) -> EconomicsParams:
    sections = {}
    for section, model in _MODELS.items():
        sections[section] = validate(model, raw[section], f"{origin} ({section})")
    return EconomicsParams(**sections)


@lru_cache(maxsize=1)
def default_params() -> EconomicsParams:
    """The shipped defaults, every number sourced."""
    return _build(_raw_defaults(), "economics defaults")


def load_params(path: str | Path | None = None) -> EconomicsParams:
    """Defaults, with the overrides in ``path`` (a YAML of sections) merged on top."""
    if path is None:
        return default_params()
    user = read_yaml(path)
    if user is None:
        return default_params()
    if not isinstance(user, dict):
        raise FablessError(f"{path}: expected a mapping of sections ({', '.join(SECTIONS)}) at the top level")
    raw = _raw_defaults()
    for section, value in user.items():
        if str(section).startswith("_"):
            continue
        if section not in SECTIONS:
            raise FablessError(f"{path}: unknown section '{section}'{suggest(str(section), SECTIONS) or '; sections: ' + ', '.join(SECTIONS)}")
        if not isinstance(value, dict):
            raise FablessError(f"{path}: section '{section}' must be a mapping of fields")
        # A user's value replaces the default's whole {value, source} mapping, so its
        # source goes with it and the number shows as user-set.
        raw[section] = _deep_merge(raw[section], value)
    return _build(raw, str(path))


def with_overrides(params: EconomicsParams, **changes: dict[str, Any]) -> EconomicsParams:
    """A copy of ``params`` with some fields replaced, e.g.
    ``with_overrides(p, silicon={"wafer_price_usd": {...}})`` (used by sensitivity sweeps)."""
    updates = {}
    for section, fields in changes.items():
        if section not in _MODELS:
            raise FablessError(f"unknown economics section '{section}'")
        updates[section] = getattr(params, section).model_copy(update=fields)
    return params.model_copy(update=updates)


def node_value(table: dict[str, float], node: str, what: str) -> float:
    """``table[node]`` with a one-line error naming the nodes that have a value."""
    try:
        return table[node]
    except KeyError:
        known = ", ".join(sorted(table))
        raise FablessError(f"no {what} for process node '{node}'; nodes with a value: {known} (set it with --params)") from None


def memory_value(table: dict[str, float], generation: str, what: str, hint: str = "") -> float:
    """``table`` entry for a memory generation ('HBM3e' and 'hbm3e' alike), with a one-line
    error naming the generations that have a value."""
    key = generation.strip().lower().replace(" ", "")
    if key not in table:
        raise FablessError(f"no {what} for '{generation}'; known: {', '.join(sorted(table))}{hint}")
    return table[key]
