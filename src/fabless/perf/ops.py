"""``op_time(op, chip)``: the single-chip model of one operator of the workload IR
(:mod:`fabless.workload.ops`), on every design of ``chip``.

A thin dispatch: each op class maps to the shape-level model that times it.

=================  =====================================================================
MatMul             :func:`gemm.gemm_time` (batch entries are independent GEMMs)
ExpertMatMul       grouped GEMM: one GEMM of ``tokens_per_expert`` rows per expert touched
Conv               implicit GEMM: m = batch x output pixels, n = out_ch / groups,
                   k = in_ch / groups x kernel area, one GEMM per group
Attention          :func:`attention.attention_time`; a sliding window caps the keys; the
                   backward pass (2x the FLOPs, Q/K/V/O/dO read) scales compute and memory;
                   ``fused=False``: :func:`attention.unfused_attention_time` (scores in HBM)
Norm, Softmax,     memory-bound kernels (:mod:`memory`); a norm's backward streams its own
Elementwise, ...   bytes (x and dy read, dx written) with twice the forward's FLOPs
Collective         not a single-chip op: a FablessError pointing to perf.collectives
=================  =====================================================================
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from fabless.errors import FablessError
from fabless.hardware.schema import DTYPE_BYTES
from fabless.perf.attention import attention_bytes, attention_time, unfused_attention_time
from fabless.perf.gemm import gemm_time
from fabless.perf.memory import norm_time, stream_time
from fabless.perf.params import ChipParams, as_params
from fabless.perf.result import OpTime
from fabless.workload import ops as w


def _wider(*dtypes: str) -> str:
    return max(dtypes, key=lambda d: DTYPE_BYTES[d])


def op_time(op, chip: ChipParams, *, model: str = "detailed") -> OpTime:
    """Time of one workload operator on each design of ``chip`` (ChipParams, Chip or preset name)."""
    chip = as_params(chip)
    if isinstance(op, w.MatMul):
        return gemm_time(op.m, op.n, op.k, chip, _wider(op.dtype_a, op.dtype_b), batch=op.batch,
                         out_dtype=op.dtype_out, model=model)
    if isinstance(op, w.ExpertMatMul):
        groups = max(1, min(op.experts, math.ceil(op.experts_touched)))
        rows = max(1, math.ceil(op.experts * op.tokens_per_expert / groups))
        return gemm_time(rows, op.n, op.k, chip, _wider(op.dtype_a, op.dtype_b), batch=groups,
                         out_dtype=op.dtype_out, model=model)
    if isinstance(op, w.Conv):
        (oh, ow), (kh, kw) = op.out_hw, op.kernel
        return gemm_time(op.batch * oh * ow, max(1, op.out_ch // op.groups), max(1, op.in_ch // op.groups * kh * kw),
                         chip, op.dtype, batch=op.groups, model=model)
    if isinstance(op, w.Attention):
        kv_len = op.kv_len if op.window is None else min(op.kv_len, op.window + op.q_len - 1)
        phase = "decode" if op.phase == "decode" else "prefill"
        if not op.fused:
            return unfused_attention_time(op.batch, op.q_len, kv_len, op.heads, op.head_dim_qk, chip, op.dtype,
                                          v_head_dim=op.head_dim_v, backward=op.pass_ == "bwd", model=model)
        r = attention_time(op.batch, op.q_len, kv_len, op.heads, op.head_dim_qk, chip, op.dtype,
                           kv_heads=op.kv_heads, v_head_dim=op.head_dim_v, causal=op.causal and op.q_len > 1,
                           phase=phase, latent_kv=op.kv_shared, model=model)
        if op.pass_ == "bwd":
            fwd_bytes = attention_bytes(op.batch, op.q_len, kv_len, op.heads, op.head_dim_qk, op.kv_heads,
                                        op.head_dim_v, op.dtype, op.kv_shared)
            scale_m = op.bytes / fwd_bytes if fwd_bytes else 1.0
            compute, memory = r.compute_s * 2.0, r.memory_s * scale_m
            r = replace(r, compute_s=compute, memory_s=memory, time_s=r.overhead_s + np.maximum(compute, memory),
                        flops=r.flops * 2.0, bytes=r.bytes * scale_m)
        return r
    if isinstance(op, w.Norm):
        if op.pass_ == "bwd":
            # the backward reads x and dy and writes dx (the op's own bytes) with twice the
            # forward's math: norm_time's forward traffic would put it above the HBM roof
            return stream_time("norm", op.bytes_read, op.bytes_written, op.flops, chip, model=model)
        return norm_time(op.rows, op.hidden, chip, op.dtype, kind="layernorm" if op.norm == "layer" else "rmsnorm",
                         model=model)
    if isinstance(op, w.Elementwise):
        return stream_time(op.name, op.bytes_read, op.bytes_written, op.flops, chip, model=model)
    if isinstance(op, w.Collective):
        raise FablessError(f"{op.name}: collectives are timed by fabless.perf.collectives, not the single-chip model")
    # Softmax, Embedding, MoERouter, OptimizerStep and anything new: a memory-bound kernel
    # over the op's own minimum traffic and FLOPs.
    return stream_time(op.name, op.bytes_read, op.bytes_written, op.flops, chip, model=model)

