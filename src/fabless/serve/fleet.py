"""Size a serving fleet: for each chip, the replica layout that meets a demand within an SLO
with the fewest chips, and what that fleet costs.

For one chip (a preset, a chip YAML or a system YAML) and one scenario (model, precision,
request lengths):

1. **Layouts.** ``tp`` runs over the divisors of the scale-up domain that divide the model's
   attention heads (at most ``max_tp``); for each ``tp`` the smallest ``pp`` in 1, 2, 4, 8 whose
   weights fit is kept (a deeper pipeline only adds chips: the step model runs the stages one
   after another, so ``pp`` buys memory, not speed). The ``max_layouts`` smallest fitting
   layouts are simulated. For a mixture-of-experts model each layout with ``tp > 1`` whose
   ``tp`` divides the experts is also tried with expert parallelism ``ep = tp`` (whole experts
   spread over the stage's chips instead of every expert sliced by ``tp``; the same weights per
   chip, an all-to-all per MoE layer instead of an all-reduce).
2. **Rate per replica.** :func:`fabless.serve.search.max_throughput` on one replica (Poisson
   arrivals, the scenario's lengths, a fixed seed, ``duration_s`` of simulated time).
3. **Disaggregated.** For the best aggregated layout, 1 prefill : ``n`` decode replicas of
   that layout (``n`` in ``disagg_decode``), the KV crossing the prefill replica's scale-out
   NICs (per-chip NIC rate x chips of the replica, the network's latency). The unit is the
   group of ``1 + n`` replicas and its rate is searched the same way.
4. **Fleet.** ``units = ceil(demand / rate per unit)``, ``chips = units x chips per unit``.
   The layout with the fewest chips wins (ties: the smaller unit).
5. **Cost.** Owned cost per chip-hour from :func:`fabless.economics.chip_hour` (the list
   price, else unit cost without NRE, as ``fabless tco``), rented from the cloud price;
   ``$/month = chips x $/h x 730``; ``$/Mtoken = $/h of the fleet / (demand x output tokens
   x 3600) x 1e6`` (output tokens actually served, not the fleet's spare capacity), and the
   same over input + output tokens.

A fleet of ``units`` replicas behind a router at ``units x`` the rate does at least as well
as one replica at its rate (pooling only shortens queues), so the count is an upper bound
within rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from fabless.economics import chip_hour, chip_unit_cost, default_params
from fabless.economics.power import ownership_power_w
from fabless.economics.tco import placement_note, scenario_for
from fabless.errors import FablessError, InfeasibleDesign, NoSystemPreset
from fabless.estimate.engine import resolve_system
from fabless.estimate.stepcost import EngineStepCost, check_servable
from fabless.serve.metrics import SLO
from fabless.serve.scheduler import SchedulerConfig
from fabless.serve.search import max_throughput
from fabless.serve.sim import Disaggregated
from fabless.serve.workload import Lengths
from fabless.workload import load_model

HOURS_PER_MONTH = 730.0


@dataclass(frozen=True)
class Layout:
    tp: int
    pp: int
    prefill: int = 0  # 0 = aggregated; else prefill replicas of a disaggregated unit
    decode: int = 0
    ep: int = 1

    @property
    def disaggregated(self) -> bool:
        return self.prefill > 0

    @property
    def replica_chips(self) -> int:
        return self.tp * self.pp

    @property
    def unit_chips(self) -> int:
        return self.replica_chips * (self.prefill + self.decode if self.disaggregated else 1)

    def label(self) -> str:
        base = f"tp{self.tp}" + (f" pp{self.pp}" if self.pp > 1 else "") + (f" ep{self.ep}" if self.ep > 1 else "")
        return f"{base} {self.prefill}P:{self.decode}D" if self.disaggregated else f"{base} aggregated"

    def as_dict(self) -> dict:
        return {"tp": self.tp, "pp": self.pp, "ep": self.ep, "mode": "disaggregated" if self.disaggregated else "aggregated",
                "prefill_replicas": self.prefill, "decode_replicas": self.decode, "chips_per_unit": self.unit_chips}


def fleet_size(demand_per_s: float, rate_per_unit_s: float, unit_chips: int) -> tuple[int, int]:
    """(units, chips) for a demand: ``ceil(demand / rate)`` units of ``unit_chips`` chips."""
    if not rate_per_unit_s > 0:
        raise FablessError("a unit that sustains no load within the SLO cannot be sized")
    units = math.ceil(demand_per_s / rate_per_unit_s - 1e-9)
    return units, units * unit_chips


def monthly_usd(chips: int, chip_hour_usd: float | None) -> float | None:
    return None if chip_hour_usd is None else chips * chip_hour_usd * HOURS_PER_MONTH


def usd_per_mtoken(chips: int, chip_hour_usd: float | None, tokens_per_s: float) -> float | None:
    if chip_hour_usd is None or not tokens_per_s > 0:
        return None
    return chips * chip_hour_usd / (tokens_per_s * 3600.0) * 1e6


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def chip_hours(chip, params=None) -> tuple[float | None, float | None, str]:
    """(owned $/h, rented $/h, price basis): the default-tier prices ``fabless tco`` uses;
    where no purchase price is on record, the modelled unit cost, and the basis says so."""
    p = params or default_params()
    ch = chip_hour(chip, p)
    if ch.owned_usd is None:
        # no purchase price on record: the modelled unit cost, and the basis says so
        try:
            ch = chip_hour(chip, p, price_usd=chip_unit_cost(chip, p).unit_usd,
                            price_basis="unit cost, no NRE (no purchase price on record)")
        except (FablessError, InfeasibleDesign, ValueError) as exc:
            return None, ch.rented_usd, f"no price: {_first_line(exc)}"
    return ch.owned_usd, ch.rented_usd, ch.price_basis


def _scenario(base: dict, ref: str, tp: int, pp: int, ep: int = 1):
    raw = dict(base)
    raw["parallel"] = {"tp": tp, "pp": pp, "ep": ep}
    raw.pop("training", None)
    return scenario_for(raw, ref, tp * pp)


def candidate_layouts(cfg, domain: int, fits, max_tp: int = 16, max_layouts: int = 4) -> list[Layout]:
    """Aggregated layouts to try: tp | domain, tp | heads, tp <= max_tp, smallest fitting pp;
    for a mixture-of-experts model also ``ep = tp`` where ``tp > 1`` divides the experts."""
    out = []
    moe = getattr(cfg, "is_moe", False)
    for tp in range(1, min(domain, max_tp) + 1):
        if domain % tp or cfg.num_heads % tp:
            continue
        for pp in (1, 2, 4, 8):
            if pp > cfg.num_layers:
                break
            if fits(tp, pp):
                out.append(Layout(tp, pp))
                if moe and tp > 1 and cfg.num_experts % tp == 0 and fits(tp, pp, tp):
                    out.append(Layout(tp, pp, ep=tp))
                break
    out.sort(key=lambda lay: (lay.replica_chips, lay.tp, lay.ep))
    return out[:max_layouts]


@dataclass
class FleetOptions:
    slo: SLO
    sched: SchedulerConfig
    seed: int = 0
    duration_s: float = 60.0
    rel_tol: float = 0.05
    max_tp: int = 16
    max_layouts: int = 4
    disagg_decode: tuple[int, ...] = (1, 3)
    site_mw: float | None = None   # the site's power for IT and cooling, MW (--site-mw)
    rack_kw: float | None = None   # one rack's power, kW (--rack-kw)


def plan_chip(base: dict, ref: str, demand_per_s: float, lengths: Lengths, opts: FleetOptions, params=None,
              on_layout: Callable[[str], None] | None = None) -> dict:
    """The best layout of one chip for the demand, with its fleet and cost; or ``error``.
    ``on_layout(label)`` is called as each layout's rate search starts (for a progress display)."""
    try:
        cfg = load_model(base["model"])
        scn = _scenario_any(base, ref)
        system = resolve_system(scn)
        check_servable(scn, system)
    except NoSystemPreset:
        return {"chip": ref, "error": "no system preset (give a system YAML with its scale-up domain)"}
    except (FablessError, InfeasibleDesign, KeyError) as exc:
        return {"chip": ref, "error": _first_line(exc)}
    chip = system.chip
    models: dict[tuple[int, int, int], EngineStepCost | str] = {}

    def model(tp: int, pp: int, ep: int = 1):
        if (tp, pp, ep) not in models:
            try:
                models[tp, pp, ep] = EngineStepCost.from_scenario(_scenario(base, ref, tp, pp, ep))
            except (FablessError, InfeasibleDesign) as exc:
                models[tp, pp, ep] = _first_line(exc)
        return models[tp, pp, ep]

    def fits(tp, pp, ep=1):
        m = model(tp, pp, ep)
        return not isinstance(m, str) and m.kv_capacity_tokens >= lengths_max(lengths)

    layouts = candidate_layouts(cfg, system.scale_up.size, fits, opts.max_tp, opts.max_layouts)
    if not layouts:
        return {"chip": chip.name, "error": f"{cfg.name} does not fit a replica of up to "
                f"{min(system.scale_up.size, opts.max_tp)} x {chip.name} (tp) x 8 (pp) with room for one request's KV"}

    tried = []

    def search(lay: Layout) -> float:
        if on_layout is not None:
            on_layout(lay.label())
        m = model(lay.tp, lay.pp, lay.ep)
        fleet = None
        if lay.disaggregated:
            nic = system.scale_out_bytes_per_s
            lat = (system.scale_out.latency_us if system.scale_out else system.scale_up.latency_us) * 1e-6
            fleet = Disaggregated(lay.prefill, lay.decode, link_bytes_per_s=nic * lay.replica_chips, link_latency_s=lat)
        found = max_throughput(m, lengths, opts.slo, opts.sched, opts.seed, duration_s=opts.duration_s,
                               fleet=fleet, rel_tol=opts.rel_tol)
        tried.append({"layout": lay.label(), **lay.as_dict(), "rate_per_s": found.rate_per_s,
                      **({"error": "no rate meets the SLO"} if found.rate_per_s <= 0 else
                         fleet_cells(demand_per_s, found.rate_per_s, lay.unit_chips))})
        return found.rate_per_s

    for lay in layouts:
        search(lay)
    ok = [t for t in tried if t["rate_per_s"] > 0]
    if ok and system.scale_out_bytes_per_s:
        best = min(ok, key=lambda t: (t["chips"], t["chips_per_unit"]))
        for n in opts.disagg_decode:
            search(Layout(best["tp"], best["pp"], 1, n, ep=best["ep"]))
        ok = [t for t in tried if t["rate_per_s"] > 0]
    if not ok:
        return {"chip": chip.name, "error": "no layout meets the SLO at any rate",
                "layouts": tried}
    best = min(ok, key=lambda t: (t["chips"], t["chips_per_unit"]))
    own, rent, basis = chip_hours(chip, params)
    out_tok = demand_per_s * mean_of(lengths.output)
    all_tok = demand_per_s * (mean_of(lengths.input) + mean_of(lengths.output))
    row = {"chip": chip.name, "system": system.name, "best": best["layout"], **{k: best[k] for k in
           ("tp", "pp", "ep", "mode", "prefill_replicas", "decode_replicas", "chips_per_unit", "rate_per_s", "units", "chips")},
           "buy_chip_hour_usd": own, "rent_chip_hour_usd": rent, "price_basis": basis,
           "buy_usd_per_month": monthly_usd(best["chips"], own), "rent_usd_per_month": monthly_usd(best["chips"], rent),
           "buy_usd_per_mtoken_output": usd_per_mtoken(best["chips"], own, out_tok),
           "buy_usd_per_mtoken_all": usd_per_mtoken(best["chips"], own, all_tok),
           "rent_usd_per_mtoken_output": usd_per_mtoken(best["chips"], rent, out_tok),
           "layouts": tried}
    row.update(fleet_power(chip, best["chips"], opts, params))
    note = placement_note(base, ref)
    if note:
        row["system_note"] = note
    return row


def fleet_power(chip, chips: int, opts: FleetOptions, params=None) -> dict:
    """The fleet's power at the wall and what a site and its racks can hold: each chip's server
    power (its TDP x ``server_power_over_tdp``: host, NICs, fans) x the data centre's PUE. With
    ``opts.site_mw``: how many chips the site can power and whether the fleet fits; with
    ``opts.rack_kw``: chips per rack (whole servers' worth of power) and the racks needed."""
    p = params or default_params()
    tdp_w, _ = ownership_power_w(chip, p)
    server_w = tdp_w * p.ownership.server_power_over_tdp
    facility_w = server_w * p.ownership.pue
    out = {"server_w_per_chip": server_w, "facility_mw": chips * facility_w / 1e6}
    if opts.site_mw is not None:
        powerable = int(opts.site_mw * 1e6 // facility_w)
        out.update(site_mw=opts.site_mw, site_powerable_chips=powerable, fits_site=chips <= powerable)
    if opts.rack_kw is not None:
        per_rack = int(opts.rack_kw * 1e3 // server_w)
        out.update(rack_kw=opts.rack_kw, chips_per_rack=per_rack,
                   racks=(-(-chips // per_rack) if per_rack else None), fits_rack=per_rack >= 1)
    return out


def fleet_cells(demand_per_s: float, rate: float, unit_chips: int) -> dict:
    units, chips = fleet_size(demand_per_s, rate, unit_chips)
    return {"units": units, "chips": chips}


def _scenario_any(base: dict, ref: str):
    raw = {k: v for k, v in base.items() if k not in ("parallel", "training")}
    raw["parallel"] = {"tp": 1}
    return scenario_for(raw, ref, None)


def mean_of(dist) -> float:
    """Mean tokens of a length distribution (fixed, uniform, lognormal)."""
    if hasattr(dist, "tokens"):
        return float(dist.tokens)
    if hasattr(dist, "mean_tokens"):
        return float(dist.mean_tokens)
    if hasattr(dist, "low_tokens"):
        return (dist.low_tokens + dist.high_tokens) / 2
    raise FablessError(f"cannot take the mean of {dist!r}")


def lengths_max(lengths: Lengths) -> int:
    """KV tokens one typical request needs at its end (mean prompt + mean answer)."""
    return int(mean_of(lengths.input) + mean_of(lengths.output))


def fleet_rows(base: dict, refs: list[str], demand_per_s: float, lengths: Lengths, opts: FleetOptions, params=None,
               on_progress: Callable[[int, int, str], None] | None = None) -> list[dict]:
    """One :func:`plan_chip` row per chip reference. ``on_progress(chips_done, chips, text)`` is
    called as each chip and each of its layouts starts, and once at the end (for a progress display)."""
    if not demand_per_s > 0:
        raise FablessError(f"--demand must be > 0, got {demand_per_s:g}/s")
    rows = []
    for i, ref in enumerate(refs):
        def on_layout(label: str, i: int = i, ref: str = ref) -> None:
            if on_progress is not None:
                on_progress(i, len(refs), f"{ref}: {label}")

        on_layout("")
        rows.append(plan_chip(base, ref, demand_per_s, lengths, opts, params, on_layout=on_layout))
    if on_progress is not None:
        on_progress(len(refs), len(refs), "")
    return rows
