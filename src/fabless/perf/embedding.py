"""Embedding lookups (:class:`fabless.workload.ops.EmbeddingBag`) on one chip, with a cache of hot rows.

Recommendation tables are tens to hundreds of GB, so each lookup gathers one ``dim x dtype``
row from DRAM/HBM; the pooled sums are vector work. A fraction ``hit_rate`` of the gathered
rows may come from on-chip SRAM instead (MTIA's 128-256 MB SRAM, a GPU's L2, a software cache
of hot rows), an explicit input: fabless has no model of the access distribution, so the
caller says which fraction hits (scenario ``recsys.cache_hit_rate``, default 0: every row from
DRAM). One kernel::

    dram_bytes  = (1 - hit_rate) x gather_bytes + ids + pooled outputs   (+ backward's state)
    sram_bytes  = hit_rate x gather_bytes
    time_s      = launch + max(dram_bytes / (HBM peak x hbm_efficiency),
                               sram_bytes / on-chip bandwidth,
                               pooling FLOPs / vector rate)

The on-chip bandwidth is the chip preset's chip-wide SRAM level ``bandwidth_gb_s`` (MTIA v2:
2.7 TB/s); where the preset lists none, hits are taken to cost no bandwidth of their own (an
optimistic bound the estimate's notes say).
"""

from __future__ import annotations

from fabless.errors import FablessError
from fabless.hardware.schema import Chip
from fabless.perf.params import ChipParams
from fabless.perf.resident import sram_level
from fabless.perf.result import OpTime, combine
from fabless.workload.ops import EmbeddingBag


def sram_bandwidth_bytes_per_s(chip: Chip) -> float | None:
    """The chip-wide on-chip SRAM bandwidth the preset lists (bytes/s), or None."""
    level = sram_level(chip)
    return level[1] if level else None


def embedding_time(op: EmbeddingBag, params: ChipParams, *, hit_rate: float = 0.0,
                   sram_bytes_per_s: float | None = None) -> OpTime:
    """Time of one :class:`EmbeddingBag` on one chip (module docstring); ``sram_bytes_per_s``
    from :func:`sram_bandwidth_bytes_per_s` (None: hits take no bandwidth)."""
    if not 0.0 <= hit_rate <= 1.0:
        raise FablessError(f"cache_hit_rate must be a fraction from 0 to 1 (got {hit_rate})")
    d = params.single if params.single is not None else params
    hits = hit_rate * op.gather_bytes
    dram = op.bytes - hits
    memory = dram / float(d.hbm_rate_bytes_per_s)
    if sram_bytes_per_s and hits:
        memory = max(memory, hits / sram_bytes_per_s)
    compute = op.flops / float(d.vector_rate_flops_per_s)
    return combine(op.name, float(compute), float(memory), float(d.launch_overhead_s), op.flops, dram,
                   float(d.vector_flops_per_s), float(d.hbm_bytes_per_s), {"hit_rate": hit_rate, "sram_bytes": hits})


__all__ = ["embedding_time", "sram_bandwidth_bytes_per_s"]
