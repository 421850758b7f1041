"""Fit the vllm-cuda-0.11 software stack (data/estimate/software.yaml) on its fit rows.

The fit rows are fixed by a rule stated before fitting (fabless.validate.energy module docstring):
the ML.ENERGY energy-per-token and tokens/s-per-watt rows of vLLM 0.11 whose id number is a
multiple of 3 (fabless.validate.energy.STACK_FIT_IDS). Held-out rows are never read.

Three parameters, each with a meaning (software.yaml notes): framework_kernel_efficiency (the share
of the kernels' modelled speed vLLM's kernels reach: it scales compute, which grows with the batch
and the model), host_step_overhead_s (host time per engine step the GPU waits out) and
host_per_seq_s (host time per sequence of a step). Each row is predicted as fabless.validate.energy
predicts it (the serving engine's steady state of the row's closed loop, the power model at the
throughput it implies); the grid point minimising the mean |log(predicted / measured)| over the fit
rows wins. Writes nothing: copy the printed values into software.yaml with fitted_on.

Usage: python scripts/fit_vllm_cuda.py
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np

from fabless.economics.params import default_params
from fabless.economics.tco import serving_power_w
from fabless.measurements import rows_by_id
from fabless.validate.energy import METRIC, PER_WATT_METRIC, STACK_FIT_IDS, engine_of, scenario_of, steady_state

STACK = "vllm-cuda-0.11"
EFFICIENCY = np.round(np.arange(0.60, 1.0001, 0.05), 3)
HOST_STEP_S = np.round(np.arange(0.0, 3.0001e-3, 0.5e-3), 6)
HOST_PER_SEQ_S = np.round(np.arange(0.0, 40.0001e-6, 5e-6), 8)


def fit_rows():
    """[(row id, metric, measured, scenario, chip, base step cost)] of the stack's fit rows."""
    out = []
    for rid in sorted(STACK_FIT_IDS):
        row = rows_by_id()[rid]
        scn, chip = scenario_of(row)
        out.append((rid, row["metric"], float(row["value"]), scn, chip, engine_of(scn)))
    return out


def predict(metric, scn, chip, model, params) -> float:
    tps = steady_state(scn, STACK, model)["output_tokens_per_s"] / scn.parallel.tp
    watts = serving_power_w(tps, scn, chip, params)[0]
    assert metric in (METRIC, PER_WATT_METRIC)
    return watts / tps if metric == METRIC else tps / watts


def with_values(model, eff, host, per_seq):
    return replace(model, eff=float(eff), prefill_eff=float(eff), host_step_s=float(host), host_seq_s=float(per_seq))


def score(rows, eff, host, per_seq, params) -> float:
    errs = [abs(math.log(predict(metric, scn, chip, with_values(m, eff, host, per_seq), params) / value))
            for _, metric, value, scn, chip, m in rows]
    return float(np.mean(errs))


def grid_scores(rows=None, params=None):
    """{(efficiency, host step s, host per sequence s): mean |log err|} over the grid."""
    rows = rows if rows is not None else fit_rows()
    params = params or default_params()
    return {(float(e), float(h), float(q)): score(rows, e, h, q, params)
            for e, h, q in itertools.product(EFFICIENCY, HOST_STEP_S, HOST_PER_SEQ_S)}


def main() -> None:
    rows = fit_rows()
    scores = grid_scores(rows)
    ranked = sorted(scores.items(), key=lambda kv: kv[1])
    (e, h, q), s = ranked[0]
    print(f"{STACK}: framework_kernel_efficiency = {e:g}, host_step_overhead_s = {h:g}, host_per_seq_s = {q:g}  "
          f"(mean |log err| {s:.4f} on {len(rows)} fit rows: {', '.join(r[0] for r in rows)})")
    print("next best:", "; ".join(f"{a:g} / {b * 1e3:g} ms / {c * 1e6:g} us {v:.4f}" for (a, b, c), v in ranked[1:6]))
    base = scores.get((0.8, 0.0, 0.0))
    if base is not None:
        print(f"engine-wide efficiency 0.8, no host time: {base:.4f}")
    params = default_params()
    for rid, metric, value, scn, chip, m in rows:
        p = predict(metric, scn, chip, with_values(m, e, h, q), params)
        print(f"  {rid}: measured {value:.4g}, predicted {p:.4g} ({p / value - 1:+.1%})")


if __name__ == "__main__":
    main()
