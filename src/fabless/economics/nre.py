"""Non-recurring engineering: what it costs to design a chip once.

    design (architecture, RTL, physical design, IP) = (total - masks) x (1 - software - verification)
    verification = (total - masks) x verification_share
    software     = (total - masks) x software_share
    masks        = mask_set_usd[node] x tapeouts
    total        = design_cost_usd[node] x complexity_factor   (IBS-style totals)

With a design partner, the NRE is the same work (the partner does the physical
design and brings the SerDes/HBM-PHY IP), and the partner also takes a per-unit
margin (see :mod:`fabless.economics.unit_cost`); there are no public per-unit terms.
"""

from __future__ import annotations

from fabless.errors import FablessError

from .params import EconomicsParams, default_params, node_value
from .unit_cost import Line


def nre_usd(node: str, params: EconomicsParams | None = None, *, complexity_factor: float | None = None,
            tapeouts: int | None = None) -> dict[str, float]:
    """NRE by item (USD) and ``total``."""
    p = params or default_params()
    n = p.nre
    cf = n.complexity_factor if complexity_factor is None else complexity_factor
    if cf <= 0:
        raise FablessError(f"complexity factor must be positive, got {cf}")
    masks_each = node_value(n.mask_set_usd, node, "mask set price")
    tapes = n.tapeouts if tapeouts is None else tapeouts
    design_total = node_value(n.design_cost_usd, node, "design cost") * cf
    work = max(design_total - masks_each, 0.0)
    out = {
        "design_and_ip": work * (1 - n.software_share - n.verification_share),
        "verification": work * n.verification_share,
        "software": work * n.software_share,
        "masks": masks_each * tapes,
    }
    out["total"] = sum(out.values())
    return out


def nre_lines(node: str, params: EconomicsParams | None = None, **kw) -> list[Line]:
    p = params or default_params()
    items = nre_usd(node, p, **kw)
    src = p.cite(f"nre.design_cost_usd.{node}")
    return [
        Line("NRE design and IP", items["design_and_ip"], "USD", f"(IBS {node} total x complexity - masks) x (1 - software - verification share)", src),
        Line("NRE verification", items["verification"], "USD", f"{p.nre.verification_share:.1%} of the design work", p.cite("nre.verification_share")),
        Line("NRE software", items["software"], "USD", f"{p.nre.software_share:.1%} of the design work", p.cite("nre.software_share")),
        Line("NRE masks", items["masks"], "USD", f"{node} mask set x {p.nre.tapeouts} tape-out(s)", p.cite(f"nre.mask_set_usd.{node}")),
        Line("NRE total", items["total"], "USD", "sum", ""),
    ]
