"""Fit recsys_step_overhead_s (data/estimate/engine.yaml): the fixed host and framework cost of one
recommendation-model step that no kernel model sees, on the FIT rows of fabless.validate.recsys.

The fit rows are the two smallest-batch inference rows (NVIDIA's DLRM on one A100 at batch 32 and
128), where a fixed per-step cost shows: their published latency is flat (0.14 ms) while the
kernels' time grows with the batch. The value is the mean of (measured latency - predicted latency
with no overhead) over those rows, latency = batch / published samples/s. Held-out rows are never
read. Writes nothing: copy the value into engine.yaml with the printed provenance.

Usage: python scripts/fit_recsys.py
"""

from __future__ import annotations

from fabless.estimate.engine import resolve_system
from fabless.estimate.optime import compute_dtype, supported_dtype
from fabless.estimate.recsys import recsys_step
from fabless.estimate.scenario import scenario_from_dict
from fabless.measurements import rows_by_id
from fabless.perf.params import ChipParams
from fabless.validate.recsys import FIT_IDS, mapping
from fabless.workload.catalog import load_recsys


def residual_s(row_id: str) -> float:
    """Measured minus predicted (no overhead) latency of one fit row, seconds."""
    row = rows_by_id()[row_id]
    scn = scenario_from_dict(dict(mapping()[row_id]["scenario"]), row_id)
    system = resolve_system(scn)
    chip = ChipParams.from_chip(system.chip)
    spec = scn.recsys
    batch = int(scn.inference.batch)
    step = recsys_step(load_recsys(scn.model), system, chip, batch=batch, training=False, sharding=spec.sharding,
                       cache_hit_rate=spec.cache_hit_rate, act_dtype=scn.precision.activations,
                       compute_dtype=supported_dtype(compute_dtype(scn.precision.activations, scn.precision.weights), chip),
                       embedding_dtype=spec.embedding_dtype, replicate_below_bytes=spec.replicate_below_mb * 1e6,
                       step_overhead_s=0.0)
    return batch / float(row["value"]) - step.time_s


def main() -> None:
    res = {r: residual_s(r) for r in sorted(FIT_IDS)}
    for r, v in res.items():
        print(f"{r}: measured - predicted = {v * 1e6:.1f} us")
    print(f"recsys_step_overhead_s = {sum(res.values()) / len(res):.3e}  (mean over {', '.join(res)})")


if __name__ == "__main__":
    main()
