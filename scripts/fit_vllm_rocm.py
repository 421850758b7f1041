"""Fit the host time of the vllm-rocm software stack (data/estimate/software.yaml): vLLM on AMD
Instinct GPUs, the default AMD serving stack.

The fit rows are fixed by a rule stated before fitting (serve_scenarios_amd.yaml's header): of the
serve rows that run on vllm-rocm and are not in the unseen-data check (``infer-fresh-*``), those whose
id number is a multiple of 3 are marked ``set: fit``; the others stay held out and are never read here.

Two parameters, each with a meaning (software.yaml notes): ``host_step_overhead_s``, the host's time
per engine step that the GPU waits out, and ``host_per_seq_s``, the host's time per sequence of a step
(the scheduler's and the output processing's per-request loops). Every fit row is simulated request by
request (:func:`fabless.validate.serve.stack_grid_scores`) at every point of the grid; the point
minimising the mean |log(predicted / measured)| over the fit rows wins. Writes nothing: copy the
printed values into software.yaml with ``fitted_on``.

Usage: python scripts/fit_vllm_rocm.py
"""

from __future__ import annotations

import itertools

from fabless.estimate.engine import resolve_system
from fabless.estimate.scenario import scenario_from_dict
from fabless.estimate.software import resolve_software, software_stacks
from fabless.validate import serve
from fabless.validate.core import load_rows
from fabless.validate.bands import in_unseen_batch

STACK = "vllm-rocm"
HOST_STEP_S = tuple(round(0.0005 * i, 4) for i in range(9))  # 0-4 ms
HOST_PER_SEQ_S = tuple(round(2.5e-6 * i, 8) for i in range(13))  # 0-30 us


def stack_rows(stack: str = STACK) -> list[str]:
    """Ids of the serve rows (not skipped, not of an unseen-data batch) whose scenario resolves to ``stack``."""
    out = []
    for rid, e in serve.serve_map().items():
        if not isinstance(e, dict) or "scenario" not in e or in_unseen_batch(rid):
            continue
        scn = scenario_from_dict(dict(e["scenario"]), rid)
        sw = resolve_software(scn.software, resolve_system(scn).chip, "inference")
        if sw is not None and sw.name == stack:
            out.append(rid)
    return sorted(out)


def main() -> None:
    by_id = {r["id"]: {**r, "category": "serve"} for r in load_rows()}
    ids = [i for i in stack_rows() if i in serve.FIT_IDS]
    recorded = list(software_stacks()[STACK].fit_rows)
    if recorded and recorded != ids:
        raise SystemExit(f"{STACK}: software.yaml fit_rows {recorded} differ from the rows marked set: fit {ids}")
    rows = [by_id[i] for i in ids]
    print(f"{STACK}: {len(ids)} fit rows: {', '.join(ids)}", flush=True)
    preds: dict = {}
    grid = list(itertools.product(HOST_STEP_S, HOST_PER_SEQ_S))
    scores = serve.stack_grid_scores(STACK, ("host_step_overhead_s", "host_per_seq_s"), grid, rows, preds)
    for err, (host, per_seq) in scores:
        print(f"host step {host * 1e3:3.1f} ms, per sequence {per_seq * 1e6:4.1f} us: mean |log err| {err:.4f}", flush=True)
    best_err, best = min(scores)
    print(f"{STACK}: best host_step_overhead_s {best[0]:.4f}, host_per_seq_s {best[1]:.2e} (mean |log err| {best_err:.4f}; "
          f"none: {dict((k, e) for e, k in scores)[(0.0, 0.0)]:.4f}); fitted_on: [{', '.join(ids)}]")
    for i in ids:
        print(f"  {i} measured {float(by_id[i]['value']):10.2f} predicted {preds[best][i]:10.2f} "
              f"{(preds[best][i] / float(by_id[i]['value']) - 1) * 100:+6.1f}%")


if __name__ == "__main__":
    main()
