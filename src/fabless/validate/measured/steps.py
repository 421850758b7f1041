"""Training logs: step times, one :class:`ScenarioRow` (the median step) per file.

Read from any of:

* Megatron-LM's iteration lines, ``... | elapsed time per iteration (ms): 1234.5 | ...``;
* NeMo / PyTorch Lightning progress lines, ``train_step_timing in s=1.23``;
* a CSV with a header naming ``step`` and one of ``time_s``, ``time_ms``, ``step_time_s``.

The first step of a log with three or more is dropped (it includes start-up and compilation);
the row is the median of the rest. Its prediction is the estimate's ``step_time_s`` for the
scenario the user gives (``--scenario``)."""

from __future__ import annotations

import csv
import io
import re
import statistics

from fabless.errors import FablessError
from fabless.validate.measured.rows import ScenarioRow

_MEGATRON = re.compile(r"elapsed time per iteration \(ms\):\s*(\S+)")
_NEMO = re.compile(r"train_step_timing(?: in s)?\s*[=:]\s*([^\s,|\]]+)")
_CSV_TIME = {"time_s": 1.0, "step_time_s": 1.0, "time_ms": 1e-3}


def _csv_header(text: str) -> list[str]:
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return [c.strip().lower() for c in next(csv.reader([line]))]
    return []


def looks_like(text: str) -> bool:
    """A Megatron or NeMo training log, or a CSV of step times."""
    head = _csv_header(text)
    if "step" in head and any(c in head for c in _CSV_TIME) and not {"m", "n", "k"} <= set(head):
        return True
    return bool(_MEGATRON.search(text) or _NEMO.search(text))


def _value(tok: str, origin: str, lineno: int, what: str) -> float:
    try:
        v = float(tok)
    except ValueError:
        v = -1.0
    if not v > 0 or v == float("inf"):
        raise FablessError(f"{origin}:{lineno}: {what} must be a number more than 0, got '{tok}'")
    return v


def parse(text: str, origin: str, **_: object) -> list[ScenarioRow]:
    """The median step time of one training log (see the module docstring)."""
    steps: list[tuple[int, float]] = []
    head = _csv_header(text)
    if "step" in head and any(c in head for c in _CSV_TIME):
        col = next(c for c in _CSV_TIME if c in head)
        lines = [(i, ln) for i, ln in enumerate(text.splitlines(), 1) if ln.strip() and not ln.lstrip().startswith("#")]
        for lineno, line in lines[1:]:
            fields = next(csv.reader(io.StringIO(line)))
            if len(fields) != len(head):
                raise FablessError(f"{origin}:{lineno}: {len(fields)} fields, the header has {len(head)}")
            rec = dict(zip(head, (f.strip() for f in fields)))
            steps.append((lineno, _value(rec[col], origin, lineno, f"column '{col}'") * _CSV_TIME[col]))
    else:
        for lineno, line in enumerate(text.splitlines(), 1):
            m = _MEGATRON.search(line)
            if m:
                steps.append((lineno, _value(m.group(1), origin, lineno, "elapsed time per iteration (ms)") * 1e-3))
                continue
            m = _NEMO.search(line)
            if m:
                steps.append((lineno, _value(m.group(1), origin, lineno, "train_step_timing") * 1.0))
    if not steps:
        return []
    kept = steps[1:] if len(steps) >= 3 else steps
    label = f"training step, median of {len(kept)} steps" + (" (first dropped)" if len(kept) < len(steps) else "")
    return [ScenarioRow(f"{origin}:{steps[0][0]}-{steps[-1][0]}", "step_time_s",
                        statistics.median(t for _, t in kept), label)]
