"""``op_time(op, chip)``: the single-chip model of one operator of the workload IR
(:mod:`fabless.workload.ops`), on every design of ``chip``.

A thin dispatch: each op class maps to the shape-level model that times it.

=================  =====================================================================
MatMul             :func:`gemm.gemm_time` (batch entries are independent GEMMs)
ExpertMatMul       grouped GEMM: one GEMM of ``tokens_per_expert`` rows per expert touched,
                   each expert's last row tile padded on its own: the row tiles are the
                   expectation over the routed token counts (:func:`expected_row_tiles`)
Conv               implicit GEMM: m = batch x output pixels, n = out_ch / groups,
                   k = in_ch / groups x kernel area, one GEMM per group
Attention          :func:`attention.attention_time`; a sliding window caps the keys; the
                   backward pass (``attention_bwd_time_ratio`` x the forward's compute at equal Q/K
                   and V head dimensions, x 2 d_qk / (d_qk + d_v) where they differ;
                   Q/K/V/O/dO read) scales compute and memory;
                   ``fused=False``: :func:`attention.unfused_attention_time` (scores in HBM)
Norm, Softmax,     memory-bound kernels (:mod:`memory`); a norm's backward reads x and dy, writes
Elementwise, ...   dx, and sums the gain's gradient through fp32 partials in a second kernel
                   (:func:`memory.norm_backward_time`), with twice the forward's FLOPs
Collective         not a single-chip op: a FablessError pointing to perf.collectives
=================  =====================================================================
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache

import numpy as np

from fabless.errors import FablessError
from fabless.hardware.schema import DTYPE_BYTES
from fabless.perf.attention import attention_bytes, attention_time, unfused_attention_time
from fabless.perf.gemm import gemm_time
from fabless.perf.memory import norm_backward_time, norm_time, stream_time
from fabless.perf.params import ChipParams, as_params
from fabless.perf.result import OpTime
from fabless.workload import ops as w


#: Standard deviations either side of the mean over which :func:`expected_row_tiles` sums the
#: binomial distribution (the mass outside is below 1e-30).
_BINOMIAL_WINDOW_SD = 12.0


@lru_cache(maxsize=4096)
def expected_row_tiles(tokens: int, p: float, bm: float) -> float:
    """Mean number of ``bm``-row tiles of one expert's GEMM in a grouped GEMM, ``E[ceil(X / bm)]``,
    where ``X``, the expert's rows, is Binomial(``tokens``, ``p``): each of ``tokens`` tokens picks
    this expert with probability ``p`` (``top_k`` of ``E`` experts at random: ``p = top_k / E``).
    A grouped GEMM (CUTLASS's grouped kernels, TensorRT-LLM's and vLLM's MoE GEMMs) tiles each
    expert's rows separately, so each expert pads its own last tile to ``bm`` rows; with the
    mean rows a round multiple of ``bm`` about half the experts spill into one more tile.
    ``E[ceil(X / b)] = sum_{j >= 0} P(X > j b)``, summed over the pmf within
    ``_BINOMIAL_WINDOW_SD`` standard deviations of the mean. ``p >= 1``: every token, ``ceil(tokens / bm)``."""
    n = int(tokens)
    if n <= 0 or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return float(math.ceil(n / bm))
    mean, sd = n * p, math.sqrt(n * p * (1.0 - p))
    lo = max(0, int(math.floor(mean - _BINOMIAL_WINDOW_SD * sd)) - 1)
    hi = min(n, int(math.ceil(mean + _BINOMIAL_WINDOW_SD * sd)) + 1)
    x = np.arange(lo, hi + 1, dtype=float)
    # log pmf at lo, then the ratio pmf(x + 1) / pmf(x) = (n - x) / (x + 1) x p / (1 - p) summed up
    first = math.lgamma(n + 1) - math.lgamma(lo + 1) - math.lgamma(n - lo + 1) + lo * math.log(p) + (n - lo) * math.log1p(-p)
    steps = np.log((n - x[:-1]) / (x[:-1] + 1.0)) + math.log(p) - math.log1p(-p)
    pmf = np.exp(first + np.concatenate([[0.0], np.cumsum(steps)]))
    # P(X > t) for t = j * bm: 1 below the window, the pmf's upper tail inside it, 0 above
    tail = np.concatenate([np.cumsum(pmf[::-1])[::-1], [0.0]])  # tail[i] = P(X >= x[i]) within the window
    total = 0.0
    j_max = int(hi // bm) + 1
    for j in range(j_max + 1):
        t = j * bm
        if t < lo:
            total += 1.0
        elif t < hi:
            total += float(tail[int(math.floor(t)) - lo + 1])
    return total


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
        m_tiles = None
        p_hit = op.top_k / op.routed_over
        if not op.capacity_factor and not op.wgrad and p_hit < 1.0:
            # routed (dropless) tokens: each expert's own rows, padded to whole tiles per expert,
            # counted over the experts touched (the untouched run no tile); with top_k >= the
            # experts routed over, every expert takes every token: the mean rows
            m_tiles = lambda bm: op.experts * expected_row_tiles(op.tokens, p_hit, bm) / groups  # noqa: E731
        return gemm_time(rows, op.n, op.k, chip, _wider(op.dtype_a, op.dtype_b), batch=groups,
                         out_dtype=op.dtype_out, model=model, m_tiles=m_tiles)
    if isinstance(op, w.Conv):
        (oh, ow), (kh, kw) = op.out_hw, op.kernel
        return gemm_time(op.batch * oh * ow, max(1, op.out_ch // op.groups), max(1, op.in_ch // op.groups * kh * kw),
                         chip, op.dtype, batch=op.groups, model=model)
    if isinstance(op, w.Attention):
        kv_len = op.kv_len if op.window is None else min(op.kv_len, op.window + op.q_len - 1)
        phase = "decode" if op.phase == "decode" else "prefill"
        if not op.fused:
            # inference (prefill / decode) runs no dropout, and the query heads of a KV group share one
            # product (optimum-habana's gaudi_llama_repeat_kv); training keeps Megatron's chain per head
            infer = op.phase in ("prefill", "decode")
            return unfused_attention_time(op.batch, op.q_len, kv_len, op.heads, op.head_dim_qk, chip, op.dtype,
                                          v_head_dim=op.head_dim_v, backward=op.pass_ == "bwd",
                                          dropout=not infer, kv_heads=op.kv_heads if infer else None, model=model)
        r = attention_time(op.batch, op.q_len, kv_len, op.heads, op.head_dim_qk, chip, op.dtype,
                           kv_heads=op.kv_heads, v_head_dim=op.head_dim_v, causal=op.causal and op.q_len > 1,
                           phase=phase, latent_kv=op.kv_shared, model=model)
        if op.pass_ == "bwd":
            fwd_bytes = attention_bytes(op.batch, op.q_len, kv_len, op.heads, op.head_dim_qk, op.kv_heads,
                                        op.head_dim_v, op.dtype, op.kv_shared)
            scale_m = op.bytes / fwd_bytes if fwd_bytes else 1.0
            # the backward's own time over the forward's (a family parameter, measured where rows show it), at equal
            # head dimensions; where Q/K's differs from V's (MLA's 192/128) the backward's time follows Q/K's head
            # dimension: 2 d_qk / (d_qk + d_v) of an equal-head backward's per forward FLOP (1.2 at 192/128). dQ's
            # fp32 reduce-adds, once per query tile and KV tile, and the KV tile that shrinks as the accumulators
            # widen (FlashAttention-3's Hopper backward: 128 KV rows at head 128, 96 at 192) both grow with d_qk.
            # Chosen on the fit rows (Blackwell's cuDNN backward, head 128 and 192/128) over the products alone,
            # (3 d_qk + 2 d_v) / (2.5 (d_qk + d_v)) = 1.04, and products plus per-tile traffic (dQ's reduce-adds, Q
            # and dO reloaded per KV tile), (6 d_qk + 2 d_v) / (4 (d_qk + d_v)) = 1.1: docs/perf-model.md
            mix = 2 * op.head_dim_qk / (op.head_dim_qk + op.head_dim_v)
            compute, memory = r.compute_s * chip.attention_bwd_time_ratio * mix, r.memory_s * scale_m
            r = replace(r, compute_s=compute, memory_s=memory, time_s=r.overhead_s + np.maximum(compute, memory),
                        flops=r.flops * 2.0, bytes=r.bytes * scale_m)
        return r
    if isinstance(op, w.Norm):
        kind = "layernorm" if op.norm == "layer" else "rmsnorm"
        if op.pass_ == "bwd":
            if op.norm == "batch" or not op.affine:
                return stream_time("norm", op.bytes_read, op.bytes_written, op.flops, chip, model=model)
            # x and dy read, dx written, and the gain's gradient summed over the rows through fp32 partials in a
            # second kernel (perf.memory.norm_backward_time)
            return norm_backward_time(op.rows, op.hidden, chip, op.dtype, kind=kind, model=model)
        return norm_time(op.rows, op.hidden, chip, op.dtype, kind=kind, model=model)
    if isinstance(op, w.Elementwise):
        return stream_time(op.name, op.bytes_read, op.bytes_written, op.flops, chip, model=model)
    if isinstance(op, w.Collective):
        raise FablessError(f"{op.name}: collectives are timed by fabless.perf.collectives, not the single-chip model")
    # Softmax, Embedding, MoERouter, OptimizerStep and anything new: a memory-bound kernel
    # over the op's own minimum traffic and FLOPs.
    return stream_time(op.name, op.bytes_read, op.bytes_written, op.flops, chip, model=model)

