"""The shares at which the open-source engines' Triton fused-MoE kernel runs its grouped expert GEMMs,
derived from the kernel timings of data/measurements/fused_moe_kernels.yaml, one pair per release of the
kernel (each sweep's ``release``: the vLLM pull requests' sweeps, or SGLang 0.5.9's as NVIDIA's
aiconfigurator tables hold them) and datatype class (16-bit; 8-bit w8a8):

* ``share``, the share of the stack's dense-GEMM rate they compute at (software.yaml
  ``grouped_gemm_efficiency`` / ``grouped_gemm_8bit_efficiency``): it sets the time where many tokens
  reach each expert, as in a long prefill;
* ``stream``, the share of the chip's achievable HBM bandwidth they stream their weights at
  (``grouped_gemm_stream_efficiency`` / ``grouped_gemm_8bit_stream_efficiency``): it sets the time where
  a few tokens reach every expert and the call reads all their weights, which is where a serving
  engine's decode steps run.

For each sweep (one model shape on one GPU) the operator model times the two grouped GEMMs of one fused
call, gate/up (``n = 2 x N``) and down (``k = N``), as the engine times a mixture-of-experts layer's
routed experts (:class:`fabless.workload.ops.ExpertMatMul`: each expert's rows padded to whole tiles,
only the experts touched read), on the framework chip at the engine-wide framework efficiency. Each share
is read where the kernel is bound by what it measures:

    share  = compute_s(model) / measured_s   at the sweep's two largest batches (compute-bound: the
             time grows with the batch);
    stream = memory_s(model) / measured_s    at the batches where every expert expects 2 to 8 rows
             (2 E <= batch x top_k <= 8 E: every expert touched, its rows far fewer than a tile, so
             the call reads all the weights and computes little; the time is flat there);

which is what the engine's step time becomes with the shares in place (``graph_time`` runs the expert
GEMMs at ``framework efficiency x share`` of the dense rate and ``stream`` of the HBM rate). A share is
the median over the points of its release and class, rounded to 0.01 as software.yaml carries it.

    python scripts/derive_fused_moe_share.py
"""

from __future__ import annotations

import math
import statistics
from importlib import resources
from pathlib import Path

import numpy as np

from fabless.estimate.optime import engine_params, framework_chip, grouped_kernel_chip
from fabless.loading import read_yaml
from fabless.perf.ops import op_time
from fabless.perf.params import as_params
from fabless.workload.ops import ExpertMatMul

DATA = Path(str(resources.files("fabless") / "data" / "measurements" / "fused_moe_kernels.yaml"))
#: The largest batches of each sweep that enter the compute share.
POINTS_PER_SWEEP = 2
#: Rows each expert expects (batch x top_k / experts) at the batches that enter the stream share.
STREAM_ROWS_PER_EXPERT = (2.0, 8.0)


def call_flops(sweep: dict, batch: int) -> float:
    """FLOPs of one fused call: ``batch`` tokens, each through ``top_k`` experts' gate/up (2N x K)
    and down (K x N) projections, 2 FLOPs a multiply-add."""
    return 2.0 * batch * int(sweep["top_k"]) * 3 * int(sweep["n"]) * int(sweep["k"])


def kind_of(sweep: dict) -> str:
    """The datatype class of a sweep: '8bit' (w8a8) or '16bit'."""
    return "8bit" if sweep["dtype"] in ("fp8", "int8") else "16bit"


def model_call_s(sweep: dict, batch: int, share: float = 1.0, stream: float = 1.0) -> tuple[float, float, float]:
    """(time, compute, memory) seconds of one fused call's two grouped GEMMs in the operator model, on the
    framework chip at the engine-wide framework efficiency times ``share`` and the HBM rate times ``stream``."""
    eff = float(engine_params()["framework_kernel_efficiency"])
    chip = framework_chip(grouped_kernel_chip(as_params(sweep["chip"])), eff * share, stream)
    dt = sweep["dtype"]
    shape = {"experts": int(sweep["experts"]), "tokens": int(batch), "top_k": int(sweep["top_k"]),
             "dtype_a": dt, "dtype_b": dt, "dtype_out": "bf16"}
    n, k = int(sweep["n"]), int(sweep["k"])
    parts = [op_time(ExpertMatMul("experts.gate_up", n=2 * n, k=k, **shape), chip),
             op_time(ExpertMatMul("experts.down", n=k, k=n, **shape), chip)]
    return tuple(sum(float(np.ravel(getattr(p, f))[0]) for p in parts) for f in ("time_s", "compute_s", "memory_s"))


def sweeps() -> dict[str, dict]:
    """The sweeps of the data file, each with its batches as ints and times in seconds (``times_s``)."""
    return {name: {**sw, "times_s": {int(b): float(t) * 1e-6 for b, t in sw["time_us"].items()}}
            for name, sw in read_yaml(DATA)["sweeps"].items()}


def points(sw: dict[str, dict] | None = None) -> list[dict]:
    """The sweep points that enter a share, in file order: sweep, release, kind ('16bit' | '8bit'), chip,
    dtype, batch, measured time_us and TFLOP/s, ``which`` share ('share' | 'stream') and its value."""
    sw = sweeps() if sw is None else sw
    out = []
    for name, s in sw.items():
        times = s["times_s"]
        lo, hi = STREAM_ROWS_PER_EXPERT
        rows = lambda b: b * int(s["top_k"]) / int(s["experts"])  # noqa: E731
        chosen = [(b, "stream") for b in sorted(times) if lo <= rows(b) <= hi]
        chosen += [(b, "share") for b in sorted(times)[-POINTS_PER_SWEEP:]]
        for batch, which in chosen:
            _, compute, memory = model_call_s(s, batch)
            t = times[batch]
            out.append({"sweep": name, "release": s["release"], "kind": kind_of(s), "chip": s["chip"],
                        "dtype": s["dtype"], "batch": batch, "time_us": t * 1e6, "tflops": call_flops(s, batch) / t / 1e12,
                        "which": which, "value": (compute if which == "share" else memory) / t})
    return out


def derived(pts: list[dict] | None = None) -> dict[tuple[str, str], dict[str, float]]:
    """Per (release, kind), e.g. ('sglang-0.5.9', '8bit'): ``share`` and ``stream``, each the median of
    its points (:func:`points`, computed afresh when not given), rounded to 0.01."""
    pts = points() if pts is None else pts
    out: dict[tuple[str, str], dict[str, float]] = {}
    for key in dict.fromkeys((p["release"], p["kind"]) for p in pts):
        out[key] = {w: round(statistics.median(p["value"] for p in pts if (p["release"], p["kind"]) == key
                                               and p["which"] == w), 2) for w in ("share", "stream")}
    return out


def sweep_errors(sw: dict[str, dict] | None = None, fit: dict | None = None) -> list[dict]:
    """Per sweep: the mean |log(model / measured)| over all its batches with both shares 1 and with its
    release's derived shares (how much of each sweep, beyond the points read, the pair explains)."""
    sw = sweeps() if sw is None else sw
    fit = derived(points(sw)) if fit is None else fit
    rows = []
    for name, s in sw.items():
        f = fit[(s["release"], kind_of(s))]
        err = lambda g, st: statistics.fmean(  # noqa: E731
            abs(math.log(model_call_s(s, b, g, st)[0] / t)) for b, t in s["times_s"].items())
        rows.append({"sweep": name, "release": s["release"], "chip": s["chip"], "dtype": s["dtype"],
                     "batches": len(s["times_s"]), "error_at_1": err(1.0, 1.0), "error": err(f["share"], f["stream"])})
    return rows


def main() -> None:
    for (release, kind), f in derived().items():
        print(f"{release:13s} {kind:5s}: share {f['share']:.2f}, stream {f['stream']:.2f}")
    for r in sweep_errors():
        print(f"  {r['sweep']:34s} mean |log error| {r['error_at_1']:.3f} at 1 / 1 -> {r['error']:.3f}")


if __name__ == "__main__":
    main()
