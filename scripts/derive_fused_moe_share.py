"""The share of a stack's dense-GEMM rate that the open-source engines' Triton fused-MoE kernel
reaches, 16-bit and 8-bit (software.yaml ``grouped_gemm_efficiency`` and
``grouped_gemm_8bit_efficiency`` of the stacks that run it), from the kernel timings of
data/measurements/fused_moe_kernels.yaml.

For each sweep (one model shape on one GPU) the operator model times the two grouped GEMMs of one
fused call, gate/up (``n = 2 x N``) and down (``k = N``), as :func:`fabless.perf.ops.op_time` times
a mixture-of-experts layer's routed experts (:class:`fabless.workload.ops.ExpertMatMul`: each expert's
rows padded to whole tiles, only the experts touched read). At a sweep's two largest batches the
kernel is compute-bound (its time grows with the batch), so the share is the model's compute time at
the engine-wide framework efficiency over the measured time:

    share = compute_s(model) / (framework_kernel_efficiency x measured_s)

which is what the engine's step time becomes with that share in place (``graph_time`` divides the
compute of expert GEMMs by ``eff x grouped_eff``). The 8-bit share is the median over the FP8 sweep's
points, the 16-bit share the median over the BF16 sweeps' points.

    python scripts/derive_fused_moe_share.py
"""

from __future__ import annotations

import statistics
from importlib import resources
from pathlib import Path

import numpy as np

from fabless.estimate.optime import engine_params
from fabless.loading import read_yaml
from fabless.perf.ops import op_time
from fabless.perf.params import as_params
from fabless.workload.ops import ExpertMatMul

DATA = Path(str(resources.files("fabless") / "data" / "measurements" / "fused_moe_kernels.yaml"))
#: The largest batches of each sweep that enter the share.
POINTS_PER_SWEEP = 2


def call_flops(sweep: dict, batch: int) -> float:
    """FLOPs of one fused call: ``batch`` tokens, each through ``top_k`` experts' gate/up (2N x K)
    and down (K x N) projections, 2 FLOPs a multiply-add."""
    return 2.0 * batch * int(sweep["top_k"]) * 3 * int(sweep["n"]) * int(sweep["k"])


def model_compute_s(sweep: dict, batch: int) -> float:
    """Compute seconds of one fused call's two grouped GEMMs in the operator model."""
    chip = as_params(sweep["chip"])
    dt = sweep["dtype"]
    shape = {"experts": int(sweep["experts"]), "tokens": int(batch), "top_k": int(sweep["top_k"]),
             "dtype_a": dt, "dtype_b": dt, "dtype_out": "bf16"}
    n, k = int(sweep["n"]), int(sweep["k"])
    parts = [op_time(ExpertMatMul("experts.gate_up", n=2 * n, k=k, **shape), chip),
             op_time(ExpertMatMul("experts.down", n=k, k=n, **shape), chip)]
    return sum(float(np.ravel(p.compute_s)[0]) for p in parts)


def points() -> list[dict]:
    """The sweep points that enter a share, each sweep's largest batches in file order: kind
    ('8bit' | '16bit'), sweep, chip, dtype, batch, measured time_us and TFLOP/s, and share."""
    eff = float(engine_params()["framework_kernel_efficiency"])
    out = []
    for name, sw in read_yaml(DATA)["sweeps"].items():
        times = {int(b): float(t) for b, t in sw["time_us"].items()}
        for batch in sorted(times)[-POINTS_PER_SWEEP:]:
            t_s = times[batch] * 1e-6
            out.append({"kind": "8bit" if sw["dtype"] in ("fp8", "int8") else "16bit", "sweep": name,
                        "chip": sw["chip"], "dtype": sw["dtype"], "batch": batch, "time_us": times[batch],
                        "tflops": call_flops(sw, batch) / t_s / 1e12,
                        "share": model_compute_s(sw, batch) / (eff * t_s)})
    return out


def derived(pts: list[dict] | None = None) -> dict[str, float]:
    """The two shares, each the median of its points (:func:`points`, computed afresh when not
    given), rounded to 0.01 as software.yaml carries them."""
    pts = points() if pts is None else pts
    return {kind: round(statistics.median(p["share"] for p in pts if p["kind"] == kind), 2)
            for kind in dict.fromkeys(p["kind"] for p in pts)}


def main() -> None:
    pts = points()
    for p in pts:
        print(f"{p['kind']:5s} {p['sweep']:28s} batch {p['batch']:5d}: share {p['share']:.3f}")
    for kind, value in derived(pts).items():
        print(f"{kind}: median {value:.2f}")


if __name__ == "__main__":
    main()
