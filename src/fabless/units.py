"""Unit constants and parsing of human quantities ("1GiB", "20/s", "50ms").

Inside fabless every quantity is SI in the unit its name says (``_s``,
``_bytes``, ``_flops``, ``_w``, ``_usd``). These helpers turn what people type
into those units, and reject what they cannot read with a one-line error.
"""

from __future__ import annotations

import math
import re

from fabless import bounds
from fabless.errors import InvalidInput

KIB, MIB, GIB, TIB = 2**10, 2**20, 2**30, 2**40
KB, MB, GB, TB = 1e3, 1e6, 1e9, 1e12
TERA = 1e12
GIGA = 1e9

_BYTE_UNITS = {
    "": 1, "b": 1,
    "kb": KB, "mb": MB, "gb": GB, "tb": TB,
    "kib": KIB, "mib": MIB, "gib": GIB, "tib": TIB,
}
_TIME_UNITS = {"": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9, "min": 60.0, "h": 3600.0}
_RATE_UNITS = {"s": 1.0, "sec": 1.0, "min": 1 / 60, "h": 1 / 3600, "hour": 1 / 3600}

_NUM = r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"


def _in_range(x: float, text: object, what: str, unit: str, hi: float) -> float:
    """``x`` if it is finite, positive and at most ``hi``; else a one-line error naming ``what``."""
    if not math.isfinite(x) or x <= 0:
        raise InvalidInput(f"{what}: must be a positive finite {unit}, got '{text}'")
    if x > hi:
        raise InvalidInput(f"{what}: '{text}' is more than the {hi:.0e} {unit} fabless accepts")
    return x


def _with_unit(text: str | int | float, what: str, units: dict[str, float], suffix: str, unit: str,
               limit: float, hint: str) -> float:
    """A plain number (already in ``unit``) or a number with one of ``units``' suffixes (matched
    by the regex ``suffix``, case-insensitive), in range; ``hint`` ends the error line."""
    if isinstance(text, (int, float)):
        return _in_range(float(text), text, what, unit, limit)
    m = re.fullmatch(_NUM + rf"\s*({suffix})", str(text).strip())
    if not m or m.group(2).lower() not in units:
        raise InvalidInput(f"{what}: cannot read '{text}' {hint}")
    return _in_range(float(m.group(1)) * units[m.group(2).lower()], text, what, unit, limit)


def parse_bytes(text: str | int | float, what: str = "size") -> float:
    """Bytes from '1GiB', '512MB', '4096' (plain numbers are bytes); positive, finite and at most
    :data:`fabless.bounds.MAX_BYTES`."""
    return _with_unit(text, what, _BYTE_UNITS, r"[a-zA-Z]*", "bytes", bounds.MAX_BYTES,
                      "as a size; write e.g. 1GiB, 512MB or 4096 (bytes)")


def parse_seconds(text: str | int | float, what: str = "time") -> float:
    """Seconds from '50ms', '2s', '1.5' (plain numbers are seconds); positive, finite and at most
    :data:`fabless.bounds.MAX_SECONDS`."""
    return _with_unit(text, what, _TIME_UNITS, r"[a-zA-Zµ]*", "seconds", bounds.MAX_SECONDS,
                      "as a time; write e.g. 2s, 50ms or 200us")


def parse_rate_per_s(text: str | int | float, what: str = "rate") -> float:
    """Events per second from '20/s', '20000/min', '5' (plain numbers are per second); positive,
    finite and at most :data:`fabless.bounds.MAX_RATE_PER_S`."""
    if isinstance(text, (int, float)):
        return _in_range(float(text), text, what, "per second", bounds.MAX_RATE_PER_S)
    m = re.fullmatch(_NUM + r"\s*(?:/\s*([a-zA-Z]+))?", str(text).strip())
    if not m or (m.group(2) and m.group(2).lower() not in _RATE_UNITS):
        raise InvalidInput(f"{what}: cannot read '{text}' as a rate; write e.g. 20/s or 20000/min")
    return _in_range(float(m.group(1)) * _RATE_UNITS[(m.group(2) or "s").lower()], text, what, "per second",
                     bounds.MAX_RATE_PER_S)
