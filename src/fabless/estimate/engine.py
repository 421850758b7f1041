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

import numpy as np

from fabless import bounds
from fabless.errors import FablessError, InfeasibleDesign, InvalidInput, NoSystemPreset
from fabless.estimate.cpu import check_accelerator_precision, cpu_request
from fabless.estimate.optime import (
    _add, _sum, comm_dtype_bytes, compute_dtype, engine_params, framework_chip, framework_dtypes, framework_op_time, graph_time,
    operator_rows, step_chip, supported_dtype,
)
from fabless.estimate.graph import graph_estimate
from fabless.estimate.parallel import candidate_plans
from fabless.estimate.plan import Plan, check_plan, params_per_chip, sharded_config
from fabless.estimate.recsys import recsys_step, step_plan
from fabless.estimate.scenario import ParallelSpec, RecsysSpec, Scenario
from fabless.estimate.software import Software, no_stack_note, resolve_software, with_chip_calibration
from fabless.estimate.step import (TERMS, PlanTable, Tuning, recompute_code, recompute_split, request_terms, shape_terms,
                                   shape_times, stage_layout, training_memory, training_plan_space, training_steps, with_adapters)
from fabless.hardware.presets import all_systems, load_chip, load_system
from fabless.hardware.schema import Chip, System
from fabless.perf.collectives import group_collective_time_s
from fabless.perf.embedding import sram_bandwidth_bytes_per_s
from fabless.perf.params import ChipParams
from fabless.workload import (
    ModelConfig,
    Precision,
    build_decode_graph,
    build_prefill_graph,
    build_training_graph,
    load_model,
    local_experts,
)
from fabless.workload.catalog import load_recsys
from fabless.workload.graph import Graph
from fabless.workload.imported import NotADecoder, is_graph_spec, load_graph
from fabless.workload.ops import Attention, dtype_bytes

# ----------------------------------------------------------------------------- results


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
            raise NoSystemPreset(
                f"system: no system preset is built from chip '{chip.name}'; give system: {{name: FILE.yaml}} "
                "with its scale-up domain and network"
            )
        base = min(same, key=lambda s: s.chips).model_copy(update={"chip": chip})
    count = spec.count or base.chips
    if count > base.chips_per_node and count % base.chips_per_node:
        raise FablessError(
            f"system.count: {count} chips is not a whole number of {base.chips_per_node}-chip nodes of {base.name}"
        )
    key = (id(base), count)
    hit = _RESIZED.get(key)
    if hit is None or hit[0] is not base:
        if len(_RESIZED) > 256:
            _RESIZED.clear()
        hit = _RESIZED[key] = (base, base.resized(count))
    return hit[1]


#: resized systems by (base system object, chip count): the presets are cached objects, so an
#: estimate of the same scenario gets the same System back (and the collective cache hits)
_RESIZED: dict[tuple[int, int], tuple[System, System]] = {}


def _validate_plan(cfg: ModelConfig, plan: Plan, chips: int, system: System, scn: Scenario | None = None) -> None:
    """The one plan check (:func:`fabless.estimate.plan.check_plan`), with the scenario's batch
    and sequence for training."""
    tr = scn.training if scn is not None else None
    check_plan(plan, cfg, chips, system, seq_len=tr.seq_len if tr else None,
               global_batch=tr.global_batch if tr else None)


def _training_axis(spec: ParallelSpec, scn: Scenario, name: str):
    """A training axis given in ``parallel`` or in ``training`` (error if both, differently)."""
    given = getattr(spec, name) if spec is not None else None
    tr = scn.training
    if tr is None:
        return given if given is not None else Plan.__dataclass_fields__[name].default
    if given is not None and name in tr.model_fields_set and getattr(tr, name) != given:
        raise FablessError(f"parallel.{name}: {given!r} disagrees with training.{name}: {getattr(tr, name)!r}; give it once")
    return given if given is not None else getattr(tr, name)


def plan_from_spec(spec: ParallelSpec, chips: int, scn: Scenario | None = None) -> Plan:
    """The :class:`Plan` a scenario's ``parallel`` section gives on ``chips`` chips (dp by default
    the rest), with the training axes (zero, recompute, micro_batch) from ``parallel`` or from
    the scenario's ``training`` section (``scn``: anything with a ``training`` attribute)."""
    mp = spec.tp * spec.pp * spec.cp
    dp = spec.dp if spec.dp is not None else chips // mp if chips % mp == 0 else 0
    if dp == 0:
        raise FablessError(f"parallel: tp x pp x cp = {mp} does not divide the {chips} chips")
    extra = {}
    if scn is not None:
        extra = {k: _training_axis(spec, scn, k) for k in ("zero", "recompute", "micro_batch")}
    mesh = tuple((a, tuple(shape)) for a, shape in sorted((spec.mesh or {}).items()))
    return Plan(tp=spec.tp, pp=spec.pp, dp=dp, ep=spec.ep, cp=spec.cp, sp=spec.sp, interleave=spec.interleave,
                shard=spec.shard, attn_dp=spec.attn_dp, order=spec.order, mesh=mesh, **extra)


def _precision(scn: Scenario) -> Precision:
    p = scn.precision
    return Precision(weights=p.weights, activations=p.activations, kv_cache=p.kv_cache, attention_weights=p.attention_weights)


# ----------------------------------------------------------------------------- timing a graph


# ----------------------------------------------------------------------------- software


def _eff(sw: Software | None) -> float | None:
    """The stack's framework efficiency, or None (engine-wide)."""
    return sw.framework_kernel_efficiency if sw is not None else None


def step_software(sw: Software | None) -> dict:
    """The software stack's keywords of the training step formula
    (:func:`fabless.estimate.step.step_terms`): overlaps and the MoE host time; the engine's
    defaults without a stack."""
    if sw is None:
        return {"overlap_grad_reduce": True, "overlap_tp_comm": False, "overlap_ep_comm": False,
                "moe_host_s": 0.0, "moe_host_per_expert_s": 0.0}
    return {"overlap_grad_reduce": sw.overlap_grad_reduce, "overlap_tp_comm": sw.overlap_tp_comm,
            "overlap_ep_comm": sw.overlap_ep_comm, "moe_host_s": sw.moe_host_s,
            "moe_host_per_expert_s": sw.moe_host_per_expert_s}


def _sw_training(sw: Software | None) -> dict:
    return {"eff": _eff(sw), **step_software(sw), "fused_attention": sw.fused_attention if sw is not None else True,
            "pipelined_vector": sw is not None and sw.pipelined_vector,
            "remat_drops_dead_ops": sw is not None and sw.remat_drops_dead_ops}


# ----------------------------------------------------------------------------- training


@lru_cache(maxsize=1024)
def _micro_batch_flops(cfg: ModelConfig, micro_batch: int, seq_len: int, prec: Precision,
                       tuning: Tuning) -> tuple[float, float, float]:
    """FLOPs of one micro-batch of the whole model: the step without recomputation (model
    FLOPs; for LoRA the frozen base's forward and input gradients plus the adapters), a full
    recompute's extra forward, and a selective (attention-core) recompute's."""
    full = build_training_graph(cfg, micro_batch, seq_len, prec, recompute="none")
    if tuning.adapters:
        full = with_adapters(full, tuning.rank, 1)
    rc_graph = build_training_graph(cfg, micro_batch, seq_len, prec, recompute="full")
    sel = sum(op.flops * b.repeat for b in rc_graph.blocks for op in b.ops
              if op.pass_ == "recompute" and isinstance(op, Attention))
    return (float(full.flops - full.total("flops", pass_="opt")), float(rc_graph.total("flops", pass_="recompute")),
            float(sel))


def _training(cfg: ModelConfig, scn: Scenario, system: System, plan: Plan, chip: ChipParams,
              alternatives: tuple[dict, ...] = (), search_note: str | None = None, sw: Software | None = None) -> Estimate:
    """A training step of ``plan`` (already checked: :func:`_validate_plan`, or a plan of the
    search space) from the step model (:func:`fabless.estimate.step.training_steps`)."""
    tr = scn.training
    assert tr is not None
    prec = _precision(scn)
    tuning = Tuning(tr.mode, tr.lora_rank)
    table = PlanTable.of([plan])
    r = {k: (v[0].item() if hasattr(v[0], "item") else v[0]) for k, v in
         training_steps(cfg, chip, system, prec, global_batch=tr.global_batch, seq_len=tr.seq_len,
                        plans=table, tuning=tuning, mesh=plan.mesh_shapes() or None,
                        **_sw_training(sw)).items()}
    m = int(r["micro_batches"])
    step_s = float(r["step_time_s"])

    # Where the compute goes: the layer categories of the busiest stage, the rest (recompute,
    # embedding and LM head) as their own lines.
    swk = _sw_training(sw)
    shape = shape_times(cfg, chip, prec, plan.tp, plan.ep, plan.cp, plan.micro_batch, tr.seq_len, tuning, _eff(sw),
                        swk["fused_attention"], swk["pipelined_vector"], swk["remat_drops_dead_ops"])
    mid_a = stage_layout(cfg.num_layers, table.pp)[1]
    mid = int(mid_a[0])
    breakdown: dict[str, float] = {cat: v / cfg.num_layers * mid * m for cat, v in shape.layers.items()}
    rest = float(r["compute"]) - sum(breakdown.values())
    full_a, sel_a = recompute_split(table, mid_a)
    full_n, sel = int(full_a[0]), bool(sel_a[0])
    rec = m * (full_n * shape.rec_full + (mid - full_n) * (shape.rec_sel if sel else 0.0)) / cfg.num_layers
    breakdown["recompute"] = min(rec, max(rest, 0.0))
    breakdown["embedding_and_head"] = max(0.0, rest - breakdown["recompute"])
    for term in TERMS[1:]:
        breakdown[term] = float(r[term])
    breakdown = {k: v for k, v in breakdown.items() if v > 0}

    # FLOPs: model FLOPs count the step without recomputation (6N-style), hardware FLOPs with it.
    micro_total = tr.global_batch // plan.micro_batch
    step_flops, rec_flops, sel_flops = _micro_batch_flops(cfg, plan.micro_batch, tr.seq_len, prec, tuning)
    model_flops = step_flops * micro_total
    full_frac = full_n / mid
    hw_flops = model_flops + micro_total * (full_frac * rec_flops + (1 - full_frac) * (sel_flops if sel else 0.0))
    chips = plan.chips
    peak = float(chip.peak_flops_per_s.get(_peak_dtype(prec, chip))[0])
    tokens = tr.global_batch * tr.seq_len

    mem = {"weights": r["mem_weights"], "gradients": r["mem_gradients"], "optimizer": r["mem_optimizer"],
           "activations": r["mem_activations"], "logits": r["mem_logits"], "total": r["mem_total"]}
    capacity = float(system.chip.memory.hbm.capacity_bytes)
    usable = float(r["mem_budget"])
    fits = bool(r["fits"])
    notes: list[str] = []
    if not fits:
        notes.append(f"does not fit: needs {mem['total'] / 1e9:.1f} GB per chip, {usable / 1e9:.1f} GB usable of {capacity / 1e9:.0f} GB")
    if search_note:
        notes.append(search_note)
    if sw is not None:
        notes.append(sw.describe())
    metrics = {
        "step_time_s": step_s,
        "tokens_per_s": tokens / step_s,
        "tokens_per_s_per_chip": tokens / step_s / chips,
        "mfu": model_flops / (step_s * chips * peak),
        "hfu": hw_flops / (step_s * chips * peak),
        "model_flops_per_step": model_flops,
        "micro_batches": m,
        "pipeline_bubble_fraction": float(r["bubble_fraction"]),
        "memory_headroom_bytes": usable - mem["total"],
        "fits": fits,
        "peak_dtype": _peak_dtype(prec, chip),
        "software": sw.name if sw else None,
    }
    if tr.tokens:
        metrics["training_time_s"] = tr.tokens / tokens * step_s
    return Estimate("training", cfg.name, system.name, system.chip.name, chips, plan, metrics, mem, breakdown,
                    tuple(notes), alternatives)


def _peak_dtype(prec: Precision, chip: ChipParams) -> str:
    return supported_dtype(compute_dtype(prec.activations, prec.weights), chip)


def training_memory_bytes(cfg, scfg, plan: Plan, tr, prec: Precision, m: int) -> dict[str, float]:
    """Bytes one chip holds during a training step of ``cfg`` under ``plan`` with the training
    spec ``tr`` (its batch, sequence, ZeRO stage, recompute and micro-batch; ``scfg`` and ``m``
    are implied by them and kept for callers): ``weights``, ``gradients``, ``optimizer``,
    ``activations``, ``logits`` and their ``total``, from the step model's memory terms
    (:func:`fabless.estimate.step.training_memory`)."""
    del scfg, m
    plan = dataclasses.replace(plan, zero=tr.zero, recompute=tr.recompute, micro_batch=tr.micro_batch)
    r = training_memory(cfg, prec, global_batch=tr.global_batch, seq_len=tr.seq_len, plans=PlanTable.of([plan]),
                        tuning=Tuning(tr.mode, tr.lora_rank))
    return {k: float(v[0]) for k, v in r.items()}


# ----------------------------------------------------------------------------- inference


def _attention_weight_extra_bytes(cfg: ModelConfig, plan: Plan, prec: Precision) -> float:
    """Bytes one chip holds beyond ``weights`` x every parameter when the attention projections keep
    their own datatype (``Precision.attention_weights``): their share of the chip, tensor-parallel over tp."""
    aw = prec.attention_weights
    if aw is None or aw == prec.weights:
        return 0.0
    share = plan.pp if plan.attn_dp else plan.tp * plan.pp
    return float(cfg.params_by_part()["attention"]) / share * (dtype_bytes(aw) - dtype_bytes(prec.weights))


def inference_memory_bytes(cfg: ModelConfig, plan: Plan, batch: int, context: int, prec: Precision) -> dict[str, float]:
    """Bytes one chip of ``plan`` holds serving ``batch`` sequences of ``context`` tokens each:
    ``weights`` (:func:`params_per_chip` x the weights' bytes), ``kv_cache`` (split over
    min(tp, KV heads) and over pp; an MLA latent cache over pp only), ``activations``
    (``activation_workspace_layers`` layers' widest intermediate, / tp) and their ``total``.
    Linear in ``batch`` x ``context`` apart from the weights.

    With ``plan.attn_dp`` (attention data-parallel, experts expert-parallel over the tp chips) a
    chip holds every non-expert weight, 1/tp of the experts, and the KV cache of its own
    ceil(batch / tp) sequences, whole."""
    kv_per_token = cfg.kv_cache_bytes_per_token(prec.kv_cache)
    if plan.attn_dp:
        expert = float(cfg.params_by_part().get("experts", 0))
        weights = (((float(cfg.params_total) - expert) / plan.pp + expert / (plan.tp * plan.pp)) * dtype_bytes(prec.weights)
                   + _attention_weight_extra_bytes(cfg, plan, prec))
        local = -(-batch // plan.tp)
        kv = local * context * kv_per_token / plan.pp
        width = max((cfg.num_heads + 2 * cfg.num_kv_heads) * cfg.head_dim, 2 * max(cfg.intermediate_size, cfg.moe_intermediate_size * max(1, cfg.top_k)))
        act = engine_params()["activation_workspace_layers"] * local * context * width * dtype_bytes(prec.activations)
        return {"weights": weights, "kv_cache": kv, "activations": act, "total": weights + kv + act}
    weights = params_per_chip(cfg, plan) * dtype_bytes(prec.weights) + _attention_weight_extra_bytes(cfg, plan, prec)
    kv_split = plan.tp if cfg.is_mla is False and cfg.num_kv_heads >= plan.tp else (1 if cfg.is_mla else cfg.num_kv_heads)
    kv = batch * context * kv_per_token / (kv_split * plan.pp) if not cfg.is_mla else batch * context * kv_per_token / plan.pp
    width = max((cfg.num_heads + 2 * cfg.num_kv_heads) * cfg.head_dim, 2 * max(cfg.intermediate_size, cfg.moe_intermediate_size * max(1, cfg.top_k)))
    act = engine_params()["activation_workspace_layers"] * batch * context * width * dtype_bytes(prec.activations) / plan.tp
    return {"weights": weights, "kv_cache": kv, "activations": act, "total": weights + kv + act}


#: Scale-up topologies in which every chip reaches every peer directly, so that a serving
#: engine's one-shot custom all-reduce (:func:`one_shot_all_reduce_s`) can run.
ONE_SHOT_TOPOLOGIES = ("switch", "fully_connected")
#: Chip vendors whose serving engines have a custom all-reduce kernel (peer memory mapped over NVLink or xGMI:
#: vLLM's and SGLang's CUDA and ROCm builds, TensorRT-LLM); the others' engines all-reduce with their collective
#: library (Intel Gaudi's HCCL, AWS Neuron's collectives, XLA on TPU), which the collective model prices.
CUSTOM_ALLREDUCE_VENDORS = ("NVIDIA", "AMD")


def runs_custom_all_reduce(nbytes, system: System) -> bool:
    """Whether a serving engine on ``system`` all-reduces a tensor of ``nbytes`` bytes (per chip) with its
    custom kernel: a vendor in :data:`CUSTOM_ALLREDUCE_VENDORS`, a scale-up domain in :data:`ONE_SHOT_TOPOLOGIES`,
    and a tensor the kernel's buffer holds (engine.yaml ``custom_allreduce_max_bytes``)."""
    vendor = str(system.chip.vendor or "").lower()  # an explore design keeps its base chip's vendor first
    return (any(vendor.startswith(v.lower()) for v in CUSTOM_ALLREDUCE_VENDORS) and system.chip.links is not None
            and system.chip.links.scale_up is not None and system.scale_up.topology in ONE_SHOT_TOPOLOGIES
            and nbytes <= engine_params()["custom_allreduce_max_bytes"])


def one_shot_all_reduce_s(nbytes, n: int, unidir_bytes_per_s):
    """Seconds of the one-shot custom all-reduce that TensorRT-LLM and vLLM run for small
    messages inside a switched or fully-connected scale-up domain (each of the ``n`` chips
    reads its n-1 peers' ``nbytes`` buffers over the fabric and reduces locally, in one kernel
    captured in a CUDA graph): ``custom_allreduce_latency_s + (n-1) x nbytes / link bandwidth``
    (``unidir_bytes_per_s``: one chip's scale-up bandwidth in one direction, bytes/s). Floats
    or numpy arrays over designs (:mod:`fabless.explore.evaluate` calls it with arrays)."""
    return engine_params()["custom_allreduce_latency_s"] + (n - 1) * nbytes / unidir_bytes_per_s


def inference_all_reduce_s(nbytes: float, n: int, system: System, shape: tuple[int, ...] | None = None) -> float:
    """Seconds of a tensor-parallel all-reduce of ``nbytes`` bytes (per chip) over ``n`` chips
    of ``system`` in an inference engine. Where the engine runs its custom kernel for the tensor
    (:func:`runs_custom_all_reduce`: the vendor's engines have one and its buffer holds the tensor),
    the engine's custom all-reduce (:func:`one_shot_all_reduce_s`),
    as vLLM and SGLang choose it, by size and not by which is faster; otherwise NCCL's fastest
    algorithm (:mod:`fabless.perf.collectives`). ``shape``: the group's extent along each torus
    dimension (``parallel.mesh.tp``), e.g. (4, 4) for tp 16 on a v6e-16 slice; by default the
    group runs along one dimension."""
    if n > 1 and runs_custom_all_reduce(nbytes, system):
        return one_shot_all_reduce_s(nbytes, n, system.chip.links.scale_up.unidir_bytes_per_s)
    return group_collective_time_s("all_reduce", nbytes, n, system, within_domain=True, group_shape=shape)


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


def unfused_attention(graph: Graph) -> Graph:
    """The graph with its attention ops unfused (:class:`~fabless.workload.ops.Attention` ``fused=False``), as a
    stack with ``attention_kernel: unfused`` (``Software.fused_attention`` False) runs them: the score matrix
    goes to memory between a batched matmul, the softmax and a second batched matmul."""
    blocks = tuple(
        dataclasses.replace(b, ops=tuple(dataclasses.replace(op, fused=False) if isinstance(op, Attention) else op
                                         for op in b.ops))
        for b in graph.blocks)
    return dataclasses.replace(graph, blocks=blocks)


def _only(graph: Graph, experts: bool) -> Graph:
    """The routed-expert operators of a graph (``experts``) or all the others."""
    blocks = tuple(dataclasses.replace(b, ops=tuple(op for op in b.ops if op.name.startswith("experts.") == experts))
                   for b in graph.blocks)
    return dataclasses.replace(graph, blocks=blocks)


def heads_per_rank(cfg: ModelConfig, tp: int, sw: Software | None) -> ModelConfig:
    """The model's attention heads as a stack that puts ``sw.tp_ranks_per_chip`` tensor-parallel
    ranks on each of ``tp`` chips holds them (Transformers NeuronX: one rank per NeuronCore).

    - Query heads that the ``tp x ranks`` ranks do not divide are padded with zero heads up to
      the next multiple (transformers-neuronx adds ``ranks - heads % ranks`` heads: Llama-2-13B's
      40 heads run as 48 on 24 NeuronCores), whose projections are stored and multiplied like
      real ones; a model whose KV heads equal its query heads (MHA) has its KV heads padded alike.
    - Where the ranks outnumber the KV heads, every rank keeps a whole copy of its group's KV
      head (its K/V projection and its KV cache), so the chips hold and read ``tp x ranks`` KV
      heads in all instead of the model's (32 NeuronCores over Llama-2-70B's 8 KV heads read
      each head 4 times, twice per trn1 chip).

    ``cfg`` unchanged for one rank per chip, MLA, or heads enough for every rank."""
    ranks = tp * (sw.tp_ranks_per_chip if sw is not None else 1)
    if ranks <= tp or cfg.is_mla:
        return cfg
    heads = -(-cfg.num_heads // ranks) * ranks
    kv = cfg.num_kv_heads
    if kv == cfg.num_heads:
        kv = heads
    elif kv < ranks:
        kv = ranks
    elif kv % ranks:
        kv = -(-kv // ranks) * ranks
    if (heads, kv) == (cfg.num_heads, cfg.num_kv_heads):
        return cfg
    return dataclasses.replace(cfg, num_heads=heads, num_kv_heads=kv)


def decode_context(input_tokens: int, output_tokens: int, sw: Software | None) -> int:
    """The KV-cache positions one decode step of a static batch attends to, taken for every
    step: the mean, ``input + output / 2``, or for a stack whose decode attends its whole
    compiled cache (``sw.decode_full_cache``: masked, not cut at the tokens so far) the full
    ``input + output`` length."""
    if sw is not None and sw.decode_full_cache:
        return input_tokens + output_tokens
    return input_tokens + max(1, output_tokens // 2)


def prefill_bucket(tokens: int, min_tokens: int, seq_len: int | None = None) -> int:
    """The prompt tokens a stack's context-encoding graph computes for ``tokens`` new ones: with
    power-of-two prefill buckets from ``min_tokens`` up (``Software.prefill_bucket_min_tokens``,
    Neuron) the next bucket, but never past the compiled sequence length ``seq_len`` (the last
    bucket) nor below ``tokens``; ``tokens`` itself for ``min_tokens`` 0 (no buckets)."""
    if tokens <= 0 or not min_tokens:
        return tokens
    bucket = max(min_tokens, 1 << (tokens - 1).bit_length())
    if seq_len:
        bucket = min(bucket, seq_len)
    return max(tokens, bucket)


def prefill_tokens(input_tokens: int, output_tokens: int, sw: Software | None) -> int:
    """The tokens a static batch's prompt step computes per sequence: ``input + output`` for a
    stack whose prompt graph runs over the inputs padded to the compiled length
    (``sw.prefill_full_length``: optimum-habana without --reuse_cache), else the prompt in its
    prefill bucket (:func:`prefill_bucket`), capped at ``input + output``."""
    if sw is not None and sw.prefill_full_length:
        return input_tokens + output_tokens
    return prefill_bucket(input_tokens, sw.prefill_bucket_min_tokens if sw is not None else 0,
                          input_tokens + output_tokens)


def expert_array_use(cfg: ModelConfig, tp: int, chip: Chip, sw: Software | None) -> float:
    """The share of each core's systolic array that a stack's expert matmuls keep busy, for a stack
    that slices every routed expert's intermediate dimension over all the replica's cores
    (``sw.moe_experts_sliced_per_core``; NxD's ExpertMLPs without expert parallelism): each core
    holds ``moe_intermediate_size / (tp x cores)`` of every expert, the width of its gate/up
    projections' outputs and of its down projection's contraction, and a core's array works on
    ``cols`` of them per pass, so a slice of ``w`` fills ``w / (cols x ceil(w / cols))`` of it
    (Qwen3-30B-A3B, 768 wide: 96 of 128 on one Trainium2 chip's 8 cores, 24 of 128 on 16 Trainium1
    chips' 32). 1.0 for a dense model, a stack that does not slice so, or a chip without a stated
    systolic array."""
    mu = chip.compute.matrix_units
    if sw is None or not sw.moe_experts_sliced_per_core or not cfg.is_moe or mu is None or not mu.cols:
        return 1.0
    width = cfg.moe_intermediate_size / (tp * chip.compute.cores)
    if width <= 0:
        return 1.0
    return width / (mu.cols * -(-width // mu.cols))


def grouped_gemm_share(cfg: ModelConfig, tp: int, chip: Chip, sw: Software | None,
                       prec: Precision | None = None) -> float:
    """The rate of a stack's grouped expert matmuls as a share of its dense ones: the stack's
    ``grouped_gemm_efficiency`` (1.0 without a stack), or its ``grouped_gemm_8bit_efficiency``
    where it has one and ``prec`` gives the expert GEMMs 8-bit inputs on both sides (w8a8), times
    the array share its expert slices fill (:func:`expert_array_use`). The static engine and the
    serving step cost both use it."""
    if sw is None:
        return expert_array_use(cfg, tp, chip, sw)
    share = sw.grouped_gemm_efficiency
    if sw.grouped_gemm_8bit_efficiency is not None and prec is not None and w8a8(prec):
        share = sw.grouped_gemm_8bit_efficiency
    return share * expert_array_use(cfg, tp, chip, sw)


def grouped_gemm_stream(sw: Software | None, prec: Precision | None = None) -> float:
    """The share of the achievable HBM bandwidth at which a stack's grouped expert matmuls stream
    their weights: its ``grouped_gemm_stream_efficiency`` (1.0 without a stack), or its
    ``grouped_gemm_8bit_stream_efficiency`` where it has one and the expert GEMMs read 8-bit inputs
    on both sides (w8a8), as :func:`grouped_gemm_share` picks the compute share."""
    if sw is None:
        return 1.0
    if sw.grouped_gemm_8bit_stream_efficiency is not None and prec is not None and w8a8(prec):
        return sw.grouped_gemm_8bit_stream_efficiency
    return sw.grouped_gemm_stream_efficiency


def w8a8(prec: Precision) -> bool:
    """Whether a GEMM of weights and activations in ``prec`` reads 8-bit inputs on both sides."""
    return dtype_bytes(prec.weights) == 1 and dtype_bytes(prec.activations) == 1


def prefill_eff(sw: Software | None) -> float | None:
    """The efficiency of a stack's prefill (context-encoding) graph: its
    ``prefill_kernel_efficiency`` where set, else its framework efficiency (None: engine-wide)."""
    if sw is not None and sw.prefill_kernel_efficiency is not None:
        return sw.prefill_kernel_efficiency
    return _eff(sw)


def decode_score_s(cfg: ModelConfig, plan: Plan, batch: int, ctx: int, sw: Software) -> float:
    """Seconds one chip spends per decode step on its attention score rows beyond the operator
    model, for a stack with ``sw.decode_score_cost_s`` (Transformers NeuronX): each rank
    (NeuronCore) walks the ``ctx`` positions of each of the ``batch`` sequences in each of the
    chip's layers, its query heads side by side in the engine's ``sw.decode_score_lanes`` lanes
    (one pass per ``lanes`` heads), ``decode_score_cost_s`` a position; the chip's ranks work at
    once. ``cfg`` is the model as the stack's ranks hold it (:func:`heads_per_rank`)."""
    layers = -(-cfg.num_layers // plan.pp)
    heads_per_rank_ = -(-inference_config(cfg, plan).num_heads // sw.tp_ranks_per_chip)
    passes = -(-heads_per_rank_ // sw.decode_score_lanes)
    return layers * batch * ctx * passes * sw.decode_score_cost_s


def inference_config(cfg: ModelConfig, plan: Plan) -> ModelConfig:
    """The model as one chip of an inference replica's tp group sees it, before expert
    parallelism: :func:`sharded_config` with, when ``ep > 1``, every expert whole (the experts
    are then spread by :func:`expert_local`, not sliced)."""
    scfg = sharded_config(cfg, plan)
    return scfg if plan.ep == 1 else dataclasses.replace(scfg, num_experts=cfg.num_experts)


def expert_local(graph: Graph, plan: Plan) -> Graph:
    """One chip's share of an inference graph's routed experts under ``plan.ep``: the chips of
    a replica's tp group see the same tokens, so an ep group holds ``ep / tp`` replicas' tokens
    (one set when ep <= tp) and each chip computes its ``experts / ep`` whole experts' rows of
    them (:func:`fabless.workload.local_experts`)."""
    return local_experts(graph, plan.ep, token_sets=max(1, plan.ep // plan.tp))


def request_graphs(cfg: ModelConfig, plan: Plan, batch: int, prompt: int, ctx: int, prec: Precision,
                   kernels: Kernels | None = None, *,
                   fused_attention: bool = True) -> tuple[tuple[Graph, ...], tuple[Graph, ...]]:
    """The graphs one chip of ``plan`` runs for a static batch: (prefill graphs, decode graphs),
    their times to be added. One graph each for a tensor/expert-parallel replica (the model
    sharded by :func:`inference_config`, its experts by :func:`expert_local`). Under attention
    data parallelism (DeepSeek-V3's and SGLang's DP attention) two: each of the tp chips runs
    attention, dense MLPs, shared experts and the router, every weight whole, on its own
    ceil(batch / tp) sequences; and the routed experts, spread whole over the tp chips
    (ep = tp), on every token routed to them. ``fused_attention`` False: the attention ops unfused
    (:func:`unfused_attention`; the software stack's ``attention_kernel: unfused``)."""
    kernels = kernels or Kernels()
    if not fused_attention:
        pre, dec = request_graphs(cfg, plan, batch, prompt, ctx, prec, kernels)
        return tuple(unfused_attention(g) for g in pre), tuple(unfused_attention(g) for g in dec)

    def dec_fix(g: Graph) -> Graph:
        return g if kernels.gqa_kv_reuse else _decode_without_gqa_reuse(g)

    if not plan.attn_dp:
        scfg = inference_config(cfg, plan)
        return ((expert_local(build_prefill_graph(scfg, batch, prompt, prec), plan),),
                (expert_local(dec_fix(build_decode_graph(scfg, batch, ctx, prec)), plan),))
    local = -(-batch // plan.tp)
    dp_cfg = sharded_config(cfg, Plan(tp=1, pp=plan.pp))
    ex = Plan(tp=plan.tp, ep=plan.tp)  # the routed experts: every token of the replica, ep = tp
    ex_cfg = inference_config(cfg, ex)
    pre = (_only(build_prefill_graph(dp_cfg, local, prompt, prec), experts=False),
           _only(expert_local(build_prefill_graph(ex_cfg, batch, prompt, prec), ex), experts=True))
    dec = (_only(dec_fix(build_decode_graph(dp_cfg, local, ctx, prec)), experts=False),
           _only(expert_local(build_decode_graph(ex_cfg, batch, ctx, prec), ex), experts=True))
    return pre, dec


def _inference_at(cfg, scn, system, plan, chip, batch: int, kernels: Kernels = Kernels(),
                  sw: Software | None = None) -> Estimate:
    inf = scn.inference
    prec = _precision(scn)
    ctx = decode_context(inf.input_tokens, inf.output_tokens, sw)
    prompt = prefill_tokens(inf.input_tokens, inf.output_tokens, sw)
    pre_g, dec_g = request_graphs(cfg, plan, batch, prompt, ctx, prec, kernels,
                                  fused_attention=sw is None or sw.fused_attention)
    pre_t: dict[str, float] = {}
    dec_t: dict[str, float] = {}
    grouped, stream = grouped_gemm_share(cfg, plan.tp, system.chip, sw, prec), grouped_gemm_stream(sw, prec)
    for g in pre_g:
        _add(pre_t, graph_time(g, chip, eff=prefill_eff(sw), grouped_eff=grouped, grouped_stream=stream))
    for g in dec_g:
        _add(dec_t, graph_time(g, chip, eff=_eff(sw), grouped_eff=grouped, grouped_stream=stream))
    if sw is not None and sw.decode_score_cost_s:
        dec_t["attention_scores"] = decode_score_s(cfg, plan, batch, ctx, sw)
    domain = system.scale_up.size
    req = request_terms(
        cfg, prec, plan, batch=batch, input_tokens=prompt, output_tokens=inf.output_tokens,
        prefill_s=_sum(pre_t), decode_s=_sum(dec_t),
        all_reduce=lambda b: inference_all_reduce_s(b, plan.tp, system, plan.mesh_shapes().get("tp")),
        all_to_all=lambda b: group_collective_time_s("all_to_all", b, plan.ep, system, within_domain=plan.ep <= domain),
        send_recv=lambda b: group_collective_time_s("send_recv", b, 2, system, within_domain=plan.tp * plan.pp <= domain))
    ttft, tpot = req["ttft_s"], req["tpot_s"]
    tp_pre, tp_dec, ep_pre, ep_dec = (req[k] for k in ("tp_pre", "tp_dec", "ep_pre", "ep_dec"))
    e2e = req["e2e_latency_s"]
    replicas = plan.dp
    mem = inference_memory_bytes(cfg, plan, batch, inf.input_tokens + inf.output_tokens, prec)
    capacity = float(system.chip.memory.hbm.capacity_bytes)
    usable = capacity * engine_params()["usable_memory_fraction"]
    fits = mem["total"] <= usable
    notes = [] if fits else [f"does not fit: needs {mem['total'] / 1e9:.1f} GB per chip, {usable / 1e9:.1f} GB usable of {capacity / 1e9:.0f} GB"]
    if batch > 1:
        # A static batch prefills together, then decodes together; serving engines admit new
        # requests as others finish (in-flight batching), which overlaps the two.
        notes.append(f"static batch: {batch} requests start and finish together; a serving engine batches in flight, "
                     f"which changes throughput and latency: fabless serve --offline N or --concurrency {batch} simulates it")
    breakdown: dict[str, float] = {}
    _add(breakdown, {f"prefill.{k}": v for k, v in pre_t.items()})
    _add(breakdown, {f"decode.{k}": v for k, v in dec_t.items()}, inf.output_tokens - 1)
    breakdown["prefill.tp_comm"] = tp_pre
    breakdown["decode.tp_comm"] = tp_dec * (inf.output_tokens - 1)
    if ep_pre:
        breakdown["prefill.ep_all_to_all"] = ep_pre
        breakdown["decode.ep_all_to_all"] = ep_dec * (inf.output_tokens - 1)
    if req["pp_hop"]:
        breakdown["prefill.pp_send_recv"] = req["pp_hop_pre"]
        breakdown["decode.pp_send_recv"] = req["pp_hop"] * (inf.output_tokens - 1)
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
        "software": sw.name if sw else None,
    }
    if sw is not None:
        notes.append(sw.describe())
    elif (note := no_stack_note(system.chip, "inference")) is not None:
        notes.append(note)
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


def _inference(cfg, scn, system, plan, chip, kernels: Kernels = Kernels(), sw: Software | None = None) -> Estimate:
    cfg = heads_per_rank(cfg, plan.tp, sw)
    batch = scn.inference.batch
    if batch == "auto":
        batch = _largest_batch(cfg, scn, plan, system)
        if batch == 0:
            est = _inference_at(cfg, scn, system, plan, chip, 1, kernels, sw)
            return dataclasses.replace(est, notes=est.notes + ("batch auto: not even one sequence fits",))
    return _inference_at(cfg, scn, system, plan, chip, batch, kernels, sw)


# ----------------------------------------------------------------------------- entry points


def _search(cfg: ModelConfig, scn: Scenario, system: System, chip: ChipParams, top: int = 5,
            kernels: Kernels = Kernels(), sw: Software | None = None) -> Estimate:
    if scn.training is not None:
        return _search_training(cfg, scn, system, chip, top, sw)
    return _search_inference(cfg, scn, system, chip, top, kernels, sw)


def _search_training(cfg: ModelConfig, scn: Scenario, system: System, chip: ChipParams, top: int = 5,
                     sw: Software | None = None) -> Estimate:
    """The fastest training plan that fits, from every plan of the space
    (:func:`fabless.estimate.step.training_plan_space`) evaluated at once; an axis the scenario's
    ``training`` section sets explicitly (zero, recompute, micro_batch) is held fixed. The next
    ``top`` plans come with the time term that made each lose (its largest excess over the best)."""
    tr = scn.training
    prec = _precision(scn)
    space = training_plan_space(cfg, system.chips, system, global_batch=tr.global_batch, seq_len=tr.seq_len,
                                max_micro_batch=max(8, tr.micro_batch) if "micro_batch" not in tr.model_fields_set else tr.micro_batch)
    keep = np.ones(len(space), dtype=bool)
    pinned = tr.model_fields_set
    if "zero" in pinned:
        keep &= space.zero == tr.zero
    if "recompute" in pinned:
        keep &= space.rc == recompute_code(tr.recompute)
    if "micro_batch" in pinned:
        keep &= space.mb == tr.micro_batch
    space = space.take(keep)
    if not len(space):
        raise InfeasibleDesign(f"parallel: auto found no plan for {cfg.name} on {system.chips} chips "
                               "(tp must divide the heads, pp the layers, dp x micro_batch the global batch)")
    r = training_steps(cfg, chip, system, prec, global_batch=tr.global_batch, seq_len=tr.seq_len, plans=space,
                       tuning=Tuning(tr.mode, tr.lora_rank), **_sw_training(sw))
    fit = np.flatnonzero(r["fits"])
    if not fit.size:
        least = float(r["mem_total"].min())
        raise InfeasibleDesign(f"parallel: auto found no plan of {cfg.name} that fits in the memory of {system.chips} x "
                               f"{system.chip.name} (of {len(space)} plans the smallest needs {least / 1e9:.1f} GB per chip, "
                               f"{float(r['mem_budget'][0]) / 1e9:.1f} GB usable)")
    ranked = fit[np.argsort(r["step_time_s"][fit], kind="stable")]
    b = ranked[0]
    alts = []
    for j in ranked[1:top + 1]:
        excess = {term: float(r[term][j] - r[term][b]) for term in TERMS}
        loses = max(excess, key=excess.get)
        by = excess[loses]
        if by <= 1e-9 * float(r["step_time_s"][b]):
            loses, by = "tie", 0.0  # the same step time (e.g. a placement that changes no collective)
        plan = space.plan(int(j))
        alts.append({"plan": plan.as_dict(), "label": plan.label(), "step_time_s": float(r["step_time_s"][j]),
                     "slower_by": float(r["step_time_s"][j] / r["step_time_s"][b] - 1.0),
                     "loses_on": loses, "loses_by_s": by})
    note = f"parallel: auto evaluated {len(space):,} plans, {fit.size:,} fit in memory"
    est = _training(cfg, scn, system, space.plan(int(b)), chip, search_note=note, sw=sw)
    mfu = est.metrics["mfu"]
    alts = [{**a, "mfu": mfu * est.metrics["step_time_s"] / a["step_time_s"]} for a in alts]
    return dataclasses.replace(est, alternatives=tuple(alts))


def _search_inference(cfg: ModelConfig, scn: Scenario, system: System, chip: ChipParams, top: int,
                      kernels: Kernels, sw: Software | None = None) -> Estimate:
    chips = system.chips
    cands = candidate_plans(
        chips, max_tp=min(system.scale_up.size, 64), layers=cfg.num_layers, heads=cfg.num_heads,
        kv_heads=cfg.num_kv_heads, experts=cfg.num_experts if cfg.is_moe else 0,
    )
    if not cands:
        raise InfeasibleDesign(f"parallel: auto found no plan for {cfg.name} on {chips} chips (tp must divide heads, pp the layers)")
    plans = [Plan(tp=c["tp"], pp=c["pp"], dp=c["dp"], ep=c["ep"]) for c in cands]
    if cfg.is_moe:  # attention data-parallel with the experts over the same chips (ep = tp)
        plans += [Plan(tp=p.tp, pp=p.pp, dp=p.dp, ep=p.tp, attn_dp=True) for p in plans
                  if p.tp > 1 and p.ep == 1 and cfg.num_experts % p.tp == 0]
    results: list[Estimate] = []
    for plan in plans:
        est = _inference(cfg, scn, system, plan, chip, kernels, sw)
        if est.fits:
            results.append(est)
    if not results:
        raise InfeasibleDesign(f"parallel: auto found no plan of {cfg.name} that fits in the memory of {chips} x {system.chip.name}")
    results.sort(key=lambda e: -e.metrics["output_tokens_per_s"])
    best = results[0]
    alts = tuple({"plan": e.plan.as_dict(), "label": e.plan.label(),
                  **{k: e.metrics[k] for k in ("output_tokens_per_s", "tpot_s", "ttft_s") if k in e.metrics}}
                 for e in results[1:top])
    return dataclasses.replace(best, alternatives=alts, notes=best.notes + (f"parallel: auto chose among {len(results)} plans that fit",))


def _check_context(cfg: ModelConfig, scn: Scenario) -> None:
    """A sequence longer than a model with learned absolute positions has positions for cannot run
    (its position table ends there): one line naming the length and the model's context. Models
    with rotary or relative positions run past their configured context (as long-context
    fine-tunes do), so they are not refused."""
    if cfg.positions != "learned":
        return
    if scn.training is not None:
        n, what = scn.training.seq_len, "training.seq_len"
    else:
        n, what = scn.inference.input_tokens + scn.inference.output_tokens, "inference input_tokens + output_tokens"
    if n > cfg.max_position_embeddings:
        raise FablessError(f"{what} = {n:,} tokens is longer than {cfg.name}'s {cfg.max_position_embeddings:,} learned "
                           f"positions; use at most {cfg.max_position_embeddings:,}")


def _decoder_lengths(scn: Scenario, graph: Graph) -> Scenario:
    """A scenario of an imported model recognised as a decoder, with the lengths a decoder needs:
    training.seq_len defaults to the traced sequence length; inference needs its input and output
    tokens and a batch (one line naming the field otherwise)."""
    if scn.training is not None:
        if scn.training.seq_len is None:
            seq = graph.tokens // max(1, int(graph.info().get("batch", 1)))
            return scn.model_copy(update={"training": scn.training.model_copy(update={"seq_len": seq})})
        return scn
    inf = scn.inference
    for field_ in ("batch", "input_tokens", "output_tokens"):
        if getattr(inf, field_) is None:
            raise FablessError(f"inference.{field_}: {scn.model} is a decoder; give batch, input_tokens and output_tokens "
                               "(--batch, --input-tokens, --output-tokens)")
    return scn


def _recsys(scn: Scenario, system: System) -> Estimate:
    """A recommendation model's inference batch or training step (:mod:`fabless.estimate.recsys`)."""
    try:
        cfg = load_recsys(scn.model)
    except FablessError as exc:
        raise FablessError(f"model: {exc}") from None
    if scn.parallel != "auto":
        raise FablessError("parallel: a recommendation model runs its dense part data-parallel over every chip and "
                           "places its tables by recsys.sharding; leave parallel out (or auto)")
    spec = scn.recsys or RecsysSpec()  # the defaults
    training = scn.training is not None
    batch = scn.training.global_batch if training else int(scn.inference.batch)
    # a recommendation step is a framework step too: one compiled program on a TPU (step_chip)
    chip = step_chip(ChipParams.from_chip(system.chip))
    compute = supported_dtype(compute_dtype(scn.precision.activations, scn.precision.weights), chip)
    step = recsys_step(cfg, system, chip, batch=batch, training=training, sharding=spec.sharding,
                       cache_hit_rate=spec.cache_hit_rate, act_dtype=scn.precision.activations, compute_dtype=compute,
                       embedding_dtype=spec.embedding_dtype, replicate_below_bytes=spec.replicate_below_mb * 1e6,
                       fused_epilogue=spec.fused_epilogue)
    t = step.time_s
    n = system.chips
    capacity = float(system.chip.memory.hbm.capacity_bytes)
    fits = step.memory_bytes["total"] <= capacity
    tdp = system.chip.physical.tdp_w
    per_s = batch / t
    metrics: dict = {
        "batch": batch, "samples_per_s": per_s, "samples_per_s_per_chip": per_s / n,
        "watts": tdp * n if tdp else None, "samples_per_s_per_w": per_s / (tdp * n) if tdp else None,
        "embedding_bytes_per_sample": cfg.lookups_per_sample * cfg.embedding_dim * dtype_bytes(spec.embedding_dtype),
        "forward_flops_per_sample": cfg.forward_flops_per_sample(), "cache_hit_rate": spec.cache_hit_rate,
        "sharding": step.sharding.counts(), "bounds": dict(step.bounds), "fits": fits,
        "sram_resident": step.resident,
        "memory_headroom_bytes": capacity - step.memory_bytes["total"],
    }
    metrics.update({"step_time_s": t} if training else {"latency_s": t})
    notes = [f"embedding tables ({cfg.table_bytes(spec.embedding_dtype) / 1e9:.1f} GB at {spec.embedding_dtype}): "
             + ", ".join(f"{v} {k.replace('_', '-')}" for k, v in step.sharding.counts().items())
             + f" over {n} chips; the busiest chip for lookups is chip {step.embedding_chip}",
             "perf/W uses the chips' TDP (chip.physical.tdp_w x chips), not the host or the network",
             "no overlap between the step's parts (a pipelined trainer or server hides some of the exchanges)"]
    if step.resident != "none":
        kept = "the dense weights and activations" if step.resident == "all" else "the dense weights"
        notes.append(f"{kept} ({step.memory_bytes['dense_weights'] / 1e6:.0f} MB of weights) stay in "
                     f"{system.chip.name}'s on-chip SRAM and are read at its bandwidth (perf.resident)")
    if not fits:
        notes.insert(0, f"does not fit: needs {step.memory_bytes['total'] / 1e9:.1f} GB per chip, {capacity / 1e9:.0f} GB")
    if spec.cache_hit_rate and not sram_bandwidth_bytes_per_s(system.chip):
        notes.append(f"{system.chip.name} lists no on-chip SRAM bandwidth: cache hits cost no bandwidth (optimistic)")
    return Estimate("training" if training else "inference", cfg.name, system.name, system.chip.name, n, step_plan(n),
                    metrics, dict(step.memory_bytes), dict(step.parts_s), tuple(notes))


def _cpu_estimate(cfg: ModelConfig, scn: Scenario, system: System) -> Estimate:
    """An inference request on a CPU system: the CPU model (:mod:`fabless.estimate.cpu`), one
    model copy per socket, no collectives."""
    r = cpu_request(cfg, scn, system, usable_fraction=engine_params()["usable_memory_fraction"])
    plan = Plan(tp=1, pp=1, dp=r.sockets)
    return Estimate("inference", cfg.name, system.name, system.chip.name, r.sockets, plan, r.metrics, r.memory_bytes,
                    r.breakdown_s, r.notes)


def estimate(scn: Scenario, kernels: Kernels = Kernels(), *, chip: Chip | None = None) -> Estimate:
    """Estimate a scenario: training step or inference request, with the plan given or searched.
    ``kernels`` says what the serving engine's kernels do (:class:`Kernels`; default: current engines).
    ``chip`` replaces the scenario's chip in its system (e.g. a calibrated variant of it).
    A recommendation model (DLRM family) goes to its own step model (:func:`_recsys`)."""
    if scn.is_recsys:
        system = resolve_system(scn)
        if chip is not None:
            system = system.model_copy(update={"chip": chip})
        return _recsys(scn, system)
    imported = is_graph_spec(scn.model)
    why = ""
    try:
        cfg = load_model(scn.model)
    except NotADecoder as exc:
        cfg, why = None, exc.why
    except FablessError as exc:
        raise FablessError(exc if imported else f"model: {exc}") from None
    system = resolve_system(scn)
    if chip is not None:
        system = system.model_copy(update={"chip": chip})
    if system.chip.kind == "cpu":
        return _cpu_estimate(cfg, scn, system)
    if scn.inference is not None and scn.inference.threads is not None:
        raise InvalidInput(f"inference.threads: {system.chip.name} is not a CPU; threads set a CPU system's llama.cpp/PyTorch "
                           "threads (leave it out)")
    check_accelerator_precision(scn, system)
    sw = with_chip_calibration(resolve_software(scn.software, system.chip, scn.phase), system.chip, scn.phase)
    chip = step_chip(ChipParams.from_chip(system.chip), sw)
    if cfg is None:
        phase, name, chips, plan, metrics, mem, breakdown, notes = graph_estimate(scn, system, chip, _precision(scn), sw, why)
        return Estimate(phase, name, system.name, system.chip.name, chips, plan, metrics, mem, breakdown, notes)
    if imported:
        scn = _decoder_lengths(scn, load_graph(scn.model))
        est = _estimate_model(scn, cfg, system, chip, sw, kernels)
        note = (f"imported graph recognised as a Llama-style decoder ({cfg.num_layers} layers, hidden {cfg.hidden_size}, "
                f"{cfg.num_heads}/{cfg.num_kv_heads} heads, MLP {cfg.intermediate_size}): its parameters and matmul "
                "FLOPs equal this config's, estimated as a catalog model")
        return dataclasses.replace(est, notes=est.notes + (note,))
    return _estimate_model(scn, cfg, system, chip, sw, kernels)


def _estimate_model(scn: Scenario, cfg: ModelConfig, system: System, chip: ChipParams, sw: Software | None,
                    kernels: Kernels) -> Estimate:
    _check_context(cfg, scn)
    if scn.parallel == "auto":
        if system.chips > bounds.MAX_AUTO_CHIPS:
            # The plan search grows with the divisors of the chip count; past the budget it is refused.
            raise FablessError(f"parallel: auto searches plans for up to {bounds.MAX_AUTO_CHIPS:,} chips, not "
                               f"{system.chips:,}; give the plan, e.g. --parallel tp=8,pp=16")
        return _search(cfg, scn, system, chip, kernels=kernels, sw=sw)
    plan = plan_from_spec(scn.parallel, system.chips, scn)
    if scn.training is None:
        cfg = heads_per_rank(cfg, plan.tp, sw)  # a stack with ranks per chip pads the heads its tp does not divide
    _validate_plan(cfg, plan, system.chips, system, scn)
    if scn.training is not None:
        return _training(cfg, scn, system, plan, chip, sw=sw)
    return _inference(cfg, scn, system, plan, chip, kernels, sw)


def report_details(scn: Scenario, est: Estimate, kernels: Kernels = Kernels()) -> dict:
    """What a report of ``est`` (the estimate of ``scn``) draws beyond its headline figures:
    ``operators`` (one row per distinct operator one chip runs: :func:`~fabless.estimate.optime.operator_rows`;
    inference: a prefill of the batch and one decode step; training: one micro-batch), the
    ``roofline`` of the chip (its dense peak for the scenario's datatype and its HBM bandwidth,
    with their sources) and the memory one chip has (``memory_capacity_bytes``, and
    ``memory_usable_bytes`` after the engine's reserve)."""
    system = resolve_system(scn)
    capacity = float(system.chip.memory.hbm.capacity_bytes)
    if scn.is_recsys or is_graph_spec(scn.model) or system.chip.kind == "cpu" or est.metrics.get("imported_graph"):
        # operators of the transformer engine only: a recommendation model, a CPU or an imported
        # graph has its own model, drawn from its breakdown and memory alone
        return {"memory_capacity_bytes": capacity}
    cfg = load_model(scn.model)
    sw = with_chip_calibration(resolve_software(scn.software, system.chip, scn.phase), system.chip, scn.phase)
    chip = step_chip(ChipParams.from_chip(system.chip), sw)
    prec = _precision(scn)
    plan = est.plan
    if scn.training is not None:
        tr = scn.training
        terms = shape_terms(cfg, prec, plan.tp, plan.ep, plan.cp, plan.micro_batch, tr.seq_len, Tuning(tr.mode, tr.lora_rank))
        ops = [pair for part, pairs in terms.items() if part not in ("bwd_mm", "rec_sel", "rec_full") for pair in pairs]
        rows = operator_rows(ops, chip, phase="micro-batch", eff=_eff(sw))
    else:
        inf = scn.inference
        cfg = heads_per_rank(cfg, plan.tp, sw)
        ctx = decode_context(inf.input_tokens, inf.output_tokens, sw)
        pre_g, dec_g = request_graphs(cfg, plan, int(est.metrics["batch"]), inf.input_tokens, ctx, prec, kernels,
                                      fused_attention=sw is None or sw.fused_attention)
        rows = []
        for phase, graphs in (("prefill", pre_g), ("decode", dec_g)):
            rows += operator_rows([(op, b.repeat) for g in graphs for b, op in g.items()], chip, phase=phase, eff=_eff(sw))
    dtype = _peak_dtype(prec, chip)
    c = system.chip
    usable = float(est.memory_bytes["total"] + est.metrics["memory_headroom_bytes"]) if "memory_headroom_bytes" in est.metrics \
        else capacity * engine_params()["usable_memory_fraction"]

    def src(key: str) -> str | None:
        rec = c.provenance.get(key)
        return rec.source if rec is not None else None

    return {"operators": rows,
            "roofline": {"chip": c.name, "dtype": dtype, "peak_flops_per_s": float(chip.peak_flops_per_s.get(dtype)[0]),
                         "hbm_bytes_per_s": float(c.memory.hbm.bandwidth_bytes_per_s),
                         "peak_source": src(f"compute.peak_tflops.{dtype}"), "hbm_source": src("memory.hbm.bandwidth_gb_s")},
            "memory_capacity_bytes": capacity, "memory_usable_bytes": usable,
            "software": sw.name if sw is not None else None}


__all__ = ["Estimate", "Kernels", "Plan", "plan_from_spec", "request_graphs", "unfused_attention", "comm_dtype_bytes", "engine_params", "estimate", "framework_chip", "framework_dtypes", "framework_op_time",
           "decode_context", "decode_score_s", "graph_time", "inference_memory_bytes", "heads_per_rank", "params_per_chip", "report_details", "resolve_system",
           "sharded_config", "training_memory_bytes"]
