"""Fit the host time per serving step (``host_step_overhead_s``) of the AMD serving stacks that the
InferenceX DeepSeek-R1 rows name (data/estimate/software.yaml, the sglang-rocm-* and atom-* stacks;
rows in data/measurements/serve_scenarios_amd2.yaml).

Each stack is fitted on its own rows marked ``set: fit`` (the rule, fixed before the fit and written
in software.yaml: the id's number is a multiple of 3); held-out rows are never read. A stack with
fewer than ``AMD_MIN_FIT_ROWS`` fit rows is not fitted and is reported as such. The grid is the host
step 0-24 ms in steps of 2 ms; the objective is the mean |log(predicted / measured)| over the fit
rows, every row simulated request by request (:func:`fabless.validate.serve.stack_grid_scores`).
The grid is walked downhill (:func:`descend`): from the grid point nearest the stack's recorded value
(0 for an unfitted stack), each step moves to the lower-scoring neighbour, and the walk stops at a
point both of whose neighbours score higher. The scores of every run so far fall then rise over the
grid (one minimum; software.yaml's notes), so this is the grid minimum at a third to a half of the
simulations of a full sweep (each fit row is a whole closed-loop run, minutes of CPU per grid point).
Prints each point's score as it is evaluated, the minimum and its rows' errors, to be recorded in
software.yaml with ``fitted_on``.
Usage: python scripts/fit_amd_stacks.py [STACK ...] (default: every AMD stack below)
"""

from __future__ import annotations

import sys

from fabless.estimate.software import software_stacks
from fabless.validate import serve
from fabless.validate.core import load_rows

STACKS = ("sglang-rocm-0.5.9-mi30x", "sglang-rocm-0.5.9-mi35x", "sglang-rocm-0.5.12-mi30x",
          "sglang-rocm-0.5.12-mi35x", "atom-0.1.1", "atom-20260511")
#: fewest fit rows on which one parameter of a stack is fitted (software.yaml, the AMD section's header)
AMD_MIN_FIT_ROWS = 4
HOST_GRID_S = tuple(round(0.002 * i, 3) for i in range(13))


def fit_rows(stack: str) -> list[str]:
    """The serve rows marked ``set: fit`` whose scenario names ``stack``, sorted by id."""
    return serve.stack_fit_ids(stack)


def descend(stack: str, rows: list[dict], start_s: float) -> tuple[dict[float, float], dict[float, dict]]:
    """Walk the host-step grid downhill from the point nearest ``start_s``: (score by grid value,
    predictions by grid value) of every point evaluated; the lowest score is a point whose grid
    neighbours both score higher (or the grid's end)."""
    scores: dict[float, float] = {}
    preds: dict[float, dict] = {}

    def score(i: int) -> float:
        host = HOST_GRID_S[i]
        if host not in scores:
            (err, _), = serve.stack_grid_scores(stack, "host_step_overhead_s", [host], rows, preds)
            scores[host] = err
            print(f"{stack}: host step {host * 1e3:4.1f} ms: mean |log err| {err:.4f}", flush=True)
        return scores[host]

    i = min(range(len(HOST_GRID_S)), key=lambda j: abs(HOST_GRID_S[j] - start_s))
    while True:
        here = score(i)
        down = [j for j in (i - 1, i + 1) if 0 <= j < len(HOST_GRID_S) and score(j) < here]
        if not down:
            return scores, preds
        i = min(down, key=score)


def main(stacks: list[str]) -> None:
    by_id = {r["id"]: r for r in load_rows()}
    known = software_stacks()
    for stack in stacks or STACKS:
        ids = fit_rows(stack)
        if list(known[stack].fit_rows) != ids:
            raise SystemExit(f"{stack}: software.yaml fit_rows {list(known[stack].fit_rows)} differ from the rows "
                             f"marked set: fit that name it {ids}")
        if len(ids) < AMD_MIN_FIT_ROWS:
            print(f"{stack}: {len(ids)} fit rows ({', '.join(ids)}), fewer than {AMD_MIN_FIT_ROWS}: not fitted")
            continue
        scores, preds = descend(stack, [by_id[i] for i in ids], known[stack].host_step_overhead_s)
        host = min(scores, key=scores.get)
        print(f"{stack}: best host_step_overhead_s {host:.3f} (mean |log err| {scores[host]:.4f}); fitted_on: [{', '.join(ids)}]",
              flush=True)
        for i in ids:
            print(f"{stack}:   {i} measured {float(by_id[i]['value']):9.2f} predicted {preds[host][i]:9.2f} "
                  f"{(preds[host][i] / float(by_id[i]['value']) - 1) * 100:+6.1f}%", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
