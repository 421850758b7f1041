"""One loader for every data file of fitted or assumed numbers (issue #18, item 3).

The models' parameters (``data/perf/*.yaml``, ``data/estimate/engine.yaml`` and
``software.yaml``, ``data/economics/*.yaml``, ``data/serve/*.yaml``) are written the same way:
each number is a mapping ::

    mma_efficiency: {value: 0.846, source: "...", confidence: calibrated, fitted_on: [kernel-264]}

:func:`load_param_file` reads such a file into a frozen :class:`ParamFile`: the plain tree (each
mapping replaced by its value, as the models compute with) and one :class:`Param` per value,
keyed by its dotted path, with its value, unit, source, confidence and note. It refuses, in one
line naming the file and the field:

* a number written bare (every number needs its source), outside ``_``-keys (YAML anchors) and
  the file's own structural keys (``structural``: e.g. a stack's ``date`` or ``fit_rows``);
* a mapping without a source, or with a confidence outside :data:`CONFIDENCES`;
* a ``fitted`` or ``calibrated`` value that does not say what it was fitted on (``fitted_on``:
  the row ids, or the script or function that fits it);
* an ``assumed`` value without a ``note`` saying why.

A file that a script writes whole (e.g. ``data/estimate/error_bands.yaml``, written by
``scripts/error_bands.py``) holds hundreds of numbers of one provenance: :func:`load_generated_file`
reads it with a single top-level ``generated: {source, confidence, fitted_on, note}`` that every
number in it takes (confidence one of :data:`GENERATED`, ``fitted_on`` the script).

The unit of a value is the one its name ends in (``_s``, ``_bytes``, ``_usd``, ...,
:func:`unit_of`) unless the mapping gives ``unit``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping, get_args

from fabless.errors import InvalidInput
from fabless.loading import read_yaml
from fabless.provenance import PROVENANCE_KEYS, Confidence, split_provenance

#: The confidence tags a parameter may carry (fabless/provenance.py says what each means).
CONFIDENCES: tuple[str, ...] = get_args(Confidence)
#: Tags that need ``fitted_on`` (what the value was fitted on).
FITTED = ("fitted", "calibrated")

#: Confidences a generated file may declare: its numbers are fitted, measured or computed by a script.
GENERATED = ("fitted", "measured", "derived")

#: A number YAML 1.1 leaves as text: an exponent without its sign (1.0e9; 1.0e+9 is a float).
_NUMBER_AS_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE]\d+")

#: Unit suffixes of parameter names (the house rule: units in names), longest first.
_UNITS = (
    ("_bytes_per_s", "B/s"), ("_flops_per_s", "FLOP/s"), ("_usd_per_kwh", "USD/kWh"), ("_usd_per_mw", "USD/MW"),
    ("_usd_per_mm2", "USD/mm2"), ("_usd_per_gb", "USD/GB"), ("_pj_per_bit", "pJ/bit"), ("_w_per_mm2", "W/mm2"),
    ("_mm2_per_stack", "mm2"), ("_gb_s", "GB/s"), ("_mhz", "MHz"), ("_hz", "Hz"), ("_bytes", "B"), ("_usd", "USD"),
    ("_mm2", "mm2"), ("_um2", "um2"), ("_mm", "mm"), ("_pj", "pJ"), ("_w", "W"), ("_s", "s"), ("_years", "years"),
)


def unit_of(name: str) -> str | None:
    """The unit a parameter's name states (``launch_overhead_s`` -> ``s``), or None."""
    leaf = name.rsplit(".", 1)[-1]
    for suffix, unit in _UNITS:
        if leaf.endswith(suffix):
            return unit
    return None


@dataclass(frozen=True)
class Param:
    """One sourced value of a parameter file."""

    name: str
    value: Any
    source: str
    confidence: str
    note: str | None = None
    fitted_on: tuple[str, ...] | None = None
    unit: str | None = None

    def cite(self) -> str:
        """One line: the source, the confidence and what the value was fitted on."""
        fit = f"; fitted on {', '.join(self.fitted_on)}" if self.fitted_on else ""
        return f"{self.source} ({self.confidence}{fit})"

    def as_dict(self) -> dict:
        """The provenance as the models' ``sources`` maps hold it (no None entries)."""
        out = {"source": self.source, "confidence": self.confidence, "note": self.note,
               "fitted_on": list(self.fitted_on) if self.fitted_on else None, "unit": self.unit}
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class ParamFile:
    """A parameter file read by :func:`load_param_file`: ``plain`` (the tree of plain values,
    ``_``-keys dropped) and ``params`` (a read-only map of dotted path -> :class:`Param`)."""

    path: str
    plain: Any
    params: Mapping[str, Param]
    raw: Any = None  # the file as written (``_``-keys dropped), for callers that merge overrides

    def sources(self, prefix: str = "") -> dict[str, dict]:
        """``{path: provenance}`` of the values under ``prefix`` (paths relative to it)."""
        cut = len(prefix) + 1 if prefix else 0
        return {k[cut:]: p.as_dict() for k, p in self.params.items()
                if not prefix or k.startswith(prefix + ".")}

    def values(self, prefix: str = "") -> dict[str, Any]:
        """``{path: value}`` of the values under ``prefix`` (paths relative to it)."""
        cut = len(prefix) + 1 if prefix else 0
        return {k[cut:]: p.value for k, p in self.params.items() if not prefix or k.startswith(prefix + ".")}


def _fitted_on(raw: Any, where: str) -> tuple[str, ...] | None:
    if raw is None:
        return None
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items or not all(isinstance(x, str) and x.strip() for x in items):
        raise InvalidInput(f"{where}: fitted_on must be a list of row ids or the script that fits the value")
    return tuple(items)


def _param(name: str, meta: dict, value: Any, origin: str, require_sources: bool = True) -> Param:
    where = f"{origin}: {name}"
    source = meta.get("source")
    if not require_sources and source is None:
        source = "user-set"
    if not isinstance(source, str) or not source.strip():
        raise InvalidInput(f"{where}: every value needs a source (source: a citation, or 'fabless assumption' with a note)")
    confidence = meta.get("confidence", "verified")
    if confidence not in CONFIDENCES:
        raise InvalidInput(f"{where}: unknown confidence {confidence!r}; allowed: {', '.join(CONFIDENCES)}")
    fitted_on = _fitted_on(meta.get("fitted_on"), where)
    if confidence in FITTED and fitted_on is None and require_sources:
        raise InvalidInput(f"{where}: a {confidence} value needs fitted_on (its row ids, or the script that fits it)")
    note = meta.get("note")
    if confidence == "assumed" and not (isinstance(note, str) and note.strip()) and require_sources:
        raise InvalidInput(f"{where}: an assumed value needs a note saying why it is assumed")
    if isinstance(value, str) and _NUMBER_AS_TEXT.fullmatch(value.strip()):
        raise InvalidInput(f"{where}: value {value!r} reads as text in YAML; write the exponent with its sign "
                           f"({value.strip().lower().replace('e', 'e+')})")
    unit = meta.get("unit") or unit_of(name)
    return Param(name, value, source.strip(), confidence, note, fitted_on, unit)


def _leaves(node: Any, prefix: str, structural: frozenset[str]) -> Iterable[tuple[str, Any]]:
    """(dotted path, leaf) of every sourced mapping (a dict) and every number written bare."""
    if isinstance(node, dict):
        if "value" in node and set(node) <= PROVENANCE_KEYS:
            yield prefix, node
            return
        for k, v in node.items():
            if not (str(k).startswith("_") or str(k) in structural):
                yield from _leaves(v, f"{prefix}.{k}" if prefix else str(k), structural)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, f"{prefix}[{i}]", structural)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield prefix, node


def params_from_tree(raw: Any, origin: str, *, structural: Iterable[str] = (), require_sources: bool = True) -> ParamFile:
    """:func:`load_param_file` on an already parsed tree (``origin`` names it in errors)."""
    if not isinstance(raw, dict):
        raise InvalidInput(f"{origin}: expected a mapping at the top level")
    data = {k: v for k, v in raw.items() if not str(k).startswith("_")}
    leaves = list(_leaves(data, "", frozenset(structural)))
    bare = next((name for name, leaf in leaves if not isinstance(leaf, dict)), None) if require_sources else None
    if bare is not None:
        raise InvalidInput(f"{origin}: {bare} is a bare number; write {{value: ..., source: ..., confidence: ...}}")
    plain, _ = split_provenance(data)
    params = {name: _param(name, leaf, leaf["value"], origin, require_sources)
              for name, leaf in leaves if isinstance(leaf, dict)}
    return ParamFile(origin, plain, MappingProxyType(params), data)


def load_param_file(path: str | Path, *, structural: Iterable[str] = (), require_sources: bool = True) -> ParamFile:
    """Read a parameter YAML (see the module's docstring for what it checks). A user's own file
    (``require_sources=False``) may write bare numbers and leave out sources (they show as
    ``user-set``); a confidence it gives must still be one of :data:`CONFIDENCES`."""
    return params_from_tree(read_yaml(path), str(path), structural=structural, require_sources=require_sources)


def load_generated_file(path: str | Path, *, key: str = "generated") -> ParamFile:
    """Read a data file written whole by a script: its top-level ``key`` mapping (source,
    confidence in :data:`GENERATED`, ``fitted_on``: the script that writes it, note) is the
    provenance of every number in it, which are written bare. Refused, in one line: a file
    without that mapping, another confidence, no ``fitted_on``, or a number with its own source."""
    raw = read_yaml(path)
    origin = str(path)
    meta = raw.get(key) if isinstance(raw, dict) else None
    if not isinstance(meta, dict):
        raise InvalidInput(f"{origin}: a generated file needs a top-level '{key}:' mapping "
                           f"(source, confidence, fitted_on: the script that writes it)")
    if meta.get("confidence") not in GENERATED:
        raise InvalidInput(f"{origin}: {key}.confidence must be one of {', '.join(GENERATED)}, "
                           f"got {meta.get('confidence')!r}")
    if meta.get("fitted_on") is None:
        raise InvalidInput(f"{origin}: {key}.fitted_on must name the script that writes the file")
    data = {k: v for k, v in raw.items() if k != key and not str(k).startswith("_")}
    leaves = list(_leaves(data, "", frozenset()))
    own = next((name for name, leaf in leaves if isinstance(leaf, dict)), None)
    if own is not None:
        raise InvalidInput(f"{origin}: {own} carries its own source; a generated file's numbers take its '{key}' provenance")
    whole = _param(key, meta, None, origin)
    params = {name: replace(whole, name=name, value=leaf, unit=unit_of(name)) for name, leaf in leaves}
    return ParamFile(origin, data, MappingProxyType(params), data)


__all__ = ["CONFIDENCES", "FITTED", "GENERATED", "Param", "ParamFile", "load_generated_file", "load_param_file",
           "params_from_tree", "unit_of"]
