"""How numbers look in tables and sentences, in one place.

Every rich table goes through :func:`cell`; columns that need a unit or a percentage pass the
output of :func:`pct`, :func:`seconds` or :func:`plan` instead of the raw value. JSON output
never goes through here (it carries the raw values).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

#: Significant digits of a number in a table.
DIGITS = 4


class Num(str):
    """Text of a number (a percentage, a time with its unit): a table right-aligns it like one."""


def num(value: Any, digits: int = DIGITS) -> str:
    """A number for people: ``digits`` significant digits (never fewer than the integer part
    has), thousands separators, no trailing zeros; ``-`` for None or NaN.

    ``num(1234.56) == "1,235"``, ``num(0.016651) == "0.01665"``, ``num(12345.6) == "12,346"``;
    values under 1e-4 in magnitude are written with an exponent (``5.721e-05``).
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return num(value.item(), digits)
    if not isinstance(value, float):
        return str(value)
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0"
    if abs(value) < 1e-4:
        return f"{value:.{digits}g}"
    exponent = math.floor(math.log10(abs(value)))
    text = f"{value:,.{max(0, digits - 1 - exponent)}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def pct(fraction: float | None, decimals: int = 1, signed: bool = False) -> Num:
    """A fraction as a percentage with ``decimals`` decimals: ``pct(0.4476) == "44.8%"``; a
    non-zero value that would round to zero shows as ``<0.1%`` (or ``>-0.1%``); ``-`` for None/NaN.
    ``signed`` adds ``+`` to positive values (errors, changes)."""
    if fraction is None or (isinstance(fraction, float) and math.isnan(fraction)):
        return Num("-")
    p = float(fraction) * 100
    smallest = 10.0 ** -decimals
    if p != 0 and abs(p) < smallest / 2:
        return Num(f"<{smallest:.{decimals}f}%" if p > 0 else f">-{smallest:.{decimals}f}%")
    return Num(f"{p:{'+' if signed else ''},.{decimals}f}%")


_TIME_UNITS = (("h", 3600.0), ("s", 1.0), ("ms", 1e-3), ("us", 1e-6))


def seconds(t: float | None, digits: int = DIGITS) -> Num:
    """A duration in seconds, in the largest unit that keeps it at least 1:
    ``seconds(0.02394) == "23.94 ms"``, ``seconds(7200) == "2 h"``, ``seconds(3e-9) == "3 ns"``."""
    if t is None or (isinstance(t, float) and math.isnan(t)):
        return Num("-")
    if t == 0:
        return Num("0 s")
    if math.isinf(t):
        return Num("inf s" if t > 0 else "-inf s")
    for unit, scale in _TIME_UNITS:
        if abs(t) >= scale:
            return Num(f"{num(t / scale, digits)} {unit}")
    return Num(f"{num(t * 1e9, digits)} ns")


_AXES = ("tp", "cp", "ep", "pp", "dp")


def plan(p: Any, training: bool = False) -> str:
    """A parallel plan as text, e.g. ``tp8 pp2 dp4``: tp and dp always, the other axes when more
    than 1, and ``attn-dp``. ``p`` is a :class:`~fabless.estimate.plan.Plan` or its ``as_dict()``.
    A training plan also needs ZeRO, recompute and the micro-batch: its ``Plan.label()`` (or the
    ``label`` an alternative plan carries)."""
    if training:
        return p["label"] if isinstance(p, Mapping) else p.label()
    get = p.get if isinstance(p, Mapping) else (lambda k, default=None: getattr(p, k, default))
    parts = [f"{k}{get(k, 1)}" for k in _AXES if k in ("tp", "dp") or (get(k, 1) or 1) > 1]
    if get("attn_dp", False):
        parts.append("attn-dp")
    return " ".join(parts)


def cell(value: Any) -> str:
    """The text of one table cell: numbers by :func:`num`, text as it is."""
    if isinstance(value, str):
        return value
    return num(value)


def is_numeric(value: Any) -> bool:
    """Whether a cell holds a number (raw or already formatted), so its column right-aligns."""
    return value is None or isinstance(value, (int, float, Num)) or (hasattr(value, "item") and not isinstance(value, str))


__all__ = ["DIGITS", "Num", "cell", "is_numeric", "num", "pct", "plan", "seconds"]
