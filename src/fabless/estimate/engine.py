"""From a scenario to a training step or an inference request on a whole system.

The per-chip work comes from the workload graph of a *sharded* model config: tensor
parallelism divides attention heads, KV heads, MLP width and the vocabulary by ``tp``
(exactly Megatron-LM's partitioning), expert parallelism divides the experts by ``ep``,
and pipeline parallelism gives each stage ``layers / pp`` layers. Each operator is timed
by the single-chip models (:mod:`fabless.estimate.optime`); the collectives the plan
inserts are timed on the system's topology (:mod:`fabless.perf.collectives`).

Training step (1F1B pipeline, ``m`` micro-batches per data-parallel rank)::

    stage  = fwd+bwd time of one micro-batch through layers/pp (+ embedding/head on the
             end stages) + its TP collectives (+ MoE all-to-all) + pipeline send/recv
    step   = m * stage + bubble (= (pp-1)/v * stage) + exposed DP gradient sync + optimizer

With ``v`` virtual stages (interleave) the send/recv per micro-batch is v times that of 1F1B.
FP8 precision means FP8 GEMM inputs (Transformer Engine, TensorRT-LLM): matmuls read FP8
operands and write bf16; every other kernel and the attention math run in bf16; the KV cache
keeps its own datatype (:func:`framework_dtypes`): a decode attention streams an FP8 cache
at one byte per element (:func:`framework_op_time`), and inference collectives move the bf16
activations between kernels (:func:`comm_dtype_bytes`).

Inference (static batch of ``B`` requests per replica of tp x pp chips)::

    TTFT   = prefill of B x input tokens (all layers) + TP collectives
    TPOT   = one decode step of B sequences at the mean context (input + output/2)
    e2e    = TTFT + (output - 1) x TPOT

:class:`Kernels` says what the serving engine's kernels do where engines differ (whether the
decode attention shares a KV head's cache among its query heads).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from fabless.errors import FablessError, InfeasibleDesign
from fabless.estimate.optime import _on_chip, compute_dtype, supported_dtype
from fabless.perf.ops import op_time
from fabless.estimate.parallel import (
    activation_bytes_per_layer,
    candidate_plans,
    pipeline_bubble_fraction,
    stage_layers,
    training_state_bytes,
)
from fabless.estimate.scenario import ParallelSpec, Scenario
from fabless.hardware.presets import all_systems, load_chip, load_system
from fabless.hardware.schema import System
from fabless.loading import read_yaml
from fabless.perf.attention import attention_bytes
from fabless.perf.collectives import group_collective_time_s
from fabless.perf.params import ChipParams
from fabless.provenance import split_provenance
from fabless.workload import (
    ModelConfig,
    Precision,
    build_decode_graph,
    build_prefill_graph,
    build_training_graph,
    load_model,
)
from fabless.workload.graph import Graph
from fabless.workload.ops import Attention, Collective, ExpertMatMul, MatMul, OptimizerStep, dtype_bytes

_PARAMS_PATH = Path(str(resources.files("fabless") / "data" / "estimate" / "engine.yaml"))


@lru_cache(maxsize=1)
def engine_params() -> dict[str, float]:
    """The engine's few parameters (see data/estimate/engine.yaml for their sources)."""
    plain, _ = split_provenance(read_yaml(_PARAMS_PATH))
    return {k: float(v) for k, v in plain.items()}


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Plan:
    tp: int
    pp: int
    dp: int
    ep: int = 1
    cp: int = 1
    sp: bool = True
    interleave: int = 1

    @property
    def model_parallel(self) -> int:
        return self.tp * self.pp * self.cp

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Estimate:
    """The result of one scenario: headline numbers, memory, and where the time goes.

    ``breakdown_s`` maps a category (matmul, attention, elementwise, norm, ...,
    tp_comm, dp_comm_exposed, pipeline_bubble, ...) to seconds of the step (training)
    or of one request's end-to-end latency (inference)."""

    phase: str
    model: str
    system: str
    chip: str
    chips: int
    plan: Plan
    metrics: dict[str, float | bool | int | None]
    memory_bytes: dict[str, float]
    breakdown_s: dict[str, float]
    notes: tuple[str, ...] = ()
    alternatives: tuple[dict, ...] = field(default=())

    @property
    def fits(self) -> bool:
        return bool(self.metrics["fits"])

    def to_dict(self) -> dict:
        return {
            "phase": self.phase, "model": self.model, "system": self.system, "chip": self.chip,
            "chips": self.chips, "plan": self.plan.as_dict(), **self.metrics,
            "memory_per_chip_bytes": self.memory_bytes["total"], "memory": self.memory_bytes,
            "breakdown_s": self.breakdown_s, "notes": list(self.notes), "alternatives": list(self.alternatives),
        }


# ----------------------------------------------------------------------------- inputs


def resolve_system(scn: Scenario) -> System:
    """The System a scenario names, resized to its chip count; with both a system name and a
    chip, that chip in place of the system's own."""
    spec = scn.system
    if spec.name is not None:
        base = load_system(spec.name)
        if spec.chip is not None:
            base = base.model_copy(update={"chip": load_chip(spec.chip)})
    else:
        chip = load_chip(spec.chip)
        same = [s for s in all_systems() if s.chip.name == chip.name]
        if not same:
            raise FablessError(
                f"system: no system preset is built from chip '{chip.name}'; give system: {{name: FILE.yaml}} "
                "with its scale-up domain and network"
            )
        base = min(same, key=lambda s: s.chips).model_copy(update={"chip": chip})
    count = spec.count or base.chips
    if count > base.chips_per_node and count % base.chips_per_node:
        raise FablessError(
            f"system.count: {count} chips is not a whole number of {base.chips_per_node}-chip nodes of {base.name}"
        )
    per_node = min(base.chips_per_node, count)
    return base.model_copy(update={"chips": count, "chips_per_node": per_node})


def sharded_config(cfg: ModelConfig, plan: Plan) -> ModelConfig:
    """The model as one chip of a tp/ep group sees it (Megatron-LM partitioning)."""
    tp, ep = plan.tp, plan.ep
    changes: dict = {
        "num_heads": cfg.num_heads // tp,
        "num_kv_heads": max(1, cfg.num_kv_heads // tp),
        "intermediate_size": max(1, cfg.intermediate_size // tp),
        "vocab_size": -(-cfg.vocab_size // tp),
    }
    if cfg.is_moe:
        changes["num_experts"] = max(1, cfg.num_experts // ep)
        changes["top_k"] = cfg.top_k  # each rank still sees top_k expert visits per local token
        if ep == 1:
            changes["moe_intermediate_size"] = max(1, cfg.moe_intermediate_size // tp)
        if cfg.num_shared_experts:
            changes["shared_intermediate_size"] = max(1, cfg.shared_intermediate_size // tp)
    return dataclasses.replace(cfg, **changes)


def _validate_plan(cfg: ModelConfig, plan: Plan, chips: int, system: System) -> None:
    if plan.tp * plan.pp * plan.dp * plan.cp != chips:
        raise FablessError(
            f"parallel: tp x pp x dp x cp = {plan.tp}x{plan.pp}x{plan.dp}x{plan.cp} = "
            f"{plan.tp * plan.pp * plan.dp * plan.cp}, but the system has {chips} chips"
        )
    if cfg.num_heads % plan.tp:
        raise FablessError(f"parallel.tp: {plan.tp} does not divide the {cfg.num_heads} attention heads of {cfg.name}")
    if cfg.num_kv_heads % plan.tp and plan.tp % cfg.num_kv_heads:
        raise FablessError(f"parallel.tp: {plan.tp} and the {cfg.num_kv_heads} KV heads of {cfg.name} must divide one another")
    if plan.pp > cfg.num_layers:
        raise FablessError(f"parallel.pp: {plan.pp} stages for the {cfg.num_layers} layers of {cfg.name}; use pp <= {cfg.num_layers}")
    if plan.ep > 1:
        if not cfg.is_moe:
            raise FablessError(f"parallel.ep: {cfg.name} has no experts; use ep: 1")
        if cfg.num_experts % plan.ep or (plan.dp * plan.tp) % plan.ep:
            raise FablessError(f"parallel.ep: {plan.ep} must divide the {cfg.num_experts} experts and dp x tp = {plan.dp * plan.tp}")
    if plan.tp > system.scale_up.size:
        raise FablessError(f"parallel.tp: {plan.tp} exceeds the scale-up domain of {system.scale_up.size} chips of {system.name}")


def _plan_from_spec(spec: ParallelSpec, chips: int) -> Plan:
    mp = spec.tp * spec.pp * spec.cp
    dp = spec.dp if spec.dp is not None else chips // mp if chips % mp == 0 else 0
    if dp == 0:
        raise FablessError(f"parallel: tp x pp x cp = {mp} does not divide the {chips} chips")
    return Plan(spec.tp, spec.pp, dp, spec.ep, spec.cp, spec.sp, spec.interleave)


def _precision(scn: Scenario) -> Precision:
    p = scn.precision
    return Precision(weights=p.weights, activations=p.activations, kv_cache=p.kv_cache)


# ----------------------------------------------------------------------------- timing a graph


def _category(op) -> str:
    kind = op.kind
    return {"matmul": "matmul", "expert_matmul": "matmul"}.get(kind, kind)


#: Operator times by (chip content, op): ``ChipParams.key`` is a digest of the chip's values,
#: so the caches hit across estimate() calls (each builds its ChipParams anew) and never mix
#: two chips. Each is cleared when it reaches _MAX_ENTRIES.
_PARTS: dict[tuple[bytes, object], tuple[float, float, float]] = {}
_TIMES: dict[tuple[bytes, object], float] = {}
_MAX_ENTRIES = 200_000


def _op_parts(op, chip: ChipParams) -> tuple[float, float, float]:
    """(compute, memory, fixed overhead) seconds of one operator from the single-chip models
    (:func:`fabless.perf.ops.op_time`, time = overhead + max(compute, memory)), cached."""
    key = (chip.key, op)
    hit = _PARTS.get(key)
    if hit is None:
        if len(_PARTS) >= _MAX_ENTRIES:
            _PARTS.clear()
        r = op_time(_on_chip(op, chip), chip)
        hit = _PARTS[key] = (float(r.compute_s[0]), float(r.memory_s[0]), float(r.overhead_s[0]))
    return hit


def framework_op_time(op, compute, memory, overhead, peak_of_a):
    """Seconds of one operator in a framework from the single-kernel model's parts (floats, or
    arrays over designs: :mod:`fabless.explore.evaluate` calls this same function). The math runs
    at ``framework_kernel_efficiency`` of the model's rate (memory streaming and fixed overheads
    as modelled). Two kernels read narrower data than the single-kernel model's datatype:

    * A weight-only quantised matmul (weights narrower than the activations, e.g. int8/int4
      weights with bf16 activations) does its math at the activation width but reads its weights
      at their stored width, so its memory-bound time shrinks by the ratio of compulsory bytes
      while its compute-bound time does not (the math is the op's own FLOPs: these kernels do not
      pad the few rows to a tensor-core tile). ``peak_of_a()`` gives the matrix peak of the
      activation datatype.
    * A decode attention over a KV cache narrower than its math (an FP8 cache with bf16 math,
      TensorRT-LLM's FP8 KV cache) streams the cache at its stored width: the single-kernel
      attention model counts the cache at the math datatype, so its memory time is scaled by the
      ratio of the op's compulsory bytes (Q and O at the math width, K and V at the cache width)."""
    eff = engine_params()["framework_kernel_efficiency"]
    if isinstance(op, MatMul) and op.weight and dtype_bytes(op.dtype_b) < dtype_bytes(op.dtype_a):
        wide = dtype_bytes(op.dtype_a)
        a_b = op.batch * op.m * op.k * wide
        c_b = op.batch * op.m * op.n * wide
        w_wide = op.batch * op.k * op.n * wide
        w_narrow = op.batch * op.k * op.n * dtype_bytes(op.dtype_b)
        # The dequantising kernels (gpt-fast's int8 mm, tinygemm int4, TRT-LLM weight-only GEMV)
        # stream the packed weights with the few activation rows alongside: their math is the
        # op's own FLOPs, not a tensor-core tile padded to 64-128 rows, which for m = 1 would
        # charge ~100x the FLOPs and floor every narrow format at the same (compute) time.
        return overhead + np.maximum(op.flops / (peak_of_a() * eff), memory * (a_b + c_b + w_narrow) / (a_b + c_b + w_wide))
    if (isinstance(op, Attention) and op.phase == "decode" and op.pass_ != "bwd"
            and dtype_bytes(op.kv_dtype) != dtype_bytes(op.dtype)):
        kv_len = op.kv_len if op.window is None else min(op.kv_len, op.window + op.q_len - 1)
        modelled = attention_bytes(op.batch, op.q_len, kv_len, op.heads, op.head_dim_qk, op.kv_heads,
                                   op.head_dim_v, op.dtype, op.kv_shared)
        if modelled > 0:
            memory = memory * op.bytes / modelled
    return overhead + np.maximum(compute / eff, memory)


def _op_time(op, chip: ChipParams) -> float:
    """Seconds for one operator on ``chip``: :func:`framework_op_time` of the single-chip
    model's parts, cached by (chip content, op)."""
    key = (chip.key, op)
    hit = _TIMES.get(key)
    if hit is None:
        compute, memory, overhead = _op_parts(op, chip)
        on = _on_chip(op, chip)
        hit = float(framework_op_time(
            on, compute, memory, overhead,
            lambda: float(chip.peak_flops_per_s.get(supported_dtype(op.dtype_a, chip))[0])))
        if len(_TIMES) >= _MAX_ENTRIES:
            _TIMES.clear()
        _TIMES[key] = hit
    return hit


def framework_dtypes(op):
    """The op (a :mod:`fabless.workload.ops` operator) as an FP8 framework runs it. FP8 in Transformer Engine (training) and
    TensorRT-LLM (inference) means FP8 *GEMM inputs*: the matmuls read FP8 operands
    (the cast is fused into the producing kernel) and write 16-bit outputs, while the
    tensors between kernels, norms, softmax, elementwise work and the attention math stay
    in bf16 (FP8 attention kernels came later and are not what these recipes ran). Only
    the KV cache keeps its own (possibly FP8) datatype, in the decode attention's
    ``kv_dtype`` and the cache write's ``out_dtype``. A graph built with fp8 activations
    would otherwise move half the bytes in every memory-bound kernel and run attention
    at the FP8 peak."""
    if isinstance(op, (MatMul, ExpertMatMul)):
        return dataclasses.replace(op, dtype_out="bf16") if op.dtype_out == "fp8" else op
    if isinstance(op, (Collective, OptimizerStep)):
        return op
    changes: dict = {}
    if getattr(op, "dtype", None) == "fp8":
        changes["dtype"] = "bf16"
    if isinstance(op, Attention) and op.phase != "decode" and op.kv_dtype == "fp8":
        changes["kv_dtype"] = "bf16"
    return dataclasses.replace(op, **changes) if changes else op


def comm_dtype_bytes(prec: Precision) -> float:
    """Bytes per element of the activations a collective moves between kernels. With fp8
    activations (FP8 GEMM inputs, :func:`framework_dtypes`) the GEMMs write bf16, so the
    tensor-parallel all-reduce of a row-parallel GEMM's output and the pipeline hand-off of
    the residual stream move bf16, not FP8."""
    return float(dtype_bytes("bf16")) if prec.activations == "fp8" else float(dtype_bytes(prec.activations))


def graph_time(graph: Graph, chip: ChipParams, *, blocks: set[str] | None = None, scale: float = 1.0) -> dict[str, float]:
    """Seconds per category for the ops of ``graph`` (optionally only ``blocks``) on ``chip``,
    each block's time times its repeat count and ``scale``."""
    out: dict[str, float] = {}
    for b in graph.blocks:
        if blocks is not None and b.name not in blocks:
            continue
        for op in b.ops:
            if isinstance(op, Collective):
                continue
            cat = "recompute" if op.pass_ == "recompute" else ("optimizer" if op.pass_ == "opt" else _category(op))
            out[cat] = out.get(cat, 0.0) + _op_time(framework_dtypes(op), chip) * b.repeat * scale
    return out


def _sum(d: dict[str, float]) -> float:
    return sum(d.values())


def _add(into: dict[str, float], other: dict[str, float], scale: float = 1.0) -> None:
    for k, v in other.items():
        into[k] = into.get(k, 0.0) + v * scale


# ----------------------------------------------------------------------------- training


def _training(cfg: ModelConfig, scn: Scenario, system: System, plan: Plan, chip: ChipParams) -> Estimate:
    tr = scn.training
    assert tr is not None
    prec = _precision(scn)
    act_b = dtype_bytes(prec.activations)
    notes: list[str] = []
    if tr.global_batch % (plan.dp * tr.micro_batch):
        raise FablessError(
            f"training.global_batch: {tr.global_batch} is not a multiple of dp x micro_batch = {plan.dp} x {tr.micro_batch}"
        )
    m = tr.global_batch // (plan.dp * tr.micro_batch)
    seq_local = tr.seq_len // plan.cp
    if tr.seq_len % plan.cp:
        raise FablessError(f"parallel.cp: {plan.cp} does not divide seq_len {tr.seq_len}")
    scfg = sharded_config(cfg, plan)
    g = build_training_graph(scfg, tr.micro_batch, seq_local, prec, recompute=tr.recompute)

    layer_names = {b.name for b in g.blocks if b.name.startswith("layers[")}
    end_names = {b.name for b in g.blocks if b.name.split(".")[0] in ("embed", "head")}
    stage_frac = stage_layers(cfg.num_layers, plan.pp) / cfg.num_layers  # the busiest stage sets the pace
    layers = graph_time(g, chip, blocks=layer_names, scale=stage_frac)
    ends = graph_time(g, chip, blocks=end_names)
    # With context parallelism each chip holds seq/cp queries but attends to all keys:
    # the ring passes K/V around, so attention work is that of the full sequence / cp.
    if plan.cp > 1:
        layers["attention"] = layers.get("attention", 0.0) * plan.cp

    # Tensor-parallel collectives: per layer 2 in forward, 2 in backward (+2 with full recompute),
    # each of the micro-batch's activations T x h (reduce-scatter + all-gather with SP: same volume).
    tokens_mb = tr.micro_batch * seq_local
    tp_bytes = tokens_mb * cfg.hidden_size * act_b
    n_tp = 4 + (2 if tr.recompute == "full" else 0)
    tp_s = 0.0
    if plan.tp > 1:
        tp_s = n_tp * group_collective_time_s("all_reduce", tp_bytes, plan.tp, system, within_domain=True)
        tp_s *= stage_layers(cfg.num_layers, plan.pp) * engine_params()["tp_comm_exposed_fraction"]
    ep_s = 0.0
    if cfg.is_moe and plan.ep > 1:
        moe_layers = sum(n for kind, n in cfg.layer_runs() if kind == "moe") * stage_frac
        a2a_bytes = tokens_mb * cfg.top_k * cfg.hidden_size * act_b
        # dispatch + combine, forward and backward
        ep_s = 4 * moe_layers * group_collective_time_s("all_to_all", a2a_bytes, plan.ep, system,
                                                         within_domain=plan.ep <= system.scale_up.size)
    cp_s = 0.0
    if plan.cp > 1:
        kv_bytes = 2 * tokens_mb * cfg.num_kv_heads * cfg.head_dim * act_b / max(1, plan.tp)
        cp_s = 3 * stage_layers(cfg.num_layers, plan.pp) * group_collective_time_s("all_gather", kv_bytes * plan.cp, plan.cp, system)
    pp_s = 0.0
    if plan.pp > 1:
        # activations forward and their gradients backward across each stage boundary; with
        # v virtual stages per chip each micro-batch crosses v boundaries per chip, so the
        # point-to-point traffic grows by v (Narayanan et al., SC'21, section 2.2)
        pp_s = 2 * plan.interleave * group_collective_time_s("send_recv", tp_bytes / (plan.tp if plan.sp else 1), 2, system,
                                           within_domain=plan.tp * plan.pp <= system.scale_up.size)

    stage_compute = _sum(layers) + _sum(ends)
    stage_s = stage_compute + tp_s + ep_s + cp_s + pp_s
    bubble_frac = pipeline_bubble_fraction(plan.pp, m, plan.interleave)
    pipeline_s = m * stage_s
    bubble_s = pipeline_s * bubble_frac / (1 - bubble_frac) if bubble_frac < 1 else 0.0

    # Data-parallel gradient synchronisation, overlapped with the last micro-batch's backward.
    params_chip = params_per_chip(cfg, plan)
    grad_bytes = params_chip * 2.0
    dp_within = plan.dp * plan.model_parallel <= system.scale_up.size
    dp_s = 0.0
    if plan.dp > 1:
        kind = "all_reduce" if tr.zero <= 1 else "reduce_scatter"
        dp_s = group_collective_time_s(kind, grad_bytes, plan.dp, system, within_domain=dp_within)
        if tr.zero == 3:
            # weights all-gathered before forward and again before backward, each micro-batch
            ag = group_collective_time_s("all_gather", params_chip * dtype_bytes(prec.weights), plan.dp, system, within_domain=dp_within)
            fsdp_exposed = max(0.0, 2 * ag - stage_compute) * m
            dp_s += fsdp_exposed
    bwd_last = (layers.get("matmul", 0.0) + layers.get("attention", 0.0)) * 2 / 3
    dp_exposed = max(0.0, dp_s - bwd_last)
    opt = graph_time(g, chip, blocks={"optimizer"})
    opt_s = _sum(opt) / plan.pp / (plan.dp if tr.zero >= 1 else 1)

    step_s = pipeline_s + bubble_s + dp_exposed + opt_s

    # Breakdown per category, over the whole step on the critical path.
    breakdown: dict[str, float] = {}
    _add(breakdown, layers, m)
    _add(breakdown, ends, m)
    breakdown["tp_comm"] = tp_s * m
    if ep_s:
        breakdown["ep_all_to_all"] = ep_s * m
    if cp_s:
        breakdown["cp_comm"] = cp_s * m
    if pp_s:
        breakdown["pp_send_recv"] = pp_s * m
    breakdown["pipeline_bubble"] = bubble_s
    breakdown["dp_comm_exposed"] = dp_exposed
    breakdown["optimizer"] = breakdown.get("optimizer", 0.0) + opt_s
    breakdown = {k: v for k, v in breakdown.items() if v > 0}

    # FLOPs: model FLOPs count the step without recomputation (6N-style), hardware FLOPs with it.
    full = build_training_graph(cfg, tr.micro_batch, tr.seq_len, prec, recompute="none")
    model_flops = (full.flops - full.total("flops", pass_="opt")) * (tr.global_batch // tr.micro_batch)
    hw_graph = build_training_graph(cfg, tr.micro_batch, tr.seq_len, prec, recompute=tr.recompute)
    hw_flops = (hw_graph.flops - hw_graph.total("flops", pass_="opt")) * (tr.global_batch // tr.micro_batch)
    chips = plan.model_parallel * plan.dp
    peak = float(chip.peak_flops_per_s.get(_peak_dtype(prec, chip))[0])
    tokens = tr.global_batch * tr.seq_len

    mem = training_memory_bytes(cfg, scfg, plan, tr, prec, m)
    capacity = float(system.chip.memory.hbm.capacity_bytes)
    usable = capacity * engine_params()["usable_memory_fraction"]
    fits = mem["total"] <= usable
    if not fits:
        notes.append(f"does not fit: needs {mem['total'] / 1e9:.1f} GB per chip, {usable / 1e9:.1f} GB usable of {capacity / 1e9:.0f} GB")
    metrics = {
        "step_time_s": step_s,
        "tokens_per_s": tokens / step_s,
        "tokens_per_s_per_chip": tokens / step_s / chips,
        "mfu": model_flops / (step_s * chips * peak),
        "hfu": hw_flops / (step_s * chips * peak),
        "model_flops_per_step": model_flops,
        "micro_batches": m,
        "pipeline_bubble_fraction": bubble_frac,
        "fits": fits,
        "peak_dtype": _peak_dtype(prec, chip),
    }
    if tr.tokens:
        metrics["training_time_s"] = tr.tokens / tokens * step_s
    return Estimate("training", cfg.name, system.name, system.chip.name, chips, plan, metrics, mem, breakdown, tuple(notes))


def _peak_dtype(prec: Precision, chip: ChipParams) -> str:
    return supported_dtype(compute_dtype(prec.activations, prec.weights), chip)


def params_per_chip(cfg: ModelConfig, plan: Plan) -> float:
    """Parameters (a count, not bytes) one chip of ``plan`` holds of ``cfg``: the dense parts
    / (tp x pp), the experts / (ep x pp) (and / tp when ep = 1: each expert tensor-parallel),
    embeddings vocab-parallel over tp. Multiply by the weights' bytes per element for bytes."""
    parts = cfg.params_by_part()
    expert = float(parts.get("experts", 0))
    other = float(cfg.params_total) - expert
    expert_div = plan.ep * plan.pp * (plan.tp if plan.ep == 1 else 1)
    return other / (plan.tp * plan.pp) + expert / expert_div


def training_memory_bytes(cfg, scfg, plan: Plan, tr, prec: Precision, m: int) -> dict[str, float]:
    """Bytes one chip holds during a training step of ``cfg`` (``scfg``: its sharded config,
    :func:`sharded_config`) under ``plan`` with training spec ``tr`` and ``m`` micro-batches
    per data-parallel rank: ``weights``, ``gradients``, ``optimizer`` (ZeRO-sharded over dp as
    ``tr.zero`` says), ``activations`` (the first 1F1B stage's in-flight micro-batches),
    ``logits`` (fp32, for the loss) and their ``total``."""
    params_chip = params_per_chip(cfg, plan)
    state = training_state_bytes(params_chip, dtype_bytes(prec.weights) if prec.weights != "fp8" else 2.0, plan.dp, tr.zero)
    layers_stage = stage_layers(cfg.num_layers, plan.pp)
    act_layer = activation_bytes_per_layer(
        seq=tr.seq_len // plan.cp, micro_batch=tr.micro_batch, hidden=cfg.hidden_size,
        ffn=(cfg.moe_intermediate_size if cfg.is_moe else cfg.intermediate_size),
        heads=cfg.num_heads, kv_heads=cfg.num_kv_heads, head_dim=cfg.head_dim,
        act_bytes=dtype_bytes(prec.activations) if prec.activations != "fp8" else 2.0,
        tp=plan.tp, sp=plan.sp, recompute=tr.recompute, glu=cfg.gated_mlp,
        experts_per_token=max(1, cfg.top_k),
    )
    # 1F1B: the first stage holds the activations of pp micro-batches in flight (at most m).
    in_flight = min(plan.pp, m) if plan.pp > 1 else 1
    acts = act_layer * layers_stage * in_flight
    logits = tr.micro_batch * tr.seq_len / plan.cp * scfg.vocab_size * 4.0  # fp32 logits for the loss
    return {
        "weights": state.weights_bytes, "gradients": state.grads_bytes, "optimizer": state.optimizer_bytes,
        "activations": acts, "logits": logits,
        "total": state.total_bytes + acts + logits,
    }


# ----------------------------------------------------------------------------- inference


def inference_memory_bytes(cfg: ModelConfig, plan: Plan, batch: int, context: int, prec: Precision) -> dict[str, float]:
    """Bytes one chip of ``plan`` holds serving ``batch`` sequences of ``context`` tokens each:
    ``weights`` (:func:`params_per_chip` x the weights' bytes), ``kv_cache`` (split over
    min(tp, KV heads) and over pp; an MLA latent cache over pp only), ``activations``
    (``activation_workspace_layers`` layers' widest intermediate, / tp) and their ``total``.
    Linear in ``batch`` x ``context`` apart from the weights."""
    weights = params_per_chip(cfg, plan) * dtype_bytes(prec.weights)
    kv_per_token = cfg.kv_cache_bytes_per_token(prec.kv_cache)
    kv_split = plan.tp if cfg.is_mla is False and cfg.num_kv_heads >= plan.tp else (1 if cfg.is_mla else cfg.num_kv_heads)
    kv = batch * context * kv_per_token / (kv_split * plan.pp) if not cfg.is_mla else batch * context * kv_per_token / plan.pp
    width = max((cfg.num_heads + 2 * cfg.num_kv_heads) * cfg.head_dim, 2 * max(cfg.intermediate_size, cfg.moe_intermediate_size * max(1, cfg.top_k)))
    act = engine_params()["activation_workspace_layers"] * batch * context * width * dtype_bytes(prec.activations) / plan.tp
    return {"weights": weights, "kv_cache": kv, "activations": act, "total": weights + kv + act}


#: Scale-up topologies in which every chip reaches every peer directly, so that a serving
#: engine's one-shot custom all-reduce (:func:`one_shot_all_reduce_s`) can run.
ONE_SHOT_TOPOLOGIES = ("switch", "fully_connected")


def one_shot_all_reduce_s(nbytes, n: int, unidir_bytes_per_s):
    """Seconds of the one-shot custom all-reduce that TensorRT-LLM and vLLM run for small
    messages inside a switched or fully-connected scale-up domain (each of the ``n`` chips
    reads its n-1 peers' ``nbytes`` buffers over the fabric and reduces locally, in one kernel
    captured in a CUDA graph): ``custom_allreduce_latency_s + (n-1) x nbytes / link bandwidth``
    (``unidir_bytes_per_s``: one chip's scale-up bandwidth in one direction, bytes/s). Floats
    or numpy arrays over designs (:mod:`fabless.explore.evaluate` calls it with arrays)."""
    return engine_params()["custom_allreduce_latency_s"] + (n - 1) * nbytes / unidir_bytes_per_s


def inference_all_reduce_s(nbytes: float, n: int, system: System) -> float:
    """Seconds of a tensor-parallel all-reduce of ``nbytes`` bytes (per chip) over ``n`` chips
    of ``system`` in an inference engine: the faster of NCCL's algorithms
    (:mod:`fabless.perf.collectives`) and, where the scale-up topology is one of
    :data:`ONE_SHOT_TOPOLOGIES`, the one-shot custom all-reduce (:func:`one_shot_all_reduce_s`)."""
    nccl = group_collective_time_s("all_reduce", nbytes, n, system, within_domain=True)
    links = system.chip.links.scale_up if system.chip.links else None
    if n <= 1 or links is None or system.scale_up.topology not in ONE_SHOT_TOPOLOGIES:
        return nccl
    return min(nccl, one_shot_all_reduce_s(nbytes, n, links.unidir_bytes_per_s))


@dataclass(frozen=True)
class Kernels:
    """What the serving engine's kernels do, where engines differ in a way that changes time.

    ``gqa_kv_reuse``: the decode attention kernel reads each KV head's cache once for all the
    query heads that share it (FlashInfer, vLLM paged attention v2, TensorRT-LLM's XQA). With
    ``False`` (TensorRT-LLM's masked multi-head attention kernel before XQA: one thread block
    per (sequence, query head), each streaming its KV head's cache), the decode KV traffic is
    that of ``num_heads`` KV heads; the KV cache held in memory is unchanged."""

    gqa_kv_reuse: bool = True


def _decode_without_gqa_reuse(graph: Graph) -> Graph:
    blocks = tuple(
        dataclasses.replace(b, ops=tuple(
            dataclasses.replace(op, kv_heads=op.heads)
            if isinstance(op, Attention) and op.phase == "decode" and not op.kv_shared and op.kv_heads < op.heads else op
            for op in b.ops))
        for b in graph.blocks)
    return dataclasses.replace(graph, blocks=blocks)


def _inference_at(cfg, scn, system, plan, chip, batch: int, kernels: Kernels = Kernels()) -> Estimate:
    inf = scn.inference
    prec = _precision(scn)
    scfg = sharded_config(cfg, plan)
    act_b = comm_dtype_bytes(prec)
    pre = build_prefill_graph(scfg, batch, inf.input_tokens, prec)
    ctx = inf.input_tokens + max(1, inf.output_tokens // 2)
    dec = build_decode_graph(scfg, batch, ctx, prec)
    if not kernels.gqa_kv_reuse:
        dec = _decode_without_gqa_reuse(dec)
    pre_t = graph_time(pre, chip)
    dec_t = graph_time(dec, chip)
    tp_pre = tp_dec = 0.0
    if plan.tp > 1:
        n = 2 * cfg.num_layers * engine_params()["tp_comm_exposed_fraction"]
        tp_pre = n * inference_all_reduce_s(batch * inf.input_tokens * cfg.hidden_size * act_b, plan.tp, system)
        tp_dec = n * inference_all_reduce_s(batch * cfg.hidden_size * act_b, plan.tp, system)
    ep_pre = ep_dec = 0.0
    if cfg.is_moe and plan.ep > 1:
        moe_layers = sum(n for kind, n in cfg.layer_runs() if kind == "moe")
        within = plan.ep <= system.scale_up.size
        ep_pre = 2 * moe_layers * group_collective_time_s("all_to_all", batch * inf.input_tokens * cfg.top_k * cfg.hidden_size * act_b / plan.ep, plan.ep, system, within_domain=within)
        ep_dec = 2 * moe_layers * group_collective_time_s("all_to_all", batch * cfg.top_k * cfg.hidden_size * act_b / plan.ep, plan.ep, system, within_domain=within)
    pp_hop = 0.0
    if plan.pp > 1:
        pp_hop = (plan.pp - 1) * group_collective_time_s("send_recv", batch * cfg.hidden_size * act_b, 2, system,
                                                         within_domain=plan.tp * plan.pp <= system.scale_up.size)
    ttft = _sum(pre_t) + tp_pre + ep_pre + pp_hop
    tpot = _sum(dec_t) + tp_dec + ep_dec + pp_hop
    e2e = ttft + (inf.output_tokens - 1) * tpot
    replicas = plan.dp
    mem = inference_memory_bytes(cfg, plan, batch, inf.input_tokens + inf.output_tokens, prec)
    capacity = float(system.chip.memory.hbm.capacity_bytes)
    usable = capacity * engine_params()["usable_memory_fraction"]
    fits = mem["total"] <= usable
    notes = [] if fits else [f"does not fit: needs {mem['total'] / 1e9:.1f} GB per chip, {usable / 1e9:.1f} GB usable of {capacity / 1e9:.0f} GB"]
    breakdown: dict[str, float] = {}
    _add(breakdown, {f"prefill.{k}": v for k, v in pre_t.items()})
    _add(breakdown, {f"decode.{k}": v for k, v in dec_t.items()}, inf.output_tokens - 1)
    breakdown["prefill.tp_comm"] = tp_pre
    breakdown["decode.tp_comm"] = tp_dec * (inf.output_tokens - 1)
    if ep_pre:
        breakdown["prefill.ep_all_to_all"] = ep_pre
        breakdown["decode.ep_all_to_all"] = ep_dec * (inf.output_tokens - 1)
    if pp_hop:
        breakdown["pp_send_recv"] = pp_hop * inf.output_tokens
    breakdown = {k: v for k, v in breakdown.items() if v > 0}
    chips = plan.model_parallel * plan.dp
    out_tps = replicas * batch * inf.output_tokens / e2e
    metrics = {
        "batch": batch,
        "ttft_s": ttft,
        "tpot_s": tpot,
        "e2e_latency_s": e2e,
        "output_tokens_per_s": out_tps,
        "output_tokens_per_s_per_chip": out_tps / chips,
        "decode_tokens_per_s_per_replica": batch / tpot,
        "replicas": replicas,
        "fits": fits,
    }
    return Estimate("inference", cfg.name, system.name, system.chip.name, chips, plan, metrics, mem, breakdown, tuple(notes))


def _largest_batch(cfg, scn, plan, system) -> int:
    inf = scn.inference
    prec = _precision(scn)
    usable = float(system.chip.memory.hbm.capacity_bytes) * engine_params()["usable_memory_fraction"]
    ctx = inf.input_tokens + inf.output_tokens
    if inference_memory_bytes(cfg, plan, 1, ctx, prec)["total"] > usable:
        return 0
    lo, hi = 1, 2
    while hi <= 4096 and inference_memory_bytes(cfg, plan, hi, ctx, prec)["total"] <= usable:
        lo, hi = hi, hi * 2
    hi = min(hi, 4097)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if inference_memory_bytes(cfg, plan, mid, ctx, prec)["total"] <= usable:
            lo = mid
        else:
            hi = mid
    return lo


def _inference(cfg, scn, system, plan, chip, kernels: Kernels = Kernels()) -> Estimate:
    batch = scn.inference.batch
    if batch == "auto":
        batch = _largest_batch(cfg, scn, plan, system)
        if batch == 0:
            est = _inference_at(cfg, scn, system, plan, chip, 1, kernels)
            return dataclasses.replace(est, notes=est.notes + ("batch auto: not even one sequence fits",))
    return _inference_at(cfg, scn, system, plan, chip, batch, kernels)


# ----------------------------------------------------------------------------- entry points


def _search(cfg: ModelConfig, scn: Scenario, system: System, chip: ChipParams, top: int = 5,
            kernels: Kernels = Kernels()) -> Estimate:
    chips = system.chips
    tr = scn.training
    cands = candidate_plans(
        chips, max_tp=min(system.scale_up.size, 64), layers=cfg.num_layers, heads=cfg.num_heads,
        kv_heads=cfg.num_kv_heads, experts=cfg.num_experts if cfg.is_moe else 0,
        global_batch=tr.global_batch if tr else None, micro_batch=tr.micro_batch if tr else 1,
    )
    if not cands:
        raise InfeasibleDesign(f"parallel: auto found no plan for {cfg.name} on {chips} chips (tp must divide heads, pp the layers)")
    results: list[Estimate] = []
    for c in cands:
        plan = Plan(c["tp"], c["pp"], c["dp"], c["ep"])
        if tr is not None:
            mem = training_memory_bytes(cfg, sharded_config(cfg, plan), plan, tr, _precision(scn), tr.global_batch // (plan.dp * tr.micro_batch))
            if mem["total"] > float(system.chip.memory.hbm.capacity_bytes) * engine_params()["usable_memory_fraction"]:
                continue
            results.append(_training(cfg, scn, system, plan, chip))
        else:
            est = _inference(cfg, scn, system, plan, chip, kernels)
            if est.fits:
                results.append(est)
    if not results:
        raise InfeasibleDesign(f"parallel: auto found no plan of {cfg.name} that fits in the memory of {chips} x {system.chip.name}")
    key = (lambda e: e.metrics["step_time_s"]) if tr is not None else (lambda e: -e.metrics["output_tokens_per_s"])
    results.sort(key=key)
    best = results[0]
    alts = tuple({"plan": e.plan.as_dict(), **{k: e.metrics[k] for k in ("step_time_s", "mfu", "output_tokens_per_s", "tpot_s", "ttft_s") if k in e.metrics}}
                 for e in results[1:top])
    return dataclasses.replace(best, alternatives=alts, notes=best.notes + (f"parallel: auto chose among {len(results)} plans that fit",))


def estimate(scn: Scenario, kernels: Kernels = Kernels()) -> Estimate:
    """Estimate a scenario: training step or inference request, with the plan given or searched.
    ``kernels`` says what the serving engine's kernels do (:class:`Kernels`; default: current engines)."""
    try:
        cfg = load_model(scn.model)
    except FablessError as exc:
        raise FablessError(f"model: {exc}") from None
    system = resolve_system(scn)
    chip = ChipParams.from_chip(system.chip)
    if scn.parallel == "auto":
        return _search(cfg, scn, system, chip, kernels=kernels)
    plan = _plan_from_spec(scn.parallel, system.chips)
    _validate_plan(cfg, plan, system.chips, system)
    if scn.training is not None:
        return _training(cfg, scn, system, plan, chip)
    return _inference(cfg, scn, system, plan, chip, kernels)


__all__ = ["Estimate", "Kernels", "Plan", "estimate", "resolve_system", "sharded_config", "graph_time", "engine_params",
           "framework_op_time", "comm_dtype_bytes"]
