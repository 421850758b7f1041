"""Serving benchmark results: median time to first token and time per output token.

Read from vLLM's ``benchmark_serving.py``: its ``--save-result`` JSON (keys
``median_ttft_ms``, ``median_tpot_ms``) or the summary it prints (``Median TTFT (ms):``,
``Median TPOT (ms):``); TensorRT-LLM's port of that script (``tensorrt_llm/serve/scripts``,
run against ``trtllm-serve``) prints the same. Each is one :class:`ScenarioRow`, predicted by
the estimate's ``ttft_s`` and ``tpot_s`` for the scenario the user gives (``--scenario``: the
model, system, precision, batch as the benchmark's concurrency, input and output tokens). The
benchmark's maximum concurrency (``max_concurrency``, ``Maximum request concurrency:``), where
it is given, must equal the scenario's batch."""

from __future__ import annotations

import json
import re

from fabless.errors import FablessError
from fabless.validate.measured.rows import ScenarioRow

#: JSON key / printed label -> (metric, what it is).
KEYS = {"median_ttft_ms": ("ttft_s", "median time to first token"),
        "median_tpot_ms": ("tpot_s", "median time per output token")}
_TEXT = {"ttft_s": re.compile(r"^\s*Median TTFT \(ms\):\s*(\S+)"),
         "tpot_s": re.compile(r"^\s*Median TPOT \(ms\):\s*(\S+)")}
_CONCURRENCY = re.compile(r"^\s*#?\s*Maximum request concurrency:\s*(\d+)", re.MULTILINE)


def _json(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return None


def looks_like(text: str) -> bool:
    """A benchmark_serving result: its JSON, or its printed summary."""
    data = _json(text) if text.lstrip().startswith("{") else None
    if isinstance(data, dict):
        return any(k in data for k in KEYS)
    return "Serving Benchmark Result" in text and "Median TPOT (ms)" in text


def _ms(value, origin: str, where: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = -1.0
    if not v > 0 or v == float("inf"):
        raise FablessError(f"{origin}{where} must be a number of milliseconds more than 0, got {value!r}")
    return v * 1e-3


def parse(text: str, origin: str, **_: object) -> list[ScenarioRow]:
    """The median TTFT and TPOT rows of one result (see the module docstring)."""
    data = _json(text) if text.lstrip().startswith("{") else None
    rows: list[ScenarioRow] = []
    if text.lstrip().startswith("{"):
        if not isinstance(data, dict):
            raise FablessError(f"{origin}: not valid JSON; expected benchmark_serving.py's --save-result file")
        conc = data.get("max_concurrency")
        conc = int(conc) if isinstance(conc, (int, float)) and not isinstance(conc, bool) and conc > 0 else None
        for key, (metric, what) in KEYS.items():
            if key in data:
                rows.append(ScenarioRow(f"{origin}:{key}", metric, _ms(data[key], origin, f": field '{key}'"), what,
                                        conc))
        return rows
    m = _CONCURRENCY.search(text)
    conc = int(m.group(1)) if m else None
    for lineno, line in enumerate(text.splitlines(), 1):
        for metric, pattern in _TEXT.items():
            m = pattern.match(line)
            if m:
                what = next(w for k, (mt, w) in KEYS.items() if mt == metric)
                rows.append(ScenarioRow(f"{origin}:{lineno}", metric, _ms(m.group(1), origin, f":{lineno}: {what}"), what,
                                        conc))
    return rows
