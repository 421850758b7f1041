"""A GEMM sweep as CSV: one measured matrix multiply per line.

Columns (a header line is required; names are case-insensitive; lines starting with ``#`` are
comments): ``m``, ``n``, ``k`` (A is m x k, B is k x n), ``dtype`` (bf16, fp16, fp8, tf32,
fp32, int8; also ``precision``), optional ``batch``, and the result as one of ``time_s``,
``time_ms``, ``time_us`` or ``tflops`` (then time = 2·m·n·k·batch / (tflops·1e12)).
"""

from __future__ import annotations

import csv
import io

from fabless.errors import FablessError
from fabless.validate.measured.rows import KernelRow

DTYPES = {"bf16": "bf16", "bfloat16": "bf16", "fp16": "fp16", "float16": "fp16", "half": "fp16", "fp8": "fp8",
          "e4m3": "fp8", "fp8_e4m3": "fp8", "float8_e4m3fn": "fp8", "tf32": "tf32", "fp32": "fp32",
          "float32": "fp32", "float": "fp32", "int8": "int8"}
TIME_COLUMNS = {"time_s": 1.0, "time_ms": 1e-3, "time_us": 1e-6}


def _lines(text: str) -> list[tuple[int, str]]:
    return [(i, ln) for i, ln in enumerate(text.splitlines(), start=1) if ln.strip() and not ln.lstrip().startswith("#")]


def _header(text: str) -> list[str]:
    lines = _lines(text)
    return [c.strip().lower() for c in next(csv.reader([lines[0][1]]))] if lines else []


def looks_like(text: str) -> bool:
    """A CSV whose header names m, n and k."""
    return {"m", "n", "k"} <= set(_header(text))


def parse(text: str, origin: str, **_: object) -> list[KernelRow]:
    """The rows of one GEMM sweep CSV (see the module docstring)."""
    lines = _lines(text)
    if not lines:
        raise FablessError(f"{origin}: empty file; expected a header line m,n,k,dtype,time_us (or time_s, time_ms, tflops)")
    head_line, head = lines[0][0], _header(text)
    missing = [c for c in ("m", "n", "k") if c not in head]
    dtype_col = "dtype" if "dtype" in head else "precision" if "precision" in head else None
    if missing or dtype_col is None:
        what = missing[0] if missing else "dtype"
        raise FablessError(f"{origin}:{head_line}: the header lacks column '{what}'; expected m,n,k,dtype and one of "
                           f"time_s, time_ms, time_us, tflops")
    result = [c for c in (*TIME_COLUMNS, "tflops") if c in head]
    if len(result) != 1:
        raise FablessError(f"{origin}:{head_line}: the header needs exactly one of time_s, time_ms, time_us, tflops, "
                           f"got {', '.join(result) or 'none'}")
    col = result[0]
    rows: list[KernelRow] = []
    for lineno, line in lines[1:]:
        fields = next(csv.reader(io.StringIO(line)))
        if len(fields) != len(head):
            raise FablessError(f"{origin}:{lineno}: {len(fields)} fields, the header has {len(head)}")
        rec = {h: v.strip() for h, v in zip(head, fields)}
        dims = {}
        for c in ("m", "n", "k", "batch"):
            if c not in rec:
                continue
            try:
                v = float(rec[c])
            except ValueError:
                v = -1.0
            if not (v >= 1 and v == int(v)):
                raise FablessError(f"{origin}:{lineno}: column '{c}' must be a positive whole number, got '{rec[c]}'")
            dims[c] = int(v)
        dtype = DTYPES.get(rec[dtype_col].lower())
        if dtype is None:
            raise FablessError(f"{origin}:{lineno}: column '{dtype_col}' '{rec[dtype_col]}' is not a known datatype; "
                               f"known: {', '.join(sorted(set(DTYPES)))}")
        try:
            value = float(rec[col])
        except ValueError:
            value = -1.0
        if not value > 0 or value == float("inf"):
            raise FablessError(f"{origin}:{lineno}: column '{col}' must be a number more than 0, got '{rec[col]}'")
        batch = dims.get("batch", 1)
        flops = 2.0 * dims["m"] * dims["n"] * dims["k"] * batch
        time_s = flops / (value * 1e12) if col == "tflops" else value * TIME_COLUMNS[col]
        rows.append(KernelRow(f"{origin}:{lineno}", dims["m"], dims["n"], dims["k"], dtype, time_s, batch))
    return rows
