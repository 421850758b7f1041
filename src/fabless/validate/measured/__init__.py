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

from pathlib import Path

from fabless.errors import FablessError
from fabless.validate.measured import gemm_csv, nccl, serving, steps
from fabless.validate.measured.rows import CommRow, KernelRow, ScenarioRow

__all__ = ["CommRow", "KernelRow", "ScenarioRow", "FORMATS", "MODULES", "read_file"]


#: Format name -> parser module (``looks_like(text)``, ``parse(text, origin, **options)``).
MODULES = {"nccl-tests": nccl, "gemm-csv": gemm_csv, "training-log": steps, "vllm-serving": serving}
FORMATS = tuple(MODULES)


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
    mods = MODULES
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
