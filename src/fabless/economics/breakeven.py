"""Build versus buy: a custom chip (bought from a design partner, or at cost) against a
purchased GPU at equal delivered throughput; a tornado and a Monte Carlo of the
break-even fleet over the inputs that decide it.

The delivered throughput is an input (``throughput_ratio`` = tokens/s of one custom chip /
one GPU, as the performance model gives it), so the performance engine plugs in here.

The break-even fleet F (in GPU equivalents at the modelled ratio) over a horizon of Y years::

    T      = Y - delay_months / 12 - respin x respin_delay_months / 12   (years deployed)
    m(t)   = 1 - (1 - software_maturity) x exp(-t / tau)                 (achieved / modelled)
    m_bar  = 1 - (1 - software_maturity) x tau / T x (1 - exp(-T / tau)) (its mean over T)
    unit   = custom cost at the fab / (1 - partner_margin)
    h_gpu, h_custom = owned chip-hours (ownership.py) at gpu_price / unit, cost_of_capital,
             electricity price and utilisation (the fleet's average power fraction)
    saving = h_gpu x m_bar - h_custom / ratio           (per GPU equivalent and hour)
    NRE    = generations x (nre x nre_scale + respin x one mask set)
    F      = NRE x CRF(cost_of_capital, T) / (saving x H)     (inf if saving <= 0 or T <= 0)

A custom fleet sized at the modelled ratio delivers only m(t) of it while its software
matures, so it displaces only m(t) of the GPUs' cost; ``tau`` = ``MATURITY_TAU_YEARS``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np

from fabless.errors import FablessError
from fabless.hardware.prices import BUY_TIERS, buy_price
from fabless.hardware.schema import Chip
from fabless.params import ParamFile, load_param_file

from .nre import nre_usd
from .ownership import capital_recovery_factor, chip_hour_terms_usd, tornado
from .params import EconomicsParams, default_params, node_value, with_overrides
from .power import ownership_power_w
from .unit_cost import chip_unit_cost

_PATH = Path(str(resources.files("fabless") / "data" / "economics" / "breakeven.yaml"))


def _tuples(x):
    return tuple(_tuples(v) for v in x) if isinstance(x, list) else x


def _inputs(pf: ParamFile) -> dict[str, dict]:
    """The uncertain inputs of ``breakeven.yaml``: kind, low, high, dist (as a tuple), why (the
    value's note), source and confidence."""
    out = {}
    for name, spec in pf.plain["inputs"].items():
        p = pf.params[f"inputs.{name}"]
        out[name] = {"kind": spec["kind"], "low": spec["low"], "high": spec["high"], "dist": _tuples(spec["dist"]),
                     "why": p.note, "source": p.source, "confidence": p.confidence}
    return out


#: The break-even's assumed numbers, each with its source, confidence and reason
#: (data/economics/breakeven.yaml, read through fabless.params).
PARAMS: ParamFile = load_param_file(_PATH)

#: Time constant (years) of the custom chip's software maturing towards its modelled performance.
MATURITY_TAU_YEARS: float = PARAMS.plain["maturity_tau_years"]

#: One respin's schedule slip, months.
RESPIN_DELAY_MONTHS: float = PARAMS.plain["respin_delay_months"]

#: Each uncertain input: kind (``factor``: low, high and dist multiply the base case's value;
#: ``value``: absolute), tornado low and high, Monte Carlo distribution and why.
#: Distributions: ("uniform", lo, hi), ("lognormal", median, sigma), ("bernoulli", p),
#: ("choice", values, probabilities), ("fixed", value).
INPUTS: dict[str, dict] = _inputs(PARAMS)

QUANTILES = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95)


@dataclass(frozen=True)
class BreakevenCase:
    """The base case: everything the break-even needs, as numbers (USD, W, years)."""

    gpu_price_usd: float
    gpu_power_w: float
    custom_cost_usd: float  # at the fab: package + board, no partner margin
    custom_power_w: float
    throughput_ratio: float
    nre_usd: float
    respin_nre_usd: float  # one extra mask set
    years: float
    partner: bool
    params: EconomicsParams

    def base_inputs(self) -> dict[str, float]:
        """The inputs' base values (factors 1, the params' values, no respin or delay)."""
        o = self.params.ownership
        return {"gpu_price": 1.0, "partner_margin": self.params.partner.gross_margin if self.partner else 0.0,
                "nre": 1.0, "software_maturity": 1.0, "cost_of_capital": o.cost_of_capital, "respin": 0.0,
                "delay_months": 0.0, "generations": 1.0, "utilisation": o.average_power_fraction, "electricity": 1.0}


def case_from_chips(custom: Chip, gpu: Chip, *, throughput_ratio: float, years: float = 4.0,
                    params: EconomicsParams | None = None, partner: bool = True, gpu_price_usd: float | None = None,
                    price_tier: str | None = None) -> tuple[BreakevenCase, str]:
    """The base case for two chips, and the basis of the GPU's price (provider, tier, date)."""
    p = params or default_params()
    if throughput_ratio <= 0:
        raise FablessError(f"throughput ratio must be positive, got {throughput_ratio!r}")
    if gpu_price_usd is not None:
        price_gpu, basis = float(gpu_price_usd), "given (--gpu-price)"
    else:
        rec = buy_price(gpu, price_tier if price_tier in BUY_TIERS else None)
        if rec is None:
            tier = price_tier if price_tier in BUY_TIERS else "list or street"
            raise FablessError(f"{gpu.name} has no {tier} price on record (data/economics/prices.yaml); "
                               f"give one with --gpu-price USD")
        price_gpu, basis = rec.usd, rec.label()
    uc = chip_unit_cost(custom, p, partner=False)
    w_custom, _ = ownership_power_w(custom, p)
    w_gpu, _ = ownership_power_w(gpu, p)
    node = custom.physical.process_node
    case = BreakevenCase(gpu_price_usd=price_gpu, gpu_power_w=w_gpu, custom_cost_usd=uc.unit_usd, custom_power_w=w_custom,
                         throughput_ratio=float(throughput_ratio), nre_usd=nre_usd(node, p)["total"],
                         respin_nre_usd=node_value(p.nre.mask_set_usd, node, "mask set price"), years=float(years),
                         partner=partner, params=p)
    return case, basis


def mean_maturity(start, years, tau: float = MATURITY_TAU_YEARS):
    """Mean over [0, T] of m(t) = 1 - (1 - start) exp(-t / tau); ``start`` where T <= 0."""
    s = np.asarray(start, dtype=float)
    t = np.asarray(years, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        avg = 1.0 - (1.0 - s) * tau / t * (-np.expm1(-t / tau))
    return np.where(t > 0, avg, s)


def fleet_terms(case: BreakevenCase, x: dict) -> dict[str, np.ndarray]:
    """The break-even's parts for inputs ``x`` (scalars or arrays of one length: the
    Monte Carlo's samples): chip-hours, saving, NRE, years deployed, and ``fleet`` (GPU
    equivalents; inf where the chip never pays back)."""
    o = case.params.ownership
    full = {**case.base_inputs(), **x}
    a = {k: np.asarray(v, dtype=float) for k, v in full.items()}
    if np.any(a["partner_margin"] >= 1) or np.any(a["partner_margin"] < 0):
        raise FablessError(f"partner margin must be in [0, 1), got {full['partner_margin']!r}")
    kw = dict(cost_of_capital=a["cost_of_capital"], electricity_usd_per_kwh=o.electricity_usd_per_kwh * a["electricity"],
              average_power_fraction=a["utilisation"])
    unit = case.custom_cost_usd / (1.0 - a["partner_margin"])
    h_gpu = chip_hour_terms_usd(case.gpu_price_usd * a["gpu_price"], case.gpu_power_w, case.params, **kw)["total"]
    h_custom = chip_hour_terms_usd(unit, case.custom_power_w, case.params, **kw)["total"]
    t = case.years - a["delay_months"] / 12.0 - a["respin"] * RESPIN_DELAY_MONTHS / 12.0
    m_bar = mean_maturity(a["software_maturity"], t)
    saving = h_gpu * m_bar - h_custom / case.throughput_ratio
    nre = a["generations"] * (case.nre_usd * a["nre"] + a["respin"] * case.respin_nre_usd)
    ok = (saving > 0) & (t > 0)
    r, t_r = np.broadcast_arrays(a["cost_of_capital"], t)  # either may be the only one sampled
    crf = capital_recovery_factor(r, np.where(t_r > 0, t_r, 1.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        fleet = np.where(ok, nre * crf / (saving * o.hours_per_year), np.inf)
    return {"gpu_chip_hour_usd": h_gpu, "custom_chip_hour_usd": h_custom, "custom_unit_usd": unit,
            "saving_per_gpu_hour_usd": saving, "nre_usd": nre, "years_deployed": t, "mean_maturity": m_bar,
            "fleet": fleet}


def breakeven_fleet(case: BreakevenCase, x: dict | None = None):
    """Break-even fleet (GPU equivalents) at inputs ``x`` (the base case where absent)."""
    return fleet_terms(case, x or {})["fleet"]


def build_vs_buy(custom: Chip, gpu: Chip, *, throughput_ratio: float, years: float = 4.0,
                 params: EconomicsParams | None = None, partner: bool = True,
                 gpu_price_usd: float | None = None, price_tier: str | None = None) -> dict:
    """Break-even fleet (GPU equivalents) that repays the custom chip's NRE, with its cost
    of capital, in ``years``: the base case (modelled performance, no respin or delay)."""
    case, basis = case_from_chips(custom, gpu, throughput_ratio=throughput_ratio, years=years, params=params,
                                  partner=partner, gpu_price_usd=gpu_price_usd, price_tier=price_tier)
    t = fleet_terms(case, {})
    return {"custom_unit_usd": float(t["custom_unit_usd"]), "custom_chip_hour_usd": float(t["custom_chip_hour_usd"]),
            "gpu_chip_hour_usd": float(t["gpu_chip_hour_usd"]), "gpu_price_usd": case.gpu_price_usd,
            "gpu_price_basis": basis, "nre_usd": float(t["nre_usd"]), "throughput_ratio": throughput_ratio,
            "years": years, "saving_per_gpu_hour_usd": float(t["saving_per_gpu_hour_usd"]),
            "breakeven_fleet": float(t["fleet"]), "case": case}


def case_tornado(case: BreakevenCase, inputs: dict[str, dict] | None = None) -> list[dict]:
    """Tornado of the break-even fleet over ``inputs`` (default :data:`INPUTS`), each at
    its low and high value, the others at the base case."""
    spec = INPUTS if inputs is None else inputs
    base = case.base_inputs()
    ranges = {}
    for name, s in spec.items():
        scale = base[name] if s["kind"] == "factor" else 1.0
        ranges[name] = (s["low"] * scale, s["high"] * scale)
    return tornado(lambda x: float(breakeven_fleet(case, x)), base, ranges)


def breakeven_tornado(custom: Chip, gpu: Chip, *, throughput_ratio: float, years: float = 4.0,
                      params: EconomicsParams | None = None, partner: bool = True, spread: float = 0.3,
                      gpu_price_usd: float | None = None, price_tier: str | None = None) -> list[dict]:
    """Tornado of the break-even fleet over :data:`INPUTS` and the custom chip's silicon
    costs (wafer price, defect density, HBM price, each x(1 -+ ``spread``)), sorted by swing."""
    p = params or default_params()
    case, _ = case_from_chips(custom, gpu, throughput_ratio=throughput_ratio, years=years, params=p, partner=partner,
                              gpu_price_usd=gpu_price_usd, price_tier=price_tier)
    rows = case_tornado(case)
    node = custom.physical.process_node
    gen = custom.memory.hbm.generation.strip().lower().replace(" ", "")
    sil = p.silicon

    def silicon(x: dict) -> float:
        q = with_overrides(
            p,
            silicon={"wafer_price_usd": {**sil.wafer_price_usd, node: sil.wafer_price_usd[node] * x["wafer_price"]},
                     "defect_density_per_cm2": {**sil.defect_density_per_cm2, node: sil.defect_density_per_cm2[node] * x["defect_density"]}},
            package={"memory_usd_per_gb": {**p.package.memory_usd_per_gb, gen: p.package.memory_usd_per_gb[gen] * x["memory_price"]}},
        )
        return float(breakeven_fleet(replace(case, custom_cost_usd=chip_unit_cost(custom, q, partner=False).unit_usd)))

    base = {"wafer_price": 1.0, "defect_density": 1.0, "memory_price": 1.0}
    rows += tornado(silicon, base, {k: (1 - spread, 1 + spread) for k in base})
    rows.sort(key=lambda r: -r["swing"] if np.isfinite(r["swing"]) else -np.inf)
    return rows


def _sample(dist: tuple, base: float, kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    name = dist[0]
    scale = base if kind == "factor" else 1.0
    if name == "uniform":
        return rng.uniform(dist[1], dist[2], n) * scale
    if name == "lognormal":
        return dist[1] * np.exp(rng.normal(0.0, dist[2], n)) * scale
    if name == "bernoulli":
        return (rng.random(n) < dist[1]).astype(float)
    if name == "choice":
        return rng.choice(np.asarray(dist[1], dtype=float), size=n, p=np.asarray(dist[2], dtype=float))
    if name == "fixed":
        return np.full(n, float(dist[1]) * scale)
    raise FablessError(f"unknown distribution '{name}'; use uniform, lognormal, bernoulli, choice or fixed")


def monte_carlo(case: BreakevenCase, *, samples: int = 20000, seed: int = 0, fleet: float | None = None,
                inputs: dict[str, dict] | None = None, quantiles=QUANTILES) -> dict:
    """Break-even fleet over ``samples`` joint draws of :data:`INPUTS` (independent; seeded
    by ``seed``, so a run repeats exactly). Returns the fleet's ``quantiles`` (GPU
    equivalents; inf where that share of draws never pays back), ``p_never`` (the share
    whose saving never covers the costs within the horizon) and, given ``fleet``,
    ``p_pays_back`` = P(break-even fleet <= fleet)."""
    if samples < 1:
        raise FablessError(f"samples must be a positive count, got {samples}")
    spec = INPUTS if inputs is None else inputs
    rng = np.random.default_rng(seed)
    base = case.base_inputs()
    x = {name: _sample(s["dist"], base[name], s["kind"], samples, rng) for name, s in spec.items()}
    f = fleet_terms(case, x)["fleet"]
    out = {"samples": samples, "seed": seed, "years": case.years,
           # inverted_cdf: a sample value, never an interpolation between inf and a number
           "quantiles": {f"p{round(q * 100):02d}": float(np.quantile(f, q, method="inverted_cdf")) for q in quantiles},
           "mean_finite": float(np.mean(f[np.isfinite(f)])) if np.isfinite(f).any() else float("inf"),
           "p_never": float(np.mean(~np.isfinite(f))),
           "inputs": {name: {"distribution": list(s["dist"]), "kind": s["kind"], "why": s["why"]} for name, s in spec.items()}}
    if fleet is not None:
        if not fleet > 0:
            raise FablessError(f"--fleet must be a positive number of GPU equivalents, got {fleet}")
        out["fleet_gpus"] = float(fleet)
        out["p_pays_back"] = float(np.mean(f <= fleet))
    return out
