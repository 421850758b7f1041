"""What one finished chip costs to make: good dies, memory, 2.5D packaging,
test and assembly, module board, and (optionally) a design partner's margin.

Each line carries the formula and the parameters it used, so the CLI can say
where every dollar came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fabless.errors import FablessError
from fabless.hardware.schema import Chip

from .area import AreaResult, DieInventory, die_area, inventory_from_chip, is_hbm
from .params import EconomicsParams, default_params, memory_value, node_value
from .wafer import cost_per_good_die_usd, dies_per_wafer, harvested_yield, negative_binomial_yield


@dataclass(frozen=True)
class Line:
    """One line of a breakdown: a value, its unit, how it was computed, where its inputs came from."""

    name: str
    value: float
    unit: str
    how: str
    source: str = ""


@dataclass
class UnitCost:
    area: AreaResult
    dies_per_wafer: float
    yield_fraction: float
    yield_no_harvest: float
    die_usd: float  # all compute dies of one package
    memory_usd: float
    packaging_usd: float
    test_assembly_usd: float
    board_usd: float
    partner_margin_usd: float
    lines: list[Line] = field(default_factory=list)

    @property
    def package_usd(self) -> float:
        """Manufacturing cost of the packaged chip (dies, memory, packaging, test)."""
        return self.die_usd + self.memory_usd + self.packaging_usd + self.test_assembly_usd

    @property
    def unit_usd(self) -> float:
        """Cost to the buyer of one chip on its module: package + board (+ partner margin)."""
        return self.package_usd + self.board_usd + self.partner_margin_usd


def memory_usd_per_gb(generation: str, params: EconomicsParams) -> float:
    return memory_value(params.package.memory_usd_per_gb, generation, "memory price",
                        " (set package.memory_usd_per_gb with --params)")


def packaging_kind(packaging: str | None, hbm: bool) -> str:
    """The packaging price key for a chip's ``physical.packaging`` text."""
    text = (packaging or "").lower().replace(" ", "")
    for kind in ("cowos-l", "cowos-r", "cowos-s"):
        if kind in text:
            return kind
    if "cowos" in text or (not text and hbm):
        return "cowos-s"
    return "organic"


def assembly_cost_terms_usd(*, die_usd, memory_usd, packaging_usd_per_mm2, die_area_mm2, hbm_sites,
                            params: EconomicsParams | None = None, partner: bool = False) -> dict[str, np.ndarray]:
    """Vectorised: the cost lines (USD) of one chip on its module that follow from its good dies'
    cost (``die_usd``, all dies of the package) and its memory's (``memory_usd``):

    * ``packaging_area_mm2``: ``die_area_mm2`` (all dies) + ``hbm_sites`` x ``hbm_stack_footprint_mm2``
      (pass 0 sites for off-package memory);
    * ``packaging``: ``packaging_usd_per_mm2`` (:func:`packaging_kind`'s rate) x that area;
    * ``test_assembly``: ``test_assembly_fraction`` x (dies + memory + packaging);
    * ``board``: ``module_board_usd``;
    * ``partner_margin``: with ``partner``, cost x gm / (1 - gm) (gm = ``partner.gross_margin``), else 0;
    * ``total``: dies + memory + packaging + test + board + partner margin (the unit cost).

    Arrays broadcast together; :func:`unit_cost` calls it with floats."""
    p = params or default_params()
    pk = p.package
    die_usd = np.asarray(die_usd, dtype=float)
    memory_usd = np.asarray(memory_usd, dtype=float)
    pkg_area = np.asarray(die_area_mm2, dtype=float) + np.asarray(hbm_sites) * pk.hbm_stack_footprint_mm2
    packaging = np.asarray(packaging_usd_per_mm2, dtype=float) * pkg_area
    test = pk.test_assembly_fraction * (die_usd + memory_usd + packaging)
    board = pk.module_board_usd
    cost = die_usd + memory_usd + packaging + test + board
    gm = p.partner.gross_margin
    margin = cost * gm / (1 - gm) if partner else np.zeros_like(cost)
    return {"packaging_area_mm2": pkg_area, "packaging": packaging, "test_assembly": test, "board": board,
            "partner_margin": margin, "total": cost + margin}


def unit_cost(
    inv: DieInventory,
    *,
    memory_gb: float,
    memory_generation: str,
    packaging: str | None = None,
    params: EconomicsParams | None = None,
    partner: bool = False,
    spare_cores: int | None = None,
) -> UnitCost:
    """Manufacturing cost of one chip described by ``inv``.

    ``spare_cores`` defaults to ``cores_physical - cores_enabled`` (harvesting)."""
    p = params or default_params()
    sp, pk = p.silicon, p.package
    if memory_gb < 0:
        raise FablessError(f"memory capacity must not be negative, got {memory_gb}")
    area = die_area(inv, p)
    node = inv.process_node
    wafer_usd = node_value(sp.wafer_price_usd, node, "wafer price")
    d0 = node_value(sp.defect_density_per_cm2, node, "defect density")
    a = area.per_die_mm2
    dpw = float(dies_per_wafer(a, wafer_diameter_mm=sp.wafer_diameter_mm, edge_exclusion_mm=sp.edge_exclusion_mm,
                               scribe_lane_mm=sp.scribe_lane_mm))
    y0 = float(negative_binomial_yield(a, d0, sp.yield_clustering_alpha))
    lines: list[Line] = []
    if inv.cores_physical and inv.cores_enabled:
        per_die_cores = max(inv.cores_physical // inv.dies, 1)
        spares = spare_cores if spare_cores is not None else (inv.cores_physical - inv.cores_enabled) // inv.dies
        y = float(harvested_yield(a, d0, sp.yield_clustering_alpha, repairable_fraction=area.repairable_fraction,
                                  cores=per_die_cores, spare_cores=spares))
        yield_how = (f"negative binomial, {per_die_cores - spares} of {per_die_cores} cores needed per die, "
                     f"cores {area.repairable_fraction:.0%} of the die (defect-free yield {y0:.1%})")
    else:
        y = y0
        yield_how = f"negative binomial (1 + A D0 / alpha)^-alpha, A = {a / 100:.2f} cm2, D0 = {d0}, alpha = {sp.yield_clustering_alpha}"
    per_die = float(cost_per_good_die_usd(wafer_usd, a, y, wafer_diameter_mm=sp.wafer_diameter_mm,
                                          edge_exclusion_mm=sp.edge_exclusion_mm, scribe_lane_mm=sp.scribe_lane_mm))
    die_usd = per_die * inv.dies
    hbm = is_hbm(memory_generation)
    mem_rate = memory_usd_per_gb(memory_generation, p)
    memory_usd = memory_gb * mem_rate
    kind = packaging_kind(packaging, hbm)
    pkg_rate = pk.packaging_usd_per_mm2.get(kind)
    if pkg_rate is None:
        raise FablessError(f"no packaging price for '{kind}'; known: {', '.join(sorted(pk.packaging_usd_per_mm2))}")
    t = assembly_cost_terms_usd(die_usd=die_usd, memory_usd=memory_usd, packaging_usd_per_mm2=pkg_rate,
                                die_area_mm2=area.total_mm2, hbm_sites=inv.hbm_stacks if hbm else 0, params=p, partner=partner)
    pkg_area, packaging_usd, test_usd = float(t["packaging_area_mm2"]), float(t["packaging"]), float(t["test_assembly"])
    board, margin = float(t["board"]), float(t["partner_margin"])

    lines += [
        Line("die area", a, "mm2", f"{area.basis}" + (f" (model {area.model_per_die_mm2:.0f} mm2, {area.model_per_die_mm2 / a - 1:+.1%})" if area.basis == "published" else " (sum of parts / (1 - overhead))") + (f", x {inv.dies} dies" if inv.dies > 1 else ""), "area model: silicon.yaml"),
        Line("dies per wafer", dpw, "dies", f"de Vries: pi (d/2)^2/S - pi d/sqrt(2S), d = {sp.wafer_diameter_mm:g} - 2 x {sp.edge_exclusion_mm:g} mm, scribe {sp.scribe_lane_mm:g} mm", p.cite("silicon.wafer_diameter_mm")),
        Line("yield", y, "fraction", yield_how, p.cite(f"silicon.defect_density_per_cm2.{node}")),
        Line("wafer price", wafer_usd, "USD", f"{node} 300 mm wafer", p.cite(f"silicon.wafer_price_usd.{node}")),
        Line("good die cost", die_usd, "USD", f"wafer / (floor(dies per wafer) x yield) = {per_die:,.0f}" + (f" x {inv.dies} dies" if inv.dies > 1 else ""), ""),
        Line("memory", memory_usd, "USD", f"{memory_gb:g} GB {memory_generation} x ${mem_rate:g}/GB", p.cite(f"package.memory_usd_per_gb.{memory_generation.strip().lower()}")),
        Line("packaging", packaging_usd, "USD", f"{kind}: ${pkg_rate:g}/mm2 x {pkg_area:,.0f} mm2 of silicon (dies" + (f" + {inv.hbm_stacks} HBM sites)" if hbm else ")"), p.cite(f"package.packaging_usd_per_mm2.{kind}")),
        Line("test and assembly", test_usd, "USD", f"{pk.test_assembly_fraction:.1%} of dies + memory + packaging", p.cite("package.test_assembly_fraction")),
        Line("module board", board, "USD", "PCB, VRMs, connectors", p.cite("package.module_board_usd")),
    ]
    if partner:
        lines.append(Line("partner margin", margin, "USD", f"cost x gm / (1 - gm), gm = {p.partner.gross_margin:.0%}", p.cite("partner.gross_margin")))
    return UnitCost(area, dpw, y, y0, die_usd, memory_usd, packaging_usd, test_usd, board, margin, lines)


def chip_unit_cost(chip: Chip, params: EconomicsParams | None = None, *, partner: bool = False,
                   cores_physical: int | None = None) -> UnitCost:
    """Unit cost of a chip preset or a user's chip file."""
    p = params or default_params()
    inv = inventory_from_chip(chip, p, cores_physical=cores_physical)
    hbm = chip.memory.hbm
    return unit_cost(inv, memory_gb=hbm.capacity_bytes / 1e9, memory_generation=hbm.generation,
                     packaging=chip.physical.packaging, params=p, partner=partner)


def good_die_cost_usd(die_area_mm2, node: str, params: EconomicsParams | None = None):
    """Vectorised: cost of one good (defect-free) die of each area at ``node``."""
    p = params or default_params()
    sp = p.silicon
    area = np.asarray(die_area_mm2, dtype=float)
    y = negative_binomial_yield(area, node_value(sp.defect_density_per_cm2, node, "defect density"), sp.yield_clustering_alpha)
    return cost_per_good_die_usd(node_value(sp.wafer_price_usd, node, "wafer price"), area, y,
                                 wafer_diameter_mm=sp.wafer_diameter_mm, edge_exclusion_mm=sp.edge_exclusion_mm,
                                 scribe_lane_mm=sp.scribe_lane_mm)
