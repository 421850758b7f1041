"""The public Python API: what a notebook user reaches for first, in one place.

Each function takes plain values (a preset name or a file path, a dict, or the object itself)
and returns a plain object with ``.to_dict()`` or a pandas DataFrame::

    import fabless
    est = fabless.estimate("examples/scenarios/llama-70b-serving-dgx-h100.yaml")
    est.metrics["tpot_s"], est.to_dict()
    fabless.serve("examples/scenarios/llama-70b-serving-dgx-h100.yaml", concurrency=32).summary
    fabless.cost("h100-sxm").unit_usd
    fabless.validate(["kernel"])          # a DataFrame, one row per measurement

Errors in the input are :class:`fabless.FablessError` (one line naming what is wrong). This
module sits at the top of the layers, beside the CLI, and imports the layers it calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fabless.bands import json_fields, serve_bands
from fabless.economics.params import default_params
from fabless.economics.tco import breakeven_report, tco_rows
from fabless.economics.unit_cost import UnitCost, chip_unit_cost
from fabless.errors import FablessError
from fabless.estimate.engine import Estimate
from fabless.estimate.engine import estimate as _estimate
from fabless.estimate.plan import Plan
from fabless.estimate.scenario import Scenario, require_language_model, require_servable, scenario_from_dict
from fabless.estimate.stepcost import EngineStepCost
from fabless.explore.run import run_search
from fabless.explore.space import load_space
from fabless.hardware.presets import load_chip, load_system
from fabless.hardware.prices import check_tier
from fabless.hardware.schema import Chip
from fabless.loading import read_yaml
from fabless.serve import modes
from fabless.serve.metrics import SLO
from fabless.serve.scheduler import SchedulerConfig
from fabless.serve.workload import Poisson
from fabless.validate.core import evaluate
from fabless.workload import load_model


def scenario(scn: Scenario | dict | str | Path) -> Scenario:
    """A :class:`Scenario` from a Scenario, a dict (as in a scenario YAML) or a YAML path."""
    if isinstance(scn, Scenario):
        return scn
    return scenario_from_dict(_raw(scn), str(scn) if isinstance(scn, (str, Path)) else "scenario")


def _raw(scn: Scenario | dict | str | Path) -> dict:
    """The scenario as a plain dict (what tco and breakeven re-run on other chips)."""
    if isinstance(scn, dict):
        return dict(scn)
    if isinstance(scn, (str, Path)):
        raw = read_yaml(scn)
        if not isinstance(raw, dict):
            raise FablessError(f"{scn}: a scenario file holds a mapping (model, system, ...)")
        return raw
    if isinstance(scn, Scenario):
        return scn.model_dump(mode="json", exclude_none=True)
    raise FablessError(f"scenario: give a Scenario, a dict or a YAML path, got {type(scn).__name__}")


def estimate(scn: Scenario | dict | str | Path) -> Estimate:
    """Training step or inference latency/throughput of a scenario (``fabless estimate``)."""
    return _estimate(scenario(scn))


@dataclass(frozen=True)
class ServeResult:
    """A serving run: ``summary`` (the figures ``fabless serve --json`` prints) and, for the open
    loop, ``requests`` (one row per request: arrival, TTFT, TPOT, E2E, ...)."""

    summary: dict
    requests: pd.DataFrame | None = field(default=None, compare=False)

    def to_dict(self) -> dict:
        return dict(self.summary)


def serve(scn: Scenario | dict | str | Path, *, rate: str | float | None = None, offline: int | None = None,
          concurrency: int | None = None, max_throughput: bool = False, slo: str | None = None,
          lengths: str | None = None, duration_s: float = 600.0, max_batched_tokens: int = 8192,
          max_seqs: int = 256, mixed_chunks: bool = True, reserve_output: float = 0.0,
          memory_fraction: float | None = None, seed: int = 0) -> ServeResult:
    """One serving replica of the scenario under one load (``fabless serve``): ``rate`` (Poisson,
    requests/s or e.g. "20/s"), ``offline`` (N requests at once), ``concurrency`` (closed loop)
    or ``max_throughput`` (within ``slo``, e.g. "ttft_p99=2s,tpot_p99=50ms", or without it the
    highest stable rate). ``lengths``: None/"fixed", a shipped dataset or a CSV path.
    ``reserve_output``: SGLang's admission reserve for the answers to come (0: vLLM's greedy
    admission); ``memory_fraction``: the share of HBM the engine takes (None: 0.9)."""
    s = scenario(scn)
    require_servable(s, "serve")
    loads = [x for x, on in (("rate", rate is not None), ("offline", offline is not None),
                             ("concurrency", concurrency is not None), ("max_throughput", max_throughput)) if on]
    if len(loads) != 1:
        raise FablessError("serve: give exactly one of rate, offline, concurrency or max_throughput"
                           + (f" (got {', '.join(loads)})" if loads else ""))
    slo_obj = SLO.parse(slo) if slo else None
    ln = modes.named_lengths(lengths, s.inference.input_tokens, s.inference.output_tokens)
    cfg = SchedulerConfig(max_num_batched_tokens=max_batched_tokens, max_num_seqs=max_seqs, mixed_chunks=mixed_chunks,
                          reserve_output_fraction=reserve_output)
    arrivals = None if rate is None else Poisson(f"{rate}/s" if isinstance(rate, (int, float)) else rate)
    model = EngineStepCost.from_scenario(s, memory_fraction)
    mode, summary, requests = modes.run_load(model, cfg, ln, offline_requests=offline,
                                             concurrency=concurrency, max_throughput=max_throughput, slo=slo_obj,
                                             arrivals=arrivals, duration_s=duration_s, seed=seed,
                                             no_requests=f"serve: no request arrived in {duration_s:g} s at {rate}; "
                                                         "lengthen duration_s")
    sw = model.software
    summary = {**summary, "mode": mode, "software": sw.name if sw is not None else None,
               **json_fields(serve_bands(summary, model.system.chip.name, mode))}
    return ServeResult(summary, requests)


def cost(chip: str | Path | Chip, *, partner: bool = False) -> UnitCost:
    """Unit cost of a chip (``fabless cost``): area, yield, dies, memory, packaging, test, board
    (and the design partner's margin with ``partner``); ``.unit_usd``, ``.lines``."""
    return chip_unit_cost(load_chip(chip), default_params(), partner=partner)


def tco(scn: Scenario | dict | str | Path, chips: list[str], *, price_tier: str | None = None) -> pd.DataFrame:
    """The scenario on each chip (preset names or chip/system files) priced per token and per
    hour (``fabless tco``), one row per chip; a chip that cannot run it has an ``error``."""
    check_tier(price_tier, "price_tier")
    raw = _raw(scn)
    require_language_model(raw.get("model"), "tco")
    return pd.DataFrame(tco_rows(raw, list(chips), default_params(), price_tier=price_tier))


def breakeven(scn: Scenario | dict | str | Path, custom: str, gpu: str, **options: Any) -> dict:
    """Build versus buy (``fabless breakeven``): the custom chip against the GPU on the scenario;
    the fleet size at which the custom chip pays back, by year, and the tornado of its inputs.
    ``options`` are those of :func:`fabless.economics.tco.breakeven_report`."""
    raw = _raw(scn)
    require_language_model(raw.get("model"), "breakeven")
    return breakeven_report(raw, custom, gpu, default_params(), **options)


def explore(space: str | Path, out: str | Path, *, progress: bool = False) -> pd.DataFrame:
    """Search a design space file (``fabless explore``) into ``out`` (a folder; resumed if it holds
    part of the run); the evaluated designs as a DataFrame."""
    store = run_search(load_space(space), out, progress=progress)
    return store.frame()


def validate(categories: list[str] | None = None) -> pd.DataFrame:
    """Every published measurement of the given categories (comm, kernel, train, infer, serve;
    all by default) against the model's prediction (``fabless validate``), one row each."""
    return pd.DataFrame([o.as_dict() for o in evaluate(categories)])


__all__ = ["Plan", "Scenario", "ServeResult", "breakeven", "cost", "estimate", "explore", "load_chip", "load_model",
           "load_system", "scenario", "serve", "tco", "validate"]
