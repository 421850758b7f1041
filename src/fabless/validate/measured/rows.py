"""The rows the measurement parsers return: one measured kernel, collective or whole-model
number each, with where it was read (``file:line``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KernelRow:
    """One measured GEMM ``C[batch] = A (m x k) @ B (k x n)``: its shape, datatype and time."""

    where: str  # "file:line"
    m: int
    n: int
    k: int
    dtype: str
    time_s: float
    batch: int = 1

    @property
    def label(self) -> str:
        b = f"{self.batch}x " if self.batch > 1 else ""
        return f"gemm {b}{self.m}x{self.n}x{self.k} {self.dtype}"


@dataclass(frozen=True)
class CommRow:
    """One measured collective: kind, nccl-tests size (bytes per rank), ranks and time."""

    where: str
    kind: str  # fabless.perf.collectives.KINDS
    bytes: float
    ranks: int
    time_s: float
    in_place: bool
    device: str | None = None  # the GPU name the log prints, if it does
    nodes: int | None = None  # hosts the ranks ran on, if the log lists them
    nvls: bool = True  # False where the run turned NVLink SHARP off (NCCL_ALGO=Ring, NCCL_NVLS_ENABLE=0)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.ranks} x {_size(self.bytes)} {'in-place' if self.in_place else 'out-of-place'}"


@dataclass(frozen=True)
class ScenarioRow:
    """One measured whole-model number (a training step, a serving TTFT or TPOT), in seconds,
    predicted by :func:`fabless.estimate.engine.estimate` on the user's scenario."""

    where: str
    metric: str  # an Estimate metric: "step_time_s", "ttft_s" or "tpot_s"
    time_s: float
    label: str
    concurrency: int | None = None  # a serving benchmark's maximum concurrency, where it says


def _size(n: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size and n % size == 0:
            return f"{int(n // size)} {unit}"
    return f"{n:g} B"
