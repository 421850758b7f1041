"""Vectorised evaluation of designs: performance, power, area and cost of thousands of
designs in a handful of numpy calls.

A design is the base chip with some parameters changed (see :data:`space.PARAMETERS`).
:class:`Evaluator` prepares everything that does not depend on the design once (the
sharded workload graphs of each scenario at each candidate batch size, their memory
footprints, the base system's collective times), then :meth:`Evaluator.evaluate`:

1. builds a :class:`~fabless.perf.params.ChipParams` of all designs
   (``ChipParams.from_arrays``) and times each *distinct* operator of every graph once
   over all designs with :func:`fabless.perf.ops.op_time`; a graph's time is the sum of
   its operators' times x repeats. This is the scalar engine's ``graph_time``
   (:mod:`fabless.estimate.engine`), done for every design at once;
2. adds the collectives the plan inserts, and picks per design the batch size with the
   most tokens/s per chip among those that fit in memory and meet the scenario's SLO
   (inference), exactly the formulas of the engine's ``_inference_at`` / ``_training``;
3. sizes each design with the economics models' array forms: die area
   (:func:`~fabless.economics.area.die_area_terms_mm2`), yield and good-die cost
   (:mod:`fabless.economics.wafer`), memory (the rates of
   :func:`~fabless.economics.unit_cost.unit_cost`), packaging, test, board and partner margin
   (:func:`~fabless.economics.unit_cost.assembly_cost_terms_usd`), power by term from the functions
   ``chip_power`` itself is built of (:mod:`fabless.economics.power`: ``flop_energy_pj``,
   ``active_power_w``, ``io_power_w``, ``power_terms_w``; TDP in :meth:`Evaluator._economics`, the power at a
   scenario's utilisation in :meth:`Evaluator._power`), cost per chip-hour
   (:func:`~fabless.economics.ownership.chip_hour_terms_usd`) and NRE spread over the fleet.

Where a core function is scalar-only, its vectorised form is written here and says so:
the good-die cost of ``unit_cost`` (one inventory at a time) is re-expressed over arrays in
:meth:`Evaluator._economics`, and collectives are scaled from the base system (below).

Approximations, each stated where it is made:

- collectives: the project's collective model is evaluated on the base system (its
  topology and latencies); a design's time is ``latency + (base time - latency) x base
  link bandwidth / design link bandwidth`` for collectives inside the scale-up domain;
- a design without fp8 (fp4) matrix support runs those matmuls at its bf16 (fp8) rate,
  as the engine's ``supported_dtype`` does for a real chip;
- peak FLOP/s = units x MACs/cycle x 2 x clock (fp8 2x and fp4 4x the bf16 MAC rate);
- all cores are counted as enabled (no harvesting in the yield);
- TDP = power at full load in bf16 at the design's clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fabless.economics.area import die_area_terms_mm2, die_to_die_gb_s, is_hbm, node_factors, serdes_gbit_s
from fabless.economics.nre import nre_usd
from fabless.economics.ownership import chip_hour_terms_usd
from fabless.economics.params import EconomicsParams, default_params, load_params, node_value
from fabless.economics.power import active_power_w, flop_energy_pj, io_power_w, memory_pj_per_bit, power_terms_w
from fabless.economics.unit_cost import assembly_cost_terms_usd, memory_usd_per_gb, packaging_kind
from fabless.economics.wafer import dies_per_wafer, negative_binomial_yield
from fabless.errors import FablessError
from fabless.estimate.engine import (
    Plan,
    engine_params,
    framework_chip,
    framework_dtypes,
    framework_op_time,
    inference_memory_bytes,
    one_shot_all_reduce_s,
    plan_from_spec,
    request_graphs,
    runs_custom_all_reduce,
    sharded_config,
    step_chip,
    step_software,
)
from fabless.estimate.graph import GRAD_BYTES, graph_parts, graph_plan, graph_train_memory
from fabless.estimate.optime import compute_dtype
from fabless.estimate.plan import check_plan
from fabless.estimate.software import resolve_software, with_chip_calibration
from fabless.estimate.step import (SHAPE_PARTS, PlanTable, Tuning, part_times, request_terms, shape_terms, step_terms,
                                   training_memory)
from fabless.hardware.presets import all_systems, load_chip, load_system
from fabless.hardware.schema import Chip, System
from fabless.perf.collectives import group_collective_time_s
from fabless.perf.ops import op_time
from fabless.perf.params import ChipParams, family_of
from fabless.workload import Precision, build_training_graph, load_model
from fabless.workload.ops import Collective

from .space import Space, WorkloadScenario, hbm_table

_MIB = 2**20
_AUTO_BATCHES = tuple(2**k for k in range(11))  # 1 .. 1024


def _wider(a: str, b: str) -> str:
    return compute_dtype(a, b)


# ----------------------------------------------------------------------------- the base


@dataclass
class _Graphs:
    """One scenario at one batch size: per-graph coefficients over the distinct ops."""

    batch: int
    terms: dict[str, list[tuple[object, float]]]  # part -> [(op, repeat x scale)]
    memory_bytes: float
    flops: float  # per chip, whole request / step
    bytes: float
    coll: dict[str, tuple[str, float, int, bool, float]]  # name -> (kind, bytes, group, within, count)


class Evaluator:
    """Evaluates designs of ``space`` (arrays of parameter values) in one call."""

    def __init__(self, space: Space, params: EconomicsParams | None = None):
        self.space = space
        self.econ = params or (load_params(space.economics.params) if space.economics.params else default_params())
        self.base: Chip = load_chip(space.base.chip)
        self.base_params = ChipParams.from_chip(self.base)
        self.family = family_of(self.base).name
        mu = self.base.compute.matrix_units
        self.kind = mu.kind if mu is not None else ("tensor_core" if self.base.kind == "gpu" else "systolic_array")
        if self.kind not in ("tensor_core", "systolic_array"):
            raise FablessError(f"base.chip: {self.base.name} has {self.kind} units; explore varies systolic arrays or tensor cores")
        if mu is None:
            raise FablessError(f"base.chip: {self.base.name} does not describe its matrix units (compute.matrix_units)")
        if self.kind == "tensor_core" and {"mu_rows", "mu_cols"} & set(space.parameters):
            raise FablessError(f"parameters: mu_rows/mu_cols describe systolic arrays; {self.base.name} has tensor cores (vary macs_per_unit)")
        self.hbm = hbm_table()
        # MAC rate of each datatype relative to bf16: the base chip's where it has the path,
        # else 2x for 8-bit and 4x for 4-bit (vendors double the rate when halving the width)
        bf = self.base.peak_flops("bf16") or self.base.peak_flops("fp16")
        if not bf:
            raise FablessError(f"base.chip: {self.base.name} has no bf16 peak to scale from")
        def _r(dt, default):
            v = self.base.peak_flops(dt)
            return v / bf if v else default
        self.rate = {"fp16": _r("fp16", 1.0), "fp8": _r("fp8", 2.0), "fp4": _r("fp4", 4.0)}
        self.rate["int8"] = _r("int8", self.rate["fp8"])
        self.rate["int4"] = _r("int4", self.rate["fp4"])
        self.system = self._system()
        self._coll_cache: dict[tuple, tuple[float, float]] = {}
        self.defaults = self._defaults()
        self.scenarios = [self._prepare(s) for s in space.workload]
        # ops that appear in more than one list of terms: their times are kept through an
        # evaluation; the others are summed and dropped (keeping every op's array alive grows
        # the heap by an array per op, which costs more than it saves)
        seen: dict[object, int] = {}
        for sc in self.scenarios:
            for terms in [t for g in sc["graphs"] for t in g.terms.values()] + list(sc.get("terms", {}).values()):
                for op, _ in terms:
                    seen[op] = seen.get(op, 0) + 1
        self._reused = {op for op, k in seen.items() if k > 1}

    def _system(self) -> System | None:
        need = any(s.parallel.tp * s.parallel.pp * (s.parallel.dp or 1) > 1 for s in self.space.workload)
        if self.space.base.system:
            sysm = load_system(self.space.base.system)
        else:
            same = [s for s in all_systems() if s.chip.name == self.base.name]
            if not same:
                if need:
                    raise FablessError(f"base.system: no system preset is built from {self.base.name}; name one whose "
                                       "scale-up domain the designs join, e.g. base: {chip: ..., system: tpu-v6e-256}")
                return None
            sysm = min(same, key=lambda s: s.chips)
        if self.base.links.scale_up is None and need:
            raise FablessError(f"base.chip: {self.base.name} has no scale-up links to time the collectives")
        return sysm.model_copy(update={"chip": self.base})

    def _defaults(self) -> dict[str, object]:
        b = self.base
        mu = b.compute.matrix_units
        per_core = [lv.capacity_kib * 1024 for lv in b.memory.on_chip if lv.scope == "core" and lv.name.lower() not in ("registers", "l2")]
        shared = sum(lv.total_bytes for lv in b.memory.on_chip if lv.scope == "chip" and lv.name.lower() != "registers")
        su = b.links.scale_up
        links = (su.links if su and su.links else 1)
        dt = "bf16" + ("+fp8" if b.peak_flops("fp8") else "") + ("+fp4" if b.peak_flops("fp4") and b.peak_flops("fp8") else "")
        hbm = b.memory.hbm
        stacks = hbm.stacks or 1
        return {
            "matrix_units": mu.count, "mu_rows": mu.rows or 128, "mu_cols": mu.cols or 128,
            "macs_per_unit": mu.macs_per_cycle.get("bf16") or mu.macs_per_cycle.get("fp16") or (mu.rows or 128) * (mu.cols or 128),
            "cores": b.compute.cores, "clock_mhz": b.clock.boost_mhz,
            "sram_per_core_mib": (max(per_core) if per_core else float(self.base_params.sram_per_core_bytes[0])) / _MIB,
            "sram_shared_mib": shared / _MIB, "hbm_generation": hbm.generation.strip().lower().replace(" ", ""),
            "hbm_stacks": stacks, "hbm_stack_gb": hbm.capacity_bytes / 1e9 / stacks,
            "links": links, "link_gb_s": (su.bidir_gb_s / links) if su else 0.0,
            "process_node": b.physical.process_node, "dtypes": dt, "dies": b.physical.dies,
            "_stack_gb_s": hbm.bandwidth_gb_s / stacks,
        }

    # ------------------------------------------------------------------ workload
    def _prepare(self, s: WorkloadScenario) -> dict:
        if s.graph_why is not None:
            return self._prepare_graph(s)
        try:
            cfg = load_model(s.model)
        except FablessError as exc:
            raise FablessError(f"workload {s.name}: model: {exc}") from None
        par = s.parallel
        plan = Plan(tp=par.tp, pp=par.pp, dp=par.dp or 1, ep=par.ep, sp=par.sp, attn_dp=par.attn_dp)
        if cfg.num_layers % plan.pp:
            raise FablessError(f"workload {s.name}: parallel.pp {plan.pp} does not divide the {cfg.num_layers} layers")
        prec = Precision(s.precision.weights, s.precision.activations, s.precision.kv_cache)
        scfg = sharded_config(cfg, plan)
        system = None
        if self.system is not None:  # resized to the scenario's chips, as the engine's resolve_system does
            count = plan.tp * plan.pp * plan.dp
            system = self.system.resized(count)
            if s.inference is not None:  # the engine's one plan check (training's runs below, with its batch)
                try:
                    check_plan(plan, cfg, plan.chips, system)
                except FablessError as exc:
                    raise FablessError(f"workload {s.name}: {exc}") from None
        out: list[_Graphs] = []
        if s.inference is not None:
            inf = s.inference
            batches = _AUTO_BATCHES if inf.batch == "auto" else (inf.batch,)
            ctx_total = inf.input_tokens + inf.output_tokens
            if system is None and (plan.ep > 1 or plan.attn_dp):
                raise FablessError(f"workload {s.name}: expert parallelism needs a system (base.system) for its all-to-alls")
            for b in batches:
                mem = inference_memory_bytes(cfg, plan, b, ctx_total, prec)["total"]
                pres, decs = request_graphs(cfg, plan, b, inf.input_tokens, inf.input_tokens + max(1, inf.output_tokens // 2),
                                            prec)
                coll = {}  # the request's collectives: step.request_terms, in _scenario
                nd = inf.output_tokens - 1
                flops = sum(g.flops for g in pres) + nd * sum(g.flops for g in decs)
                byts = sum(g.bytes_read + g.bytes_written for g in pres) + nd * sum(g.bytes_read + g.bytes_written for g in decs)
                out.append(_Graphs(b, {"prefill": _terms_of(pres), "decode": _terms_of(decs)}, mem, flops, byts, coll))
        else:
            # Training: the estimate's own step model (estimate/step.py): the micro-batch's operators
            # as chip-independent (op, coefficient) lists, timed over designs in _scenario and put
            # together by step_terms, so a design's figures are the engine's for that chip.
            tr = s.training
            par = s.parallel
            plan = plan_from_spec(par, par.tp * par.pp * par.cp * (par.dp or 1), s)
            if system is None:
                raise FablessError(f"workload {s.name}: training needs a system (base.system) for its collectives")
            try:
                check_plan(plan, cfg, plan.chips, system, seq_len=tr.seq_len, global_batch=tr.global_batch)
            except FablessError as exc:
                raise FablessError(f"workload {s.name}: {exc}") from None
            tuning = Tuning(tr.mode, tr.lora_rank)
            m = tr.global_batch // (plan.dp * plan.micro_batch)
            sw = resolve_software(None, self.base, "training")
            terms = shape_terms(cfg, prec, plan.tp, plan.ep, plan.cp, plan.micro_batch, tr.seq_len, tuning,
                                sw.fused_attention if sw is not None else True)
            mem = float(training_memory(cfg, prec, global_batch=tr.global_batch, seq_len=tr.seq_len,
                                        plans=PlanTable.of([plan]), tuning=tuning)["total"][0])
            rc = tr.recompute if isinstance(tr.recompute, str) else "full"
            g = build_training_graph(scfg, plan.micro_batch, tr.seq_len // plan.cp, prec, recompute=rc)
            out.append(_Graphs(plan.micro_batch, terms, mem, g.flops * m, (g.bytes_read + g.bytes_written) * m, {}))
            out[-1].m = m  # type: ignore[attr-defined]
            out[-1].tuning = tuning  # type: ignore[attr-defined]
            out[-1].software = sw  # type: ignore[attr-defined]
        return {"spec": s, "cfg": cfg, "plan": plan, "prec": prec, "graphs": out, "system": system,
                "software": out[-1].software if s.inference is None else None}

    def _prepare_graph(self, s: WorkloadScenario) -> dict:
        """An imported graph that is not a decoder: the operators of ``fabless estimate``'s
        operator-by-operator path (:func:`fabless.estimate.graph.graph_parts`), timed over the
        designs in :meth:`_graph_scenario`; data-parallel over ``parallel.dp`` chips."""
        prec = Precision(s.precision.weights, s.precision.activations, s.precision.kv_cache)
        try:
            plan = graph_plan(s, s.parallel.dp or 1, s.graph_why)
            parts = graph_parts(s.model, prec, s.training is not None)
        except FablessError as exc:
            raise FablessError(f"workload {s.name}: {exc}") from None
        system = None
        if self.system is not None:
            system = self.system.resized(plan.dp)
        sw = with_chip_calibration(resolve_software(None, self.base, s.phase), self.base, s.phase)
        eff = sw.framework_kernel_efficiency if sw is not None else None
        g = parts["graph"]
        out = {"spec": s, "plan": plan, "prec": prec, "graphs": [], "system": system, "parts": parts, "software": sw,
               "eff": eff}
        if s.inference is not None:
            out["terms"] = {"forward": _terms(g)}
            out["memory_bytes"] = sum(parts["memory"].values())
            out["flops"], out["bytes"] = g.flops, g.bytes_read + g.bytes_written
            return out
        tr = s.training
        if tr.global_batch % (plan.dp * parts["batch"]):
            raise FablessError(f"workload {s.name}: training.global_batch: {tr.global_batch} is not a multiple of dp x the "
                               f"traced batch ({plan.dp} x {parts['batch']}); the factory's example inputs are one micro-batch")
        if plan.dp > 1 and system is None:
            raise FablessError(f"workload {s.name}: training on dp {plan.dp} needs a system (base.system) for its gradient "
                               "reduction")
        m = tr.global_batch // (plan.dp * parts["batch"])
        micro = parts["micro"]
        out["terms"] = {"micro": _terms(micro), "bwd_matmuls": _terms(parts["bwd_matmuls"]),
                        "optimizer": _terms(parts["optimizer"])}
        out["m"] = m
        out["memory_bytes"] = graph_train_memory(parts, plan.dp, plan.zero)["total"]
        out["flops"], out["bytes"] = micro.flops * m, (micro.bytes_read + micro.bytes_written) * m
        return out

    # ------------------------------------------------------------------ designs
    def designs(self, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every parameter as an array over designs, base-chip values where not varied."""
        n = len(next(iter(values.values()))) if values else 1
        d: dict[str, np.ndarray] = {}
        for k, v in self.defaults.items():
            if k.startswith("_"):
                continue
            if k in values:
                d[k] = np.asarray(values[k])
            else:
                d[k] = np.full(n, v, dtype=object if isinstance(v, str) else float)
        for k in ("hbm_generation", "process_node", "dtypes"):
            d[k] = d[k].astype(object)
        for k in d:
            if k not in ("hbm_generation", "process_node", "dtypes"):
                d[k] = d[k].astype(float)
        gen_varied = "hbm_generation" in values
        if gen_varied:
            d["stack_gb_s"] = _by_value(d["hbm_generation"], lambda g: self.hbm[g]["stack_gb_s"])
            if "hbm_stack_gb" not in values:
                d["hbm_stack_gb"] = _by_value(d["hbm_generation"], lambda g: self.hbm[g]["stack_gb"])
        else:
            d["stack_gb_s"] = np.full(n, self.defaults["_stack_gb_s"], dtype=float)
        return d

    def reshape_factor(self, d: dict[str, np.ndarray]) -> np.ndarray:
        """The base chip's reconfigurable-array factor (``matrix_units.reshape_factor``) for each
        design whose rows and cols it divides, else 1 (a fixed shape)."""
        f = float(self.base_params.mu_reshape[0])
        if self.kind != "systolic_array" or f == 1:
            return np.ones(np.size(d["cores"]))
        rows, cols = np.asarray(d["mu_rows"], float), np.asarray(d["mu_cols"], float)
        return np.where((rows % f == 0) & (cols % f == 0), f, 1.0) + np.zeros(np.size(d["cores"]))

    def physical_split(self, d: dict[str, np.ndarray]) -> np.ndarray:
        """The base chip's physical arrays per array (``matrix_units.physical_split``) for each design
        whose rows and cols it divides, else 1 (products on whole arrays), as :meth:`reshape_factor`."""
        s = float(self.base_params.mu_split[0])
        if self.kind != "systolic_array" or s == 1:
            return np.ones(np.size(d["cores"]))
        rows, cols = np.asarray(d["mu_rows"], float), np.asarray(d["mu_cols"], float)
        return np.where((rows % s == 0) & (cols % s == 0), s, 1.0) + np.zeros(np.size(d["cores"]))

    def chip_params(self, d: dict[str, np.ndarray]) -> ChipParams:
        clock_hz = d["clock_mhz"] * 1e6
        macs = d["mu_rows"] * d["mu_cols"] if self.kind == "systolic_array" else d["macs_per_unit"]
        bf16 = d["matrix_units"] * macs * 2 * clock_hz
        has8, has4 = _narrow_paths(d["dtypes"])
        r = self.rate
        peaks = {"bf16": bf16, "fp16": bf16 * r["fp16"]}
        for dt in ("fp8", "int8"):  # no 8-bit path: runs at the bf16 rate
            peaks[dt] = np.where(has8, r[dt] * bf16, bf16)
        for dt in ("fp4", "int4"):  # no 4-bit path: runs at the 8-bit rate
            peaks[dt] = np.where(has4, r[dt] * bf16, peaks["fp8"])
        bp = self.base_params
        vec_per_core_hz = float(bp.vector_flops_per_s[0] / (bp.cores[0] * bp.boost_clock_hz[0]))
        sustained_frac = float(bp.sustained_clock_hz[0] / bp.boost_clock_hz[0])
        return ChipParams.from_arrays(
            peak_flops_per_s=peaks, cores=d["cores"], hbm_bytes_per_s=d["hbm_stacks"] * d["stack_gb_s"] * 1e9,
            boost_clock_hz=clock_hz, sustained_clock_hz=clock_hz * sustained_frac, kind=self.kind,
            mu_count=d["matrix_units"],
            mu_rows=d["mu_rows"] if self.kind == "systolic_array" else np.nan,
            mu_cols=d["mu_cols"] if self.kind == "systolic_array" else np.nan,
            mu_reshape=self.reshape_factor(d), mu_split=self.physical_split(d),
            sram_per_core_bytes=d["sram_per_core_mib"] * _MIB, sram_shared_bytes=d["sram_shared_mib"] * _MIB,
            vector_flops_per_s=vec_per_core_hz * d["cores"] * clock_hz, family=self.family, name="design",
        )

    # ------------------------------------------------------------------ evaluate
    def evaluate(self, values: dict[str, np.ndarray], *, econ_override: dict[str, float] | None = None) -> dict[str, np.ndarray]:
        """Metrics of each design (arrays), ``feasible`` and ``reason`` (why not).
        ``econ_override`` replaces modelled economics (e.g. a shipped chip's list-price
        ``chip_hour_usd`` and datasheet ``tdp_w`` for the reference points)."""
        d = self.designs(values)
        n = len(d["cores"])
        chip = self.chip_params(d)
        econ = self._economics(d, chip)
        for k, v in (econ_override or {}).items():
            econ[k] = np.full(n, float(v))
        out: dict[str, np.ndarray] = {k: v for k, v in econ.items() if not k.startswith("_")}
        reason = np.full(n, "", dtype=object)
        reason = _why(reason, econ["die_area_per_die_mm2"] > self.econ.silicon.reticle_limit_mm2,
                      f"die over the {self.econ.silicon.reticle_limit_mm2:.0f} mm2 reticle")
        times: dict[object, np.ndarray] = {}
        cap = econ["hbm_gb"] * 1e9 * engine_params()["usable_memory_fraction"]
        link_ratio = self._link_ratio(d)
        w = self.space.weights
        agg = {k: np.zeros(n) for k in ("usd_per_mtoken", "joules_per_token", "tokens_per_s_per_chip")}
        inf_w = sum(wi for wi, s in zip(w, self.space.workload) if s.phase == "inference")
        agg_inf = {k: np.zeros(n) for k in ("ttft_s", "tpot_s")}
        for wi, sc in zip(w, self.scenarios):
            r = self._scenario(sc, chip, d, econ, cap, link_ratio, times)
            name = sc["spec"].name
            for k, v in r.items():
                if not k.startswith("_"):
                    out[f"{name}.{k}"] = v
            reason = _why(reason, r["_nofit"], f"{name}: model does not fit in memory")
            reason = _why(reason, r["_slo"], f"{name}: SLO missed at every batch that fits")
            for k in agg:
                agg[k] += wi * r[k]
            if sc["spec"].phase == "inference":
                for k in agg_inf:
                    agg_inf[k] += wi / inf_w * r[k]
        out.update(agg)
        if inf_w:
            out.update(agg_inf)
        else:
            out["ttft_s"] = out["tpot_s"] = np.full(n, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["tokens_per_usd"] = np.where(out["usd_per_mtoken"] > 0, 1e6 / out["usd_per_mtoken"], 0.0)
        for name, b in self.space.constraints.items():
            v = out[name]
            hi = self.econ.silicon.reticle_limit_mm2 if b.max == "reticle" else b.max
            if b.min is not None:
                reason = _why(reason, ~(v >= b.min), f"{name} < {b.min:g}")
            if hi is not None:
                reason = _why(reason, ~(v <= hi), f"{name} > {hi:g}")
        out["feasible"] = reason == ""
        out["reason"] = reason
        return out

    def _link_ratio(self, d) -> np.ndarray:
        su = self.base.links.scale_up
        if su is None:
            return np.ones(len(d["cores"]))
        with np.errstate(divide="ignore"):
            return su.bidir_gb_s / np.maximum(d["links"] * d["link_gb_s"], 1e-9)

    def _coll(self, spec, link_ratio, system, inference: bool, shape=None) -> np.ndarray:
        """A collective over designs: ``spec`` = (kind, bytes, group, within one scale-up domain,
        count); inside the domain its bandwidth term scales with the design's links (``shape``:
        the group's torus shape, if the plan gives one)."""
        kind, nbytes, group, within, count = spec
        if group <= 1:
            return 0.0
        t, lat = self._base_coll(kind, nbytes, group, system, within, shape=shape)
        if not within:  # across scale-out: the design's scale-up links do not set it
            return np.full(link_ratio.shape, t * count)
        if kind == "all_reduce" and inference and runs_custom_all_reduce(nbytes, system):
            # the engine's inference_all_reduce_s: the custom all-reduce for every tensor its buffer holds
            unidir = self.base.links.scale_up.unidir_bytes_per_s / link_ratio
            return one_shot_all_reduce_s(nbytes, group, unidir) * count
        return (lat + max(t - lat, 0.0) * link_ratio) * count

    def _base_coll(self, kind, nbytes, group, system, within, *, shape=None, per_domain=None) -> tuple[float, float]:
        """Seconds of a collective of ``nbytes`` and of 1 byte (its latency, inside one domain
        only) on the base ``system`` (the same for every design: computed once per Evaluator);
        ``shape`` and ``per_domain`` as :func:`fabless.perf.collectives.group_collective_time_s`."""
        key = (kind, nbytes, group, id(system), within, shape, per_domain)  # the scenarios hold their systems
        hit = self._coll_cache.get(key)
        if hit is None:
            args = {"within_domain": within, "group_shape": shape, "per_domain": per_domain}
            t = float(group_collective_time_s(kind, nbytes, group, system, **args))
            lat = float(group_collective_time_s(kind, 1.0, group, system, **args)) if within else math.nan
            hit = self._coll_cache[key] = (t, lat)
        return hit

    def _plan_coll(self, kind, nbytes, group, per_dom, link_ratio, system, shape=None) -> np.ndarray:
        """A training plan's collective (the step model's ``coll``) over designs: inside one
        scale-up domain it scales with the design's link bandwidth (:meth:`_coll`; on a torus in
        the plan's mesh ``shape`` where it gives one); across domains (one member per domain, or
        several in each) the network sets it, the same for every design."""
        b, g, d = (float(np.ravel(nbytes)[0]), int(np.ravel(group)[0]), int(np.ravel(per_dom)[0]))
        if g <= 1:
            return np.zeros(link_ratio.shape)
        if d >= g or d <= 1:
            return np.broadcast_to(self._coll((kind, b, g, d >= g, 1.0), link_ratio, system, False,
                                              shape if d >= g else None), link_ratio.shape)
        return np.full(link_ratio.shape, self._base_coll(kind, b, g, system, None, per_domain=d)[0])

    def _time(self, terms, chip, cache, eff: float | None = None) -> np.ndarray:
        total = np.zeros(len(chip))
        # keyed by the operators' fixed cost too: scenarios of one search may see different ones (step_chip)
        fixed = float(chip.launch_overhead_s[0])
        for op, coef in terms:
            key = (op, eff, fixed)
            t = cache.get(key)
            if t is None:
                t = _op_time(op, chip, eff)
                if op in self._reused:
                    cache[key] = t
            total += coef * t  # in place: the same sums as total = total + coef * t, one array fewer each
        return total

    def _graph_scenario(self, sc, chip, d, econ, cap, link_ratio, cache) -> dict[str, np.ndarray]:
        """An imported graph on every design: ``fabless estimate``'s operator-by-operator figures
        (:func:`fabless.estimate.graph.graph_estimate`) with the design as the chip. Its items
        (samples, or tokens for token-id inputs) stand in for tokens: ``tokens_per_s_per_chip``
        is items/s per chip, ``usd_per_mtoken`` and ``joules_per_token`` are per million items and
        per item; at inference the forward time stands in for ``ttft_s`` and ``tpot_s`` (and the
        SLO bounds it)."""
        s: WorkloadScenario = sc["spec"]
        plan: Plan = sc["plan"]
        parts, eff = sc["parts"], sc["eff"]
        n = len(d["cores"])
        dtype = _wider(sc["prec"].weights, sc["prec"].activations)
        peak = chip.peak_flops_per_s.get(dtype, chip.peak_flops_per_s["bf16"])
        fits = np.broadcast_to(sc["memory_bytes"] <= cap, (n,))
        items, dp = float(parts["items"]), plan.dp
        if s.inference is not None:
            t = self._time(sc["terms"]["forward"], chip, cache, eff)
            tokens = items
            comm = np.zeros(n)
            ok = fits.copy()
            for lim in (s.slo.ttft_s, s.slo.e2e_s, s.slo.tpot_ms / 1e3 if s.slo.tpot_ms else None):
                if lim:
                    ok &= t <= lim
            row = {"forward_time_s": t, "ttft_s": t, "tpot_s": t}
        else:
            tr, m = s.training, sc["m"]
            micro = self._time(sc["terms"]["micro"], chip, cache, eff)
            bwd_mm = self._time(sc["terms"]["bwd_matmuls"], chip, cache, eff)
            opt = self._time(sc["terms"]["optimizer"], chip, cache, eff) / (dp if plan.zero >= 1 else 1)
            sysm = sc["system"]
            sync = np.zeros(n)
            if dp > 1:
                within = dp <= sysm.scale_up.size
                params, w_b = parts["params"], parts["w_bytes"]
                if plan.zero == 3:
                    sync = (self._coll(("reduce_scatter", params * GRAD_BYTES, dp, within, 1.0), link_ratio, sysm, False)
                            + m * np.maximum(0.0, 2 * self._coll(("all_gather", params * w_b, dp, within, 1.0), link_ratio,
                                                                 sysm, False) - micro))
                else:
                    sync = self._coll(("all_reduce", params * GRAD_BYTES, dp, within, 1.0), link_ratio, sysm, False)
                sync = np.broadcast_to(sync, (n,))
            sw = sc["software"]
            comm = np.maximum(0.0, sync - bwd_mm) if (sw.overlap_grad_reduce if sw is not None else True) else sync
            t = m * micro + comm + opt
            tokens = tr.global_batch * items / parts["batch"] / dp
            ok = fits.copy()
            row = {"step_time_s": t}
        tps = tokens / t
        with np.errstate(divide="ignore", invalid="ignore"):
            mat_util = np.clip(sc["flops"] / (t * peak), 0, 1)
            mem_util = np.clip(sc["bytes"] / (t * chip.hbm_bytes_per_s), 0, 1)
            link_util = np.clip(comm / t, 0, 1)
            p_e = self._power(econ, d, chip, dtype, mat_util, mem_util, link_util)
            jpt = p_e * t / tokens
            usd = econ["chip_hour_usd"] / (tps * 3600) * 1e6
        res = {"tokens_per_s_per_chip": np.where(ok, tps, 0.0), "usd_per_mtoken": np.where(ok, usd, np.inf),
               "joules_per_token": np.where(ok, jpt, np.inf), "batch": np.full(n, float(parts["batch"])),
               "_nofit": ~fits, "_slo": fits & ~ok}
        res.update({k: np.where(ok, v, np.inf) for k, v in row.items()})
        return res

    def _scenario(self, sc, chip, d, econ, cap, link_ratio, cache) -> dict[str, np.ndarray]:
        s: WorkloadScenario = sc["spec"]
        # the operators of a step at the fixed cost fabless estimate gives them (a family that compiles
        # a step whole pays the device's part; a stack may state its own)
        chip = step_chip(chip, sc.get("software"))
        if "parts" in sc:
            return self._graph_scenario(sc, chip, d, econ, cap, link_ratio, cache)
        plan: Plan = sc["plan"]
        n = len(d["cores"])
        chips = plan.tp * plan.pp
        dtype = _wider(sc["prec"].weights, sc["prec"].activations)
        peak = chip.peak_flops_per_s.get(dtype, chip.peak_flops_per_s["bf16"])
        hbm_bw = chip.hbm_bytes_per_s
        best = {k: np.full(n, np.nan) for k in ("tokens_per_s_per_chip", "ttft_s", "tpot_s", "step_time_s", "batch",
                                                 "_time", "_comm", "_flops", "_bytes", "_tokens")}
        best["tokens_per_s_per_chip"][:] = -np.inf
        any_fit = np.zeros(n, bool)
        for g in sc["graphs"]:
            fits = g.memory_bytes <= cap
            any_fit |= fits
            if not fits.any():
                continue
            if s.inference is not None:
                inf = s.inference
                sysm = sc["system"]
                within_pp = sysm is not None and plan.tp * plan.pp <= sysm.scale_up.size
                req = request_terms(
                    sc["cfg"], sc["prec"], plan, batch=g.batch, input_tokens=inf.input_tokens,
                    output_tokens=inf.output_tokens, prefill_s=self._time(g.terms["prefill"], chip, cache),
                    decode_s=self._time(g.terms["decode"], chip, cache),
                    all_reduce=lambda b: self._coll(("all_reduce", b, plan.tp, True, 1.0), link_ratio, sysm, True,
                                                    shape=plan.mesh_shapes().get("tp")),
                    all_to_all=lambda b: self._coll(("all_to_all", b, plan.ep, True, 1.0), link_ratio, sysm, False),
                    send_recv=lambda b: self._coll(("send_recv", b, 2, within_pp, 1.0), link_ratio, sysm, True))
                ttft, tpot, e2e = req["ttft_s"], req["tpot_s"], req["e2e_latency_s"]
                comm = (req["tp_pre"] + req["pp_hop_pre"]
                        + (inf.output_tokens - 1) * (req["tp_dec"] + req["pp_hop"]))
                tokens = g.batch * inf.output_tokens
                tps = tokens / e2e / chips
                ok = fits.copy()
                if s.slo.ttft_s:
                    ok &= ttft <= s.slo.ttft_s
                if s.slo.tpot_ms:
                    ok &= tpot <= s.slo.tpot_ms / 1e3
                if s.slo.e2e_s:
                    ok &= e2e <= s.slo.e2e_s
                row = {"ttft_s": ttft, "tpot_s": tpot, "_time": e2e}
            else:
                tr = s.training
                sw = g.software
                eff = sw.framework_kernel_efficiency if sw is not None else None
                parts = part_times(g.terms, lambda pairs: self._time(pairs, chip, cache, eff),
                                   sw is not None and sw.pipelined_vector)
                times = {"layers": sum(v for k, v in parts.items() if k.startswith("layer.")),
                         **{k: parts[k] for k in SHAPE_PARTS}}
                sysm = sc["system"]
                mesh = plan.mesh_shapes()
                r = step_terms(sc["cfg"], sc["prec"], PlanTable.of([plan]), times, global_batch=tr.global_batch,
                               seq_len=tr.seq_len, domain=sysm.scale_up.size, tuning=g.tuning,
                               coll=lambda kind, nbytes, group, per_dom, axis=None: self._plan_coll(
                                   kind, nbytes, group, per_dom, link_ratio, sysm, mesh.get(axis)),
                               **step_software(sw))
                step = np.broadcast_to(r["step_time_s"], (n,))
                comm = np.broadcast_to(r["tp_comm"] + r["ep_all_to_all"] + r["cp_comm"] + r["pp_send_recv"]
                                       + r["dp_comm_exposed"], (n,))
                tokens = tr.global_batch * tr.seq_len / plan.dp
                tps = tokens / step / chips
                ok = fits.copy()
                row = {"step_time_s": step, "_time": step}
            better = ok & (tps > best["tokens_per_s_per_chip"])
            row.update({"tokens_per_s_per_chip": tps, "batch": float(g.batch), "_comm": comm,
                        "_flops": float(g.flops), "_bytes": float(g.bytes), "_tokens": float(tokens)})
            for k, v in row.items():
                best[k] = np.where(better, v, best[k])
        found = np.isfinite(best["tokens_per_s_per_chip"])
        t = best["_time"]
        with np.errstate(divide="ignore", invalid="ignore"):
            mat_util = np.clip(best["_flops"] / (t * peak), 0, 1)
            mem_util = np.clip(best["_bytes"] / (t * hbm_bw), 0, 1)
            link_util = np.clip(best["_comm"] / t, 0, 1)
            p_e = self._power(econ, d, chip, dtype, mat_util, mem_util, link_util)
            jpt = p_e * t * chips / best["_tokens"]
            usd = econ["chip_hour_usd"] / (best["tokens_per_s_per_chip"] * 3600) * 1e6
        tps = np.where(found, best["tokens_per_s_per_chip"], 0.0)
        res = {"tokens_per_s_per_chip": tps, "usd_per_mtoken": np.where(found, usd, np.inf),
               "joules_per_token": np.where(found, jpt, np.inf), "batch": best["batch"],
               "_nofit": ~any_fit, "_slo": any_fit & ~found}
        if s.inference is not None:
            res["ttft_s"] = np.where(found, best["ttft_s"], np.inf)
            res["tpot_s"] = np.where(found, best["tpot_s"], np.inf)
        else:
            res["step_time_s"] = np.where(found, best["step_time_s"], np.inf)
        return res

    # ------------------------------------------------------------------ economics
    def _economics(self, d, chip: ChipParams) -> dict[str, np.ndarray]:
        """Area, unit cost, TDP and chip-hour of each design (vectorised forms of
        ``die_area``, ``unit_cost``, ``chip_power`` and ``chip_hour``)."""
        p = self.econ
        sp, pk, pw = p.silicon, p.package, p.power
        n = len(d["cores"])
        nodes = d["process_node"]
        f = d["clock_mhz"]
        macs = d["mu_rows"] * d["mu_cols"] if self.kind == "systolic_array" else d["macs_per_unit"]
        logic = np.empty(n)
        bitcell = np.empty(n)
        wafer = np.empty(n)
        d0 = np.empty(n)
        leak = np.empty(n)
        e_flop = np.empty(n)  # bf16 pJ/FLOP at the design's node, clock and matrix-unit size
        nre = np.empty(n)
        for node in _distinct(nodes):
            sel = nodes == node
            logic[sel], bitcell[sel] = node_factors(node, sp)
            wafer[sel] = node_value(sp.wafer_price_usd, node, "wafer price")
            d0[sel] = node_value(sp.defect_density_per_cm2, node, "defect density")
            leak[sel] = node_value(pw.leakage_w_per_mm2, node, "leakage_w_per_mm2")
            e_flop[sel] = flop_energy_pj(str(node), "bf16", f[sel], p, macs[sel])
            nre[sel] = nre_usd(str(node), p)["total"]
        rel = sp.mac_area_rel_to_bf16
        has8, has4 = _narrow_paths(d["dtypes"])
        r = self.rate
        unit_rel = np.maximum.reduce([np.full(n, rel["bf16"]),
                                      np.where(has8, max(r["fp8"] * rel["fp8"], r["int8"] * rel["int8"]), 0.0),
                                      np.where(has4, max(r["fp4"] * rel.get("fp4", rel["fp8"] / 2),
                                                         r["int4"] * rel.get("int4", rel["int8"] / 2)), 0.0)])
        base_vec_lanes = (self.base.compute.vector_units.fp32_flops_per_cycle / 2 / self.base.compute.cores
                          if self.base.compute.vector_units else 0.0)
        sram_bits = (d["sram_per_core_mib"] * d["cores"] + d["sram_shared_mib"]) * _MIB * 8
        hbm_gen = d["hbm_generation"]
        hbm_flag = _by_value(hbm_gen, is_hbm, bool)
        mem_gb_s = d["hbm_stacks"] * d["stack_gb_s"]
        serdes = serdes_gbit_s(d["links"] * d["link_gb_s"], self.base.links.host, sp)
        dies = d["dies"]
        d2d_per_die = die_to_die_gb_s(mem_gb_s, dies, sp)
        terms = die_area_terms_mm2(
            logic_scale=logic, bitcell_um2=bitcell, bf16_equiv_macs=d["matrix_units"] * macs * unit_rel,
            vector_fp32_lanes=base_vec_lanes * d["cores"], sram_bits=sram_bits,
            hbm_stacks=np.where(hbm_flag, d["hbm_stacks"], 0), dram_gb_s=np.where(hbm_flag, 0.0, mem_gb_s),
            serdes_gbit_s=serdes, d2d_gb_s_per_die=d2d_per_die, dies=dies, sp=sp)
        area, per_die = terms["total"], terms["per_die"]
        # unit_cost over arrays: good dies and memory here, the rest (packaging, test, board,
        # partner margin) from unit_cost's own assembly_cost_terms_usd
        a = np.minimum(per_die, sp.reticle_limit_mm2)  # over-reticle designs are infeasible; priced at the limit
        dpw = np.floor(dies_per_wafer(a, wafer_diameter_mm=sp.wafer_diameter_mm, edge_exclusion_mm=sp.edge_exclusion_mm,
                                      scribe_lane_mm=sp.scribe_lane_mm))
        y = negative_binomial_yield(a, d0, sp.yield_clustering_alpha)
        die_usd = wafer / np.maximum(dpw * y, 1e-9) * dies
        hbm_gb = d["hbm_stacks"] * d["hbm_stack_gb"]
        mem_rate = _by_value(hbm_gen, lambda g: memory_usd_per_gb(g, p))
        memory_usd = hbm_gb * mem_rate
        pkg_rate = _by_value(hbm_flag, lambda h: pk.packaging_usd_per_mm2[packaging_kind(self.base.physical.packaging, h)])
        unit = assembly_cost_terms_usd(die_usd=die_usd, memory_usd=memory_usd, packaging_usd_per_mm2=pkg_rate, die_area_mm2=area,
                                       hbm_sites=np.where(hbm_flag, d["hbm_stacks"], 0), params=p,
                                       partner=self.space.economics.partner)["total"]
        # chip_power at full load (TDP) in bf16 at the design's clock, over arrays
        mem_pj = _by_value(hbm_gen, lambda g: memory_pj_per_bit(g, p))
        static = leak * area
        io = io_power_w(memory_bytes_per_s=mem_gb_s * 1e9, memory_pj_per_bit=mem_pj, d2d_gb_s_per_die=d2d_per_die,
                        dies=dies, serdes_gbit_s=serdes, params=p)
        mem_full, link_full = io["memory"] + io["d2d"], io["links"]
        bf16 = chip.peak_flops_per_s["bf16"]
        active = active_power_w(bf16 * e_flop * 1e-12, p)
        tdp = power_terms_w(peak_flops=bf16, clock_mhz=f, peak_clock_mhz=f, flop_pj_at_peak_clock=e_flop, matrix_util=1.0,
                            static_w=static, active_w_at_peak_clock=active, memory_w_full=mem_full, memory_util=1.0, link_w_full=link_full, link_util=1.0,
                            gamma=pw.energy_clock_exponent)["total"]
        hour = chip_hour_terms_usd(unit, tdp, p)["total"]
        if self.space.economics.fleet_chips:
            o = p.ownership
            hour = hour + nre / self.space.economics.fleet_chips / (o.depreciation_years * o.hours_per_year)
        return {"die_area_mm2": area, "die_area_per_die_mm2": per_die, "yield": y, "unit_cost_usd": unit, "tdp_w": tdp,
                "chip_hour_usd": hour, "hbm_gb": hbm_gb, "peak_bf16_tflops": bf16 / 1e12, "nre_usd": nre, "dies": dies,
                "_static": static, "_active": active, "_e_flop_bf16_pj": e_flop, "_mem_full": mem_full, "_link_full": link_full}

    def _power(self, econ, d, chip, dtype, mat_util, mem_util, link_util) -> np.ndarray:
        """Average power while running a scenario: ``power_terms_w`` (as ``chip_power``) at the
        achieved utilisations and the design's clock, the matrix term at the energy per FLOP of
        the datatype (bf16's where the design has no path for it)."""
        pw = self.econ.power
        peak = chip.peak_flops_per_s.get(dtype, chip.peak_flops_per_s["bf16"])
        has = _by_value(d["dtypes"], lambda x: dtype in ("bf16", "fp16") or ("fp8" in x if dtype in ("fp8", "int8") else "fp4" in x),
                        bool)
        e = econ["_e_flop_bf16_pj"] * np.where(has, pw.op_energy_rel_to_bf16.get(dtype, 1.0), 1.0)
        return power_terms_w(peak_flops=peak, clock_mhz=d["clock_mhz"], peak_clock_mhz=d["clock_mhz"], flop_pj_at_peak_clock=e,
                             matrix_util=mat_util, static_w=econ["_static"], active_w_at_peak_clock=econ["_active"], memory_w_full=econ["_mem_full"],
                             memory_util=mem_util, link_w_full=econ["_link_full"], link_util=link_util,
                             gamma=pw.energy_clock_exponent)["total"]


def _op_time(op, chip: ChipParams, eff: float | None = None) -> np.ndarray:
    """The engine's ``_op_time`` (fabless.estimate.engine) over all designs at once: the engine's
    own :func:`~fabless.estimate.engine.framework_op_time` (framework_kernel_efficiency, the
    weight-only-quantised matmul and narrow-KV-cache decode rules) of the single-kernel model's
    parts (ops already passed through the engine's ``framework_dtypes`` in :func:`_terms`).
    (Datatypes a design lacks were mapped to the rate it runs them at in
    :meth:`Evaluator.chip_params`, as the engine's ``_on_chip`` does.) The model runs on the
    engine's :func:`~fabless.estimate.optime.framework_chip`, so its tiling is chosen at the
    framework's rate."""
    r = op_time(op, framework_chip(chip, eff))

    def peak_of_a():
        return chip.peak_flops_per_s[op.dtype_a] if op.dtype_a in chip.peak_flops_per_s else chip.peak_flops_per_s["bf16"]

    return framework_op_time(op, r.compute_s, r.memory_s, r.overhead_s, peak_of_a, eff)


def _terms(g, blocks: set[str] | None = None, kinds: set[str] | None = None, no_recompute: bool = False):
    """[(op, repeats)] of the graph's single-chip ops, distinct ops merged."""
    acc: dict[object, float] = {}
    for b in g.blocks:
        if blocks is not None and b.name not in blocks:
            continue
        for op in b.ops:
            if isinstance(op, Collective):
                continue
            if kinds is not None and op.kind not in kinds:
                continue
            if no_recompute and op.pass_ in ("recompute", "opt"):
                continue
            op = framework_dtypes(op)  # FP8 = FP8 GEMM inputs; the rest stays bf16 (the engine's rule)
            acc[op] = acc.get(op, 0.0) + b.repeat
    return list(acc.items())


def _terms_of(graphs) -> list:
    """:func:`_terms` of several graphs whose times add (a request under attention data
    parallelism runs two), distinct ops merged."""
    acc: dict[object, float] = {}
    for g in graphs:
        for op, k in _terms(g):
            acc[op] = acc.get(op, 0.0) + k
    return list(acc.items())


def _narrow_paths(dtypes) -> tuple[np.ndarray, np.ndarray]:
    """Whether each design (its ``dtypes`` value, e.g. ``bf16+fp8``) has an 8-bit and a 4-bit
    matrix path."""
    return _by_value(dtypes, lambda x: "fp8" in x, bool), _by_value(dtypes, lambda x: "fp4" in x, bool)


def _distinct(values: np.ndarray) -> list:
    """The distinct values of an array, in order of first appearance."""
    return list(dict.fromkeys(values.tolist()))


def _by_value(values: np.ndarray, fn, dtype=float) -> np.ndarray:
    """``fn`` of each design's value, as an array: ``fn`` runs once per distinct value (a choice
    parameter has a few values over thousands of designs), not once per design."""
    distinct = _distinct(values)
    if len(distinct) == 1:
        return np.full(len(values), fn(distinct[0]), dtype=dtype)
    out = np.empty(len(values), dtype=dtype)
    for v in distinct:
        out[values == v] = fn(v)
    return out


def _why(reason: np.ndarray, bad: np.ndarray, text: str) -> np.ndarray:
    return np.where((reason == "") & np.asarray(bad, bool), text, reason)


__all__ = ["Evaluator"]
