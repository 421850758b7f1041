"""Fit each software stack's framework_kernel_efficiency on its own fit rows, and the engine-wide
value on all fit rows; print the grid minimum and write it into the data files with --write.

A stack's fit rows are those listed in data/estimate/software.yaml (`fit_rows:`); only stacks with
MIN_FIT_ROWS or more are fitted (``--all`` fits the others too, to see what a fit would do, and
writes nothing for them unless --write is given as well). The objective is the mean
|log(predicted / measured)| over the rows (a median of two or three rows would follow one row),
on a grid 0.30-1.00 step 0.01 (a compiled stack such as Neuron's sits far below the GPU frameworks). Held-out rows are never read.

Usage: python scripts/fit_software.py [--write]
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from pathlib import Path

import numpy as np

from fabless.estimate import software as swmod
from fabless.validate import infer, serve, train
from fabless.validate.core import load_rows

GRID = np.round(np.arange(0.30, 1.0001, 0.01), 2)
#: A fit whose rows stay further off than this mean |log error| (about 20%) at its best value is
#: not written: the efficiency, which scales compute only, does not explain those rows (e.g.
#: decode rows bound by memory or links).
EXPLAINS = 0.2


def _objective(rows: list[dict], stack: str, eff: float) -> float:
    stacks = swmod.software_stacks()
    for name in swmod.efficiency_group(stack):  # the stack and those sharing its efficiency
        stacks[name] = dataclasses.replace(stacks[name], framework_kernel_efficiency=float(eff))
    train._estimate_cached.cache_clear()
    errs = []
    for r in rows:
        mod = train if r["category"] == "train" else infer
        pred = mod.predict(r)
        errs.append(abs(math.log(pred / float(r["value"]))))
    return float(np.mean(errs))


def main() -> None:
    write = "--write" in sys.argv
    by_id = {r["id"]: r for r in load_rows()}
    original = dict(swmod.software_stacks())
    path = Path(swmod._PATH)
    text = path.read_text()
    for name, s in original.items():
        if s.efficiency_from is not None:
            print(f"{name}: takes the efficiency of {s.efficiency_from} (fitted there, with its rows)")
            continue
        group = swmod.efficiency_group(name)
        fit_ids = [i for g in group for i in original[g].fit_rows]
        if len(fit_ids) < swmod.MIN_FIT_ROWS and "--all" not in sys.argv:
            print(f"{name}: {len(fit_ids)} fit row(s), fewer than {swmod.MIN_FIT_ROWS}: uses the engine-wide value")
            continue
        if set(fit_ids) & serve.FIT_IDS:
            print(f"{name}: its fit rows are serving rows (category serve): fitted by scripts/fit_serve_efficiency.py")
            continue
        rows = [by_id[i] for i in fit_ids]
        other = sorted({r["category"] for r in rows} - {"train", "infer"})
        if other:  # e.g. vllm-cuda-0.11's energy rows (scripts/fit_vllm_cuda.py)
            print(f"{name}: its fit rows are {', '.join(other)} rows, which this script does not predict: "
                  "fitted by the script its source names")
            continue
        scores = [(_objective(rows, name, e), e) for e in GRID]
        best_score, best = min(scores)
        for g in group:
            swmod.software_stacks()[g] = original[g]
        print(f"{name}: best framework_kernel_efficiency {best:.2f} (mean |log err| {best_score:.4f} on "
              f"{', '.join(fit_ids)}; at the old {s.framework_kernel_efficiency:.2f}: "
              f"{dict((round(e, 2), v) for v, e in scores)[round(s.framework_kernel_efficiency, 2)]:.4f})")
        if best in (GRID[0], GRID[-1]):
            print(f"  {name}: the minimum sits at the grid's edge: the framework efficiency does not explain "
                  "these rows (they are bound by something it does not scale); not written")
            continue
        if best_score > EXPLAINS:
            print(f"  {name}: at its best the rows are still {best_score:.2f} off in mean |log error| (over {EXPLAINS}): "
                  "the framework efficiency does not explain them; not written")
            continue
        if write:
            line = (f"  framework_kernel_efficiency: {{value: {best:.2f}, source: *fitnote, confidence: fitted, "
                    f"fitted_on: [{', '.join(fit_ids)}]}}\n")
            # the stack's header line and its indented body; the header may carry a YAML anchor
            # (neuron-inference: &neuron_inference)
            stack = rf"^{re.escape(name)}:[^\n]*\n(?:  .*\n)*"
            block = re.compile(rf"({stack}?)  framework_kernel_efficiency: .*\n", re.M)
            if block.search(text):
                text = block.sub(lambda m: m.group(1) + line, text)
            else:
                text = re.sub(rf"({stack})", lambda m: m.group(1) + line, text, count=1, flags=re.M)
    if write:
        path.write_text(text)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
