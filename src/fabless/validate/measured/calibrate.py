"""``fabless calibrate``: read a user's measurement files, fit the chip's (or system's) model
parameters to them, and build the chip or system file that carries the fitted values.

:func:`calibrate_files` does the work and returns a :class:`Calibration`; :func:`write` puts
its document on disk only after the document has loaded back as a valid chip or system.
The chip file is the base chip's own file with a ``calibration`` section (read by
:meth:`fabless.perf.params.ChipParams.from_chip` in preference to the family's values); the
system file the base system's with ``calibration.collectives`` (read by
:func:`fabless.perf.collectives.params_for`). Each fitted value carries its provenance: the
files and time it was fitted on, the value it replaced and the error before and after.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from fabless.errors import FablessError
from fabless.estimate.engine import resolve_system
from fabless.estimate.scenario import load_scenario
from fabless.hardware.presets import file_of, forget_file, load_chip, load_system, system_names
from fabless.hardware.schema import Chip, System
from fabless.loading import read_yaml
from fabless.perf.params import ChipParams
from fabless.validate.hardware_map import Unmapped, preset_for_hardware
from fabless.validate.measured import CommRow, KernelRow, ScenarioRow, read_file
from fabless.validate.measured.fit import Fitted, fit_comm, fit_framework, fit_kernel, median_abs_error, with_calibration

@dataclass
class Calibration:
    """What :func:`calibrate_files` found: the fits, the base chip and system, and the
    document (parsed YAML) of the chip or system file to write."""

    files: list[str]
    chip: Chip
    system: System | None
    kernel: Fitted | None
    comm: Fitted | None
    target: str  # "chip" or "system"
    document: dict
    framework: Fitted | None = None

    @property
    def fits(self) -> list[Fitted]:
        return [f for f in (self.kernel, self.framework, self.comm) if f is not None]

    def table(self) -> list[dict]:
        """One entry per measured row: where, what, measured / predicted seconds, errors."""
        out = []
        for f in self.fits:
            for r, meas, b, a in zip(f.rows, f.measured_s, f.before_s, f.after_s):
                out.append({"where": r.where, "what": r.label, "fit": f.target, "measured_s": float(meas),
                            "before_s": float(b), "after_s": float(a),
                            "error_before": float(b / meas - 1), "error_after": float(a / meas - 1)})
        return out

    def parameters(self) -> list[dict]:
        """One entry per candidate parameter: before, after, whether the rows fitted it, the
        bound it ended on if it did (the rows would take it further: a wrong chip, or rows the
        model does not describe), and the fitted parameters it trades off with (the rows pin only
        their combination: :func:`fabless.validate.measured.fit.trade_off`)."""
        return [{"parameter": k, "fit": f.target, "before": f.before[k], "after": f.after[k], "fitted": k in f.fitted,
                 "at_bound": f.at_bound(k),
                 "trades_off_with": [o for o in f.trade_off if o != k] if k in f.trade_off else []}
                for f in self.fits for k in f.before]

    def summary(self) -> dict:
        meas = np.concatenate([f.measured_s for f in self.fits])
        return {"rows": int(len(meas)),
                "median_abs_error_before": median_abs_error(np.concatenate([f.before_s for f in self.fits]), meas),
                "median_abs_error_after": median_abs_error(np.concatenate([f.after_s for f in self.fits]), meas)}


def _chip_for(chip_ref: str | None, system_ref: str | None, rows: list, scn=None) -> tuple[Chip, Any]:
    """The base chip and what refers to it (a preset name or path; None if only an object)."""
    if chip_ref:
        return load_chip(chip_ref), chip_ref
    if system_ref:
        return load_system(system_ref).chip, None
    if scn is not None:
        return resolve_system(scn).chip, scn.system.chip or _system_chip_ref(scn.system.name)
    devices = sorted({r.device for r in rows if isinstance(r, CommRow) and r.device})
    if len(devices) == 1:
        try:
            preset, _ = preset_for_hardware(devices[0])
            return load_chip(preset), preset
        except (Unmapped, FablessError):
            pass
    raise FablessError("--chip is required: name the chip the measurements ran on (a preset such as h100-sxm, "
                       "or a chip YAML file)")


def _system_for(chip: Chip, chip_ref: Any, system_ref: str | None) -> System:
    if system_ref:
        system = load_system(system_ref)
        return system if chip_ref is None else system.model_copy(update={"chip": chip})
    same = [s for s in (load_system(n) for n in system_names()) if s.chip.name == chip.name]
    if same:  # as `fabless estimate --chip`: the smallest system preset built from the chip, with this chip
        return min(same, key=lambda s: s.chips).model_copy(update={"chip": chip})
    raise FablessError(f"--system is required for collective measurements: no system preset is built from chip "
                       f"'{chip.name}' (see `fabless systems list`, or give a system YAML file)")


def calibrate_files(paths: list[str], *, chip: str | None = None, system: str | None = None, fmt: str | None = None,
                    collective: str | None = None, ranks: int | None = None, scenario: str | None = None,
                    when: datetime | None = None) -> Calibration:
    """Read ``paths``, fit, and build the output document (nothing is written).

    GEMM rows fit the chip; training and serving rows (with ``scenario``, an estimate
    scenario file) the chip's framework efficiency, after the GEMM fit; collective rows the
    system's collective parameters. With collective rows the document is a system file (its
    chip inline when the chip was fitted too), else a chip file."""
    if not paths:
        raise FablessError("give at least one measurement file")
    rows: list = []
    for p in paths:
        rows.extend(read_file(p, fmt, collective=collective, ranks=ranks))
    kernel_rows = [r for r in rows if isinstance(r, KernelRow)]
    comm_rows = [r for r in rows if isinstance(r, CommRow)]
    scenario_rows = [r for r in rows if isinstance(r, ScenarioRow)]
    if scenario_rows and not scenario:
        raise FablessError(f"{scenario_rows[0].where}: a {scenario_rows[0].label} is predicted from a scenario: "
                           f"give --scenario FILE.yaml (model, system, precision, parallel, training or inference)")
    scn = load_scenario(scenario) if scenario else None
    base_chip, chip_ref = _chip_for(chip, system, rows, scn)
    kernel = fit_kernel(kernel_rows, base_chip) if kernel_rows else None
    framework = None
    if scenario_rows:
        tuned = with_calibration(base_chip, {k: kernel.after[k] for k in kernel.fitted}) if kernel else base_chip
        framework = fit_framework(scenario_rows, scn, tuned, str(scenario))
    base_system = _system_for(base_chip, chip_ref, system) if comm_rows else None
    comm = fit_comm(comm_rows, base_system) if comm_rows else None
    stamp = (when or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%MZ")
    names = [Path(p).name for p in paths]
    cal = Calibration([str(p) for p in paths], base_chip, base_system, kernel, comm,
                      "system" if comm else "chip", {}, framework)
    chip_fits = [f for f in (kernel, framework) if f is not None]
    chip_doc = _chip_document(base_chip, chip_ref if chip_ref is not None else _system_chip_ref(system),
                              chip_fits, names, stamp) if chip_fits else None
    if comm:
        cal.document = _system_document(base_system, system, chip_ref, chip_doc, comm, names, stamp)
    else:
        cal.document = chip_doc
    return cal


def _system_chip_ref(system_ref: str | None) -> Any:
    if not system_ref:
        return None
    raw = read_yaml(file_of("systems", system_ref))
    ref = raw.get("chip") if isinstance(raw, dict) else None
    if isinstance(ref, str) and ("/" in ref or ref.endswith((".yaml", ".yml"))) and not Path(ref).is_absolute():
        ref = str((file_of("systems", system_ref).parent / ref).resolve())
    return ref


def _provenance(value: float, before: float, fit: Fitted, names: list[str], stamp: str, what: str) -> dict:
    return {
        "value": float(f"{value:.6g}"),
        "source": f"fabless calibrate on {', '.join(names)} ({len(fit.rows)} rows) at {stamp}",
        "confidence": "calibrated",
        "fitted_on": list(names),
        "note": (f"was {before:.6g} ({what}); median |error| on these rows "
                 f"{median_abs_error(fit.before_s, fit.measured_s) * 100:.1f}% before, "
                 f"{median_abs_error(fit.after_s, fit.measured_s) * 100:.1f}% after"),
    }


def _named(doc: dict, base_name: str, display: str) -> dict:
    """Keep the base name (so the chip finds the system presets built from it; its family is
    the base file's ``perf_family``); mark the display name."""
    doc["name"] = base_name
    if "(calibrated)" not in display:
        doc["display_name"] = f"{display} (calibrated)"
    return doc


def _chip_document(chip: Chip, chip_ref: Any, fits: list[Fitted], names: list[str], stamp: str) -> dict:
    if isinstance(chip_ref, dict):
        raw = dict(chip_ref)
    elif chip_ref is not None:
        raw = read_yaml(file_of("chips", chip_ref))
    else:
        raw = chip.model_dump(exclude_none=True)
    raw = {k: v for k, v in raw.items() if not str(k).startswith("_")}  # anchors are already resolved
    family = ChipParams.from_chip(chip).family[0]
    own = chip.calibration.model_dump(exclude_none=True) if chip.calibration else {}
    cal = dict(raw.get("calibration") or {})
    fitted = []
    for fit in fits:
        for k in fit.fitted:
            what = fit.origins.get(k) or ("this chip file's calibration" if k in own else f"family {family}")
            cal[k] = _provenance(fit.after[k], fit.before[k], fit, names, stamp, what)
            fitted.append(f"{k} {fit.after[k]:.4g}")
    raw["calibration"] = cal
    raw["notes"] = [*raw.get("notes", []), f"calibrated by fabless calibrate on {', '.join(names)} at {stamp}: "
                    + (", ".join(fitted) or "no parameter could be fitted")]
    return _named(raw, chip.name, chip.display_name)


def _nested(flat_name: str) -> tuple[str, ...]:
    return tuple(flat_name.split("__"))


def _system_document(system: System, system_ref: str | None, chip_ref: Any, chip_doc: dict | None, fit: Fitted,
                     names: list[str], stamp: str) -> dict:
    raw = read_yaml(file_of("systems", system_ref)) if system_ref else read_yaml(file_of("systems", system.name))
    raw = {k: v for k, v in raw.items() if not str(k).startswith("_")}
    if chip_doc is not None:
        raw["chip"] = chip_doc
    elif chip_ref is not None:
        raw["chip"] = str(Path(chip_ref).resolve()) if Path(chip_ref).is_file() else chip_ref
    elif system_ref:
        raw["chip"] = _system_chip_ref(system_ref)
    calibration = dict(raw.get("calibration") or {})
    coll = dict(calibration.get("collectives") or {})
    had = system.calibration.collectives.flat() if system.calibration and system.calibration.collectives else {}
    for k in fit.fitted:
        what = "this system file's calibration" if k in had else "data/perf/collectives.yaml"
        node = coll
        *parents, leaf = _nested(k)
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = _provenance(fit.after[k], fit.before[k], fit, names, stamp, what)
    calibration["collectives"] = coll
    raw["calibration"] = calibration
    raw["notes"] = [*raw.get("notes", []), f"collectives calibrated by fabless calibrate on {', '.join(names)} at {stamp}"]
    return _named(raw, system.name, system.display_name)


def render(cal: Calibration) -> str:
    """The document as YAML text."""
    head = (f"# Written by `fabless calibrate` from {', '.join(Path(f).name for f in cal.files)}.\n"
            f"# The fitted values are under calibration:, each with its source.\n")
    return head + yaml.safe_dump(cal.document, sort_keys=False, allow_unicode=True, width=110)


def write(cal: Calibration, out: str | Path) -> Path:
    """Write the document to ``out`` once it loads back as a valid chip or system file; on
    any error nothing is left at ``out`` (a temporary file beside it is removed)."""
    out = Path(out)
    if not out.name.endswith((".yaml", ".yml")):
        raise FablessError(f"--out {out}: give a .yaml file name")
    if not out.parent.is_dir():
        raise FablessError(f"--out {out}: directory {out.parent} does not exist")
    tmp = out.with_name(f".{out.name}.tmp.yaml")
    try:
        tmp.write_text(render(cal))
        forget_file(tmp)
        (load_system if cal.target == "system" else load_chip)(str(tmp))
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
        forget_file(out)
    return out
