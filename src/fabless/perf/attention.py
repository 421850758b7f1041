"""Fused (flash-style) attention: softmax(Q Kᵀ / sqrt(d)) V without writing the scores.

Shapes: ``batch`` sequences, ``heads`` query heads of ``head_dim``, ``kv_heads`` key/value
heads (grouped-query attention when fewer than ``heads``; 1 for multi-query), ``q_len``
queries attending to ``kv_len`` keys. ``v_head_dim`` defaults to ``head_dim``. MLA
(DeepSeek multi-head latent attention, weights absorbed) is ``kv_heads=1``,
``head_dim = kv_lora_rank + rope_dim`` (576) and ``v_head_dim = kv_lora_rank`` (512) with
``latent_kv=True``: keys and values are the same cached latent vector, read once.

FLOPs: ``2 x batch x heads x pairs x (head_dim + v_head_dim)`` where ``pairs`` counts the
(query, key) pairs the mask keeps: all ``q_len x kv_len`` of them, or with ``causal`` (queries
are the last ``q_len`` positions) ``q_len·(kv_len − q_len) + q_len·(q_len + 1)/2``, about half.

**Prefill** (the flash kernel): one work unit per (sequence, head, query block of ``B``
rows); it walks the KV blocks it may see (all, or up to the diagonal when causal: partial
diagonal blocks cost a full block) and pays ``attention_overhead_blocks`` times a head-128 block's
time (``d_qk + d_v = 256``, whatever the row's head dimension: loading Q, filling the pipeline,
normalising and writing O are mostly fixed latencies, not products) as ``overhead`` blocks of its
own. Units run in waves over the cores:
``compute = max(ceil(units / cores) x mean(blocks + overhead), max(blocks) + overhead) x
block_time`` (a wave lasts at least as long as its longest unit), with ``block_time =
max(block_flops / core_rate, B² x attention_softmax_cycles / sustained clock)``: a block's matrix
products at ``core_rate = peak / cores x sustained/boost clock x mma_efficiency x
attention_mma_ratio`` (with 8-bit operands also x ``mma_8bit_ratio``, as an 8-bit GEMM's), times
the fraction of the matrix unit a head dimension fills (a 64-wide head on a 128-row array uses
half of it), or its B² scores' softmax (exponential, running max,
scale, sum: the same per score whatever the head dimension) where that is longer: at head
dimension 64, or with 8-bit operands, a score carries half the matrix work. Memory is Q, K, V
and O once (K/V blocks are re-read from L2, not HBM).

**Decode** (a few new tokens against a KV cache): the heads of a GQA group are stacked into
the rows of one matrix multiply (``q_len x heads / kv_heads`` rows), which fill a matrix
instruction of 64 rows on a GPU or an array of R rows. A reconfigurable array (``mu_reshape``
f, Gaudi's MME) runs each attention in the shape of its three (R x C, R/f x C·f, R·f x C/f) that
takes least time, as its GEMMs do. Memory is the KV cache read once,
at ``hbm_efficiency`` of the peak bandwidth: usually the bound, except for MLA's 128 stacked
heads, which make decode compute-heavy.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from fabless import bounds
from fabless.errors import FablessError
from fabless.hardware.schema import DTYPE_BYTES
from fabless.perf.gemm import gemm_time
from fabless.perf.memory import stream_time
from fabless.perf.params import SCALAR, SYSTOLIC, ChipParams
from fabless.perf.result import OpTime, combine
from fabless.perf.roofline import roofline

#: Rows of one GPU matrix instruction (Hopper wgmma m64); decode rows are padded up to it.
GPU_MMA_ROWS = 64
#: head_dim + v_head_dim of the block the per-unit overhead is counted in (head dimension 128).
REF_BLOCK_DIMS = 256
#: Head dimensions are padded up to a multiple of this on GPUs (MMA k granularity).
GPU_MMA_K = 16


def mask_pairs(q_len: int, kv_len: int, causal: bool) -> float:
    """(query, key) pairs kept by the mask for one sequence and head."""
    if not causal:
        return float(q_len) * kv_len
    past = max(kv_len - q_len, 0)
    return float(q_len) * past + q_len * (q_len + 1) / 2.0


def attention_flops(batch, q_len, kv_len, heads, head_dim, v_head_dim=None, causal=False) -> float:
    dv = v_head_dim or head_dim
    return 2.0 * batch * heads * mask_pairs(q_len, kv_len, causal) * (head_dim + dv)


def attention_bytes(batch, q_len, kv_len, heads, head_dim, kv_heads=None, v_head_dim=None,
                    dtype="bf16", latent_kv=False) -> float:
    """Compulsory HBM bytes: Q and O once, K and V (or the shared latent) once."""
    dv = v_head_dim or head_dim
    kvh = kv_heads or heads
    b = DTYPE_BYTES[dtype]
    q_o = batch * heads * q_len * (head_dim + dv)
    kv = batch * kvh * kv_len * (head_dim if latent_kv else head_dim + dv)
    return (q_o + kv) * b


def _check(**dims) -> None:
    for name, v in dims.items():
        if v is None:
            continue
        if not (v >= 1) or int(v) != v:
            raise FablessError(f"attention: {name} must be a positive whole number, got {v}")
        hi = bounds.MAX_SEQ_TOKENS if name in ("q_len", "kv_len") else bounds.MAX_DIM
        if v > hi:
            raise FablessError(f"attention: {name} must be at most {hi:,}, got {v:,}")


@lru_cache(maxsize=256)
def _units_blocks(q_len: int, kv_len: int, causal: bool, block: int) -> tuple[int, float, float]:
    """Query blocks per (sequence, head), and the mean and largest KV-block count they walk."""
    nq = -(-q_len // block)
    j = np.arange(nq)
    if causal:
        off = max(kv_len - q_len, 0)
        seen = np.minimum(kv_len, off + (j + 1) * block)
    else:
        seen = np.full(nq, kv_len)
    blocks = np.ceil(seen / block)
    return nq, float(np.mean(blocks)), float(np.max(blocks))


def _dim_fill(xp, d: float, width: np.ndarray) -> np.ndarray:
    return d / (xp.ceil(d / width) * width)


def attention_time(batch: int, q_len: int, kv_len: int, heads: int, head_dim: int, chip: ChipParams,
                   dtype: str = "bf16", *, kv_heads: int | None = None, v_head_dim: int | None = None,
                   causal: bool = False, phase: str | None = None, latent_kv: bool = False,
                   model: str = "detailed") -> OpTime:
    """Time of one fused attention call on every design. ``phase`` is "prefill" (flash kernel)
    or "decode" (KV-cache read); by default decode when ``q_len <= 16``."""
    _check(batch=batch, q_len=q_len, kv_len=kv_len, heads=heads, head_dim=head_dim,
           kv_heads=kv_heads, v_head_dim=v_head_dim)
    kvh = kv_heads or heads
    if heads % kvh:
        raise FablessError(f"attention: heads ({heads}) must be a multiple of kv_heads ({kvh})")
    if dtype not in DTYPE_BYTES:
        raise FablessError(f"attention: unknown dtype '{dtype}'; known: {', '.join(DTYPE_BYTES)}")
    if causal and q_len > kv_len:
        raise FablessError(f"attention: causal needs q_len ({q_len}) <= kv_len ({kv_len})")
    phase = phase or ("decode" if q_len <= 16 else "prefill")
    if phase not in ("prefill", "decode"):
        raise FablessError(f"attention: phase must be prefill or decode, got '{phase}'")
    dv = v_head_dim or head_dim
    flops = attention_flops(batch, q_len, kv_len, heads, head_dim, dv, causal)
    nbytes = attention_bytes(batch, q_len, kv_len, heads, head_dim, kvh, dv, dtype, latent_kv)
    if model == "roofline":
        return roofline("attention", flops, nbytes, chip, dtype)
    if model != "detailed":
        raise FablessError(f"unknown model '{model}'; use detailed or roofline")

    one = chip.single
    if one is not None:
        try:
            return _attention(SCALAR, one, one.peak(dtype), batch, q_len, kv_len, heads, head_dim, dv, causal,
                              phase, kvh, flops, nbytes, dtype)
        except (ArithmeticError, ValueError):
            pass  # a zero or negative parameter: the array path's inf/NaN is the answer
    return _attention(np, chip, chip.peak(dtype), batch, q_len, kv_len, heads, head_dim, dv, causal, phase,
                      kvh, flops, nbytes, dtype)


def _array_geometries(xp, d):
    """(rows, cols) of each shape a design's arrays run as: the chip's own, and for a reconfigurable
    array (``mu_reshape`` f > 1) (rows/f) x (cols*f) and (rows*f) x (cols/f), as
    :attr:`fabless.perf.params.ChipParams.array_geometries` (the GEMM model's choice of shape)."""
    if xp is SCALAR:
        return d.array_geometries
    return tuple((g[0], g[1]) for g in d.array_geometries)


def _chip_terms(xp, d, peak, head_dim, dv, narrow):
    """Whether each design is systolic, its attention FLOP/s and, for each shape its arrays run as
    (:func:`_array_geometries`), the rows decode pads its stacked query rows to and the
    head-dimension fill. ``narrow``: 8-bit operands, whose products run at the family's ``mma_8bit_ratio`` of the
    16-bit fraction of their peak, as a GEMM's do."""
    is_sys = d.kind_code == SYSTOLIC
    rate = peak * (d.sustained_clock_hz / d.boost_clock_hz) * d.mma_efficiency * d.attention_mma_ratio
    if narrow:
        rate = rate * d.mma_8bit_ratio
    shapes = []
    for r, c in _array_geometries(xp, d):
        rows = xp.where(is_sys, r, GPU_MMA_K)
        cols = xp.where(is_sys, c, GPU_MMA_K)
        # the contraction of Q Kᵀ runs over head_dim (array rows); P V's output columns are v_head_dim
        dim_fill = (head_dim + dv) / (head_dim / _dim_fill(xp, head_dim, rows) + dv / _dim_fill(xp, dv, cols))
        shapes.append((xp.where(is_sys, r, GPU_MMA_ROWS), dim_fill))
    return is_sys, rate, tuple(shapes)


def _attention(xp, d, peak, batch, q_len, kv_len, heads, head_dim, dv, causal, phase, kvh, flops, nbytes,
               dtype) -> OpTime:
    """The model, written once: ``xp`` is numpy and ``d`` a ChipParams (every design at once,
    the reference), or SCALAR and a OneDesign (one design in Python floats, where numpy's
    per-call cost would dominate; see params.OneDesign)."""
    one = xp is SCALAR
    narrow = DTYPE_BYTES[dtype] <= 1  # 8-bit operands
    if one:
        is_sys, rate, shapes = _chip_terms(xp, d, peak, head_dim, dv, narrow)
    else:  # what depends on the chip alone: once per ChipParams (``peak`` is its ``dtype`` peak)
        is_sys, rate, shapes = d.derived(("attention", dtype, head_dim, dv),
                                         lambda c: _chip_terms(xp, c, peak, head_dim, dv, narrow))
    # prefill's time goes as 1 / dim_fill: the shape of the best fill is its fastest
    dim_fill = shapes[0][1]
    for _, fill in shapes[1:]:
        dim_fill = xp.maximum(dim_fill, fill)
    memory = nbytes / d.hbm_rate_bytes_per_s
    tiling: dict = {"phase": phase}
    wrap = (lambda x: np.array([x])) if one else (lambda x: x)

    if phase == "prefill":
        def prefill(block, cores, rate, dim_fill, c, softmax_s):
            b = int(block)
            nq, mean_blocks, max_blocks = _units_blocks(q_len, kv_len, causal, b)
            units = batch * heads * nq
            waves = xp.ceil(units / cores)
            per_block = 2.0 * b * b * (head_dim + dv)
            core_rate = rate / cores * dim_fill
            # a block takes its matrix products' time, or its scores' softmax (exponential, running max, scale, sum:
            # per element, whatever the head dimension) where that is longer
            block_s = xp.maximum(per_block / core_rate, b * b * softmax_s)
            # a unit's own cost (load Q, fill the pipeline, normalise and store O): c blocks of a head-128 block
            ref_s = xp.maximum(2.0 * b * b * REF_BLOCK_DIMS / (rate / cores), b * b * softmax_s)
            over = c * ref_s / block_s
            # waves of work units; a wave lasts at least as long as its longest unit
            return xp.maximum(waves * (mean_blocks + over), max_blocks + over) * block_s, waves

        softmax_s = d.attention_softmax_cycles / d.sustained_clock_hz  # a score's softmax, seconds per core
        if one:
            compute, waves_out = prefill(d.attention_block, d.cores, rate, dim_fill, d.attention_overhead_blocks,
                                         softmax_s)
            block = np.array([d.attention_block])
        else:
            compute = np.empty(len(d))
            waves_out = np.empty(len(d))
            block = d.attention_block
            uniq = d.derived("attention_blocks", lambda c: block[:1] if np.all(block == block[0]) else np.unique(block))
            for blk in uniq:
                sel = slice(None) if len(uniq) == 1 else block == blk
                compute[sel], waves_out[sel] = prefill(blk, d.cores[sel], rate[sel], dim_fill[sel],
                                                       d.attention_overhead_blocks[sel], softmax_s[sel])
        tiling.update(block=block, waves=wrap(waves_out), work_units=batch * heads * -(-q_len // block),
                      head_dim_fill=wrap(dim_fill))
    else:
        group_rows = q_len * heads // kvh
        # the stacked query rows padded to the array's rows, in the shape of least time
        row_fill = group_rows / (xp.ceil(group_rows / shapes[0][0]) * shapes[0][0])
        dim_fill = shapes[0][1]
        compute = flops / (rate * row_fill * dim_fill)
        for granule, fill in shapes[1:]:
            rf = group_rows / (xp.ceil(group_rows / granule) * granule)
            c = flops / (rate * rf * fill)
            better = c < compute
            row_fill, dim_fill, compute = (xp.where(better, rf, row_fill), xp.where(better, fill, dim_fill),
                                           xp.where(better, c, compute))
        tiling.update(rows_per_kv_head=group_rows, row_fill=wrap(row_fill), head_dim_fill=wrap(dim_fill))
    return combine("attention", compute, memory, d.launch_overhead_s, flops, nbytes, peak,
                   d.hbm_bytes_per_s, tiling)


# ----------------------------------------------------------------------------- unfused attention

#: Vector FLOPs per score element of the memory-bound kernels of an unfused attention: the fused
#: scale-mask-softmax (scale, mask, max, exp, sum, divide), dropout (draw, compare-and-scale), and
#: their backward (dropout: one multiply; softmax: dP·P, row sum, subtract, multiply, scale).
#: They only matter on a design with a tiny vector unit: these kernels are memory-bound on GPUs.
SOFTMAX_FLOPS, DROPOUT_FLOPS, DROPOUT_BWD_FLOPS, SOFTMAX_BWD_FLOPS = 6.0, 2.0, 1.0, 5.0


def unfused_attention_time(batch: int, q_len: int, kv_len: int, heads: int, head_dim: int, chip: ChipParams,
                           dtype: str = "bf16", *, v_head_dim: int | None = None, backward: bool = False,
                           dropout: bool = True, kv_heads: int | None = None, model: str = "detailed") -> OpTime:
    """Attention as stacks ran it before flash attention (Megatron-LM 2019-2022: ``baddbmm``,
    ``FusedScaleMaskSoftmax``, attention dropout, ``bmm``): the score matrix ``S`` of ``E =
    batch x heads x q_len x kv_len`` elements goes to HBM between kernels that run one after another.

    Forward: ``S = Q Kᵀ`` (a batched GEMM of ``batch·heads`` products ``q_len x kv_len x head_dim``),
    the fused scale-mask-softmax (reads S, writes P), dropout (reads P, writes P' and a one-byte keep
    mask) and ``O = P' V``. Backward (``backward``): ``dP' = dO Vᵀ``, ``dV = P'ᵀ dO``, the dropout
    backward (reads dP' and the mask, writes dP), the softmax backward (reads dP and P, writes dS),
    ``dQ = dS K`` and ``dK = dSᵀ Q``. The mask is applied, not skipped: a causal attention computes
    every (query, key) pair. Each kernel is timed by its own model (:func:`gemm_time`,
    :func:`fabless.perf.memory.stream_time`) with its own launch; the chain's time is their sum. The
    score traffic grows with ``heads x q_len x kv_len`` while the layer's weight GEMMs grow with
    ``q_len x hidden²``, so it weighs most in models with a small hidden size (multi-head
    attention: K and V per query head). ``dropout=False``: no dropout kernels. ``kv_heads``: the
    query heads of each KV head's group share one product (``batch x kv_heads`` products of
    ``q_len x heads / kv_heads`` rows, each KV head read once, as optimum-habana's
    ``gaudi_llama_repeat_kv`` reshapes the queries); None: one product per query head."""
    _check(batch=batch, q_len=q_len, kv_len=kv_len, heads=heads, head_dim=head_dim, v_head_dim=v_head_dim,
           kv_heads=kv_heads)
    if dtype not in DTYPE_BYTES:
        raise FablessError(f"attention: unknown dtype '{dtype}'; known: {', '.join(DTYPE_BYTES)}")
    kvh = kv_heads or heads
    if heads % kvh:
        raise FablessError(f"attention: heads ({heads}) must be a multiple of kv_heads ({kvh})")
    dv = v_head_dim or head_dim
    bh = batch * kvh
    rows = q_len * (heads // kvh)  # the query rows of one product
    elems = float(batch * heads) * q_len * kv_len
    b = float(DTYPE_BYTES[dtype])
    g = lambda m, n, k: gemm_time(m, n, k, chip, dtype, batch=bh, out_dtype=dtype, model=model)  # noqa: E731
    s = lambda name, r, w, f: stream_time(name, r, w, f * elems, chip, model=model)  # noqa: E731
    if not backward:
        kernels = [g(rows, kv_len, head_dim), s("softmax", elems * b, elems * b, SOFTMAX_FLOPS)]
        if dropout:
            kernels.append(s("dropout", elems * b, elems * (b + 1), DROPOUT_FLOPS))
        kernels.append(g(rows, dv, kv_len))
    else:
        kernels = [g(rows, kv_len, dv), g(kv_len, dv, rows)]
        if dropout:
            kernels.append(s("dropout_bwd", elems * (b + 1), elems * b, DROPOUT_BWD_FLOPS))
        kernels += [s("softmax_bwd", 2 * elems * b, elems * b, SOFTMAX_BWD_FLOPS),
                    g(rows, head_dim, kv_len), g(kv_len, head_dim, rows)]
    # kernels in sequence: time = sum of (launch + max(compute, memory)); the chain's bound is the
    # larger of its summed compute and summed memory, which then carries the kernels' bound times
    busy = sum(np.maximum(k.compute_s, k.memory_s) for k in kernels)
    compute = sum(k.compute_s for k in kernels)
    memory = sum(k.memory_s for k in kernels)
    overhead = sum(k.overhead_s for k in kernels)
    mem_bound = memory >= compute
    compute, memory = np.where(mem_bound, compute, busy), np.where(mem_bound, busy, memory)
    return combine("attention", compute, memory, overhead, sum(k.flops for k in kernels),
                   sum(k.bytes for k in kernels), chip.peak(dtype), chip.hbm_bytes_per_s,
                   {"kernel": "unfused", "score_elements": elems, "kernels": len(kernels)}, model)
