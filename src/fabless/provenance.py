"""Where a number came from.

In every data file a number may be written bare or as a mapping::

    bandwidth_gb_s: {value: 3350, source: "NVIDIA H100 datasheet", confidence: verified}

:func:`split_provenance` strips those mappings down to their values (so the
validated models hold plain numbers that code can compute with) and returns
the sources keyed by the dotted path of the field, e.g.
``memory.hbm.bandwidth_gb_s``. Models keep that map in a ``provenance`` field.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_serializer

Confidence = Literal[
    "verified",  # read in the cited source
    "derived",  # computed from other sourced figures; the note gives the formula
    "estimate",  # an analyst's or the press's figure, not the vendor's
    "assumed",  # fabless's own assumption; the note says why
    "recalled",  # attributed to the source but not re-read: check before leaning on it
    "measured",  # measured by fabless contributors; the note says how
    "calibrated",  # fitted to measurements; fitted_on names the rows (or the script that fits it)
    "fitted",  # fitted by a fabless script on published rows; fitted_on names them (or the script)
]

PROVENANCE_KEYS = {"value", "source", "confidence", "note", "fitted_on", "unit"}


class Source(BaseModel):
    """Provenance of one number: a citation, a confidence tag, a note."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str | None = None
    confidence: Confidence = "verified"
    note: str | None = None
    fitted_on: list[str] | str | None = None  # the rows a fitted value was fitted on, or the script
    unit: str | None = None

    @model_serializer(mode="wrap")
    def _drop_unset_extras(self, handler):
        # fitted_on and unit appear in a dump only where given (most sources have neither)
        out = handler(self)
        return {k: v for k, v in out.items() if v is not None or k not in ("fitted_on", "unit")}


def _is_sourced_value(node: Any) -> bool:
    return isinstance(node, dict) and "value" in node and set(node) <= PROVENANCE_KEYS


def split_provenance(node: Any, prefix: str = "") -> tuple[Any, dict[str, dict]]:
    """Return ``(plain, sources)``: ``node`` with every ``{value, source, ...}``
    mapping replaced by its value, and the sources keyed by dotted field path."""
    sources: dict[str, dict] = {}
    if _is_sourced_value(node):
        meta = {k: v for k, v in node.items() if k != "value"}
        sources[prefix] = meta
        return node["value"], sources
    if isinstance(node, dict):
        plain = {}
        for key, value in node.items():
            if key == "provenance":
                plain[key] = value
                continue
            path = f"{prefix}.{key}" if prefix else str(key)
            plain[key], sub = split_provenance(value, path)
            sources.update(sub)
        return plain, sources
    if isinstance(node, list):
        plain_list = []
        for i, value in enumerate(node):
            item, sub = split_provenance(value, f"{prefix}[{i}]")
            plain_list.append(item)
            sources.update(sub)
        return plain_list, sources
    return node, sources


def numeric_leaves(obj: Any, prefix: str = "") -> dict[str, float]:
    """Every numeric leaf of a (dumped) model as ``{dotted.path: value}``,
    skipping the provenance map itself and booleans."""
    out: dict[str, float] = {}
    if isinstance(obj, BaseModel):
        obj = obj.model_dump()
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "provenance":
                continue
            path = f"{prefix}.{key}" if prefix else str(key)
            out.update(numeric_leaves(value, path))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            out.update(numeric_leaves(value, f"{prefix}[{i}]"))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out[prefix] = obj
    return out
