"""The bare roofline, kept as a reference: time = max(FLOPs / peak, compulsory bytes / peak
bandwidth), no launch cost, no tiling, no efficiencies. The detailed models never beat it.
"""

from __future__ import annotations

import numpy as np

from fabless.perf.params import ChipParams
from fabless.perf.result import OpTime, combine


def roofline(op: str, flops: float, bytes_: float, chip: ChipParams, dtype: str | None = None) -> OpTime:
    """Roofline time of an operator doing ``flops`` (at ``dtype``'s matrix peak, or the vector
    peak when ``dtype`` is None) and moving ``bytes_`` compulsory HBM bytes."""
    peak = chip.peak(dtype) if dtype is not None else chip.vector_flops_per_s
    return combine(op, np.asarray(flops, float) / peak, np.asarray(bytes_, float) / chip.hbm_bytes_per_s,
                   np.zeros(len(chip)), flops, bytes_, peak, chip.hbm_bytes_per_s, {}, model="roofline")
