"""The result every operator model returns: arrays over designs, and why.

``time_s = overhead_s + max(compute_s, memory_s)``: the main loop of a kernel overlaps its
math with its memory traffic (double-buffered tiles), and pays a fixed launch cost; a GEMM adds the
part of one K step its pipeline leaves unhidden (``tiling["exposed_s"]``, :func:`combine`). ``bound``
names the larger term ("compute", "memory"), or "overhead" when the fixed cost exceeds both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fabless.perf.params import SCALAR


@dataclass(frozen=True)
class OpTime:
    """Time of one operator on each design (arrays of shape (n_designs,))."""

    op: str
    time_s: np.ndarray
    compute_s: np.ndarray
    memory_s: np.ndarray
    overhead_s: np.ndarray
    flops: np.ndarray
    bytes: np.ndarray  # HBM bytes moved (read + written) by the model's traffic estimate
    peak_flops_per_s: np.ndarray
    peak_bytes_per_s: np.ndarray
    tiling: dict[str, Any] = field(default_factory=dict)  # per design arrays: tile, waves, utilisation ...
    model: str = "detailed"

    @property
    def bound(self) -> np.ndarray:
        out = np.where(self.compute_s >= self.memory_s, "compute", "memory").astype(object)
        out[self.overhead_s > np.maximum(self.compute_s, self.memory_s)] = "overhead"
        return out

    @property
    def achieved_flops_per_s(self) -> np.ndarray:
        return self.flops / self.time_s

    @property
    def achieved_bytes_per_s(self) -> np.ndarray:
        return self.bytes / self.time_s

    @property
    def flops_utilisation(self) -> np.ndarray:
        """Achieved FLOP/s / dense datasheet peak."""
        return self.achieved_flops_per_s / self.peak_flops_per_s

    @property
    def bandwidth_utilisation(self) -> np.ndarray:
        """Achieved HBM bytes/s / peak HBM bandwidth."""
        return self.achieved_bytes_per_s / self.peak_bytes_per_s

    def row(self, i: int = 0) -> dict[str, Any]:
        """One design's numbers as plain Python values."""
        tiling = {k: _plain(v[i] if isinstance(v, np.ndarray) and v.ndim and v.shape[0] == len(self.time_s) else v)
                  for k, v in self.tiling.items()}
        if "tile_m" in tiling:
            tm, tn, chunks = tiling.pop("tile_m"), tiling.pop("tile_n"), tiling.pop("m_chunks")
            if tiling.get("mapping") == "systolic":
                tiling["tile"] = f"{tm:g}x{tn:g} array, m in {chunks:g} chunk(s)"
            else:
                tiling["tile"] = f"{tm:g}x{tn:g}"
        return {
            "op": self.op, "model": self.model,
            "time_s": float(self.time_s[i]), "compute_s": float(self.compute_s[i]),
            "memory_s": float(self.memory_s[i]), "overhead_s": float(self.overhead_s[i]),
            "flops": float(self.flops[i]), "bytes": float(self.bytes[i]),
            "tflops": float(self.achieved_flops_per_s[i] / 1e12),
            "gbps": float(self.achieved_bytes_per_s[i] / 1e9),
            "flops_utilisation": float(self.flops_utilisation[i]),
            "bandwidth_utilisation": float(self.bandwidth_utilisation[i]),
            "bound": str(self.bound[i]), "tiling": tiling,
        }


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def combine(op: str, compute_s: np.ndarray, memory_s: np.ndarray, overhead_s: np.ndarray, flops: Any,
            bytes_: Any, peak_flops: np.ndarray, peak_bytes: np.ndarray, tiling: dict | None = None,
            model: str = "detailed", exposed_s: Any = None) -> OpTime:
    """The OpTime of the terms, ``time = overhead + max(compute, memory)`` plus ``exposed_s`` where given (a
    GEMM's unhidden part of a K step, :func:`fabless.perf.gemm._split_k`); given Python floats (the models'
    one-design scalar path, see :class:`fabless.perf.params.OneDesign`) it builds the same 1-element arrays
    directly."""
    if isinstance(compute_s, float) and isinstance(memory_s, float) and isinstance(overhead_s, float):
        t = overhead_s + SCALAR.maximum(compute_s, memory_s)
        if exposed_s:
            t = t + exposed_s
        return OpTime(op, *one_element_arrays(t, compute_s, memory_s, overhead_s, flops, bytes_, peak_flops,
                                              peak_bytes), tiling or {}, model)
    n = max(np.size(compute_s), np.size(memory_s), np.size(overhead_s))

    def b(x: Any) -> np.ndarray:
        a = np.asarray(x, dtype=float)
        return a if a.shape == (n,) else np.full(n, float(a.reshape(-1)[0]) if a.size else np.nan)

    def same(x: Any) -> np.ndarray:
        """A value the same for every design (an operator's FLOPs, bytes): :func:`constant`."""
        a = np.asarray(x, dtype=float)
        if a.shape == (n,):
            return a
        return constant(float(a.reshape(-1)[0]) if a.size else np.nan, n)

    compute_s, memory_s, overhead_s = b(compute_s), b(memory_s), b(overhead_s)
    flops, bytes_, peak_flops, peak_bytes = same(flops), same(bytes_), b(peak_flops), b(peak_bytes)
    t = overhead_s + np.maximum(compute_s, memory_s)
    if exposed_s is not None:
        t = t + b(exposed_s)
    return OpTime(op, t, compute_s, memory_s, overhead_s,
                  flops, bytes_, peak_flops, peak_bytes, tiling or {}, model)


def constant(value: float, n: int) -> np.ndarray:
    """``value`` for each of ``n`` designs as a read-only array that stores it once (stride 0):
    what np.full gives, without writing n copies."""
    a = np.ndarray((n,), float, np.array([float(value)]), 0, (0,))
    a.flags.writeable = False
    return a


def one_element_arrays(*values: float) -> list[np.ndarray]:
    """Float arrays of shape (1,), one per value: the rows of one 2-D array (one allocation,
    where an array per value costs numpy's per-call overhead each time)."""
    return list(np.array([float(v) for v in values])[:, None])
