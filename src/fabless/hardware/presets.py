"""The shipped library of chips and systems, and users' own files.

A name like ``h100-sxm`` is a preset in ``fabless/data/chips``; anything that
ends in ``.yaml``/``.yml`` or names an existing file is read as the user's own.
Either way the result is a validated, frozen :class:`Chip` or :class:`System`.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from fabless.errors import FablessError, unknown_name_error
from fabless.hardware.schema import Chip, System
from fabless.loading import read_yaml, validate

_DATA = resources.files("fabless") / "data"


def _preset_dir(kind: str) -> Path:
    return Path(str(_DATA / kind))


def _names(kind: str) -> list[str]:
    return sorted(p.stem for p in _preset_dir(kind).glob("*.yaml"))


def chip_names() -> list[str]:
    """Names of the shipped chip presets."""
    return _names("chips")


def system_names() -> list[str]:
    """Names of the shipped system presets."""
    return _names("systems")


def _is_path(ref: str) -> bool:
    return ref.endswith((".yaml", ".yml")) or "/" in ref or Path(ref).is_file()


def _resolve(kind: str, ref: str) -> Path:
    if _is_path(ref):
        return Path(ref)
    path = _preset_dir(kind) / f"{ref}.yaml"
    if not path.is_file():
        raise unknown_name_error(kind[:-1], ref, _names(kind))
    return path


def file_of(kind: str, ref: str) -> Path:
    """The YAML file a chip (``kind="chips"``) or system (``"systems"``) reference names: a
    preset's file in the library, or the user's own path."""
    return _resolve(kind, str(ref))


def forget_file(path: str | Path) -> None:
    """Drop cached chips and systems after ``path`` was (re)written, so the next load reads it."""
    _load_chip_cached.cache_clear()
    _load_system_cached.cache_clear()


@lru_cache(maxsize=256)
def _load_chip_cached(path: str) -> Chip:
    raw = read_yaml(path)
    if isinstance(raw, dict) and "name" not in raw:
        raw = {**raw, "name": Path(path).stem}
    return validate(Chip, raw, path)


def load_chip(ref: str | Path | Chip) -> Chip:
    """A chip from a preset name, a YAML path, or a Chip (returned as is)."""
    if isinstance(ref, Chip):
        return ref
    return _load_chip_cached(str(_resolve("chips", str(ref))))


@lru_cache(maxsize=128)
def _load_system_cached(path: str) -> System:
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise FablessError(f"{path}: expected a mapping of fields at the top level")
    raw = dict(raw)
    raw.setdefault("name", Path(path).stem)
    chip_ref = raw.pop("chip", None)
    if chip_ref is None:
        raise FablessError(f"{path}: missing required field 'chip' (a chip preset name or a chip YAML path)")
    if isinstance(chip_ref, dict):
        chip = validate(Chip, chip_ref, f"{path} (chip)")
    else:
        ref = str(chip_ref)
        if _is_path(ref) and not Path(ref).is_absolute():
            ref = str(Path(path).parent / ref)
        chip = load_chip(ref)
    # a system on the same network software as another preset takes that preset's calibration, not a copy of it
    donor = raw.pop("calibration_from", None)
    if donor is not None:
        if "calibration" in raw:
            raise FablessError(f"{path}: give 'calibration' or 'calibration_from' (a system preset whose calibration "
                               "this system takes), not both")
        donor_system = load_system(str(donor))
        raw["calibration"] = donor_system.calibration
        system = validate(System, raw, path, chip=chip)
        # the values keep the sources they have in the donor's file
        taken = {k: v for k, v in donor_system.provenance.items() if k.startswith("calibration.")}
        return system.model_copy(update={"provenance": {**system.provenance, **taken}})
    return validate(System, raw, path, chip=chip)


def load_system(ref: str | Path | System) -> System:
    """A system from a preset name, a YAML path, or a System (returned as is)."""
    if isinstance(ref, System):
        return ref
    return _load_system_cached(str(_resolve("systems", str(ref))))


def all_chips() -> list[Chip]:
    return [load_chip(n) for n in chip_names()]


def all_systems() -> list[System]:
    return [load_system(n) for n in system_names()]
