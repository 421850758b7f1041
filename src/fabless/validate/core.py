"""Compare the models with published measurements, per category and per chip.

Rows come from every ``data/measurements/*.csv`` (columns: id, category, hardware, n_chips,
model_or_kernel, precision, config "k=v;...", metric, value, source, notes), read as raw
dicts of strings.

**Predictor modules.** Category ``c`` is predicted by the module ``fabless.validate.c``
(``kernel``, ``comm``, later ``train`` and ``infer``), which exposes:

* ``predict(row: dict) -> float | None``: the prediction in the unit of the row's metric.
  A row outside the model's scope returns None or, better, raises :class:`Skip` with the
  reason (``raise Skip("interconnect copy, not a single-chip kernel")``); the reason is shown.
* ``FIT_IDS: frozenset[str]``: the ids of the rows its parameters were fitted on. Errors are
  reported separately for those rows ("fit") and for all others ("held_out"); only the
  held-out error measures the model.

A row's chip (for grouping) is the preset :mod:`fabless.validate.hardware_map` maps its
hardware text to, or the text itself when there is none.
"""

from __future__ import annotations

import csv
import importlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fabless.bands import family_of_chip, load_bands
from fabless.errors import FablessError
from fabless.estimate.plan import PlanError
from fabless.loading import read_yaml
from fabless.measurements import MEASUREMENTS_DIR, load_rows  # noqa: F401  (re-exported: validate's row reader)
from fabless.validate.hardware_map import Unmapped, preset_for_hardware



class Skip(Exception):
    """Raised by a predictor for a row outside its model's scope; ``str()`` is the reason."""


@dataclass
class Outcome:
    id: str
    category: str
    chip: str
    metric: str
    measured: float
    predicted: float | None
    set: str  # "fit" or "held_out"
    skipped: str | None = None

    @property
    def error(self) -> float | None:
        """Signed relative error, predicted / measured - 1."""
        if self.predicted is None or not self.measured:
            return None
        return self.predicted / self.measured - 1.0

    def as_dict(self) -> dict:
        return {"id": self.id, "category": self.category, "chip": self.chip, "metric": self.metric,
                "measured": self.measured, "predicted": self.predicted, "error": self.error,
                "set": self.set, "skipped": self.skipped}


def merged_mapping(paths, label: str) -> dict:
    """Row id -> mapping entry from the YAML files ``paths``, read in order (keys that start with ``_``
    are anchors, not rows); an id mapped twice is a one-line error naming the file and ``label``, the
    kind of file it is already in."""
    out: dict = {}
    for path in paths:
        for k, v in (read_yaml(path) or {}).items():
            if str(k).startswith("_"):
                continue
            if k in out:
                raise FablessError(f"{Path(path).name}: row {k} is already mapped in another {label}")
            out[k] = v
    return out


def parse_config(text: str) -> dict[str, str]:
    """``"M=1;N=2;flag"`` -> {"m": "1", "n": "2", "flag": ""} (keys lower case)."""
    out: dict[str, str] = {}
    for part in str(text or "").split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip().lower()] = v.strip()
        elif part.strip():
            out[part.strip().lower()] = ""
    return out


def _predictor(category: str):
    try:
        return importlib.import_module(f"fabless.validate.{category}")
    except ModuleNotFoundError as exc:
        if exc.name == f"fabless.validate.{category}":
            return None
        raise


def chip_label(row: dict) -> str:
    try:
        return preset_for_hardware(row.get("hardware", ""))[0]
    except Unmapped:
        return str(row.get("hardware", ""))


def evaluate(categories: list[str] | None = None, rows: list[dict] | None = None,
             on_row=None) -> list[Outcome]:
    """Run every row of the given categories (all that have a predictor module by default).
    ``on_row(done, total)`` is called after each row (a progress bar)."""
    if rows is None:
        rows = load_rows()
        # Serving rows are published as `infer` rows; the serve category re-reads those that
        # have an offered load as simulations (fabless.validate.serve, a category module
        # found like every predictor, by its name).
        rows = rows + _predictor("serve").rows(rows)
    cats = categories or sorted({r["category"] for r in rows})
    known = sorted({r["category"] for r in rows})
    for c in cats:
        if c not in known:
            raise FablessError(f"no measurements in category '{c}'; known: {', '.join(known)}")
    out: list[Outcome] = []
    total = sum(1 for r in rows if r["category"] in cats)
    for cat in cats:
        mod = _predictor(cat)
        fit_ids = getattr(mod, "FIT_IDS", frozenset()) if mod else frozenset()
        for r in (r for r in rows if r["category"] == cat):
            o = Outcome(r["id"], cat, chip_label(r), r["metric"], float(r["value"]), None,
                        "fit" if r["id"] in fit_ids else "held_out")
            if mod is None:
                o.skipped = f"no predictor module fabless.validate.{cat} yet"
            else:
                try:
                    pred = mod.predict(r)
                except (Skip, Unmapped) as exc:
                    o.skipped = str(exc)
                except PlanError as exc:
                    # a mapped plan the engine cannot run (e.g. tensor parallelism past the scale-up
                    # domain) is the row's outcome, as for a training row (validate.train.run_entry),
                    # not an error that stops every other row of the category
                    o.skipped = f"the engine cannot run the mapped plan: {exc}"
                else:
                    if pred is None or not math.isfinite(pred):
                        o.skipped = "out of the model's scope"
                    else:
                        o.predicted = float(pred)
            out.append(o)
            if on_row is not None:
                on_row(len(out), total)
    return out


def family_group(chip: str) -> str:
    """The vendor family a row's chip is grouped under (``other`` for hardware with no preset)."""
    f = family_of_chip(chip)
    return "other" if f == "custom" else f


def category_bands(categories: list[str]) -> dict[str, dict]:
    """The 80% error band of each category (fabless.bands, data/estimate/error_bands.yaml):
    {category: {"lo", "hi", "n", "residuals": {row id: ln(measured / predicted time)}}}."""
    regimes = load_bands().get("regimes", {})
    out = {}
    for c in categories:
        reg = regimes.get(c)
        if reg and all(k in reg for k in ("lo", "hi")):
            out[c] = {"lo": float(reg["lo"]), "hi": float(reg["hi"]), "n": int(reg.get("n", 0)),
                      "residuals": {str(k): float(v) for k, v in (reg.get("residuals") or {}).items()}}
    return out


def summarise(outcomes: list[Outcome], by: str = "chip") -> list[dict]:
    """Per category, per chip (``by="chip"``) or per vendor family (``by="family"``: nvidia, amd,
    google-tpu, aws, intel-gaudi, meta-mtia, and cpu for every kind: cpu chip; rows whose hardware has no
    preset are ``other``)
    and 'all', per set: n, median and p90 absolute % error. The group is in the ``chip`` key."""
    if by not in ("chip", "family"):
        raise FablessError(f"--by: '{by}' is not one of chip, family")
    fam: dict[str, str] = {}

    def group_of(chip: str) -> str:
        if by == "chip":
            return chip
        if chip not in fam:
            fam[chip] = family_group(chip)
        return fam[chip]

    groups: dict[tuple[str, str, str], list[float]] = {}
    for o in outcomes:
        if o.error is None:
            continue
        for chip in (group_of(o.chip), "all"):
            groups.setdefault((o.category, chip, o.set), []).append(abs(o.error) * 100)
    out = []
    for (cat, chip, s), errs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] == "all", kv[0][1], kv[0][2])):
        a = np.array(errs)
        out.append({"category": cat, "chip": chip, "set": s, "n": len(a),
                    "median_abs_err_pct": float(np.median(a)), "p90_abs_err_pct": float(np.percentile(a, 90)),
                    "max_abs_err_pct": float(a.max())})
    return out


def write_csv(outcomes: list[Outcome], path: str | Path) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(outcomes[0].as_dict()) if outcomes else ["id"])
        w.writeheader()
        for o in outcomes:
            w.writerow(o.as_dict())
