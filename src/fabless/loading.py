"""Reading YAML data files into validated models, with one-line errors.

Every data file a user hands fabless (a chip, a system, a scenario, a design
space, cost parameters) goes through :func:`read_yaml` and :func:`validate`,
so that every mistake is reported the same way: the file, the field, what is
wrong and what would be right, on one line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from fabless import bounds
from fabless.errors import InvalidInput, suggest
from fabless.provenance import split_provenance

M = TypeVar("M", bound=BaseModel)

#: PyYAML's safe loader, in its C (libyaml) build where installed: the same documents, several
#: times faster (the chip and system listings parse every preset).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_UNIT_SUFFIX = re.compile(r"^\s*[-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?\s*(?![eE][-+]?[0-9]+\s*$)([A-Za-zµ/%]+[A-Za-z0-9/]*)\s*$")
# Parts of a pydantic error location that are not field names: the member of a union that was
# tried (int, constrained-int, literal['auto'], a model's class name) or a validator function.
_NOT_A_FIELD = re.compile(r"^(function-.*|(constrained-)?(int|float|str|bool|dict|list)|literal\[.*|[A-Z]\w*)$")


def _read_text(path: Path) -> str:
    """A data file's text: a missing, oversized or non-UTF-8 file is one line naming it."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    size = path.stat().st_size
    if size > bounds.MAX_YAML_BYTES:
        raise InvalidInput(f"{path}: {size:,} bytes is larger than a data file may be ({bounds.MAX_YAML_BYTES:,} bytes)")
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not UTF-8 text (byte {exc.start}: {exc.object[exc.start:exc.start + 1]!r}); "
                           "save it as UTF-8") from None


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file; a missing, oversized, non-UTF-8, too deeply nested or alias-bomb file,
    or a syntax error, is a one-line FablessError naming the file (limits in :mod:`fabless.bounds`)."""
    path = Path(path)
    text = _read_text(path)
    try:
        _check_shape(text, path)
        return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 (a safe loader: libyaml's when installed)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "nesting depth" in str(problem):  # libyaml's own limit, met before ours is counted
            raise InvalidInput(f"{path}: nested deeper than {bounds.MAX_YAML_DEPTH} levels") from None
        raise InvalidInput(f"{path}{where}: YAML syntax error: {problem}") from None


def read_json(path: str | Path) -> Any:
    """Parse a JSON file (a model's config.json) with the same limits as :func:`read_yaml`: a
    missing, oversized, non-UTF-8 or too deeply nested file, NaN/Infinity or a syntax error is
    a one-line FablessError naming the file."""
    path = Path(path)
    text = _read_text(path)
    depth = max_depth = 0
    for ch in text:  # brackets inside strings count too: an over-estimate is safe here
        if ch in "[{":
            depth += 1
            max_depth = max(max_depth, depth)
        elif ch in "]}":
            depth -= 1
    if max_depth > bounds.MAX_YAML_DEPTH:
        raise InvalidInput(f"{path}: nested deeper than {bounds.MAX_YAML_DEPTH} levels")

    def _no_constant(name: str):
        raise InvalidInput(f"{path}: {name} is not a number fabless accepts; write a finite value")

    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}:{exc.lineno}:{exc.colno}: JSON syntax error: {exc.msg}") from None


def _check_shape(text: str, path: Path) -> None:
    """Refuse, from the event stream and before building anything, a document nested deeper than
    MAX_YAML_DEPTH or whose aliases expand to more than MAX_YAML_NODES nodes."""
    depth = 0
    counts = [0]  # nodes under each open collection, expanded (the outermost is the document)
    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (nodes it expands to, its counts index)
    open_anchor: list[str | None] = []
    total = 0
    for event in yaml.parse(text, Loader=_SAFE_LOADER):
        if isinstance(event, yaml.AliasEvent):
            n = anchors.get(event.anchor, (1, 0))[0]
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > bounds.MAX_YAML_DEPTH:
                raise InvalidInput(f"{path}: nested deeper than {bounds.MAX_YAML_DEPTH} levels")
            counts.append(1)
            open_anchor.append(event.anchor)
            continue
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
            n = counts.pop()
            anchor = open_anchor.pop()
            if anchor is not None:
                anchors[anchor] = (n, 0)
            counts[-1] += n
            continue
        elif isinstance(event, yaml.ScalarEvent):
            n = 1
            if event.anchor is not None:
                anchors[event.anchor] = (1, 0)
        else:
            continue
        counts[-1] += n
        total += n
        if total > bounds.MAX_YAML_NODES or counts[-1] > bounds.MAX_YAML_NODES:
            raise InvalidInput(f"{path}: its aliases expand to more than {bounds.MAX_YAML_NODES:,} values; "
                               "write the data out or use fewer aliases")


def _loc_str(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the sub-model that ``loc`` (minus its last part) points into."""
    cls: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = getattr(cls, "model_fields", {})
        if part not in fields:
            return []
        ann = fields[part].annotation
        cls = _inner_model(ann)
        if cls is None:
            return []
    return list(getattr(cls, "model_fields", {}))


def _inner_model(ann: Any) -> type[BaseModel] | None:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in getattr(ann, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def describe_validation_error(exc: ValidationError, model: type[BaseModel], origin: str) -> str:
    """One line for the first problem in ``exc``: where, what, and what would be right."""
    # A misspelt field shows up both as unknown and as a missing required one; the
    # unknown name (with its suggestion) is the more useful line.
    errors = exc.errors()
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    raw_loc = tuple(err["loc"])
    # An unknown key is the last part of its location, whatever it is called (even 'Name' or 'int').
    keep_last = err["type"] == "extra_forbidden"
    loc = tuple(p for i, p in enumerate(raw_loc)
                if (keep_last and i == len(raw_loc) - 1) or not (isinstance(p, str) and _NOT_A_FIELD.match(p)))
    field = _loc_str(loc) or "(top level)"
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        known = [f for f in _fields_at(model, loc) if f != "provenance"]
        tail = suggest(str(loc[-1]), known) or (f"; allowed here: {', '.join(known)}" if known else "")
        return f"{origin}: unknown field '{field}'{tail}"
    if kind == "missing":
        return f"{origin}: missing required field '{field}'"
    if isinstance(value, str) and kind in {"float_parsing", "int_parsing", "float_type", "int_type"}:
        m = _UNIT_SUFFIX.match(value)
        if m:
            return (
                f"{origin}: field '{field}' got '{value}' with a unit; write a plain number in the unit "
                f"the field's name gives (e.g. {field.rsplit('.', 1)[-1]}: {value[: m.start(1)].strip()})"
            )
    msg = err["msg"]
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    shown = f" (got {value!r})" if value is not None and not isinstance(value, (dict, list)) else ""
    return f"{origin}: field '{field}': {msg}{shown}"


def validate(model: type[M], raw: Any, origin: str, *, sourced: bool = True, **extra: Any) -> M:
    """Validate ``raw`` (parsed YAML) as ``model``.

    With ``sourced`` the ``{value, source, confidence, note}`` mappings are split
    off into the model's ``provenance`` field. ``extra`` fields are set on top
    (e.g. a resolved chip). Errors become one-line FablessErrors naming ``origin``."""
    if not isinstance(raw, dict):
        raise InvalidInput(f"{origin}: expected a mapping of fields at the top level, got {type(raw).__name__}")
    # Top-level keys starting with '_' hold YAML anchors (shared source strings).
    data = {k: v for k, v in raw.items() if not str(k).startswith("_")}
    if sourced:
        data, sources = split_provenance(data)
        if sources:
            data["provenance"] = {**sources, **(data.get("provenance") or {})}
    data.update(extra)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc, model, origin)) from None
