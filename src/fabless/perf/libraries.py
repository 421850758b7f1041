"""Kernel libraries as an input: a benchmark harness's GEMM library, or one framework release's GEMM
table, may reach a different share of a chip's peak (narrow 8-bit or 16-bit) and lose a different time
per wave of tiles than the kernels the framework stacks run; an attention kernel other than the chip's
own (a tutorial's, an older one) runs its inner loop at its own rate (``data/perf/libraries.yaml``).

:func:`with_library` returns chip parameters with the library's family values in place of the
family's own; :func:`library_for_source` finds the library a measurement's source or kernel names.
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from fabless.errors import FablessError, unknown_name_error
from fabless.params import load_param_file
from fabless.perf.params import ChipParams

_PATH = Path(str(resources.files("fabless") / "data" / "perf" / "libraries.yaml"))
#: Family fields a library may set.
LIBRARY_FIELDS = ("mma_8bit_ratio", "mma_efficiency", "tile_overhead_s", "attention_mma_ratio",
                  "attention_overhead_blocks")


@dataclass(frozen=True)
class Library:
    """One kernel library: its name, date, the text its measurements' sources contain, and the
    family values it sets (family -> field -> value), each fitted on ``rows``."""

    name: str
    display: str
    date: str
    match: str
    families: tuple[tuple[str, tuple[tuple[str, float], ...]], ...]
    rows: tuple[str, ...]
    #: (family, field) -> the value's provenance (source, confidence, note, fitted_on, library)
    provenance: dict = dc_field(default_factory=dict, compare=False)

    def values_for(self, family: str) -> dict[str, float]:
        return dict(dict(self.families).get(family, ()))


@lru_cache(maxsize=1)
def libraries() -> dict[str, Library]:
    pf = load_param_file(_PATH)
    raw = pf.plain
    out: dict[str, Library] = {}
    for name, e in raw.items():
        if str(name).startswith("_"):
            continue
        fams = []
        rows: list[str] = []
        prov: dict[tuple[str, str], dict] = {}
        for fam, fields in (e.get("families") or {}).items():
            vals = []
            for field, spec in fields.items():
                if field not in LIBRARY_FIELDS:
                    raise FablessError(f"libraries.yaml: {name}.{fam}.{field}: one of {', '.join(LIBRARY_FIELDS)}")
                value = float(spec)
                # a time or a count of blocks may be zero (nothing outside the main loop); a rate or ratio must be
                # positive
                zero_ok = field.endswith(("_s", "_blocks"))
                top = 10 if field.endswith("_blocks") else 2
                if not ((value >= 0 if zero_ok else value > 0) and value <= top):
                    span = f"[0, {top}]" if zero_ok else f"(0, {top}]"
                    raise FablessError(f"libraries.yaml: {name}.{fam}.{field} must be in {span}, got {value}")
                vals.append((field, value))
                q = pf.params[f"{name}.families.{fam}.{field}"]
                rows += list(q.fitted_on or ())
                prov[(str(fam), field)] = {k: v for k, v in (("source", q.source), ("confidence", q.confidence),
                                                             ("note", q.note), ("fitted_on", list(q.fitted_on or ())),
                                                             ("library", str(name))) if v}
            fams.append((str(fam), tuple(vals)))
        out[str(name)] = Library(str(name), str(e.get("display", name)), str(e.get("date")), str(e["match"]),
                                 tuple(fams), tuple(rows), prov)
    return out


def library(name: str) -> Library:
    libs = libraries()
    if name not in libs:
        raise unknown_name_error("library name", name, sorted(libs))
    return libs[name]


def library_for_source(source: str, kernel: str = "") -> Library | None:
    """The library whose ``match`` text the measurement's source, or the kernel it names, contains, if any."""
    return next((lib for lib in libraries().values() if lib.match in str(source) or lib.match in str(kernel)), None)


def with_library(p: ChipParams, lib: Library | None) -> ChipParams:
    """``p`` with the library's values for each design's family in place of the family's own (and
    their provenance in place of the family's, so ``--explain`` cites the library)."""
    if lib is None:
        return p
    fams = list(p.family)
    changes: dict[str, list[float]] = {}
    for field in LIBRARY_FIELDS:
        base = [float(x) for x in getattr(p, field)]
        new = [lib.values_for(f).get(field, b) for f, b in zip(fams, base)]
        if new != base:
            changes[field] = new
    if not changes:
        return p
    sources = tuple({**s, **{f: lib.provenance[(fam, f)] for f in changes if (fam, f) in lib.provenance}}
                    for s, fam in zip(p.sources, fams)) if len(p.sources) == len(fams) else p.sources
    return p.replace(**changes, sources=sources)


__all__ = ["LIBRARY_FIELDS", "Library", "libraries", "library", "library_for_source", "with_library"]
