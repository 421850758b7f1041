"""Error bands: an 80% interval on every headline figure, from the held-out residuals of its regime.

The data file ``data/estimate/error_bands.yaml`` is written by ``scripts/error_bands.py``
(:func:`fabless.validate.bands.build`), which runs ``fabless validate`` and keeps the
held-out rows (never the rows a parameter was fitted on). This module only reads it, so
``fabless op``, ``fabless estimate`` and ``fabless serve`` can print bands without importing
the validation layer.

**Residual.** For one row, ``r = ln(measured time / predicted time)``, where a rate metric
(tokens/s, TFLOP/s, GB/s, MFU: work / time) is turned into time first, so
``r = ln(predicted rate / measured rate)``. The same model error (the model too fast by 10%)
gives the same sign whatever the row's unit: r > 0 means the real thing took longer.

**Regime.** ``category/family/bound``: the category (``kernel``, ``comm``, ``train``,
``infer``, ``serve``), the vendor line of the chip (:func:`family_of_vendor`) and what bounds
the time (:func:`bound_of_breakdown` for estimates; the op model's own ``bound`` for ``fabless
op``). Lookup falls back in this order, taking the first level with at least ``MIN_ROWS``
held-out rows: category x family x bound -> category x family -> category; below that the
figure is *unvalidated* and gets no band.

**Interval** (:func:`band_ends`), from the n residuals of the regime, for coverage 80%
(a = 0.1 on each side):

* n >= 9: the sample's 10% and 90% quantiles at plotting positions a (n+1) and
  (1-a)(n+1) of the sorted residuals (1-based, linear between neighbours; numpy's
  ``method="weibull"``). A new row exchangeable with these falls below the i-th smallest with
  probability i / (n+1), so it falls inside with probability 80% on average (the rounded
  ranks floor/ceil of split-conformal prediction guarantee >= 80% but give 80-90%).
* 5 <= n < 9: the 10% position 0.1 (n+1) lies below the smallest residual, so the band is the
  small-sample normal prediction interval mean ± t(0.90, n-1) · sd · sqrt(1 + 1/n) (Student t, sd with n-1).

A time figure T gets [T e^lo, T e^hi]; a rate figure R gets [R e^-hi, R e^-lo].
"""

from __future__ import annotations

import math
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from fabless.errors import FablessError
from fabless.hardware.presets import load_chip
from fabless.params import load_generated_file
from fabless.report.format import num

BANDS_PATH = Path(str(resources.files("fabless") / "data" / "estimate" / "error_bands.yaml"))

#: Fewest held-out rows a regime needs before its band is used (else: fall back, or unvalidated).
MIN_ROWS = 5
#: Share of measurements the interval is meant to contain.
COVERAGE = 0.80
#: Below this many rows the 10% plotting position 0.1 (n+1) lies below the smallest residual.
QUANTILE_MIN_ROWS = 9
#: One-sided 90% quantile of Student's t with df degrees of freedom (any t table, e.g.
#: NIST/SEMATECH e-Handbook 1.3.6.7.2): the small-sample prediction interval for n = df + 1.
T90 = {4: 1.5332, 5: 1.4759, 6: 1.4398, 7: 1.4149}

UNVALIDATED = "unvalidated"

#: Vendor text (chip file ``vendor``, lower case, first match) -> family (the vendor's line).
VENDOR_FAMILIES: tuple[tuple[str, str], ...] = (
    ("nvidia", "nvidia"),
    ("amd", "amd"),
    ("google", "google-tpu"),
    ("aws", "aws"),
    ("intel", "intel-gaudi"),
    ("meta", "meta-mtia"),
)
CUSTOM = "custom"
#: The family of every CPU chip (kind: cpu), and the validation category of its rows.
CPU = "cpu"

#: Parts of a breakdown that are communication (the name after any "prefill."/"decode." prefix).
COMM_PARTS = frozenset({"tp_comm", "ep_all_to_all", "cp_comm", "pp_send_recv", "dp_comm_exposed"})

#: Estimate metric -> (kind, which part of the breakdown bounds it). kind "time" (seconds) or
#: "rate" (work per time). TTFT is the prefill; TPOT and per-replica decode rate one decode step.
ESTIMATE_METRICS: dict[str, tuple[str, str]] = {
    "step_time_s": ("time", "all"),
    "training_time_s": ("time", "all"),
    "tokens_per_s": ("rate", "all"),
    "tokens_per_s_per_chip": ("rate", "all"),
    "mfu": ("rate", "all"),
    "hfu": ("rate", "all"),
    "ttft_s": ("time", "prefill"),
    "tpot_s": ("time", "decode"),
    "e2e_latency_s": ("time", "all"),
    "output_tokens_per_s": ("rate", "all"),
    "output_tokens_per_s_per_chip": ("rate", "all"),
    "decode_tokens_per_s_per_replica": ("rate", "decode"),
}


# ----------------------------------------------------------------------------- arithmetic


def band_ends(residuals, coverage: float = COVERAGE) -> tuple[float, float]:
    """(lo, hi) of the interval on log(measured time / predicted time) that a new row of the
    same regime falls in with probability ``coverage`` (module docstring); needs MIN_ROWS rows."""
    r = np.sort(np.asarray(residuals, dtype=float))
    n = len(r)
    if n < MIN_ROWS:
        raise FablessError(f"band_ends: {n} residuals, need at least {MIN_ROWS}")
    a = (1.0 - coverage) / 2.0
    if a * (n + 1) >= 1.0 - 1e-9:  # both plotting positions lie within the sample
        return (float(np.quantile(r, a, method="weibull")), float(np.quantile(r, 1.0 - a, method="weibull")))
    if coverage != COVERAGE or (n - 1) not in T90:
        raise FablessError(f"band_ends: no small-sample rule for n = {n} at coverage {coverage}")
    half = T90[n - 1] * float(np.std(r, ddof=1)) * math.sqrt(1.0 + 1.0 / n)
    mean = float(np.mean(r))
    return mean - half, mean + half


def interval(value: float, kind: str, lo: float, hi: float) -> tuple[float, float]:
    """The band of a figure: a time T -> [T e^lo, T e^hi]; a rate R -> [R e^-hi, R e^-lo]."""
    if kind == "time":
        return value * math.exp(lo), value * math.exp(hi)
    if kind == "rate":
        return value * math.exp(-hi), value * math.exp(-lo)
    raise FablessError(f"interval: kind must be time or rate, got '{kind}'")


# ----------------------------------------------------------------------------- regimes


def family_of_vendor(vendor: str | None) -> str:
    """The vendor line of a chip's ``vendor`` text (nvidia, amd, google-tpu, aws, intel-gaudi,
    meta-mtia), ``custom`` for anything else (a design of one's own)."""
    v = str(vendor or "").lower()
    for key, fam in VENDOR_FAMILIES:
        if v.startswith(key):
            return fam
    return CUSTOM


def family_of_chip(name: str) -> str:
    """Family of a chip preset name: ``cpu`` for a chip of ``kind: cpu`` (Graviton, Xeon: the CPU
    model, whatever the vendor), else its vendor line; ``custom`` when it is not a preset (a chip
    file of one's own)."""
    try:
        chip = load_chip(name)
    except FablessError:
        return CUSTOM
    return CPU if chip.kind == "cpu" else family_of_vendor(chip.vendor)


def bound_of_breakdown(breakdown_s: dict[str, float], part: str = "all") -> str:
    """What bounds an estimate (or its ``prefill`` / ``decode`` part): the largest of
    communication (collectives, pipeline hand-offs, exposed gradient sync), memory (decode
    steps: they stream the weights and KV cache) and compute (everything else: matmul,
    attention, elementwise work, the pipeline bubble, the optimizer, the prefill)."""
    sums = {"compute": 0.0, "memory": 0.0, "communication": 0.0}
    for key, t in breakdown_s.items():
        if part != "all" and not key.startswith(part + "."):
            continue
        if key.rsplit(".", 1)[-1] in COMM_PARTS:
            sums["communication"] += t
        elif key.startswith("decode."):
            sums["memory"] += t
        else:
            sums["compute"] += t
    return max(sums, key=lambda b: sums[b])


def regime_keys(category: str, family: str, bound: str) -> tuple[str, str, str]:
    """The lookup order: category/family/bound, category/family, category."""
    return f"{category}/{family}/{bound}", f"{category}/{family}", category


# ----------------------------------------------------------------------------- the data file


@lru_cache(maxsize=4)
def load_bands(path: str | Path | None = None) -> dict[str, Any]:
    """The bands file (empty regimes if it does not exist yet)."""
    p = Path(path) if path else BANDS_PATH
    if not p.exists():
        return {"regimes": {}}
    data = dict(load_generated_file(p).plain)  # every number takes the file's 'generated' provenance
    if not isinstance(data.get("regimes", {}), dict):
        raise FablessError(f"{p}: 'regimes' must be a mapping of regime -> {{n, lo, hi, residuals}}")
    return data


def lookup(category: str, family: str, bound: str, path: str | Path | None = None) -> dict | None:
    """The first regime of the fallback order with at least MIN_ROWS rows:
    {"regime", "n", "lo", "hi"}; None when none has (unvalidated)."""
    regimes = load_bands(path).get("regimes", {})
    for key in regime_keys(category, family, bound):
        reg = regimes.get(key)
        if reg and int(reg.get("n", 0)) >= MIN_ROWS:
            return {"regime": key, "n": int(reg["n"]), "sources": int(reg.get("sources", 0)),
                    "lo": float(reg["lo"]), "hi": float(reg["hi"])}
    return None


def band(value: float, kind: str, category: str, family: str, bound: str,
         path: str | Path | None = None) -> dict | str:
    """A figure's band: {"lo", "hi", "regime", "n"} in the figure's unit, or "unvalidated"."""
    reg = lookup(category, family, bound, path)
    if reg is None or value is None or not math.isfinite(float(value)):
        return UNVALIDATED
    lo, hi = interval(float(value), kind, reg["lo"], reg["hi"])
    return {"lo": lo, "hi": hi, "regime": reg["regime"], "n": reg["n"], "sources": reg["sources"]}


def bands_for(est, path: str | Path | None = None) -> dict[str, dict | str]:
    """Every headline metric of an Estimate -> its band ({"lo", "hi", "regime", "n"}, in the
    metric's unit) or "unvalidated". Category train or infer by the estimate's phase (cpu for a
    CPU's inference, scored by the CPU rows), family
    by its chip, bound by its breakdown (per metric: TTFT by the prefill, TPOT by a decode)."""
    family = family_of_chip(est.chip)
    category = "train" if est.phase == "training" else (CPU if family == CPU else "infer")
    out: dict[str, dict | str] = {}
    for metric, (kind, part) in ESTIMATE_METRICS.items():
        value = est.metrics.get(metric)
        if value is None or isinstance(value, bool):
            continue
        out[metric] = band(float(value), kind, category, family, bound_of_breakdown(est.breakdown_s, part), path)
    return out


#: Serve figures that get a band, time or rate. Throughput only when the rate was searched
#: (--max-throughput): at a given offered rate it is the offered load, not a prediction.
SERVE_BANDED = {"ttft_p50_s": "time", "tpot_p50_s": "time", "e2e_p50_s": "time"}
#: The figures of each serving mode that the simulator estimates (a rate or a time), banded. A run at a
#: given arrival rate (or trace) estimates its latencies only: its throughput is the offered load.
SERVE_BANDED_BY_MODE = {
    "max_throughput": {**SERVE_BANDED, "max_rate_per_s": "rate", "output_tokens_per_s": "rate"},
    "closed_loop": {"ttft_s": "time", "tpot_s": "time", "e2e_s": "time", "rate_per_s": "rate", "output_tokens_per_s": "rate"},
    "offline": {"output_tokens_per_s": "rate", "rate_per_s": "rate", "output_tokens_per_s_makespan": "rate",
                "makespan_s": "time"},
}


def serve_bands(summary: dict, chip: str, mode: str, path: str | Path | None = None) -> dict[str, dict | str]:
    """Bands of a serving simulation's summary (``fabless serve``): regime serve/family/mixed
    (a run mixes prefill and decode steps as the load sets them), with the usual fallback; on the
    figures ``mode`` estimates (:data:`SERVE_BANDED_BY_MODE`; any other mode, a run at a given rate:
    the median latencies)."""
    family = family_of_chip(chip)
    banded = SERVE_BANDED_BY_MODE.get(mode, SERVE_BANDED)
    return {k: band(summary[k], kind, "serve", family, "mixed", path) for k, kind in banded.items()
            if isinstance(summary.get(k), (int, float)) and not isinstance(summary.get(k), bool)}


#: Datatypes whose matrix rate is its own regime in the kernel bands: an 8- or 4-bit GEMM's
#: efficiency differs from a 16-bit one's (the kernel libraries' narrow paths), so their residuals
#: are kept apart (bound ``compute-narrow``).
NARROW_DTYPES = ("fp8", "int8", "fp4", "int4", "nvfp4", "mxfp8", "mxfp4")


def kernel_bound(bound: str, dtype: str | None) -> str:
    """The bound of a kernel regime: ``compute-narrow`` for a compute-bound 8/4-bit operator,
    else the op model's own bound."""
    if bound == "compute" and dtype and str(dtype).strip().lower().split()[0] in NARROW_DTYPES:
        return "compute-narrow"
    return bound


def op_band(value: float, kind: str, category: str, chip: str, bound: str, path: str | Path | None = None) -> dict | str:
    """Band of one operator's figure (``fabless op``): category ``kernel`` (bound compute,
    memory or overhead, as the op model says) or ``comm`` (bound latency or bandwidth)."""
    return band(value, kind, category, family_of_chip(chip), bound, path)


def json_fields(bands: dict[str, dict | str]) -> dict[str, Any]:
    """``<metric>_lo`` / ``<metric>_hi`` for every banded metric, and ``bands``:
    metric -> {"regime", "n"} or "unvalidated" (for --json output)."""
    out: dict[str, Any] = {}
    info: dict[str, Any] = {}
    for metric, b in bands.items():
        if isinstance(b, dict):
            out[f"{metric}_lo"] = b["lo"]
            out[f"{metric}_hi"] = b["hi"]
            info[metric] = {"regime": b["regime"], "n": b["n"], "sources": b.get("sources", 0)}
        else:
            info[metric] = UNVALIDATED
    out["bands"] = info
    return out


def band_text(b: dict | str | None, scale: float = 1.0, unit: str = "") -> str:
    """``80%: 12.4-16.0 ms, from 23 held-out rows like it, 4 publications (infer/nvidia/memory)``
    or ``unvalidated``; ``scale`` converts to the printed unit (1e3 for s -> ms). The publications
    say how broad the evidence is: a new source's rows fall inside less often than its own rows
    (docs/validation.md, "Error bands": leave one source out)."""
    if not isinstance(b, dict):
        return UNVALIDATED
    u = unit if unit == "%" else f" {unit}" if unit else ""
    # a category-level band comes mostly from other chip families: say so
    where = b["regime"] if "/" in b["regime"] else f"{b['regime']}: too few rows of this chip family"
    k = int(b.get("sources") or 0)
    pubs = f", {k} publication{'s' if k != 1 else ''}" if k else ""
    return (f"80%: {num(b['lo'] * scale, 3)}-{num(b['hi'] * scale, 3)}{u}, "
            f"from {b['n']} held-out rows like it{pubs} ({where})")


__all__ = ["BANDS_PATH", "COVERAGE", "MIN_ROWS", "UNVALIDATED", "band", "band_ends", "band_text", "bands_for",
           "bound_of_breakdown", "family_of_chip", "family_of_vendor", "interval", "json_fields", "load_bands",
           "lookup", "op_band", "regime_keys", "serve_bands"]
