"""Build the error bands file (``data/estimate/error_bands.yaml``) from the held-out residuals.

:func:`build` runs :func:`fabless.validate.core.evaluate` on every category, keeps the
held-out rows with a prediction, gives each its residual ``ln(measured time / predicted
time)`` (rate metrics turned into time: ``ln(predicted / measured)``) and its regime
(category / family / bound, see :mod:`fabless.bands`), and writes for every regime at each
level of the fallback order its n, the row ids with their residuals and the band ends. It
also records the leave-one-out coverage per category (:func:`loo_coverage`): each held-out
row's band built from the other rows only, with the same fallback; the leave-one-SOURCE-out
coverage (each row's band from other publications' rows: :func:`loo_coverage` with
``by_source``); and each unseen batch's coverage by the bands of the rows outside it
(:func:`batch_coverage`).

How a row's regime is read:

* family: the vendor line of the chip preset the row's hardware maps to; rows whose hardware
  has no preset (e.g. H800 collectives) by the vendor named in the text (:data:`TEXT_FAMILIES`).
* bound: ``kernel`` rows: a FLOP-rate metric is compute-bound, a bandwidth metric memory-bound;
  ``comm`` rows: a latency metric is latency-bound, a bandwidth metric bandwidth-bound (the
  collective model's own ``bound`` words); ``train`` / ``infer`` rows: the breakdown of the
  row's estimate (:func:`fabless.bands.bound_of_breakdown`; TTFT rows by the prefill, TPOT and
  per-user decode rows by a decode step); ``serve`` rows: ``mixed`` (a simulated run mixes
  prefill and decode steps in proportions set by the load).

Run it as ``python scripts/error_bands.py`` (about as long as ``fabless validate``).
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import subprocess
from pathlib import Path

import yaml

from fabless.bands import (
    BANDS_PATH,
    COVERAGE,
    QUANTILE_MIN_ROWS,
    MIN_ROWS,
    UNVALIDATED,
    band_ends,
    bound_of_breakdown,
    family_of_chip,
    family_of_vendor,
    kernel_bound,
    regime_keys,
)
from fabless.errors import FablessError
from fabless.validate import serve as serve_validate
from fabless.validate.core import Outcome, Skip, evaluate, load_rows
from fabless.validate.hardware_map import Unmapped, preset_for_hardware
from fabless.validate.train import entry_for, run_entry

#: Hardware text (lower case) -> vendor, for rows whose hardware has no chip preset.
TEXT_FAMILIES: tuple[tuple[str, str], ...] = (
    ("nvidia", "nvidia"), ("h800", "nvidia"), ("h20", "nvidia"), ("a800", "nvidia"), ("l40", "nvidia"),
    ("amd", "amd"), ("mi2", "amd"), ("mi3", "amd"),
    ("tpu", "google-tpu"), ("trainium", "aws"), ("inferentia", "aws"), ("trn", "aws"),
    ("gaudi", "intel-gaudi"), ("intel", "intel-gaudi"), ("mtia", "meta-mtia"),
)

#: Words of a metric that make it a rate (work per time: higher is faster); checked first.
RATE_WORDS = ("/s", "tflop", "bandwidth", "busbw", "throughput", "mfu", "flops")
#: Words that make it a time (lower is faster).
TIME_WORDS = ("latency", "time", "ttft", "tpot", "(s)", "(ms)", "(us)")

#: Row conversions (scenarios.yaml ``convert``) read by a part of the breakdown, not the whole.
CONVERT_PARTS = {"ttft_ms": "prefill", "tpot_ms": "decode", "decode_tokens_per_s_per_user": "decode"}


def metric_kind(metric: str) -> str | None:
    """"rate" or "time" for a row's metric text; None when it says neither."""
    m = str(metric).lower()
    if any(w in m for w in RATE_WORDS):
        return "rate"
    if any(w in m for w in TIME_WORDS):
        return "time"
    return None


def residual(measured: float, predicted: float, kind: str) -> float:
    """ln(measured time / predicted time): for a rate, ln(predicted / measured)."""
    if not (measured > 0 and predicted > 0):
        raise FablessError(f"residual: measured {measured} and predicted {predicted} must both be > 0")
    r = math.log(measured / predicted)
    return r if kind == "time" else -r


def family_of_row(row: dict) -> str:
    """The vendor line of a row's hardware (preset's vendor, else a vendor word in the text)."""
    try:
        return family_of_chip(preset_for_hardware(row.get("hardware", ""))[0])
    except Unmapped:
        pass
    text = str(row.get("hardware", "")).lower()
    for word, fam in TEXT_FAMILIES:
        if word in text:
            return fam
    return family_of_vendor(text)


def bound_of_row(row: dict, category: str, kind: str) -> str:
    """What bounds a row's time (module docstring)."""
    if category == "kernel":
        bound = "compute" if "flop" in str(row.get("metric", "")).lower() else "memory"
        return kernel_bound(bound, row.get("precision"))
    if category == "comm":
        return "latency" if kind == "time" else "bandwidth"
    if category in ("train", "infer"):
        try:
            entry = entry_for(row)
            _, est = run_entry(row)
        except Skip:
            return "compute"
        return bound_of_breakdown(est.breakdown_s, CONVERT_PARTS.get(entry.get("convert"), "all"))
    return "mixed"


def source_of_row(row: dict) -> str:
    """The publication a row comes from, for grouping: a GitHub repository (owner/name) named in its
    ``source``, else the host and first path segment of its first URL, else the first 40
    characters of the text (lower case). Rows of one repository at different commits are one source."""
    text = str(row.get("source", ""))
    m = re.search(r"github\.com/([\w.-]+/[\w.-]+)", text) or re.search(r"https?://([\w.-]+(?:/[\w.-]+)?)", text)
    return (m.group(1) if m else text[:40]).lower()


#: Decimal places of a residual in the bands file (and in every coverage computed from the rows).
RESIDUAL_DIGITS = 4


def held_out_rows(outcomes: list[Outcome], rows: list[dict]) -> tuple[list[dict], list[str]]:
    """(held-out rows with their regime and residual, notes on rows left out)."""
    by_id = {(r["id"], r["category"]): r for r in rows}
    out, notes = [], []
    for o in outcomes:
        if o.set != "held_out" or o.predicted is None:
            continue
        row = by_id.get((o.id, o.category)) or {"id": o.id, "metric": o.metric, "hardware": o.chip}
        kind = metric_kind(o.metric)
        if kind is None:
            notes.append(f"{o.id}: metric '{o.metric}' is neither a time nor a rate; left out")
            continue
        if not (o.measured > 0 and o.predicted > 0):
            notes.append(f"{o.id}: measured {o.measured} or predicted {o.predicted} not positive; left out")
            continue
        out.append({"id": o.id, "category": o.category, "family": family_of_row(row), "source": source_of_row(row),
                    "bound": bound_of_row(row, o.category, kind), "kind": kind,
                    # at the precision the bands file stores it, so that every coverage the file reports is
                    # what its own residuals give (a row on a band's end is not judged twice, once each way)
                    "residual": round(residual(o.measured, o.predicted, kind), RESIDUAL_DIGITS)})
    return out, notes


def regimes_of(held: list[dict]) -> dict[str, dict[str, float]]:
    """Regime key (every level of the fallback order) -> {row id: residual}."""
    out: dict[str, dict[str, float]] = {}
    for h in held:
        for key in regime_keys(h["category"], h["family"], h["bound"]):
            out.setdefault(key, {})[h["id"]] = h["residual"]
    return out


def band_of(regimes: dict[str, dict[str, float]], category: str, family: str, bound: str,
            leave_out: str | None = None) -> tuple[str, int, float, float] | None:
    """(regime, n, lo, hi) by the fallback order, without the row ``leave_out``; None if unvalidated."""
    for key in regime_keys(category, family, bound):
        res = [v for k, v in regimes.get(key, {}).items() if k != leave_out]
        if len(res) >= MIN_ROWS:
            lo, hi = band_ends(res)
            return key, len(res), lo, hi
    return None


def loo_coverage(held: list[dict], by_source: bool = False) -> dict[str, dict]:
    """Per category: leave-one-out coverage of the bands (each row's band from the others).
    ``by_source``: leave one SOURCE out instead: each row's band from the rows of other
    publications only, as a new user's own measurement would meet it (rows of one source share
    their conventions and software, so a row's neighbours in its own source flatter the band)."""
    regimes = regimes_of(held)
    by_src: dict[str, dict] = {}
    out: dict[str, dict] = {}
    for h in held:
        c = out.setdefault(h["category"], {"rows": 0, "banded": 0, "covered": 0})
        c["rows"] += 1
        if by_source:
            src = h.get("source", "")
            if src not in by_src:
                by_src[src] = regimes_of([x for x in held if x.get("source", "") != src])
            b = band_of(by_src[src], h["category"], h["family"], h["bound"])
        else:
            b = band_of(regimes, h["category"], h["family"], h["bound"], leave_out=h["id"])
        _count(c, h, b)
    return _rates(out)


def _count(c: dict, h: dict, b: tuple | None) -> None:
    """Add row ``h`` judged by band ``b`` (None: unbanded) to a category's counts ``c``."""
    if b is not None:
        c["banded"] += 1
        c["covered"] += int(b[2] <= h["residual"] <= b[3])


def coverage_text(c: dict) -> str:
    """A coverage entry's share as a percentage ("-" when no row was banded)."""
    return "-" if c["coverage"] is None else f"{c['coverage'] * 100:.0f}%"


def _rates(out: dict[str, dict]) -> dict[str, dict]:
    for c in out.values():
        c["coverage"] = round(c["covered"] / c["banded"], 4) if c["banded"] else None
    return out


#: Id markers of the unseen-data batches: rows collected after the model was built, never fitted on.
UNSEEN_BATCHES: tuple[str, ...] = ("-fresh-", "-fresh2-", "-fresh3-", "-fresh4-", "-fresh5-", "-fresh6-", "-fresh7-", "-fresh8-", "-fresh9-", "-fresh10-", "-fresh11-", "-fresh12-", "-fresh13-", "-fresh14-", "-fresh15-", "-fresh16-", "-fresh17-", "-fresh18-", "-fresh19-")


def in_unseen_batch(row_id: str) -> bool:
    """Whether a row belongs to an unseen-data batch (:data:`UNSEEN_BATCHES`)."""
    return any(m in row_id for m in UNSEEN_BATCHES)


def batch_coverage(held: list[dict], marker: str) -> dict[str, dict]:
    """Per category: how many held-out rows whose id holds ``marker`` (a batch collected after the
    model was built) fall inside the 80% band built from the held-out rows OUTSIDE the batch, with
    the same fallback: the bands' check on a whole batch they never saw, not one row at a time."""
    regimes = regimes_of([h for h in held if marker not in h["id"]])
    out: dict[str, dict] = {}
    for h in held:
        if marker not in h["id"]:
            continue
        c = out.setdefault(h["category"], {"rows": 0, "banded": 0, "covered": 0})
        c["rows"] += 1
        _count(c, h, band_of(regimes, h["category"], h["family"], h["bound"]))
    return _rates(out)


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                              cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def build(outcomes: list[Outcome] | None = None, rows: list[dict] | None = None) -> dict:
    """The bands file's content from a validation run (``evaluate()`` of every category by default)."""
    if rows is None:
        base = load_rows()
        rows = base + serve_validate.rows(base)
    if outcomes is None:
        outcomes = evaluate(rows=rows)
    held, notes = held_out_rows(outcomes, rows)
    regimes = regimes_of(held)
    source = {(h["category"], h["id"]): h["source"] for h in held}
    out_regimes: dict[str, dict] = {}
    for key in sorted(regimes):
        res = regimes[key]
        # the publications the regime's rows come from: rows of one source share its conventions
        # and software, so a band from few of them is weaker evidence than its n says
        entry: dict = {"n": len(res), "sources": len({source[(key.split("/")[0], i)] for i in res})}
        if len(res) >= MIN_ROWS:
            lo, hi = band_ends(list(res.values()))
            entry.update(lo=round(lo, 4), hi=round(hi, 4),
                         rule="quantile" if len(res) >= QUANTILE_MIN_ROWS else "student-t")
        else:
            entry["band"] = UNVALIDATED
        entry["residuals"] = {k: round(v, RESIDUAL_DIGITS) for k, v in sorted(res.items())}
        out_regimes[key] = entry
    commit = _git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = bool(_git("status", "--porcelain", "--", ":(top)src", ":(top,exclude)src/fabless/data/estimate/error_bands.yaml"))
    made_at = {"commit": commit + ("+dirty" if dirty else ""),
               "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    return {
        "_about": ("Error bands of fabless estimates, written by scripts/error_bands.py (fabless.validate.bands.build); "
                   "do not edit by hand. residual = ln(measured time / predicted time), rate metrics as time; "
                   "lo/hi: the 80% band on the residual (fabless.bands.band_ends). docs/validation.md, 'Error bands'."),
        "generated": provenance(made_at),
        "made_at": made_at,
        "coverage": COVERAGE,
        "min_rows": MIN_ROWS,
        "held_out_rows": len(held),
        "loo_coverage": loo_coverage(held),
        "loso_coverage": loo_coverage(held, by_source=True),
        "batch_coverage": {m: batch_coverage(held, m) for m in UNSEEN_BATCHES},
        "left_out": notes,
        "regimes": out_regimes,
    }


def provenance(made_at: dict) -> dict:
    """The file's ``generated`` mapping: the provenance every number of it takes when
    fabless.bands reads it through :func:`fabless.params.load_generated_file`."""
    return {"source": (f"scripts/error_bands.py (fabless.validate.bands.build) at commit {made_at['commit']}, "
                       f"{made_at['date']}: the held-out rows of fabless validate"),
            "confidence": "fitted", "fitted_on": ["scripts/error_bands.py"],
            "note": "residuals = ln(measured / predicted time) of held-out rows; lo/hi fitted on them by fabless.bands.band_ends"}


HEADER = ("# Generated by scripts/error_bands.py (fabless.validate.bands.build, fabless.validate.bands.write): do not\n"
          "# edit by hand; rerun the script. Read through fabless.params.load_generated_file: every number takes the\n"
          "# provenance in 'generated' (confidence fitted, fitted_on the script).\n")


def write(data: dict, path: str | Path | None = None) -> Path:
    p = Path(path) if path else BANDS_PATH
    with open(p, "w") as fh:
        fh.write(HEADER)
        yaml.safe_dump(data, fh, sort_keys=False, width=120)
    return p


__all__ = ["UNSEEN_BATCHES", "band_of", "batch_coverage", "bound_of_row", "coverage_text", "build", "family_of_row", "held_out_rows", "in_unseen_batch", "loo_coverage", "markdown", "metric_kind",
           "provenance", "regimes_of", "residual", "source_of_row", "write"]


def markdown(data: dict) -> str:
    """The regimes (measured / predicted time at the band's ends) and the coverage, as tables."""
    lines = [f"Regimes (generated by `scripts/error_bands.py --markdown` at {data['made_at']['commit']}, "
             f"{data['made_at']['date']}):", "",
             "| regime | n | 80% band of measured / predicted time | rule |", "|---|---|---|---|"]
    for key, reg in data["regimes"].items():
        if "lo" in reg:
            band = f"{math.exp(reg['lo']):.2f} - {math.exp(reg['hi']):.2f}"
        else:
            band = "unvalidated (n < min_rows)"
        lines.append(f"| {key} | {reg['n']} | {band} | {reg.get('rule', '')} |")
    lines += ["", "| category | held-out rows | banded (leave-one-out) | inside their band | coverage |", "|---|---|---|---|---|"]
    for cat, c in sorted(data["loo_coverage"].items()):
        cov = coverage_text(c)
        lines.append(f"| {cat} | {c['rows']} | {c['banded']} | {c['covered']} | {cov} |")
    for cat, c in sorted((data.get("loso_coverage") or {}).items()):
        cov = coverage_text(c)
        lines.append(f"| {cat}, leave one source out | {c['rows']} | {c['banded']} | {c['covered']} | {cov} |")
    # Each unseen batch against the bands of the rows outside it (same table: docs/validation.md
    # replaces this block up to its first blank line).
    for marker, cats in (data.get("batch_coverage") or {}).items():
        for cat, c in sorted(cats.items()):
            cov = coverage_text(c)
            lines.append(f"| {cat}, batch `*{marker}*` (bands from the rows outside it) | {c['rows']} | {c['banded']} | "
                         f"{c['covered']} | {cov} |")
    return "\n".join(lines)
