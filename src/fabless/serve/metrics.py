"""What a run measured: per-request latencies, percentiles, throughput and goodput against an SLO.

Per request (vLLM's benchmark definitions):

- TTFT = first token time - arrival time
- TPOT = (finish - first token) / (output tokens - 1), for requests with > 1 output token
- E2E  = finish - arrival
- transfer_s (disaggregated) = KV arrived at the decode replica - prefill finished (link wait included)

Goodput counts the requests whose *own* latencies are within every limit of the SLO
(DistServe's definition); the SLO's percentile is what :meth:`SLO.met_by` checks on the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fabless.errors import FablessError
from fabless.units import parse_seconds

METRICS = ("ttft", "tpot", "e2e")
STATS = ("p50", "p90", "p99", "mean", "max")


@dataclass(frozen=True)
class SLO:
    """Latency limits in seconds, keyed like ``ttft_p99`` (metric ttft/tpot/e2e, stat p50/p90/p99/mean/max)."""

    limits_s: dict

    def __post_init__(self):
        if not self.limits_s:
            raise FablessError("an SLO needs at least one limit, e.g. ttft_p99=2s")
        for key, v in self.limits_s.items():
            m, _, stat = key.partition("_")
            if m not in METRICS or stat not in STATS:
                raise FablessError(f"SLO limit '{key}': write <metric>_<stat> with metric one of "
                                   f"{', '.join(METRICS)} and stat one of {', '.join(STATS)}, e.g. ttft_p99")
            if not v > 0:
                raise FablessError(f"SLO limit {key} must be > 0 s, got {v}")

    @classmethod
    def parse(cls, text: str) -> "SLO":
        """From 'ttft_p99=2s,tpot_p99=50ms'."""
        limits = {}
        for part in filter(None, (p.strip() for p in str(text).split(","))):
            if "=" not in part:
                raise FablessError(f"SLO '{part}': write key=time, e.g. ttft_p99=2s,tpot_p99=50ms")
            k, v = (s.strip() for s in part.split("=", 1))
            limits[k] = parse_seconds(v, f"SLO {k}")
        return cls(limits)

    def met_by(self, summary: dict) -> bool:
        """True if the run's statistics are within every limit (a run with no finished request fails)."""
        for key, limit in self.limits_s.items():
            v = summary.get(f"{key}_s")
            if v is None or not np.isfinite(v) or v > limit:
                return False
        return True

    def request_ok(self, df: pd.DataFrame) -> np.ndarray:
        """Per request: are its own TTFT/TPOT/E2E within the limits (a missing TPOT passes)?"""
        ok = np.ones(len(df), dtype=bool)
        for key, limit in self.limits_s.items():
            col = df[f"{key.partition('_')[0]}_s"].to_numpy()
            ok &= ~(col > limit)  # NaN (e.g. TPOT of a 1-token answer) passes
        return ok


def _stats(x: np.ndarray) -> dict:
    x = x[np.isfinite(x)]
    if not len(x):
        return {s: float("nan") for s in STATS}
    p50, p90, p99 = np.percentile(x, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "mean": float(x.mean()), "max": float(x.max())}


def request_frame(reqs) -> pd.DataFrame:
    """One row per request, in arrival order."""
    def col(name, dtype=float):
        return np.array([getattr(r, name) if getattr(r, name) is not None else np.nan for r in reqs], dtype=dtype)

    arrival = col("arrival_s")
    first = col("first_token_s")
    finish = col("finish_s")
    out = np.array([r.output_tokens for r in reqs], dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(out > 1, (finish - first) / (out - 1), np.nan)
    df = pd.DataFrame({
        "request": np.array([r.rid for r in reqs], dtype=np.int64),
        "replica": np.array([r.replica for r in reqs], dtype=np.int64),
        "decode_replica": np.array([r.decode_replica for r in reqs], dtype=np.int64),
        "arrival_s": arrival,
        "first_scheduled_s": col("first_scheduled_s"),
        "first_token_s": first,
        "finish_s": finish,
        "input_tokens": np.array([r.input_tokens for r in reqs], dtype=np.int64),
        "output_tokens": out,
        "prefix_hit_tokens": np.array([r.prefix_hit_tokens for r in reqs], dtype=np.int64),
        "preemptions": np.array([r.preemptions for r in reqs], dtype=np.int64),
        "transfer_s": col("transfer_end_s") - col("transfer_start_s"),
    })
    df["queue_s"] = df["first_scheduled_s"] - arrival
    df["ttft_s"] = first - arrival
    df["tpot_s"] = tpot
    df["e2e_s"] = finish - arrival
    return df


def summarize(df: pd.DataFrame, slo: SLO | None = None, warmup_s: float = 0.0) -> dict:
    """Latency percentiles, throughput and goodput of the requests arriving at or after ``warmup_s``."""
    sel = df[df["arrival_s"] >= warmup_s] if warmup_s > 0 else df
    out: dict = {"requests": int(len(sel))}
    if len(sel):
        t0 = float(sel["arrival_s"].min()) if warmup_s > 0 else 0.0
        span_s = float(sel["finish_s"].max()) - t0
    else:
        span_s = float("nan")
    out["span_s"] = span_s
    out["throughput_req_per_s"] = len(sel) / span_s if span_s > 0 else float("nan")
    out["input_tokens_per_s"] = float(sel["input_tokens"].sum()) / span_s if span_s > 0 else float("nan")
    out["output_tokens_per_s"] = float(sel["output_tokens"].sum()) / span_s if span_s > 0 else float("nan")
    for m in METRICS:
        for s, v in _stats(sel[f"{m}_s"].to_numpy()).items():
            out[f"{m}_{s}_s"] = v
    out["preemptions"] = int(sel["preemptions"].sum())
    if slo is not None:
        ok = slo.request_ok(sel)
        out["goodput_fraction"] = float(ok.mean()) if len(ok) else float("nan")
        out["goodput_req_per_s"] = float(ok.sum()) / span_s if span_s > 0 else float("nan")
        out["slo_met"] = slo.met_by(out)
    return out


def latency_quantiles(df: pd.DataFrame, points: int = 101) -> dict:
    """The distribution of each latency (TTFT, TPOT, E2E) over the requests of ``df``, as its
    quantiles at ``points`` evenly spaced probabilities from 0 to 1 (``q``; ``<metric>_s``: the
    seconds at each, left out where no request has the metric, e.g. TPOT of one-token answers):
    a CDF a report can draw at any number of requests, in a few hundred numbers."""
    q = np.linspace(0.0, 1.0, points)
    out: dict = {"q": [float(v) for v in q]}
    for m in METRICS:
        x = df[f"{m}_s"].to_numpy(dtype=float) if len(df) else np.array([])
        x = x[np.isfinite(x)]
        if x.size:
            out[f"{m}_s"] = [float(v) for v in np.quantile(x, q)]
    return out
