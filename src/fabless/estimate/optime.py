"""Time of one workload operator on one chip, for the system-level engine.

A cached wrapper over :func:`fabless.perf.ops.op_time`: a training step repeats the
same few shapes many times and a plan search re-times them for every plan. It also
maps a datatype the chip lacks to the one its matrix units would run instead (an fp8
matmul on an A100 runs in bf16), since a scenario's precision is a wish, not a fact
about every chip.
"""

from __future__ import annotations

from dataclasses import replace

from fabless.perf.ops import op_time
from fabless.perf.params import ChipParams
from fabless.workload import ops as W

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
