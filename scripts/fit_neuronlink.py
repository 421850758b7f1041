"""Fit NeuronLink's per-step collective cost (data/perf/collectives.yaml, generations.neuronlink)
on the trn1 decode fit rows: no nccl-tests-style NeuronLink measurement is public, and batch-1
decode on trn1 with tp 16 spends most of its time in tensor-parallel all-reduces of a few KiB.

Prints the mean |log(predicted / measured)| of the fit rows for each candidate step cost; the
held-out trn1 rows are never read. Usage: python scripts/fit_neuronlink.py
"""

from __future__ import annotations

import math
import re
import tempfile
from pathlib import Path

import numpy as np

from fabless.estimate import step as step_model
from fabless.perf import collectives as C
from fabless.validate import infer, train
from fabless.validate.core import load_rows

FIT_ROWS = ["infer-trn-001", "infer-trn-005", "infer-trn-013", "infer-trn-017", "infer-trn-021", "infer-trn-029"]
GRID_S = [0.0, 1e-6, 2e-6] + [round(2e-6 + 0.05e-6 * i, 10) for i in range(1, 60)] + [6e-6, 8e-6, 12e-6]  # 0.05 us near the minimum


def main() -> None:
    by_id = {r["id"]: r for r in load_rows()}
    rows = [by_id[i] for i in FIT_ROWS]
    base = Path(C._PARAMS_PATH).read_text()
    tmp = Path(tempfile.mkdtemp()) / "collectives.yaml"
    original = C._PARAMS_PATH
    scores = []
    for step in GRID_S:
        text = re.sub(r"(  neuronlink:\n(?:    .*\n)*?    simple_step_overhead_s:\n      value: )[0-9.e+-]+",
                      lambda m: m.group(1) + f"{step:.3e}", base)
        text = re.sub(r"(    ll_step_overhead_s:\n      value: )[0-9.e+-]+(\n      source: \"taken equal to generations.neuronlink)",
                      lambda m: m.group(1) + f"{step:.3e}" + m.group(2), text)
        tmp.write_text(text)
        C._PARAMS_PATH = tmp
        C._load_params_cached.cache_clear()
        step_model._COLL.clear()  # collective times cached under the old parameters
        train._estimate_cached.cache_clear()
        err = float(np.mean([abs(math.log(infer.predict(r) / float(r["value"]))) for r in rows]))
        scores.append((err, step))
        print(f"step cost {step * 1e6:5.2f} us: mean |log err| {err:.4f}")
    C._PARAMS_PATH = original
    print(f"best: {min(scores)[1] * 1e6:.2f} us")


if __name__ == "__main__":
    main()
