"""A user's own measurements, read from the files benchmarks print, for ``fabless calibrate``.

One small module per format, each with ``parse(text, origin) -> list of rows`` and
``looks_like(text) -> bool`` (format detection from content):

* :mod:`.nccl`: nccl-tests / rccl-tests stdout (the size, count, type, redop, time, algbw,
  busbw table, out-of-place and in-place) -> :class:`CommRow`.
* :mod:`.gemm_csv`: a GEMM sweep CSV (m, n, k, dtype and one of time_s, time_ms, time_us,
  tflops) -> :class:`KernelRow`.
* :mod:`.steps`: a training log's step times (Megatron-LM, NeMo, or a CSV of step, time_s)
  -> one :class:`ScenarioRow` (the median step).
* :mod:`.serving`: vLLM ``benchmark_serving.py`` results (its JSON or printed summary) ->
  :class:`ScenarioRow` for the median TTFT and TPOT.

Every malformed line or field is one :class:`~fabless.errors.FablessError` naming
``file:line`` and what would be right.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fabless.errors import FablessError


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


def _size(n: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size and n % size == 0:
            return f"{int(n // size)} {unit}"
    return f"{n:g} B"


def _modules():
    from fabless.validate.measured import gemm_csv, nccl, serving, steps

    return {"nccl-tests": nccl, "gemm-csv": gemm_csv, "training-log": steps, "vllm-serving": serving}


FORMATS = ("nccl-tests", "gemm-csv", "training-log", "vllm-serving")


def read_file(path: str | Path, fmt: str | None = None, **options) -> list[KernelRow | CommRow | ScenarioRow]:
    """The rows of one measurement file, its format ``fmt`` (one of :data:`FORMATS`) or
    detected from its content. ``options`` go to the format's parser (``collective``,
    ``ranks`` for nccl-tests)."""
    path = Path(path)
    if not path.is_file():
        raise FablessError(f"{path}: no such file")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise FablessError(f"{path}: not a text file; give one of: {', '.join(FORMATS)}") from None
    mods = _modules()
    if fmt is None:
        found = [name for name, mod in mods.items() if mod.looks_like(text)]
        if len(found) != 1:
            raise FablessError(f"{path}: cannot tell the format from its content; name it with --format "
                               f"({', '.join(FORMATS)})")
        fmt = found[0]
    if fmt not in mods:
        raise FablessError(f"--format must be one of {', '.join(FORMATS)}, got '{fmt}'")
    rows = mods[fmt].parse(text, str(path), **options)
    if not rows:
        raise FablessError(f"{path}: no measurement rows found in this {fmt} file")
    return rows
