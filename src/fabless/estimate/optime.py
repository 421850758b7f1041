"""Time of one workload operator on one chip, for the system-level engine.

A cached wrapper over :func:`fabless.perf.ops.op_time`: a training step repeats the
same few shapes many times and a plan search re-times them for every plan. It also
maps a datatype the chip lacks to the one its matrix units would run instead (an fp8
matmul on an A100 runs in bf16), since a scenario's precision is a wish, not a fact
about every chip.
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from fabless.params import ParamFile, load_param_file
from fabless.perf.attention import attention_bytes
from fabless.perf.ops import op_time
from fabless.perf.params import ChipParams
from fabless.workload import Precision
from fabless.workload import ops as W
from fabless.workload.graph import Graph
from fabless.workload.ops import Attention, Collective, ExpertMatMul, MatMul, OptimizerStep, dtype_bytes

#: Activation datatypes that mean "GEMM inputs only" (:func:`framework_dtypes`): the tensors
#: between kernels stay bf16.
GEMM_INPUT_DTYPES = ("fp8", "fp4")

#: Matmul datatypes from narrowest to widest.
_WIDTH = ["fp4", "int4", "fp8", "int8", "bf16", "fp16", "tf32", "fp32"]


def compute_dtype(a: str, b: str) -> str:
    """A matmul runs at the wider of its two input datatypes."""
    return a if _WIDTH.index(a) >= _WIDTH.index(b) else b


def supported_dtype(dtype: str, chip: ChipParams) -> str:
    """The narrowest datatype at least as wide as ``dtype`` that the chip has a peak for."""
    for cand in _WIDTH[_WIDTH.index(dtype):]:
        peak = chip.peak_flops_per_s.get(cand)
        if peak is not None and float(peak[0]) > 0:
            return cand
    return "fp32"


def _on_chip(op: W.Op, chip: ChipParams) -> W.Op:
    if isinstance(op, (W.MatMul, W.ExpertMatMul)):
        run = supported_dtype(compute_dtype(op.dtype_a, op.dtype_b), chip)
        if run != compute_dtype(op.dtype_a, op.dtype_b):
            return replace(op, dtype_a=run, dtype_b=run)
    if isinstance(op, W.Attention):
        run = supported_dtype(op.dtype, chip)
        if run != op.dtype:
            return replace(op, dtype=run)
    return op


#: Operator times by (chip content, op) (``ChipParams.key``: equal chips share entries).
_CACHE: dict[tuple[bytes, W.Op], float] = {}
_MAX_ENTRIES = 200_000


def op_time_s(op: W.Op, chip: ChipParams) -> float:
    """Seconds for ``op`` on the (single) design in ``chip``."""
    key = (chip.key, op)
    hit = _CACHE.get(key)
    if hit is None:
        if len(_CACHE) >= _MAX_ENTRIES:
            _CACHE.clear()
        hit = _CACHE[key] = float(op_time(_on_chip(op, chip), chip).time_s[0])
    return hit


# ----------------------------------------------------------------------------- framework op time

_PARAMS_PATH = Path(str(resources.files("fabless") / "data" / "estimate" / "engine.yaml"))


@lru_cache(maxsize=1)
def engine_param_file() -> ParamFile:
    """data/estimate/engine.yaml through the parameter loader: each value with its source."""
    return load_param_file(_PARAMS_PATH)


@lru_cache(maxsize=1)
def engine_params() -> dict[str, float]:
    """The engine's few parameters as plain numbers (their sources: :func:`engine_param_file`)."""
    return {k: float(v) for k, v in engine_param_file().plain.items()}


def _category(op) -> str:
    kind = op.kind
    return {"matmul": "matmul", "expert_matmul": "matmul"}.get(kind, kind)


#: Operator times by (chip content, op): ``ChipParams.key`` is a digest of the chip's values,
#: so the caches hit across estimate() calls (each builds its ChipParams anew) and never mix
#: two chips. Each is cleared when it reaches _MAX_OP_ENTRIES.
_PARTS: dict[tuple[bytes, object], tuple[float, float, float]] = {}
_TIMES: dict[tuple[bytes, object, float | None], float] = {}
_MAX_OP_ENTRIES = 200_000


def _op_parts(op, chip: ChipParams) -> tuple[float, float, float]:
    """(compute, memory, fixed overhead) seconds of one operator from the single-chip models
    (:func:`fabless.perf.ops.op_time`, time = overhead + max(compute, memory)), cached."""
    key = (chip.key, op)
    hit = _PARTS.get(key)
    if hit is None:
        if len(_PARTS) >= _MAX_OP_ENTRIES:
            _PARTS.clear()
        r = op_time(_on_chip(op, chip), chip)
        hit = _PARTS[key] = (float(r.compute_s[0]), float(r.memory_s[0]), float(r.overhead_s[0]))
    return hit


def framework_chip(chip: ChipParams, eff: float | None = None, stream: float = 1.0) -> ChipParams:
    """``chip`` as a framework's kernels run on it: its matrix and vector efficiencies times the
    software's framework efficiency ``eff`` (None: the engine-wide ``framework_kernel_efficiency``),
    so every operator's math runs at that share of the single-kernel model's rate while memory
    streaming and fixed overheads stay as modelled. ``stream`` (1: as modelled) scales the achievable
    HBM bandwidth too: the share a stack's grouped expert GEMMs stream their weights at
    (:attr:`fabless.estimate.software.Software.grouped_gemm_stream_efficiency`). The kernel models then
    choose their tiling and split-K at the rates the framework reaches, as its autotuned library does: a
    choice made at the single-kernel rate and slowed afterwards could be beaten by another, and a faster
    chip could then come out slower. Built once per chip, efficiency and stream share."""
    if eff is None:
        eff = engine_params()["framework_kernel_efficiency"]
    # the stream share enters the key and the chip only where it is not 1, so every caller without one
    # shares the chip built before the stream share existed
    streamed = (float(stream),) if stream != 1.0 else ()
    return chip.derived(("framework_chip", float(eff), *streamed), lambda c: c.replace(
        mma_efficiency=c.mma_efficiency * eff, vector_efficiency=c.vector_efficiency * eff,
        **({"hbm_efficiency": c.hbm_efficiency * stream} if streamed else {})))


def step_chip(chip: ChipParams, sw=None) -> ChipParams:
    """``chip`` as the operators of a framework step see their fixed cost: where its family runs
    a step as one compiled program (``compiled_step``, XLA on TPU), each operator pays its on-device
    fixed cost (``device_fixed_s``) instead of a host dispatch of its own (``launch_overhead_s``);
    the software stack ``sw``'s own cost per operator, where it states one
    (:attr:`fabless.estimate.software.Software.op_fixed_s`), replaces either. Kernel rows timed on
    their own keep the whole launch cost (:meth:`ChipParams.timed`); only the estimate of a
    framework step calls this."""
    op_fixed_s = getattr(sw, "op_fixed_s", None)
    if op_fixed_s is not None:
        return chip.derived(("step_chip", float(op_fixed_s)), lambda c: c.replace(launch_overhead_s=float(op_fixed_s)))
    if not np.any(chip.compiled_step > 0):
        return chip
    return chip.derived(("step_chip",), lambda c: c.replace(
        launch_overhead_s=np.where(c.compiled_step > 0, np.minimum(c.device_fixed_s, c.launch_overhead_s), c.launch_overhead_s)))


def grouped_kernel_chip(chip: ChipParams) -> ChipParams:
    """``chip`` as a software stack's own grouped expert-GEMM kernel runs on it (a stack with a
    ``grouped_gemm_efficiency``: Triton's fused MoE, TensorRT-LLM's grouped GEMMs): without the family's
    ``tile_overhead_s``, which was fitted on cuBLAS's dense GEMMs; what the grouped kernel spends outside a
    tile's main loop is in the share measured on its own sweeps (scripts/derive_fused_moe_share.py)."""
    return chip.derived(("grouped_kernel_chip",), lambda c: c.replace(tile_overhead_s=c.tile_overhead_s * 0.0))


def framework_op_time(op, compute, memory, overhead, peak_of_a, eff: float | None = None):
    """Seconds of one operator in a framework from the single-kernel model's parts on
    :func:`framework_chip` (floats, or arrays over designs: :mod:`fabless.explore.evaluate` calls
    this same function): ``compute`` is already at ``framework_kernel_efficiency`` (``eff``) of the
    model's rate (memory streaming and fixed overheads as modelled). Two kernels read narrower data than the single-kernel model's datatype:

    * A weight-only quantised matmul (weights narrower than the activations, e.g. int8/int4
      weights with bf16 activations) does its math at the activation width but reads its weights
      at their stored width, so its memory-bound time shrinks by the ratio of compulsory bytes
      while its compute-bound time does not (the math is the op's own FLOPs: these kernels do not
      pad the few rows to a tensor-core tile). ``peak_of_a()`` gives the matrix peak of the
      activation datatype.
    * A decode attention over a KV cache narrower than its math (an FP8 cache with bf16 math,
      TensorRT-LLM's FP8 KV cache) streams the cache at its stored width: the single-kernel
      attention model counts the cache at the math datatype, so its memory time is scaled by the
      ratio of the op's compulsory bytes (Q and O at the math width, K and V at the cache width).

    ``eff`` is the software stack's framework efficiency (:mod:`fabless.estimate.software`);
    None means the engine-wide ``framework_kernel_efficiency``."""
    if eff is None:
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
    return overhead + np.maximum(compute, memory)


def _op_time(op, chip: ChipParams, eff: float | None = None, stream: float = 1.0) -> float:
    """Seconds for one operator on ``chip``: :func:`framework_op_time` of the single-chip
    model's parts on :func:`framework_chip` (``eff``: the software's framework efficiency, None =
    engine-wide; ``stream``: the share of the achievable HBM bandwidth it streams at), cached by
    (chip content, op, eff, stream)."""
    key = (chip.key, op, eff, stream)
    hit = _TIMES.get(key)
    if hit is None:
        compute, memory, overhead = _op_parts(op, framework_chip(chip, eff, stream))
        on = _on_chip(op, chip)
        hit = float(framework_op_time(
            on, compute, memory, overhead,
            lambda: float(chip.peak_flops_per_s.get(supported_dtype(op.dtype_a, chip))[0]), eff))
        if len(_TIMES) >= _MAX_OP_ENTRIES:
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
    at the FP8 peak. NVFP4 (Transformer Engine's NVFP4BlockScaling recipe) is the same with
    4-bit GEMM inputs: the GEMMs write bf16 and the attention math (the fused attention's two
    BMMs and softmax), norms and elementwise work stay bf16 (NVIDIA, "Pretraining Large Language
    Models with NVFP4", arXiv:2509.25149, sec. 4: only the linear layers' GEMMs run in NVFP4)."""
    if isinstance(op, (MatMul, ExpertMatMul)):
        return dataclasses.replace(op, dtype_out="bf16") if op.dtype_out in GEMM_INPUT_DTYPES else op
    if isinstance(op, (Collective, OptimizerStep)):
        return op
    changes: dict = {}
    if getattr(op, "dtype", None) in GEMM_INPUT_DTYPES:
        changes["dtype"] = "bf16"
    if isinstance(op, Attention) and op.phase != "decode" and op.kv_dtype in GEMM_INPUT_DTYPES:
        changes["kv_dtype"] = "bf16"
    return dataclasses.replace(op, **changes) if changes else op


def comm_dtype_bytes(prec: Precision) -> float:
    """Bytes per element of the activations a collective moves between kernels. With 8- or 4-bit
    activations (FP8/FP4 GEMM inputs, :func:`framework_dtypes`) the GEMMs write bf16, so the
    tensor-parallel all-reduce of a row-parallel GEMM's output, the MoE dispatch/combine and the
    pipeline hand-off of the residual stream move bf16 (2 bytes), not the GEMM input width."""
    return max(2.0, float(dtype_bytes(prec.activations))) if prec.activations != "fp32" else 4.0


def graph_time(graph: Graph, chip: ChipParams, *, blocks: set[str] | None = None, scale: float = 1.0,
               eff: float | None = None, grouped_eff: float = 1.0, grouped_stream: float = 1.0) -> dict[str, float]:
    """Seconds per category for the ops of ``graph`` (optionally only ``blocks``) on ``chip``,
    each block's time times its repeat count and ``scale``. ``grouped_eff``: the software's
    grouped-GEMM efficiency (:attr:`fabless.estimate.software.Software.grouped_gemm_efficiency`):
    the routed experts' matmuls (:class:`~fabless.workload.ops.ExpertMatMul`) run at ``eff`` x it;
    ``grouped_stream``: the share of the achievable HBM bandwidth they stream at
    (:attr:`~fabless.estimate.software.Software.grouped_gemm_stream_efficiency`); with a share of its own
    the stack's grouped kernel runs on :func:`grouped_kernel_chip`."""
    out: dict[str, float] = {}
    expert_eff, expert_chip = eff, chip
    if grouped_eff != 1.0:
        expert_eff = (engine_params()["framework_kernel_efficiency"] if eff is None else eff) * grouped_eff
        expert_chip = grouped_kernel_chip(chip)
    for b in graph.blocks:
        if blocks is not None and b.name not in blocks:
            continue
        for op in b.ops:
            if isinstance(op, Collective):
                continue
            cat = "recompute" if op.pass_ == "recompute" else ("optimizer" if op.pass_ == "opt" else _category(op))
            expert = isinstance(op, ExpertMatMul)
            t = (_op_time(framework_dtypes(op), expert_chip, expert_eff, grouped_stream) if expert
                 else _op_time(framework_dtypes(op), chip, eff))
            out[cat] = out.get(cat, 0.0) + t * b.repeat * scale
    return out


def _sum(d: dict[str, float]) -> float:
    return sum(d.values())


def _add(into: dict[str, float], other: dict[str, float], scale: float = 1.0) -> None:
    for k, v in other.items():
        into[k] = into.get(k, 0.0) + v * scale




#: The shape fields a report shows for each operator, in this order (those the op has).
_SHAPE_FIELDS = ("batch", "m", "n", "k", "experts", "tokens", "top_k", "q_len", "kv_len", "heads", "kv_heads",
                 "head_dim_qk", "rows", "hidden", "cols", "elements")


def op_shape_text(op) -> str:
    """A short shape of one operator for people: ``m=8192 n=1024 k=8192``."""
    parts = [f"{f}={getattr(op, f)}" for f in _SHAPE_FIELDS if isinstance(getattr(op, f, None), int)
             and not isinstance(getattr(op, f), bool) and not (f == "batch" and getattr(op, f) == 1)]
    return " ".join(parts)


def operator_rows(ops, chip: ChipParams, *, phase: str, eff: float | None = None) -> list[dict]:
    """One row per distinct operator of ``ops`` ((op, count) pairs, collectives skipped), timed
    as :func:`graph_time` times it (framework datatypes and efficiency): its name, category,
    pass, shape, FLOPs and minimum bytes of one call, seconds of one call, calls (the count),
    and what bounds it (compute, memory or a fixed overhead: the larger of the single-chip
    model's parts). Operators with the same name and shape are merged (their counts added).
    For the roofline of a report (``fabless estimate --html``)."""
    merged: dict[tuple, dict] = {}
    fchip = framework_chip(chip, eff)
    for op, count in ops:
        if isinstance(op, Collective):
            continue
        fop = framework_dtypes(op)
        compute, memory, overhead = _op_parts(fop, fchip)
        time_s = _op_time(fop, chip, eff)
        bound = "overhead" if overhead > max(compute, memory) else ("compute" if compute >= memory else "memory")
        key = (phase, op.name, op.pass_, op_shape_text(op))
        row = merged.get(key)
        if row is None:
            merged[key] = {"phase": phase, "name": op.name, "kind": _category(op), "pass": op.pass_, "shape": key[3],
                           "flops": float(op.flops), "bytes": float(op.bytes), "time_s": float(time_s),
                           "calls": float(count), "bound": bound}
        else:
            row["calls"] += float(count)
    return list(merged.values())
