"""A design space: a base chip, the parameters to vary, the workload, the objectives
and the constraints, read from one YAML file::

    name: n3-inference
    base: {chip: openai-broadcom-xpu, system: tpu-v6e-256}   # or just a chip preset/file
    parameters:                       # each: a list of values, or {min, max[, steps | step][, log]}
      matrix_units: [4, 8, 16]
      mu_rows: [128, 256]
      clock_mhz: {min: 1200, max: 2200, steps: 3}
      hbm_generation: [hbm3e, hbm4]
      dtypes: [bf16, bf16+fp8, bf16+fp8+fp4]
    workload:
      - {name: serve, weight: 1.0, model: llama-3.1-70b, precision: fp8, parallel: {tp: 8},
         inference: {batch: auto, input_tokens: 2048, output_tokens: 256}, slo: {tpot_ms: 50}}
    objectives: [{maximize: tokens_per_usd}, {minimize: joules_per_token}]
    constraints: {die_area_mm2: {max: reticle}, tdp_w: {max: 1200}, unit_cost_usd: {max: 20000}}
    economics: {fleet_chips: 100000, partner: false}
    search: {sampler: sobol, samples: 4096, batch_size: 1024, seed: 0}

:func:`load_space` validates it; every mistake is one line (:class:`FablessError`).
"""

from __future__ import annotations

import hashlib
import json
import math
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from fabless import bounds
from fabless.errors import FablessError, unknown_name_error
from fabless.estimate.scenario import InferenceSpec, ParallelSpec, PrecisionSpec, TrainingSpec
from fabless.hardware.schema import PROCESS_NODES, Frozen
from fabless.loading import read_yaml, validate
from fabless.workload.catalog import load_model
from fabless.workload.imported import NotADecoder, graph_spec, is_graph_spec, load_graph
from fabless.provenance import split_provenance

#: Parameters a space may vary: name -> (kind, unit/meaning).
#: kind: "int", "float" or "choice" (a fixed set of names).
PARAMETERS: dict[str, tuple[str, str]] = {
    "matrix_units": ("int", "matrix units (systolic arrays or tensor cores) on the whole chip"),
    "mu_rows": ("int", "systolic-array rows"),
    "mu_cols": ("int", "systolic-array columns"),
    "macs_per_unit": ("int", "bf16 MACs per cycle per tensor-core-style unit (instead of rows x cols)"),
    "cores": ("int", "cores (each with its own SRAM)"),
    "clock_mhz": ("float", "clock, MHz"),
    "sram_per_core_mib": ("float", "SRAM per core, MiB"),
    "sram_shared_mib": ("float", "shared on-chip SRAM (L2 / global buffer), MiB"),
    "hbm_generation": ("choice", "HBM generation (see explore/hbm.yaml)"),
    "hbm_stacks": ("int", "HBM stacks"),
    "hbm_stack_gb": ("float", "capacity of one HBM stack, GB (default: the generation's)"),
    "links": ("int", "scale-up links per chip"),
    "link_gb_s": ("float", "one scale-up link, both directions, GB/s"),
    "process_node": ("choice", "TSMC process node"),
    "dtypes": ("choice", "matrix datatypes: bf16, bf16+fp8 or bf16+fp8+fp4"),
    "dies": ("int", "compute dies in the package"),
}

DTYPE_SETS = ("bf16", "bf16+fp8", "bf16+fp8+fp4")

#: Metrics an objective or constraint may name, and whether larger is better.
METRICS: dict[str, str] = {
    "tokens_per_usd": "max", "usd_per_mtoken": "min", "joules_per_token": "min",
    "tokens_per_s_per_chip": "max", "ttft_s": "min", "tpot_s": "min",
    "unit_cost_usd": "min", "die_area_mm2": "min", "die_area_per_die_mm2": "min", "tdp_w": "min",
    "chip_hour_usd": "min", "hbm_gb": "max", "peak_bf16_tflops": "max", "dies": "min",
}


def hbm_table() -> dict[str, dict]:
    """Per-generation HBM stack bandwidth and capacity (explore/hbm.yaml, each sourced)."""
    raw = read_yaml(Path(__file__).with_name("hbm.yaml"))
    out = {}
    for name, body in raw.items():
        if str(name).startswith("_"):
            continue
        plain, _ = split_provenance(dict(body))
        out[str(name)] = {k: float(v) for k, v in plain.items()}
    return out


class Range(Frozen):
    """A numeric range: ``{min, max}`` sampled uniformly (log-uniformly with ``log``);
    a grid takes ``steps`` points (or every ``step``)."""

    min: float
    max: float
    steps: PositiveInt | None = None
    step: PositiveFloat | None = None
    log: bool = False


class Param:
    """One parameter of the space, resolved: its kind and its values or range."""

    def __init__(self, name: str, kind: str, values: list | None, rng: Range | None):
        self.name, self.kind, self.values, self.range = name, kind, values, rng

    @property
    def is_choice(self) -> bool:
        return self.values is not None

    def grid(self) -> list:
        """The points a grid search takes."""
        if self.values is not None:
            return list(self.values)
        r = self.range
        assert r is not None
        if r.step is not None:
            n = int(math.floor((r.max - r.min) / r.step + 1e-9)) + 1
            pts = [r.min + i * r.step for i in range(n)]
        else:
            n = r.steps or (int(r.max - r.min) + 1 if self.kind == "int" and r.max - r.min < 16 else 5)
            if r.log:
                pts = list(np.geomspace(r.min, r.max, n)) if n > 1 else [r.min]
            else:
                pts = list(np.linspace(r.min, r.max, n)) if n > 1 else [r.min]
        if self.kind == "int":
            pts = sorted({int(round(p)) for p in pts})
        return [float(p) if self.kind == "float" else p for p in pts]

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Map uniform numbers in [0, 1) to values (codes into ``values`` for a list)."""
        u = np.clip(np.asarray(u, dtype=float), 0.0, np.nextafter(1.0, 0.0))
        if self.values is not None:
            return np.floor(u * len(self.values)).astype(np.int64)
        r = self.range
        assert r is not None
        if r.log:
            x = np.exp(np.log(r.min) + u * (np.log(r.max) - np.log(r.min)))
        else:
            x = r.min + u * (r.max - r.min)
        if r.step is not None:
            x = r.min + np.round((x - r.min) / r.step) * r.step
            x = np.minimum(x, r.max)
        if self.kind == "int":
            x = np.round(x)
        return x


class Slo(Frozen):
    ttft_s: PositiveFloat | None = None
    tpot_ms: PositiveFloat | None = None
    e2e_s: PositiveFloat | None = None


class WorkloadScenario(Frozen):
    """One scenario of the workload mix; ``weight`` is its share (weights are normalised)."""

    name: str
    weight: PositiveFloat = 1.0
    model: str
    precision: PrecisionSpec = PrecisionSpec()
    parallel: ParallelSpec = ParallelSpec(tp=1)
    inference: InferenceSpec | None = None
    training: TrainingSpec | None = None
    slo: Slo = Slo()

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data):
        if isinstance(data, dict) and isinstance(data.get("precision"), str):
            p = data["precision"]
            data = {**data, "precision": {"weights": p, "activations": p if p not in ("int4", "fp4", "int8") else "bf16",
                                          "kv_cache": p}}
        if isinstance(data, dict) and isinstance(data.get("model"), dict):  # {graph: FILE.py:FACTORY, args: {...}}
            m = data["model"]
            if "graph" not in m or set(m) - {"graph", "args"}:
                raise ValueError("model: a mapping takes graph: FILE.py:FACTORY and args: {...}")
            data = {**data, "model": graph_spec(m["graph"], m.get("args"))}
        return data

    @model_validator(mode="after")
    def _phase(self) -> WorkloadScenario:
        if (self.inference is None) == (self.training is None):
            raise ValueError("give exactly one of inference or training")
        if self.graph_why is not None:
            self._graph_only()
            return self
        if self.inference is not None and self.parallel.cp != 1:
            raise ValueError("explore times inference with tp, pp, dp and ep plans (cp: 1); training takes every plan axis")
        need = ("batch", "input_tokens", "output_tokens") if self.inference is not None else ("seq_len",)
        for f in need:
            if getattr(self.inference if self.inference is not None else self.training, f) is None:
                raise ValueError(f"{self.phase}.{f}: required")
        return self

    def _graph_only(self) -> None:
        """An imported graph that is not a decoder: data-parallel only, and it runs its factory's
        example inputs, so the language-model lengths do not apply (one line each)."""
        p = self.parallel
        for axis in ("tp", "pp", "ep", "cp", "interleave"):
            if getattr(p, axis) > 1:
                raise ValueError(f"parallel.{axis}: {self.model} runs data-parallel only ({self.graph_why}); "
                                 "give parallel: {dp: N}")
        if p.attn_dp:
            raise ValueError(f"parallel.attn_dp: {self.model} runs data-parallel only ({self.graph_why})")
        if self.inference is not None:
            for f in ("batch", "input_tokens", "output_tokens"):
                if getattr(self.inference, f) is not None:
                    raise ValueError(f"inference.{f}: {self.model} is not a decoder ({self.graph_why}); it runs its "
                                     "factory's example inputs, one forward pass per chip: write inference: {}")
        else:
            tr = self.training
            if tr.seq_len is not None:
                raise ValueError(f"training.seq_len: {self.model} is not a decoder; its example inputs set the shapes "
                                 "(leave seq_len out)")
            if tr.mode not in ("pretrain", "full"):
                raise ValueError(f"training.mode: {tr.mode} adapters are for decoders; {self.model} trains every weight "
                                 "(pretrain or full)")

    @property
    def graph_why(self) -> str | None:
        """Why an imported model is not a recognised decoder (it then runs operator by operator,
        data-parallel only: :mod:`fabless.estimate.graph`); None for a decoder or a catalog model."""
        if not is_graph_spec(self.model):
            return None
        try:
            load_model(self.model)
        except NotADecoder as exc:
            return exc.why
        return None

    @property
    def graph_note(self) -> str | None:
        """For an imported graph that is not a decoder, one line saying how the LLM metrics map
        to its figures (the ``tokens`` of every metric are its items); None otherwise."""
        if self.graph_why is None:
            return None
        unit = "tokens" if load_graph(self.model).info().get("token_ids") else "samples"
        one = unit[:-1]
        times = ("ttft_s and tpot_s are its forward time (one forward pass of the example inputs per chip)"
                 if self.inference is not None else "step_time_s is its training step")
        return (f"workload {self.name}: {self.model} is not a decoder ({self.graph_why}): estimated operator by operator, "
                f"data-parallel; tokens_per_s_per_chip is {unit}/s per chip, usd_per_mtoken per million {unit}, "
                f"joules_per_token per {one}; {times}")

    @property
    def phase(self) -> str:
        return "inference" if self.inference is not None else "training"

    @property
    def chips(self) -> int:
        p = self.parallel
        return p.tp * p.pp * (p.dp or 1)


class Base(Frozen):
    chip: str
    system: str | None = Field(None, description="system whose scale-up domain the designs join (default: one built from the chip)")


class Bound(Frozen):
    min: float | None = None
    max: float | str | None = None


class Economics(Frozen):
    fleet_chips: PositiveFloat | None = Field(None, description="chips made, to spread the NRE per chip-hour; none: NRE not charged")
    partner: bool = Field(False, description="buy finished chips from a design partner (adds its margin)")
    params: str | None = Field(None, description="economics parameter overrides (YAML), as for fabless cost --params")


class Search(Frozen):
    sampler: Literal["grid", "random", "sobol", "nsga2"] = "sobol"
    samples: PositiveInt = Field(1024, le=bounds.MAX_DESIGNS)
    batch_size: PositiveInt = Field(1024, le=bounds.MAX_DESIGNS)
    seed: int = Field(0, ge=0, lt=2**32)
    population: PositiveInt = Field(64, le=bounds.MAX_DESIGNS, description="NSGA-II population per generation")


class Space(Frozen):
    name: str = "space"
    base: Base
    parameters: dict[str, Any]
    workload: list[WorkloadScenario]
    objectives: list[dict[str, str]]
    constraints: dict[str, Bound] = Field(default_factory=dict)
    economics: Economics = Economics()
    search: Search = Search()

    @model_validator(mode="before")
    @classmethod
    def _base(cls, data):
        if isinstance(data, dict) and isinstance(data.get("base"), str):
            data = {**data, "base": {"chip": data["base"]}}
        return data

    @field_validator("workload")
    @classmethod
    def _nonempty(cls, v):
        if not v:
            raise ValueError("give at least one scenario")
        names = [s.name for s in v]
        if len(set(names)) != len(names):
            raise ValueError("scenario names must be distinct")
        return v

    # ---------------------------------------------------------------- resolved
    @cached_property
    def params(self) -> dict[str, Param]:
        return {name: _param(name, spec) for name, spec in self.parameters.items()}

    @cached_property
    def objective_list(self) -> list[tuple[str, str]]:
        """(metric, 'min' | 'max') in the order given."""
        return [_objective(o) for o in self.objectives]

    @property
    def weights(self) -> np.ndarray:
        w = np.array([s.weight for s in self.workload], dtype=float)
        return w / w.sum()

    def metric_names(self) -> list[str]:
        per = []
        for s in self.workload:
            per += [f"{s.name}.{m}" for m in ("tokens_per_s_per_chip", "usd_per_mtoken", "joules_per_token", "batch")]
            if s.phase == "inference":
                per += [f"{s.name}.ttft_s", f"{s.name}.tpot_s"]
            else:
                per += [f"{s.name}.step_time_s"]
        return list(METRICS) + per

    def fingerprint(self) -> str:
        """A hash of everything that decides the results (the sampler's size aside)."""
        d = self.model_dump(mode="json")
        d["search"] = {k: v for k, v in d["search"].items() if k not in ("samples",)}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def _param(name: str, spec: Any) -> Param:
    if name not in PARAMETERS:
        raise unknown_name_error("parameter", name, PARAMETERS)
    kind = PARAMETERS[name][0]
    where = f"parameters.{name}"
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise FablessError(f"{where}: empty list of values; give at least one")
        vals = list(spec)
        if len(set(map(str, vals))) != len(vals):
            raise FablessError(f"{where}: repeated values {vals}")
        if kind == "choice":
            vals = [str(v) for v in vals]
            known = {"process_node": PROCESS_NODES, "dtypes": DTYPE_SETS,
                     "hbm_generation": tuple(hbm_table())}[name]
            for v in vals:
                if v not in known:
                    raise unknown_name_error(f"{where} value", v, known)
        else:
            for v in vals:
                zero_ok = name == "sram_shared_mib"
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not (v > 0 or (zero_ok and v == 0)):
                    raise FablessError(f"{where}: values must be {'non-negative' if zero_ok else 'positive'} numbers, got {v!r}")
                if kind == "int" and float(v) != int(v):
                    raise FablessError(f"{where}: values must be whole numbers, got {v!r}")
            vals = [int(v) if kind == "int" else float(v) for v in vals]
        return Param(name, kind, vals, None)
    if isinstance(spec, dict):
        if kind == "choice":
            raise FablessError(f"{where}: a choice parameter takes a list of values, e.g. [{', '.join(_examples(name))}]")
        rng = validate(Range, spec, where, sourced=False)
        if rng.min <= 0 and not (name == "sram_shared_mib" and rng.min == 0 and not rng.log):
            raise FablessError(f"{where}: min must be positive, got {rng.min:g}")
        if rng.max < rng.min:
            raise FablessError(f"{where}: empty range, min {rng.min:g} > max {rng.max:g}")
        if kind == "int" and math.floor(rng.max) < math.ceil(rng.min):
            raise FablessError(f"{where}: no whole number between {rng.min:g} and {rng.max:g}")
        if rng.steps is not None and rng.step is not None:
            raise FablessError(f"{where}: give steps or step, not both")
        return Param(name, kind, None, rng)
    if isinstance(spec, (int, float, str)) and not isinstance(spec, bool):
        return _param(name, [spec])
    raise FablessError(f"{where}: expected a list of values or {{min, max}}, got {spec!r}")


def _examples(name: str) -> tuple[str, ...]:
    return {"process_node": ("N5", "N3"), "dtypes": DTYPE_SETS, "hbm_generation": ("hbm3e", "hbm4")}.get(name, ())


def _objective(o: Any) -> tuple[str, str]:
    if not isinstance(o, dict) or len(o) != 1 or next(iter(o)) not in ("minimize", "maximize", "minimise", "maximise"):
        raise FablessError(f"objectives: each entry is {{maximize: METRIC}} or {{minimize: METRIC}}, got {o!r}")
    (sense, metric), = o.items()
    return str(metric), "max" if sense.startswith("max") else "min"


def load_space(path: str | Path) -> Space:
    """Read and validate a design-space YAML file; one-line errors."""
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise FablessError(f"{path}: expected a mapping of fields at the top level")
    base = raw.get("base")
    if isinstance(base, (str, dict)):  # chip/system files are relative to the space file
        b = {"chip": base} if isinstance(base, str) else dict(base)
        for key in ("chip", "system"):
            ref = b.get(key)
            if isinstance(ref, str) and ref.endswith((".yaml", ".yml")) and not Path(ref).is_absolute():
                near = Path(path).parent / ref
                if near.is_file() and not Path(ref).is_file():
                    b[key] = str(near)
        raw = {**raw, "base": b}
    return space_from_dict(raw, str(path))


def space_from_dict(raw: dict, origin: str = "space") -> Space:
    space = validate(Space, raw, origin, sourced=False)
    try:
        _check(space)
    except FablessError as exc:
        raise FablessError(f"{origin}: {exc}") from None
    return space


def _check(space: Space) -> None:
    if not space.parameters:
        raise FablessError("parameters: give at least one parameter to vary")
    space.params  # noqa: B018  (validates each parameter)
    known = set(space.metric_names())
    if not space.objectives:
        raise FablessError("objectives: give at least one, e.g. {maximize: tokens_per_usd}")
    for metric, _ in space.objective_list:
        if metric not in known:
            raise unknown_name_error("objective metric", metric, known)
    if len({m for m, _ in space.objective_list}) != len(space.objective_list):
        raise FablessError("objectives: the same metric is named twice")
    for name, b in space.constraints.items():
        if name not in known:
            raise unknown_name_error("constraint metric", name, known)
        if b.min is None and b.max is None:
            raise FablessError(f"constraints.{name}: give min or max")
        if isinstance(b.max, str) and not (name.startswith("die_area") and b.max == "reticle"):
            raise FablessError(f"constraints.{name}.max: expected a number (or 'reticle' for die areas), got {b.max!r}")
        if b.min is not None and isinstance(b.max, (int, float)) and b.min > b.max:
            raise FablessError(f"constraints.{name}: contradictory, min {b.min:g} > max {b.max:g}")
    if space.search.sampler == "nsga2" and len(space.objective_list) < 1:
        raise FablessError("search.sampler nsga2 needs objectives")
    if space.search.sampler == "grid":
        size = grid_size(space)
        if size > 50_000_000:
            raise FablessError(f"search: the grid has {size:,} points; use sobol or random, or fewer steps")
    for p in ("mu_rows", "mu_cols"):
        if p in space.parameters and "macs_per_unit" in space.parameters:
            raise FablessError(f"parameters: give {p} (systolic arrays) or macs_per_unit (tensor cores), not both")


def grid_size(space: Space) -> int:
    n = 1
    for p in space.params.values():
        n *= len(p.grid())
    return n


__all__ = ["PARAMETERS", "METRICS", "DTYPE_SETS", "Space", "Param", "WorkloadScenario", "load_space", "space_from_dict",
           "grid_size", "hbm_table"]
