"""Software as an explicit, dated input.

The efficiency a framework reaches on a chip is a property of the software stack and its
release: Megatron-LM in 2021 ran the data-parallel all-reduce after the backward pass, NeMo 24.09
overlaps it; TensorRT-LLM and gpt-fast reach different fractions of the kernels' speed. A scenario
may name its stack (``software: nemo-24.09``); the stacks, their dates, the rows each was fitted
on and their parameters live in ``data/estimate/software.yaml``. Without a name the newest stack
for the chip's vendor and the phase is used (:func:`default_software`), and the estimate says which.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

from fabless.errors import FablessError, unknown_name_error
from fabless.estimate.optime import engine_params
from fabless.params import load_param_file

_PATH = Path(str(resources.files("fabless") / "data" / "estimate" / "software.yaml"))
PHASES = ("training", "inference")
#: A stack's own framework efficiency is fitted only on at least this many fit rows: with 2-3 rows a
#: per-stack value followed its rows and made every held-out median worse (software.yaml's header).
MIN_FIT_ROWS = 5


@dataclass(frozen=True)
class Software:
    """One software stack: ``framework_kernel_efficiency`` (its own if fitted, else the engine's),
    ``overlap_grad_reduce`` (whether the data-parallel gradient reduction overlaps the backward
    pass), ``overlap_tp_comm`` (whether tensor-parallel collectives overlap the matmuls they feed),
    ``overlap_ep_comm`` (whether a mixture-of-experts layer's dispatch / combine all-to-alls run under
    another micro-batch's compute: Megatron's ``overlap_moe_expert_parallel_comm``),
    ``fused_attention`` (a flash-style kernel, or one that writes the score matrix to memory: its
    ``attention_kernel`` in software.yaml), ``remat_drops_dead_ops`` (a compiled framework's full recompute
    leaves out the operators no gradient reads), the rows it was fitted on and the sources."""

    name: str
    display: str
    phase: str
    vendors: tuple[str, ...]
    date: str
    framework_kernel_efficiency: float
    overlap_grad_reduce: bool
    overlap_tp_comm: bool
    fit_rows: tuple[str, ...]
    calibrated: bool
    sources: tuple[str, ...]
    efficiency_from: str | None = None  # another stack whose fitted efficiency this one shares (same compiler)
    fused_attention: bool = True  # False: attention writes its score matrix to memory (stacks before flash attention)
    #: training: the graph compiler runs vector-core work (elementwise, norms) pipelined with the
    #: matrix engines' matmuls, so only its excess over them is exposed (Gaudi's TPCs beside its MMEs;
    #: :func:`fabless.estimate.step.part_times`)
    pipelined_vector: bool = False
    #: training: the framework compiles a recomputed layer's forward with the backward into one graph (XLA), so
    #: the forward operators whose results no gradient reads are dropped as dead code
    #: (:data:`fabless.estimate.step.DEAD_UNDER_REMAT`); an eager framework's checkpoint reruns all of them
    remat_drops_dead_ops: bool = False
    #: serving: the host's time per engine step that the device waits out (scheduling, input
    #: preparation, dispatch and sampling on the CPU, where the stack does not overlap it with the
    #: device's step); added to every step of the serving simulator (0: hidden or not measured)
    host_step_overhead_s: float = 0.0
    #: serving: the host's time per engine step where the stack overlaps it with the device's
    #: step (sglang-jax's overlap scheduler prepares step n+1 while the device runs step n): a
    #: step then takes the longer of the two, so this is a floor under every step's time, not an
    #: addition (0: none)
    host_step_floor_s: float = 0.0
    #: serving: the host's time per engine step for each sequence in the step (the per-request
    #: loops of the scheduler, input preparation and the processing of the sampled tokens, where the
    #: stack does not overlap them with the device's step); added to every step with
    #: ``host_step_overhead_s`` (0: none)
    host_per_seq_s: float = 0.0
    #: a stack only a scenario's ``software:`` selects, never a vendor's default (e.g. one serving
    #: engine among several on the same chips)
    named_only: bool = False
    #: inference: tensor-parallel ranks the stack places on one chip (one per NeuronCore for
    #: Transformers NeuronX); query heads the ranks do not divide are padded with zero heads, and
    #: where the ranks outnumber the model's KV heads each rank holds a copy of its KV head
    #: (:func:`fabless.estimate.engine.heads_per_rank`)
    tp_ranks_per_chip: int = 1
    #: inference: each decode step attends over the whole compiled KV cache (input + output
    #: tokens, the positions not yet written masked) instead of the tokens so far
    #: (:func:`fabless.estimate.engine.decode_context`)
    decode_full_cache: bool = False
    #: inference: seconds per attended position of one sequence's decode attention scores on one
    #: tensor-parallel rank, beyond the operator model, for up to ``decode_score_lanes`` query
    #: heads side by side (:func:`fabless.estimate.engine.decode_score_s`; 0: none)
    decode_score_cost_s: float = 0.0
    decode_score_lanes: int = 128
    #: inference: the context-encoding graph is compiled for power-of-two prompt lengths from this
    #: many tokens up (Neuron's context-encoding / prefill buckets): a prompt (or prefill chunk) is
    #: padded to the next bucket, capped at the compiled sequence length, and the padding is
    #: computed like real tokens (:func:`fabless.estimate.engine.prefill_bucket`; 0: no buckets)
    prefill_bucket_min_tokens: int = 0
    #: inference (static batch): the prompt graph runs over the inputs padded to the whole compiled
    #: length, prompt + output tokens (optimum-habana's static shapes without --reuse_cache), the
    #: padding computed like real tokens (:func:`fabless.estimate.engine.prefill_tokens`)
    prefill_full_length: bool = False
    #: inference: the token-generation graph is compiled at the server's batch (Neuron: batch_size =
    #: max_num_seqs): every decode step computes that many sequences, idle slots padded
    decode_pads_batch: bool = False
    #: inference, mixture-of-experts models: the stack runs a step's routed experts densely, every
    #: token through every expert (weights masked by the router's choice), in every prompt step
    #: and in a decode step whose tokens x top_k / experts reaches this load (NxD's
    #: ``forward_all_experts``; below it, only the chosen experts are loaded); 0: never (the
    #: tokens routed, the experts they touch)
    moe_all_experts_load: float = 0.0
    #: inference, mixture-of-experts models: the stack slices every expert's intermediate
    #: dimension over all the replica's cores (tensor-parallel experts, no expert parallelism), so
    #: each core's expert matmuls are that slice wide and its systolic array's columns beyond the
    #: slice idle (:func:`fabless.estimate.engine.expert_array_use`); False: the experts' matmuls
    #: fill the array
    moe_experts_sliced_per_core: bool = False
    #: inference: the context-encoding (prefill) graph's efficiency in place of
    #: ``framework_kernel_efficiency`` (None: the same); a stack that compiles prefill and decode as
    #: separate graphs (Neuron) can reach a different share of the chip's peak in each
    prefill_kernel_efficiency: float | None = None
    #: training: the expert-parallel all-to-alls of one micro-batch run under another micro-batch's
    #: compute (Megatron's ``overlap_moe_expert_parallel_comm``; :func:`fabless.estimate.step.step_terms`)
    overlap_ep_comm: bool = False
    #: training: seconds per mixture-of-experts layer and micro-batch (forward + backward) in which
    #: the device waits for the host: the dropless expert path's grouped GEMMs are launched by the
    #: host, one GEMM per local expert, with the per-expert token counts it reads back from the
    #: device first: ``moe_host_s`` per layer plus ``moe_host_per_expert_s`` per local expert
    #: (:func:`fabless.estimate.step.step_terms`; 0: none)
    moe_host_s: float = 0.0
    moe_host_per_expert_s: float = 0.0
    #: inference: the share of the stack's dense-GEMM rate (``framework_kernel_efficiency``) that its
    #: grouped GEMMs of a mixture-of-experts layer's routed experts reach (one GEMM per expert in one
    #: grouped kernel, :class:`fabless.workload.ops.ExpertMatMul`); 1: the same rate
    grouped_gemm_efficiency: float = 1.0
    #: inference: the same share for grouped expert GEMMs whose inputs are 8-bit (w8a8: FP8 weights
    #: and activations), where the stack's 8-bit expert kernel is a different kernel from its 16-bit
    #: one (Triton's fused MoE reaches a far smaller share of the FP8 peak than of the BF16 peak);
    #: None: ``grouped_gemm_efficiency`` for every datatype
    grouped_gemm_8bit_efficiency: float | None = None
    #: inference: the share of the chip's achievable HBM bandwidth (its ``hbm_efficiency`` of the peak)
    #: at which those grouped expert GEMMs stream their weights, where few tokens reach each expert and
    #: the call is bound by reading every touched expert's weights; 1: as a dense GEMM streams
    grouped_gemm_stream_efficiency: float = 1.0
    #: inference: the same for 8-bit (w8a8) grouped expert GEMMs; None: ``grouped_gemm_stream_efficiency``
    grouped_gemm_8bit_stream_efficiency: float | None = None
    #: seconds of fixed cost per operator of the stack's step, in place of the chip family's (its
    #: ``launch_overhead_s``, or its ``device_fixed_s`` where the family compiles a step whole:
    #: :func:`fabless.estimate.optime.step_chip`); fitted on the stack's rows where its own kernels
    #: cost more per operator than the family's figure (None: the family's)
    op_fixed_s: float | None = None

    def describe(self) -> str:
        how = (f"efficiency {self.framework_kernel_efficiency:.2f} of {self.efficiency_from} (the same compiler), "
               f"fitted with this stack's rows {', '.join(self.fit_rows)}"
               if self.efficiency_from and self.calibrated else
               f"efficiency {self.framework_kernel_efficiency:.2f} fitted on {', '.join(self.fit_rows)}"
               if self.calibrated else f"engine-wide efficiency {self.framework_kernel_efficiency:.2f} "
               f"({len(self.fit_rows)} fit rows of its own, fewer than {MIN_FIT_ROWS})" if len(self.fit_rows) < MIN_FIT_ROWS
               else f"engine-wide efficiency {self.framework_kernel_efficiency:.2f} (its {len(self.fit_rows)} fit rows "
               "fit its other parameters)")
        if not self.overlap_grad_reduce:
            how += "; gradient reduction after the backward pass (not overlapped)"
        if self.overlap_tp_comm:
            how += "; tensor-parallel collectives overlapped with the matmuls"
        if self.overlap_ep_comm:
            how += "; expert-parallel all-to-alls overlapped with another micro-batch's compute"
        if self.moe_host_s or self.moe_host_per_expert_s:
            how += (f"; host time {self.moe_host_s * 1e3:.2f} ms + {self.moe_host_per_expert_s * 1e3:.3f} ms per local "
                    "expert per MoE layer and micro-batch")
        if not self.fused_attention:
            how += "; unfused attention (the score matrix goes to memory)"
        if self.pipelined_vector:
            how += "; vector-core work pipelined with the matmuls"
        if self.remat_drops_dead_ops:
            how += "; a full recompute skips what no gradient reads (compiled with the backward)"
        if self.op_fixed_s is not None:
            how += f"; {self.op_fixed_s * 1e6:.1f} us fixed cost per operator of a step"
        if self.host_step_overhead_s:
            how += f"; host time {self.host_step_overhead_s * 1e3:.1f} ms per serving step"
        if self.host_per_seq_s:
            how += f"; host time {self.host_per_seq_s * 1e6:.0f} us per sequence and serving step"
        if self.host_step_floor_s:
            how += f"; host time {self.host_step_floor_s * 1e3:.1f} ms per serving step, overlapped (a floor under the step)"
        if self.tp_ranks_per_chip > 1:
            how += (f"; {self.tp_ranks_per_chip} tensor-parallel ranks per chip (query heads padded to a multiple of the "
                    "ranks, KV heads copied where ranks outnumber them)")
        if self.decode_full_cache:
            how += "; decode attends the whole compiled cache (input + output tokens)"
        if self.decode_score_cost_s:
            how += (f"; {self.decode_score_cost_s * 1e9:.2f} ns per attended position of a sequence's decode scores "
                    f"per rank (up to {self.decode_score_lanes} query heads at once)")
        if self.prefill_full_length:
            how += "; the prompt step runs over the inputs padded to the compiled sequence length (serving: the server's; a static batch: prompt + output tokens)"
        if self.prefill_bucket_min_tokens:
            how += f"; prompts padded to power-of-two prefill buckets from {self.prefill_bucket_min_tokens} tokens"
        if self.decode_pads_batch:
            how += "; decode steps padded to the compiled batch"
        if self.moe_all_experts_load:
            how += (f"; MoE prompt steps (and decode steps at tokens x top_k / experts >= {self.moe_all_experts_load:g}) "
                    "run every token through every expert")
        if self.moe_experts_sliced_per_core:
            how += "; MoE experts sliced over every core (each core's expert matmuls only as wide as its slice)"
        if self.prefill_kernel_efficiency is not None:
            how += f"; prefill graph efficiency {self.prefill_kernel_efficiency:.2f}"
        if self.grouped_gemm_efficiency != 1.0:
            how += f"; grouped expert GEMMs at {self.grouped_gemm_efficiency:.2f} of its dense GEMMs' rate"
        if self.grouped_gemm_8bit_efficiency is not None:
            how += f"; 8-bit (w8a8) grouped expert GEMMs at {self.grouped_gemm_8bit_efficiency:.2f} of its dense GEMMs' rate"
        if self.grouped_gemm_stream_efficiency != 1.0:
            how += f"; grouped expert GEMMs stream their weights at {self.grouped_gemm_stream_efficiency:.2f} of the HBM rate"
        if self.grouped_gemm_8bit_stream_efficiency is not None:
            how += (f"; 8-bit grouped expert GEMMs stream their weights at {self.grouped_gemm_8bit_stream_efficiency:.2f} "
                    f"of the HBM rate")
        return f"software: {self.name} ({self.display}, {self.date}): {how}"


def _value(entry, key, default):
    v = entry.get(key, default)
    return v.get("value", default) if isinstance(v, dict) else v


def _flag(name, entry, key, default: bool) -> bool:
    """A stack's yes/no ``key``: ``default`` where the entry does not set it, else true or false (a string such as
    "no" or a number is a one-line error, not read as true)."""
    v = _value(entry, key, default)
    if not isinstance(v, bool):
        raise FablessError(f"software.yaml: {name}.{key} must be true or false, got {v!r}")
    return v


def _inference_share(name, entry, key, default):
    """A stack's ``key``, a share of its dense GEMMs' rate or of the HBM rate: ``default`` where the entry
    does not set it, else a number in (0, 1] that a stack other than an inference one may set only to
    ``default`` (the engine's inference estimate and the serving simulator read it); one-line
    errors otherwise."""
    v = _value(entry, key, default)
    if v is None:
        return None
    try:
        v = float(v)
    except (TypeError, ValueError):
        raise FablessError(f"software.yaml: {name}.{key} must be a number in (0, 1], got {v!r}") from None
    if not 0 < v <= 1:
        raise FablessError(f"software.yaml: {name}.{key} must be in (0, 1], got {v}")
    if v != default and entry.get("phase") != "inference":
        raise FablessError(f"software.yaml: {name}.{key} applies to inference stacks only "
                           f"(the engine's inference estimate and the serving simulator); {name} is {entry.get('phase')}")
    return v


#: A stack's ``attention_kernel``: ``flash`` (fused, the default) or ``unfused`` (the score matrix
#: goes to memory between batched matmuls and softmax/dropout kernels).
ATTENTION_KERNELS = ("flash", "unfused")


def _attention_kernel(name, entry) -> str:
    v = str(_value(entry, "attention_kernel", "flash"))
    if v not in ATTENTION_KERNELS:
        raise FablessError(f"software.yaml: {name}.attention_kernel must be one of {', '.join(ATTENTION_KERNELS)}, got {v!r}")
    return v


@lru_cache(maxsize=1)
def software_stacks() -> dict[str, Software]:
    """Every stack of data/estimate/software.yaml by name."""
    pf = load_param_file(_PATH)
    raw = pf.plain
    out: dict[str, Software] = {}
    base = engine_params()["framework_kernel_efficiency"]
    for name, e in raw.items():
        if str(name).startswith("_"):
            continue
        if e.get("phase") not in PHASES:
            raise FablessError(f"software.yaml: {name}.phase must be one of {', '.join(PHASES)}")
        rows = tuple(e.get("fit_rows") or ())
        value = float(_value(e, "framework_kernel_efficiency", base))
        own = "framework_kernel_efficiency" in e
        if not 0 < value <= 1:
            raise FablessError(f"software.yaml: {name}.framework_kernel_efficiency must be in (0, 1], got {value}")
        host = float(_value(e, "host_step_overhead_s", 0.0))
        floor = float(_value(e, "host_step_floor_s", 0.0))
        per_seq = float(_value(e, "host_per_seq_s", 0.0))
        ranks = _value(e, "tp_ranks_per_chip", 1)
        if isinstance(ranks, bool) or not isinstance(ranks, int) or ranks < 1:
            raise FablessError(f"software.yaml: {name}.tp_ranks_per_chip must be a whole number >= 1, got {ranks!r}")
        score = float(_value(e, "decode_score_cost_s", 0.0))
        lanes = _value(e, "decode_score_lanes", 128)
        if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
            raise FablessError(f"software.yaml: {name}.decode_score_lanes must be a whole number >= 1, got {lanes!r}")
        if not 0 <= score < 1e-6:
            raise FablessError(f"software.yaml: {name}.decode_score_cost_s must be in [0, 1e-6) seconds, got {score}")
        moe_host = float(_value(e, "moe_host_s", 0.0))
        moe_host_e = float(_value(e, "moe_host_per_expert_s", 0.0))
        for key, v in (("moe_host_s", moe_host), ("moe_host_per_expert_s", moe_host_e)):
            if not 0 <= v < 0.1:
                raise FablessError(f"software.yaml: {name}.{key} must be in [0, 0.1) seconds, got {v}")
        for key, v in (("host_step_overhead_s", host), ("host_step_floor_s", floor), ("host_per_seq_s", per_seq)):
            if not 0 <= v < 1:
                raise FablessError(f"software.yaml: {name}.{key} must be in [0, 1) seconds, got {v}")
        bucket = _value(e, "prefill_bucket_min_tokens", 0)
        if isinstance(bucket, bool) or not isinstance(bucket, int) or bucket < 0:
            raise FablessError(f"software.yaml: {name}.prefill_bucket_min_tokens must be a whole number >= 0, got {bucket!r}")
        all_experts = float(_value(e, "moe_all_experts_load", 0.0))
        if not 0 <= all_experts <= 1e6:
            raise FablessError(f"software.yaml: {name}.moe_all_experts_load must be >= 0 (0: never), got {all_experts}")
        op_fixed = _value(e, "op_fixed_s", None)
        if op_fixed is not None and not 0 <= float(op_fixed) < 1e-3:
            raise FablessError(f"software.yaml: {name}.op_fixed_s must be in [0, 1e-3) seconds per operator, got {op_fixed}")
        pre_eff = _value(e, "prefill_kernel_efficiency", None)
        if pre_eff is not None and not 0 < float(pre_eff) <= 1:
            raise FablessError(f"software.yaml: {name}.prefill_kernel_efficiency must be in (0, 1], got {pre_eff}")
        grouped = _inference_share(name, e, "grouped_gemm_efficiency", 1.0)
        grouped8 = _inference_share(name, e, "grouped_gemm_8bit_efficiency", None)
        stream = _inference_share(name, e, "grouped_gemm_stream_efficiency", 1.0)
        stream8 = _inference_share(name, e, "grouped_gemm_8bit_stream_efficiency", None)
        srcs = tuple(dict.fromkeys([str(e["source"])] * ("source" in e) + [
            p.source for k, p in pf.params.items() if k.startswith(f"{name}.")]))
        out[str(name)] = Software(
            name=str(name), display=str(e.get("display", name)), phase=e["phase"], vendors=tuple(e.get("vendors", ())),
            date=str(e.get("date")), framework_kernel_efficiency=value,
            overlap_grad_reduce=_flag(name, e, "overlap_grad_reduce", True),
            overlap_tp_comm=_flag(name, e, "overlap_tp_comm", False), fit_rows=rows,
            calibrated=own and len(rows) >= MIN_FIT_ROWS, sources=srcs,
            efficiency_from=str(_value(e, "efficiency_from", "")) or None, host_step_overhead_s=host,
            host_step_floor_s=floor, host_per_seq_s=per_seq, named_only=_flag(name, e, "named_only", False), tp_ranks_per_chip=ranks,
            fused_attention=_attention_kernel(name, e) == "flash",
            pipelined_vector=_flag(name, e, "pipelined_vector", False),
            remat_drops_dead_ops=_flag(name, e, "remat_drops_dead_ops", False),
            decode_full_cache=_flag(name, e, "decode_full_cache", False), decode_score_cost_s=score,
            decode_score_lanes=lanes, prefill_bucket_min_tokens=bucket,
            prefill_full_length=_flag(name, e, "prefill_full_length", False),
            decode_pads_batch=_flag(name, e, "decode_pads_batch", False), moe_all_experts_load=all_experts,
            moe_experts_sliced_per_core=_flag(name, e, "moe_experts_sliced_per_core", False),
            prefill_kernel_efficiency=None if pre_eff is None else float(pre_eff),
            overlap_ep_comm=_flag(name, e, "overlap_ep_comm", False),
            moe_host_s=moe_host, moe_host_per_expert_s=moe_host_e, grouped_gemm_efficiency=grouped,
            grouped_gemm_8bit_efficiency=grouped8, grouped_gemm_stream_efficiency=stream,
            grouped_gemm_8bit_stream_efficiency=stream8, op_fixed_s=None if op_fixed is None else float(op_fixed))
    for name, s in list(out.items()):
        if s.efficiency_from is not None:
            src = out.get(s.efficiency_from)
            if src is None or src.efficiency_from is not None:
                raise FablessError(f"software.yaml: {name}.efficiency_from must name a stack with its own efficiency, "
                                   f"got {s.efficiency_from!r}")
            out[name] = replace(s, framework_kernel_efficiency=src.framework_kernel_efficiency, calibrated=src.calibrated)
    return out


def efficiency_group(name: str) -> list[str]:
    """``name`` and the stacks that take their efficiency from it (``efficiency_from``): the
    stacks one fitted value serves, whose fit rows it is fitted on together."""
    return [name, *(n for n, s in software_stacks().items() if s.efficiency_from == name)]


def _vendor_of(chip) -> str:
    return str(getattr(chip, "vendor", "") or "")


def _stacks_for(chip, phase: str) -> list[Software]:
    """The stacks of ``phase`` that run on ``chip``'s vendor, named-only ones included."""
    vendor = _vendor_of(chip).lower()
    return [s for s in software_stacks().values() if s.phase == phase and any(vendor.startswith(v.lower()) for v in s.vendors)]


def default_software(chip, phase: str) -> Software | None:
    """The newest stack for ``chip``'s vendor and ``phase``; None when no stack covers it (the
    engine-wide parameters then apply)."""
    cands = [s for s in _stacks_for(chip, phase) if not s.named_only]
    return max(cands, key=lambda s: s.date) if cands else None


def no_stack_note(chip, phase: str) -> str | None:
    """What an estimate that runs no software stack (no default for ``chip``'s vendor and
    ``phase``) says about it, naming the stacks fitted on that vendor's rows that a scenario can
    select (``software:``); None where the vendor has a default stack for the phase, or no such stack either."""
    if default_software(chip, phase) is not None:
        return None
    named = sorted(s.name for s in _stacks_for(chip, phase) if s.named_only and s.fit_rows)
    if not named:
        return None
    return (f"software: none named and no default for {_vendor_of(chip)} {phase}: the engine-wide parameters (no host "
            f"time per step; on a family that compiles a step whole, each operator at the device's fixed cost); stacks "
            f"fitted on this vendor's rows, for software: {', '.join(named)}")


def resolve_software(name: str | None, chip, phase: str) -> Software | None:
    """The stack a scenario names (one-line error for an unknown name or a phase it does not
    run), or the default for the chip and phase."""
    if name is None:
        return default_software(chip, phase)
    stacks = software_stacks()
    if name not in stacks:
        raise unknown_name_error("software", name, sorted(stacks))
    s = stacks[name]
    if s.phase != phase:
        raise FablessError(f"software: {name} is a {s.phase} stack, but the scenario is {phase}")
    return s


def with_chip_calibration(sw: Software | None, chip, phase: str) -> Software | None:
    """``sw`` with the chip file's own ``calibration.framework_kernel_efficiency`` in place of the
    stack's, where the chip file has one (``fabless calibrate`` fits it to the user's own run of
    their stack on this chip, so it wins); ``sw`` unchanged otherwise."""
    cal = getattr(chip, "calibration", None)
    own = getattr(cal, "framework_kernel_efficiency", None) if cal is not None else None
    if own is None:
        return sw
    where = (f"the {chip.name} chip file's calibration",)
    if sw is None:  # no stack for this chip: the engine-wide behaviour (as for sw None), with this efficiency
        return Software(name="chip-calibration", display="the chip file's own", phase=phase, vendors=(), date="-",
                        framework_kernel_efficiency=float(own), overlap_grad_reduce=True, overlap_tp_comm=False,
                        fit_rows=where, calibrated=True, sources=())
    return replace(sw, framework_kernel_efficiency=float(own), fit_rows=where, calibrated=True)


__all__ = ["MIN_FIT_ROWS", "Software", "default_software", "efficiency_group", "no_stack_note", "resolve_software",
           "software_stacks", "with_chip_calibration"]
