"""nccl-tests / rccl-tests output: the performance table, one :class:`CommRow` per size and
placement (out-of-place, in-place).

The table's columns (nccl-tests ``src/common.cu``)::

    size  count  type  redop  [root]  time algbw busbw #wrong  time algbw busbw #wrong
    (B)   (elements)                  (us) (GB/s) (GB/s)       (us) (GB/s) (GB/s)

``size`` is the per-rank buffer in bytes (all-gather: the gathered output; reduce-scatter: the
input), the same convention as :func:`fabless.perf.collectives.collective_time`; the first
``time`` is out-of-place, the second in-place, in microseconds. Older versions have no
``root`` column and may print an ``error`` float in place of ``#wrong``.

Which collective: the ``<name>_perf`` binary named in the text (the command line, or the
``Collective test starting`` line), else from the columns: a reduction whose ``count`` x
element size equals ``size`` is an all-reduce, one whose ``size`` is ``ranks`` times that is a
reduce-scatter; all-gather and all-to-all print the same columns, so they need the name (or
``--collective``). Ranks: the ``#  Rank  N ... device ...`` lines (or ``--ranks``), which also
give the hosts. A log that sets ``NCCL_ALGO=Ring`` or ``NCCL_NVLS_ENABLE=0`` ran without NVLink
SHARP, and its rows are predicted so.
"""

from __future__ import annotations

import re

from fabless.errors import FablessError
from fabless.perf.collectives import normalize_kind
from fabless.validate.measured.rows import CommRow

#: nccl-tests binaries fabless models -> collective kind.
BINARIES = {"all_reduce": "all_reduce", "all_gather": "all_gather", "reduce_scatter": "reduce_scatter",
            "alltoall": "all_to_all", "sendrecv": "send_recv"}
#: Binaries it does not model (so their output is refused rather than misread).
UNMODELLED = ("broadcast", "reduce", "gather", "scatter", "hypercube")

#: Bytes per element of nccl-tests' type names.
TYPE_BYTES = {"int8": 1, "char": 1, "uint8": 1, "int32": 4, "int": 4, "uint32": 4, "int64": 8, "uint64": 8,
              "half": 2, "float16": 2, "float": 4, "float32": 4, "double": 8, "float64": 8, "bfloat16": 2,
              "f8e4m3": 1, "f8e5m2": 1, "fp8_e4m3": 1, "fp8_e5m2": 1}

_BINARY = re.compile(r"\b(all_reduce|all_gather|reduce_scatter|alltoall|sendrecv|broadcast|reduce|gather|scatter"
                     r"|hypercube)_perf\b")
#: Settings in the log (a command line, an environment dump) that keep NCCL off NVLink SHARP.
_NO_NVLS = re.compile(r"NCCL_ALGO\s*=\s*\"?ring\b|NCCL_NVLS_ENABLE\s*=\s*0", re.IGNORECASE)
_RANK = re.compile(r"^#?\s*Rank\s+(\d+)\s+(?:Group\s+\d+\s+)?Pid\s+\d+\s+on\s+(\S+)\s+device\s+\d+\s+\[[^\]]*\]\s*(.*)$")


def looks_like(text: str) -> bool:
    """An nccl-tests table: its header names out-of-place and busbw."""
    return "out-of-place" in text and "busbw" in text


def _collective(text: str, origin: str, given: str | None) -> str | None:
    if given:
        return normalize_kind(given)
    names = sorted(set(_BINARY.findall(text)))
    if len(names) > 1:
        raise FablessError(f"{origin}: names several nccl-tests binaries ({', '.join(n + '_perf' for n in names)}); "
                           f"give one test's output per file, or name it with --collective")
    if names:
        if names[0] in UNMODELLED:
            raise FablessError(f"{origin}: {names[0]}_perf is not modelled; fabless calibrates "
                               f"{', '.join(b + '_perf' for b in BINARIES)}")
        return BINARIES[names[0]]
    return None


def _number(tok: str, origin: str, lineno: int, what: str) -> float:
    try:
        v = float(tok)
    except ValueError:
        raise FablessError(f"{origin}:{lineno}: column '{what}' must be a number, got '{tok}'") from None
    if not v == v or v < 0:
        raise FablessError(f"{origin}:{lineno}: column '{what}' must be a number >= 0, got '{tok}'")
    return v


def parse(text: str, origin: str, *, collective: str | None = None, ranks: int | None = None) -> list[CommRow]:
    """The rows of one nccl-tests output (see the module docstring). Sizes of 0 bytes are
    skipped (NCCL returns at once). A line that starts with a whole number but does not read
    as a table row is an error naming ``origin:line``."""
    kind = _collective(text, origin, collective)
    rank_lines: dict[int, tuple[str, str]] = {}
    table: list[tuple[int, list[str]]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        m = _RANK.match(line)
        if m:
            rank_lines[int(m.group(1))] = (m.group(2), m.group(3).strip())
            continue
        if not line or line.startswith("#"):
            continue
        toks = line.split()
        if not toks[0].isdigit():
            continue  # a shell prompt, an NCCL INFO line, ...: not part of the table
        table.append((lineno, toks))
    n = ranks or len(rank_lines)
    if not n:
        raise FablessError(f"{origin}: no '#  Rank N ... device ...' lines to count the ranks from; pass --ranks")
    if n < 2:
        raise FablessError(f"{origin}: {n} rank: a collective needs at least 2")
    devices = sorted({d for _, d in rank_lines.values() if d})
    device = devices[0] if len(devices) == 1 else None
    nodes = len({h for h, _ in rank_lines.values()}) or None
    nvls = not _NO_NVLS.search(text)
    rows: list[CommRow] = []
    for lineno, toks in table:
        if len(toks) not in (8, 9, 12, 13):
            raise FablessError(f"{origin}:{lineno}: expected the nccl-tests columns size count type redop [root] "
                               f"time algbw busbw #wrong [time algbw busbw #wrong], got {len(toks)} fields")
        size = _number(toks[0], origin, lineno, "size")
        count = _number(toks[1], origin, lineno, "count")
        dtype, redop = toks[2].lower(), toks[3].lower()
        rest = toks[5:] if len(toks) in (9, 13) else toks[4:]
        if dtype not in TYPE_BYTES:
            raise FablessError(f"{origin}:{lineno}: column 'type' '{toks[2]}' is not an nccl-tests type; "
                               f"known: {', '.join(TYPE_BYTES)}")
        if size == 0:
            continue
        row_kind = kind or _infer_kind(size, count, TYPE_BYTES[dtype], redop, n, origin, lineno)
        for i, in_place in ((0, False), (4, True)):
            if i >= len(rest):
                break
            time_us = _number(rest[i], origin, lineno, "in-place time" if in_place else "out-of-place time")
            if time_us <= 0:
                raise FablessError(f"{origin}:{lineno}: a time must be more than 0 us, got '{rest[i]}'")
            rows.append(CommRow(f"{origin}:{lineno}", row_kind, size, n, time_us * 1e-6, in_place, device, nodes, nvls))
    return rows


def _infer_kind(size: float, count: float, elt: int, redop: str, n: int, origin: str, lineno: int) -> str:
    if count == 0:
        raise FablessError(f"{origin}:{lineno}: cannot tell the collective from a row of count 0; name it with --collective")
    ratio = size / (count * elt)
    if redop != "none" and abs(ratio - 1) < 1e-6:
        return "all_reduce"
    if redop != "none" and abs(ratio - n) < 1e-6:
        return "reduce_scatter"
    raise FablessError(f"{origin}: cannot tell which nccl-tests binary printed this table (all_gather_perf, "
                       f"alltoall_perf and sendrecv_perf print the same columns); name it with --collective")
