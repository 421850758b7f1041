"""The serving simulator's step cost from the performance engine.

:class:`EngineStepCost` implements :class:`fabless.serve.stepcost.StepCostModel` for one
replica (tp x pp chips) of a real model on a real system: the time of a serving step is
the time of its exact batch composition,

* every token of the step (prefill chunk tokens + one per decoding sequence) goes through
  the same weight matmuls, norms and elementwise ops, so those are timed once for
  ``T = prefill_tokens + decode_seqs`` rows (weights are read once per step: this is what
  makes batching pay);
* prefill attention is a causal flash kernel over each chunk against its own request's
  context: a step's ``prefill_seqs`` chunks are timed as that many equal chunks (a step of
  ``n`` whole prompts of ``L`` tokens costs ``n L^2 / 2`` scores, not ``(n L)^2 / 2``);
* decode attention reads each sequence's KV cache (timed at the mean context), and a stack with a
  per-score decode cost (``decode_score_cost_s``, Neuron) adds it for every cached position of
  every decoding sequence;
* tensor parallelism adds two all-reduces of ``T x hidden`` activations per layer, timed as in
  the engine's inference estimate (:func:`fabless.estimate.engine.inference_all_reduce_s`: the
  faster of NCCL/RCCL's algorithms and the serving engine's one-shot custom all-reduce) on the
  16-bit activations the GEMMs write (:func:`fabless.estimate.engine.comm_dtype_bytes`: FP8
  inference runs FP8 GEMM inputs, and the row-parallel GEMM's output is bf16);
* expert parallelism (``ep = tp``: each chip of a stage holds ``experts / ep`` whole experts
  instead of a ``1 / tp`` slice of every expert, as vLLM's and SGLang's expert parallelism)
  computes on each chip only its local experts' share of the ``T x top_k`` token-expert pairs
  (``T x top_k / ep`` under even routing) and adds a dispatch and a combine all-to-all per MoE
  layer of ``T x top_k x hidden x act bytes / ep`` per chip, inside the scale-up domain; the
  combine replaces that layer's MLP all-reduce (kept when the model has shared experts, which
  stay tensor-parallel);
* with pp > 1 the step's activations cross pp - 1 stage boundaries;
* a software stack whose host work per step is not hidden behind the device's step (vLLM on
  TPU: scheduling, input preparation, dispatch and sampling on the CPU) adds its
  ``host_step_overhead_s`` to every step; a stack that overlaps its host work with the device's
  step (sglang-jax's overlap scheduler) takes the longer of the two: a step is never shorter than
  its ``host_step_floor_s``;
* an engine that runs at most ``max_seqs_per_forward`` sequences in one pass of the model
  (vLLM on TPU: the block table of a pass must fit half the chip's 1 MiB SMEM) runs a step of
  more sequences as several passes, each reading the weights again: the first pass takes the
  prefill chunk and decoding sequences up to the limit, the next passes the remaining decoders,
  at the step's mean context; the host time is paid once per step.
* a stack that runs graphs compiled for fixed shapes (Neuron) computes the shapes it compiled, as
  ``fabless estimate`` does for a static batch: a prefill chunk padded to its prefill bucket
  (:func:`fabless.estimate.engine.prefill_bucket`), or with ``prefill_full_length`` to the
  compiled sequence length (one context-encoding graph), at the prefill graph's efficiency
  (``prefill_kernel_efficiency``); with ``decode_pads_batch`` a decode step computes the whole
  compiled batch (``compiled_batch``: the server's ``max_num_seqs``, else the scenario's batch),
  and with ``decode_full_cache`` every one of those sequences attends the whole compiled
  sequence length (``compiled_seq_len``: the server's ``max_model_len``, else the scenario's
  input + output tokens).

The graphs are the engine's (:func:`fabless.estimate.engine.inference_config`,
:func:`~fabless.estimate.engine.expert_local`) and the step is the engine's
:func:`fabless.estimate.step.forward_step`, so a step of ``B`` decoding sequences is ``fabless
estimate``'s TPOT for that batch, to rounding. The simulator memoises whole steps
(:class:`fabless.serve.stepcost.StepTimeCache`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

from fabless.estimate.engine import (Plan, decode_score_s, engine_params, expert_local, graph_time, heads_per_rank,
                                     inference_all_reduce_s, inference_config, inference_memory_bytes, prefill_bucket,
                                     grouped_gemm_share, grouped_gemm_stream, prefill_eff, resolve_system,
                                     unfused_attention)
from fabless.estimate.cpu import check_accelerator_precision
from fabless.estimate.optime import step_chip
from fabless.estimate.plan import check_plan
from fabless.estimate.scenario import Scenario
from fabless.estimate.software import Software, resolve_software, with_chip_calibration
from fabless.estimate.step import forward_collectives_s, forward_step
from fabless.errors import FablessError, InfeasibleDesign, InvalidInput
from fabless.hardware.schema import System
from fabless.perf.collectives import group_collective_time_s
from fabless.perf.params import ChipParams
from fabless.workload import ModelConfig, Precision, build_decode_graph, build_prefill_graph, load_model
from fabless.workload.graph import Block, Graph
from fabless.workload.ops import Attention


def _split(graph: Graph, attention: bool) -> Graph:
    """The graph with only its attention ops (``attention=True``) or only the others."""
    blocks = tuple(Block(b.name, tuple(op for op in b.ops if isinstance(op, Attention) == attention), b.repeat)
                   for b in graph.blocks)
    return Graph(graph.name, graph.phase, blocks, graph.tokens, graph.meta)


def check_servable(scn: Scenario, system: System) -> None:
    """What the serving simulator cannot run, in one line: a CPU system (its model is
    ``fabless estimate``'s CPU path), or a llama.cpp weight format on an accelerator."""
    if system.chip.kind == "cpu":
        raise InvalidInput(f"system: {system.chip.name} is a CPU; the serving simulator models an accelerator's "
                           "batched engine steps; use fabless estimate for CPU inference (llama.cpp / PyTorch)")
    check_accelerator_precision(scn, system)


def _batch(scn: Scenario) -> int:
    b = scn.inference.batch if scn.inference is not None else 1
    return int(b) if isinstance(b, int) else 1


def _seq_len(scn: Scenario) -> int:
    inf = scn.inference
    return int(inf.input_tokens) + int(inf.output_tokens) if inf is not None else 0


@dataclass
class EngineStepCost:
    """Step times of one replica from the engine. Build with :meth:`from_scenario`."""

    cfg: ModelConfig
    system: System
    plan: Plan
    precision: Precision
    chip: ChipParams
    kv_capacity_tokens: int = 0
    kv_bytes_per_token: float = 0.0
    eff: float | None = None  # the software stack's framework efficiency (None: engine-wide)
    #: the stack's grouped expert GEMMs' share of its dense GEMMs' rate (Software.grouped_gemm_efficiency)
    grouped_eff: float = 1.0
    grouped_stream: float = 1.0
    host_step_s: float = 0.0  # the software stack's host time per step (Software.host_step_overhead_s)
    #: the stack's host time per sequence of a step (Software.host_per_seq_s), added with host_step_s
    host_seq_s: float = 0.0
    #: the stack's overlapped host time per step (Software.host_step_floor_s): the least a step takes
    host_floor_s: float = 0.0
    #: the stack's decode attention score cost per cached position of one decoding sequence
    #: (:func:`fabless.estimate.engine.decode_score_s` for one sequence and one position; 0: none)
    score_s_per_position: float = 0.0
    #: the most sequences one pass of the model takes (0: no limit); a step of more runs as several passes
    max_seqs_per_forward: int = 0
    #: the prefill graph's efficiency (``Software.prefill_kernel_efficiency``; None: ``eff``)
    prefill_eff: float | None = None
    #: Neuron's power-of-two prefill buckets from this size (``Software.prefill_bucket_min_tokens``; 0: none)
    prefill_bucket_min_tokens: int = 0
    #: the prompt chunk runs as one context-encoding graph of ``compiled_seq_len`` positions
    #: (``Software.prefill_full_length``: optimum-neuron before chunked prefill)
    prefill_full_length: bool = False
    #: MoE: prompt steps, and decode steps at tokens x top_k / experts >= this, run every token
    #: through every routed expert (``Software.moe_all_experts_load``; 0: never)
    moe_all_experts_load: float = 0.0
    #: decode steps compute this many sequences, idle slots padded (0: the sequences decoding)
    compiled_batch: int = 0
    #: the compiled sequence length: the last prefill bucket and, with ``decode_full_cache``, the
    #: positions every decoding sequence attends (0: none compiled)
    compiled_seq_len: int = 0
    #: every decoding sequence attends ``compiled_seq_len`` positions, not its own tokens so far
    decode_full_cache: bool = False
    #: the stack's attention is flash-style (False: unfused, the scores in memory; ``Software.fused_attention``)
    fused_attention: bool = True
    #: the software stack the step times come from (its parameters are copied into the fields
    #: above); callers name it in their output instead of resolving it again
    software: Software | None = field(default=None, repr=False, compare=False)
    _scfg: ModelConfig | None = field(default=None, repr=False)
    # Memos of the three parts of a step, each keyed by what it depends on, so that the
    # many step compositions a simulation visits share their pieces.
    _linear: dict = field(default_factory=dict, repr=False)
    _prefill_attn: dict = field(default_factory=dict, repr=False)
    _decode_attn: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_scenario(cls, scn: Scenario, memory_fraction: float | None = None,
                      max_seqs_per_forward: int | None = None, *, max_num_seqs: int | None = None,
                      max_model_len: int | None = None) -> EngineStepCost:
        """One replica of the scenario's model on its system, with its tp/pp/ep (dp is ignored:
        a replica is one model copy; a fleet is replicas behind a router). ``ep`` is 1 or
        ``tp`` (the experts of each stage spread whole over its tp chips). ``memory_fraction``:
        the share of each chip's HBM the engine takes for weights, activations and KV cache
        (vLLM ``--gpu-memory-utilization``, SGLang ``--mem-fraction-static``); None is the
        engine-wide ``usable_memory_fraction``. ``max_seqs_per_forward``: the most sequences
        the engine runs in one pass of the model (None: no limit).
        ``max_num_seqs`` / ``max_model_len``: the batch and
        sequence length the server compiled, for a stack that pads to them (``decode_pads_batch``,
        ``decode_full_cache``); None: the scenario's batch and input + output tokens."""
        cfg = load_model(scn.model)
        system = resolve_system(scn)
        check_servable(scn, system)
        par = scn.parallel
        tp, pp, ep = (1, 1, 1) if par == "auto" else (par.tp, par.pp, par.ep)
        if ep > 1:
            if not cfg.is_moe:
                raise FablessError(f"parallel.ep: {cfg.name} has no experts; use ep: 1")
            if ep != tp or cfg.num_experts % ep:
                raise FablessError(f"parallel.ep: a serving replica shards the experts over its tp chips: ep must be 1 "
                                   f"or tp = {tp}, and divide the {cfg.num_experts} experts of {cfg.name} (got ep = {ep})")
            if ep > system.scale_up.size:
                raise FablessError(f"parallel.ep: {ep} exceeds the scale-up domain of {system.scale_up.size} chips of {system.name}")
        mesh = tuple((a, tuple(v)) for a, v in sorted(((par.mesh or {}) if par != "auto" else {}).items()) if a == "tp")
        plan = Plan(tp=tp, pp=pp, dp=1, ep=ep, mesh=mesh)
        sw = with_chip_calibration(resolve_software(scn.software, system.chip, "inference"), system.chip, "inference")
        cfg = heads_per_rank(cfg, tp, sw)  # the heads the stack's ranks hold (padded, KV copied)
        check_plan(plan, cfg, plan.chips, system)  # the same rules as fabless estimate
        p = scn.precision
        prec = Precision(weights=p.weights, activations=p.activations, kv_cache=p.kv_cache, attention_weights=p.attention_weights)
        chip = step_chip(ChipParams.from_chip(system.chip), sw)
        if memory_fraction is not None and not 0 < memory_fraction <= 1:
            raise InvalidInput(f"memory fraction must be in (0, 1] (the share of HBM the engine takes), got {memory_fraction}")
        if max_seqs_per_forward is not None and (isinstance(max_seqs_per_forward, bool) or not isinstance(max_seqs_per_forward, int)
                                                 or max_seqs_per_forward < 1):
            raise InvalidInput(f"max_seqs_per_forward must be a whole number >= 1 (sequences in one pass of the model), "
                               f"got {max_seqs_per_forward!r}")
        frac = engine_params()["usable_memory_fraction"] if memory_fraction is None else float(memory_fraction)
        usable = float(system.chip.memory.hbm.capacity_bytes) * frac
        fixed = inference_memory_bytes(cfg, plan, 1, 1, prec)
        kv_per_token_chip = inference_memory_bytes(cfg, plan, 1, 2, prec)["kv_cache"] - fixed["kv_cache"]
        free = usable - fixed["weights"] - fixed["activations"]
        if free <= 0 or kv_per_token_chip <= 0:
            raise InfeasibleDesign(
                f"{cfg.name} weights do not fit on {tp * pp} x {system.chip.name} (tp={tp}, pp={pp}, ep={ep}); use more chips per replica"
            )
        return cls(cfg, system, plan, prec, chip, kv_capacity_tokens=int(free // kv_per_token_chip),
                   kv_bytes_per_token=float(cfg.kv_cache_bytes_per_token(prec.kv_cache)),
                   eff=sw.framework_kernel_efficiency if sw is not None else None,
                   grouped_eff=grouped_gemm_share(cfg, tp, system.chip, sw, prec),
                   grouped_stream=grouped_gemm_stream(sw, prec),
                   host_step_s=sw.host_step_overhead_s if sw is not None else 0.0,
                   host_floor_s=sw.host_step_floor_s if sw is not None else 0.0,
                   host_seq_s=sw.host_per_seq_s if sw is not None else 0.0,
                   score_s_per_position=decode_score_s(cfg, plan, 1, 1, sw) if sw is not None else 0.0,
                   max_seqs_per_forward=max_seqs_per_forward or 0,
                   prefill_eff=prefill_eff(sw) if sw is not None else None,
                   prefill_bucket_min_tokens=sw.prefill_bucket_min_tokens if sw is not None else 0,
                   prefill_full_length=sw is not None and sw.prefill_full_length,
                   moe_all_experts_load=sw.moe_all_experts_load if sw is not None and cfg.is_moe else 0.0,
                   compiled_batch=(int(max_num_seqs) if max_num_seqs else _batch(scn))
                   if sw is not None and sw.decode_pads_batch else 0,
                   compiled_seq_len=(int(max_model_len) if max_model_len else _seq_len(scn))
                   if sw is not None and (sw.decode_full_cache or sw.prefill_bucket_min_tokens or sw.prefill_full_length) else 0,
                   decode_full_cache=sw is not None and sw.decode_full_cache,
                   fused_attention=sw is None or sw.fused_attention,
                   software=sw,
                   _scfg=inference_config(cfg, plan))

    def _compiled(self, prefill_tokens: int, prefill_context_tokens: int, decode_seqs: int,
                  decode_context_tokens: int) -> tuple[int, int, int, int]:
        """The batch as the stack's compiled graphs compute it: the prefill chunk padded to its
        bucket, the decode batch to the compiled batch, each decoding sequence's context to the
        compiled sequence length (each only where the stack does so)."""
        full = self.prefill_full_length and self.compiled_seq_len
        if prefill_tokens > 0 and (full or self.prefill_bucket_min_tokens):
            cached = max(0, prefill_context_tokens - prefill_tokens)
            padded = (max(prefill_tokens, self.compiled_seq_len - cached) if full
                      else prefill_bucket(prefill_tokens, self.prefill_bucket_min_tokens, self.compiled_seq_len or None))
            prefill_tokens, prefill_context_tokens = padded, cached + padded
        if decode_seqs > 0:
            if self.compiled_batch > decode_seqs:
                # the idle slots attend as much as the live sequences on average
                decode_context_tokens = math.ceil(decode_context_tokens * self.compiled_batch / decode_seqs)
                decode_seqs = self.compiled_batch
            if self.decode_full_cache and self.compiled_seq_len:
                decode_context_tokens = decode_seqs * self.compiled_seq_len
        return prefill_tokens, prefill_context_tokens, decode_seqs, decode_context_tokens

    def step_time_s(self, prefill_tokens: int, prefill_context_tokens: int, decode_seqs: int, decode_context_tokens: int,
                    prefill_seqs: int = 1) -> float:
        if prefill_tokens + decode_seqs <= 0:
            return 0.0
        prefill_tokens, prefill_context_tokens, decode_seqs, decode_context_tokens = self._compiled(
            prefill_tokens, prefill_context_tokens, decode_seqs, decode_context_tokens)
        cap = self.max_seqs_per_forward
        if not cap or decode_seqs + (prefill_tokens > 0) <= cap:
            return max(self._pass_s(prefill_tokens, prefill_context_tokens, decode_seqs, decode_context_tokens,
                                    prefill_seqs) + self._host_s(decode_seqs, prefill_tokens, prefill_seqs), self.host_floor_s)
        first = cap - (prefill_tokens > 0)  # decoders that share the first pass with the prefill chunk
        parts = [first] + [cap] * ((decode_seqs - first) // cap) + ([(decode_seqs - first) % cap] if (decode_seqs - first) % cap else [])
        t = 0.0
        for i, seqs in enumerate(parts):
            ctx = decode_context_tokens * seqs / decode_seqs
            t += self._pass_s(prefill_tokens if i == 0 else 0, prefill_context_tokens if i == 0 else 0, seqs, round(ctx),
                              prefill_seqs)
        return max(t + self._host_s(decode_seqs, prefill_tokens, prefill_seqs), self.host_floor_s)

    def _host_s(self, decode_seqs: int, prefill_tokens: int, prefill_seqs: int) -> float:
        """The stack's host time of one step that the device waits out: per step, and per sequence
        in the step (each decoding sequence and each prompt chunk)."""
        seqs = decode_seqs + (max(1, int(prefill_seqs)) if prefill_tokens > 0 else 0)
        return self.host_step_s + self.host_seq_s * seqs

    def _pass_s(self, prefill_tokens: int, prefill_context_tokens: int, decode_seqs: int, decode_context_tokens: int,
                prefill_seqs: int = 1) -> float:
        """Device seconds of one pass of the model over a prefill chunk and ``decode_seqs`` decoders
        (already in the stack's compiled shapes)."""
        tokens = prefill_tokens + decode_seqs
        if tokens <= 0:
            return 0.0
        scfg = self._scfg
        p = self.precision
        # a step with a prompt in it runs at the prefill graph's efficiency (a stack that
        # separates the two graphs, Neuron, never mixes them in one step)
        eff = self.prefill_eff if prefill_tokens > 0 and self.prefill_eff is not None else self.eff
        # Weight matmuls, norms, elementwise: one pass over all the step's tokens.
        # A stack that runs the experts densely (moe_all_experts_load) passes every token through
        # every expert: a capacity of all the step's tokens per expert.
        load = self.moe_all_experts_load
        dense = bool(load) and (prefill_tokens > 0 or tokens * self.cfg.top_k / self.cfg.num_experts >= load)
        t = self._linear.get((tokens, eff, dense))
        if t is None:
            cf = self.cfg.num_experts / self.cfg.top_k if dense else None
            g = expert_local(_split(build_decode_graph(scfg, tokens, 1, p, capacity_factor=cf), attention=False), self.plan)
            t = self._linear[(tokens, eff, dense)] = sum(graph_time(g, self.chip, eff=eff, grouped_eff=self.grouped_eff,
                                                                      grouped_stream=self.grouped_stream).values())
        if prefill_tokens > 0:
            # the chunks of ``prefill_seqs`` requests, each attending to its own request only:
            # taken as that many equal chunks after equal cached prefixes
            n = max(1, min(int(prefill_seqs), prefill_tokens))
            chunk = max(1, round(prefill_tokens / n))
            cached = max(0, round((prefill_context_tokens - prefill_tokens) / n))
            key = (n, chunk, cached)
            a = self._prefill_attn.get(key)
            if a is None:
                g = build_prefill_graph(scfg, n, chunk, p, cached_len=cached)
                g = g if self.fused_attention else unfused_attention(g)
                a = self._prefill_attn[key] = sum(graph_time(_split(g, attention=True), self.chip, eff=eff).values())
            t += a
        if decode_seqs > 0:
            ctx = max(1, math.ceil(decode_context_tokens / decode_seqs))
            key = (decode_seqs, ctx)
            a = self._decode_attn.get(key)
            if a is None:
                g = build_decode_graph(scfg, decode_seqs, ctx, p)
                g = g if self.fused_attention else unfused_attention(g)
                a = self._decode_attn[key] = sum(graph_time(_split(g, attention=True), self.chip, eff=self.eff).values())
            t += a + self.score_s_per_position * decode_context_tokens
        return float(forward_step(self.cfg, p, self.plan, tokens, t, **self._comm)["step_s"])

    @cached_property
    def _comm(self) -> dict:
        """The collectives of a replica's forward pass, as ``fabless estimate`` times them."""
        plan, system = self.plan, self.system
        domain = system.scale_up.size
        shape = plan.mesh_shapes().get("tp")
        return {"all_reduce": lambda b: inference_all_reduce_s(b, plan.tp, system, shape),
                "all_to_all": lambda b: group_collective_time_s("all_to_all", b, plan.ep, system, within_domain=True),
                "send_recv": lambda b: group_collective_time_s("send_recv", b, 2, system,
                                                               within_domain=plan.tp * plan.pp <= domain)}

    def all_to_all_s(self, tokens: int) -> float:
        """Expert parallelism: dispatch + combine all-to-all of every MoE layer for a step of
        ``tokens`` tokens (``tokens x top_k x hidden x act bytes / ep`` per chip each)."""
        return self._collectives(tokens)[1]

    def comm_time_s(self, tokens: int) -> float:
        """The step's collectives (:func:`fabless.estimate.step.forward_collectives_s`, as
        ``fabless estimate``): TP all-reduces of the step's bf16/fp16 activations, each the faster
        of the collective library and the one-shot custom all-reduce, and the expert-parallel
        all-to-alls."""
        tp, ep = self._collectives(tokens)
        return tp + ep

    def _collectives(self, tokens: int) -> tuple[float, float]:
        c = self._comm
        return forward_collectives_s(self.cfg, self.precision, self.plan, tokens,
                                     all_reduce=c["all_reduce"], all_to_all=c["all_to_all"])