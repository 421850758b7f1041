"""Memory-bound operators: copies, elementwise maps, normalisations, plain HBM reads.

Each is one kernel: ``time_s = launch_overhead_s + max(compute_s, memory_s)`` with
``memory_s = HBM bytes / (peak bandwidth x hbm_efficiency)`` and ``compute_s`` the vector
work at ``vector_efficiency`` of the chip's vector (non-matrix) peak.

Fusion: real stacks fuse a norm with the elementwise ops around it (residual add, scale,
activation, quantise): ``norm_time(..., fused_ops=k)`` adds their FLOPs but no extra trip to
HBM and no extra launch; :func:`elementwise_time` with ``n_ops`` > 1 and ``fused=False`` is the
unfused chain (each op reads and writes the whole tensor and pays its own launch).

A norm's backward (:func:`norm_backward_time`) is two kernels: the rows' kernel reads x and dy
and writes dx, and writes each of its ``P`` resident blocks' fp32 partial sums of the gain's
gradient (and the bias's, for LayerNorm); a second kernel reads those partials and writes the
gain's gradient. ``P = min(rows, cores x norm_bwd_partials_per_core)``: the partials are
``P x cols x 4`` bytes written and read again, a visible share of the traffic where the rows are
few and wide (GPT-3's 1024 x 12288 LayerNorm backward moves more partials than data). A family with
``norm_bwd_partials_per_core`` 0 runs it as one kernel without partials.

Achieved bandwidth (``gbps``) counts every byte read from and written to HBM: a copy of
1 GiB moves 2 GiB.
"""

from __future__ import annotations

import numpy as np

from fabless.errors import FablessError
from fabless.hardware.schema import DTYPE_BYTES
from fabless.perf.params import ChipParams
from fabless.perf.result import OpTime, combine
from fabless.perf.roofline import roofline


def _positive(name: str, v: float) -> None:
    if not (v > 0) or not np.isfinite(v):
        raise FablessError(f"{name} must be a positive number, got {v}")


def _stream(op: str, read_bytes: float, write_bytes: float, flops: float, chip: ChipParams, model: str,
            launches: float = 1.0, tiling: dict | None = None) -> OpTime:
    nbytes = read_bytes + write_bytes
    if model == "roofline":
        return roofline(op, flops, nbytes, chip)
    if model != "detailed":
        raise FablessError(f"unknown model '{model}'; use detailed or roofline")
    # one design: the same formulas on Python floats (numpy's per-call cost would dominate;
    # see params.OneDesign); a zero rate leaves it to numpy's inf/NaN
    d = chip.single
    if d is None or not (d.hbm_rate_bytes_per_s and d.vector_rate_flops_per_s):
        d = chip
    memory = nbytes / d.hbm_rate_bytes_per_s  # the HBM and vector rates: computed once per chip
    compute = flops / d.vector_rate_flops_per_s
    overhead = (d.launch_overhead_s if np.ndim(launches) == 0 and launches == 1  # x * 1 is x
                else d.launch_overhead_s * launches)
    return combine(op, compute, memory, overhead, flops, nbytes,
                   d.vector_flops_per_s, d.hbm_bytes_per_s, tiling or {})


def memcpy_time(nbytes: float, chip: ChipParams, *, model: str = "detailed") -> OpTime:
    """Copy ``nbytes`` from one HBM buffer to another (reads and writes ``nbytes`` each)."""
    _positive("bytes", nbytes)
    return _stream("memcpy", nbytes, nbytes, 0.0, chip, model, tiling={"copied_bytes": float(nbytes)})


def hbm_read_time(nbytes: float, chip: ChipParams, *, model: str = "detailed") -> OpTime:
    """Stream ``nbytes`` from HBM once (e.g. a decode step reading the weights)."""
    _positive("bytes", nbytes)
    return _stream("hbm_read", nbytes, 0.0, 0.0, chip, model)


def elementwise_time(n_elements: float, chip: ChipParams, dtype: str = "bf16", *, n_inputs: int = 1,
                     n_outputs: int = 1, flops_per_element: float = 1.0, n_ops: int = 1, fused: bool = True,
                     model: str = "detailed") -> OpTime:
    """``n_ops`` elementwise ops over ``n_elements``; fused, they read the inputs and write the
    outputs once in one kernel; unfused, each op is its own kernel and trip to HBM."""
    _positive("n_elements", n_elements)
    if dtype not in DTYPE_BYTES:
        raise FablessError(f"unknown dtype '{dtype}'; known: {', '.join(DTYPE_BYTES)}")
    b = DTYPE_BYTES[dtype]
    trips = 1 if fused else n_ops
    read = n_elements * n_inputs * b * trips
    write = n_elements * n_outputs * b * trips
    return _stream("elementwise", read, write, n_elements * flops_per_element * n_ops, chip, model,
                   launches=trips, tiling={"kernels": trips})


#: FLOPs per element of a norm's forward (RMSNorm: square, sum, scale, weight; LayerNorm: mean, subtract, square,
#: sum, scale, weight, bias); its backward does twice as many
NORM_FLOPS_PER_ELEMENT = {"rmsnorm": 4, "layernorm": 7}


def _check_norm(rows: float, cols: float, kind: str) -> None:
    _positive("rows", rows)
    _positive("cols", cols)
    if kind not in NORM_FLOPS_PER_ELEMENT:
        raise FablessError(f"norm kind must be rmsnorm or layernorm, got '{kind}'")


def norm_time(rows: float, cols: float, chip: ChipParams, dtype: str = "bf16", *, kind: str = "rmsnorm",
              fused_ops: int = 0, residual: bool = False, model: str = "detailed") -> OpTime:
    """RMSNorm/LayerNorm over ``rows x cols`` (normalised over cols), with ``fused_ops``
    elementwise ops fused in (activation, scale ...) and optionally a fused residual add
    (one more input read and the sum written back)."""
    _check_norm(rows, cols, kind)
    b = DTYPE_BYTES[dtype]
    n = rows * cols
    weights = cols * b * (2 if kind == "layernorm" else 1)
    read = n * b * (2 if residual else 1) + weights
    write = n * b * (2 if residual else 1)
    flops_per = NORM_FLOPS_PER_ELEMENT[kind] + fused_ops + (1 if residual else 0)
    return _stream("norm", read, write, n * flops_per, chip, model, tiling={"fused_ops": fused_ops})


def norm_backward_time(rows: float, cols: float, chip: ChipParams, dtype: str = "bf16", *, kind: str = "rmsnorm",
                       model: str = "detailed") -> OpTime:
    """The backward of RMSNorm/LayerNorm over ``rows x cols``: x and dy read and dx written (``dtype``), the
    gain (and bias) read and its gradient written, and the family's fp32 partial sums of that gradient
    (``norm_bwd_partials_per_core`` rows a core, at most ``rows``) written by the rows' kernel and read by a
    second kernel; twice the forward's FLOPs. Seconds and bytes as :func:`norm_time`'s."""
    _check_norm(rows, cols, kind)
    b = DTYPE_BYTES[dtype]
    n = rows * cols
    params = 2 if kind == "layernorm" else 1  # the gain, and LayerNorm's bias
    flops = 2.0 * n * NORM_FLOPS_PER_ELEMENT[kind]
    d = chip.single or chip
    partial_rows = np.minimum(rows, d.cores * d.norm_bwd_partials_per_core)
    partials = partial_rows * cols * 4.0 * params  # fp32, written once and read once
    launches = np.where(partial_rows > 0, 2.0, 1.0)
    if chip.single is not None:
        partials, launches = float(partials), float(launches)
    read = 2 * n * b + params * cols * b + partials
    write = n * b + params * cols * b + partials
    return _stream("norm", read, write, flops, chip, model, launches=launches)


def stream_time(op: str, read_bytes: float, write_bytes: float, flops: float, chip: ChipParams, *,
                model: str = "detailed") -> OpTime:
    """A generic memory-bound kernel: reads and writes the given bytes once, with ``flops``
    of vector work (embeddings, optimizer updates, routers)."""
    return _stream(op, float(read_bytes), float(write_bytes), float(flops), chip, model)
