"""Operands resident in a chip's on-chip SRAM: what a kernel reads from SRAM instead of DRAM/HBM.

A chip with a large chip-wide SRAM (MTIA v1/v2's 128/256 MB, a TPU's VMEM) can keep a small
model's weights, and a small batch's activations, on chip from one step to the next: the kernels
then read those bytes at the SRAM's bandwidth and only the rest from DRAM. The rule, the same
for every chip (:func:`residency`), with ``W`` the bytes of weights a step keeps (the caller's
count: weights, and for training their gradients and optimizer state) and ``A`` the largest
activation traffic of one kernel (inputs read + outputs written)::

    none     the chip lists no chip-wide SRAM level with a bandwidth, or W > capacity
    weights  W <= capacity < W + A: each weight is read from SRAM, activations from DRAM
    all      W + A <= capacity: weights and activations stay on chip; no DRAM traffic

The capacity and bandwidth are the chip preset's chip-scope ``on_chip`` level that lists a
``bandwidth_gb_s`` (:func:`sram_level`). A GPU's L2 preset lists no bandwidth, so a GPU is
timed as before (its GEMM model already keeps a GEMM's operands in L2 within one kernel, see
:mod:`fabless.perf.gemm`); giving its L2 a sourced bandwidth would make the rule apply to it.

One kernel whose ``sram_bytes`` of its traffic ``bytes`` come from SRAM (:func:`resident_time`)::

    memory_s = max(DRAM memory_s x (1 - sram_bytes / bytes), sram_bytes / SRAM bandwidth)
    time_s   = overhead + max(compute_s, memory_s)

The SRAM's peak bandwidth is used as is (no efficiency factor), as embedding cache hits are
(:mod:`fabless.perf.embedding`).
"""

from __future__ import annotations

from fabless.hardware.schema import Chip
from fabless.perf.result import OpTime, combine

RESIDENCY = ("none", "weights", "all")


def sram_level(chip: Chip) -> tuple[float, float] | None:
    """(capacity bytes, bandwidth bytes/s) of the chip-wide SRAM level with the highest listed
    bandwidth, or None when the preset lists no chip-scope level with a bandwidth."""
    levels = [lv for lv in chip.memory.on_chip if lv.scope == "chip" and lv.bandwidth_gb_s]
    if not levels:
        return None
    lv = max(levels, key=lambda lv: lv.bandwidth_gb_s)
    return lv.total_bytes, lv.bandwidth_gb_s * 1e9


def residency(weight_bytes: float, activation_bytes: float, capacity_bytes: float | None) -> str:
    """What stays in SRAM (:data:`RESIDENCY`, module docstring) for ``weight_bytes`` of weights
    and kernels of at most ``activation_bytes`` of activation traffic."""
    if not capacity_bytes or weight_bytes > capacity_bytes:
        return "none"
    return "all" if weight_bytes + activation_bytes <= capacity_bytes else "weights"


def op_sram_bytes(op, traffic_bytes: float, mode: str) -> float:
    """Bytes of one kernel's DRAM traffic (``traffic_bytes``, the op model's) that residency
    ``mode`` serves from SRAM: all of it, its weight operand, or none."""
    if mode == "all":
        return traffic_bytes
    if mode == "weights":
        return min(traffic_bytes, float(getattr(op, "weight_bytes", 0.0)))
    return 0.0


def resident_time(r: OpTime, sram_bytes: float, sram_bytes_per_s: float) -> OpTime:
    """``r`` (a kernel timed with all its traffic from DRAM) with ``sram_bytes`` of that traffic
    read from SRAM at ``sram_bytes_per_s`` instead (module docstring)."""
    total = float(r.bytes[0])
    if sram_bytes <= 0 or total <= 0:
        return r
    dram_fraction = max(0.0, 1.0 - sram_bytes / total)
    memory = float(max(float(r.memory_s[0]) * dram_fraction, sram_bytes / sram_bytes_per_s))
    return combine(r.op, float(r.compute_s[0]), memory, float(r.overhead_s[0]), float(r.flops[0]),
                   total * dram_fraction, float(r.peak_flops_per_s[0]), float(r.peak_bytes_per_s[0]),
                   dict(r.tiling), r.model)


def activation_bytes(op) -> float:
    """An operator's activation traffic: the bytes it reads and writes, less its weight."""
    return float(op.bytes_read + op.bytes_written - getattr(op, "weight_bytes", 0.0))


__all__ = ["RESIDENCY", "activation_bytes", "op_sram_bytes", "resident_time", "residency", "sram_level"]
