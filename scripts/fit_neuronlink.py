"""Fit the Neuron inference costs that no public micro-benchmark gives, jointly, on the
neuron-inference stack's fit rows (data/estimate/software.yaml ``fit_rows``) that run over
NeuronLink (tp > 1 chip: the trn1 16-chip 2D torus and the inf2 12-chip ring):

- ``generations.neuronlink.launch_latency_s`` (data/perf/collectives.yaml): the fixed cost of one
  collective (issuing it and the ranks' synchronisation), whatever the group's size;
- ``generations.neuronlink.simple_step_overhead_s``: the cost of each ring / torus step on top of
  the hop latency (``ll_step_overhead_s`` is kept equal to it);
- ``neuron-inference.decode_score_cost_s`` (software.yaml): seconds per attended position of one
  sequence's decode attention scores on one NeuronCore (its query heads side by side).

With only the trn1 rows (one 16-chip group) a fixed cost could not be told from a per-step cost;
the inf2 rows' 12-chip ring has twice the steps of trn1's 4x4 torus and tells them apart. The
objective is the mean |log(predicted / measured)| over the fit rows, on a grid; the held-out rows
are never read. Prints the grid minimum. Usage: python scripts/fit_neuronlink.py
"""

from __future__ import annotations

import itertools
import math
import re
import tempfile
from pathlib import Path

import numpy as np

from fabless.estimate import software as swmod
from fabless.estimate import step as step_model
from fabless.perf import collectives as C
from fabless.validate import infer, train
from fabless.validate.core import load_rows

STACK = "neuron-inference"
LAUNCH_S = [round(1e-6 * v, 9) for v in range(0, 61, 5)]        # 0-60 us
STEP_S = [round(1e-6 * v, 9) for v in (0.0, 0.5, 1.0, 2.0, 3.45)]  # 3.45 us: the value fitted on trn1 alone
SCORE_S = [round(1e-10 * v, 12) for v in range(0, 61, 2)]         # 0-6 ns


def fit_rows() -> list[dict]:
    """The stack's fit rows whose tensor-parallel group spans chips (a one-chip row has no
    collective to fit)."""
    by_id = {r["id"]: r for r in load_rows()}
    rows = [by_id[i] for i in swmod.software_stacks()[STACK].fit_rows]
    return [r for r in rows if int(r["n_chips"]) > 1]


def _set(text: str, key: str, value: float) -> str:
    return C.with_generation_value_in_text(text, "neuronlink", key, value)


def _set_score(text: str, value: float) -> str:
    # the stack's header may carry a YAML anchor (``neuron-inference: &neuron_inference``)
    pat = re.compile(r"(\n" + STACK + r":[^\n]*\n(?:  .*\n)*?  decode_score_cost_s: \{value: )[A-Z0-9.e+-]+")
    out, n = pat.subn(lambda m: m.group(1) + f"{value:.3e}", text)
    if n != 1:
        raise SystemExit(f"software.yaml: {STACK}.decode_score_cost_s not found")
    return out


def main() -> None:
    rows = fit_rows()
    print(f"{len(rows)} fit rows: {', '.join(r['id'] for r in rows)}")
    coll_base, sw_base = Path(C._PARAMS_PATH).read_text(), Path(swmod._PATH).read_text()
    tmp = Path(tempfile.mkdtemp())
    coll_tmp, sw_tmp = tmp / "collectives.yaml", tmp / "software.yaml"
    coll_orig, sw_orig = C._PARAMS_PATH, swmod._PATH
    scores = []
    try:
        for launch, step, score in itertools.product(LAUNCH_S, STEP_S, SCORE_S):
            text = _set(_set(_set(coll_base, "launch_latency_s", launch), "simple_step_overhead_s", step),
                        "ll_step_overhead_s", step)
            coll_tmp.write_text(text)
            sw_tmp.write_text(_set_score(sw_base, score))
            C._PARAMS_PATH, swmod._PATH = coll_tmp, sw_tmp
            C._load_params_cached.cache_clear()
            swmod.software_stacks.cache_clear()
            step_model._COLL.clear()  # collective times cached under the old parameters
            train._estimate_cached.cache_clear()
            err = float(np.mean([abs(math.log(infer.predict(r) / float(r["value"]))) for r in rows]))
            scores.append((err, launch, step, score))
    finally:
        C._PARAMS_PATH, swmod._PATH = coll_orig, sw_orig
        C._load_params_cached.cache_clear()
        swmod.software_stacks.cache_clear()
        step_model._COLL.clear()
        train._estimate_cached.cache_clear()
    scores.sort()
    for err, launch, step, score in scores[:8]:
        print(f"launch {launch * 1e6:5.1f} us  step {step * 1e6:4.2f} us  score {score * 1e9:4.2f} ns: "
              f"mean |log err| {err:.4f}")
    err, launch, step, score = scores[0]
    print(f"best: launch_latency_s {launch:.3e}, simple_step_overhead_s {step:.3e}, decode_score_cost_s {score:.3e} "
          f"(mean |log err| {err:.4f})")


if __name__ == "__main__":
    main()
