"""What-if for the MoE training rows (issue #13, docs/perf-model.md "MoE layers"): each mapped
row whose model is a mixture of experts, its error now, and its error if the step's exposed
expert-parallel all-to-all time (the ``ep_all_to_all`` term, with the pipeline bubble's share of
it) were ``FACTOR`` times longer. A diagnosis, not a model: nothing is fitted or written, and the
held-out rows it prints must not be used to set a parameter.

Usage: python scripts/moe_a2a_whatif.py [FACTOR] (default 2)
"""

from __future__ import annotations

import sys

from fabless.validate import train
from fabless.validate.core import Skip, load_rows
from fabless.workload.catalog import load_model


def main(factor: float = 2.0) -> None:
    rows = [r for r in load_rows() if r["category"] == "train" and r["id"] in train.scenario_map()]
    print(f"{'row':14s} {'chip':6s} {'ep':>3s} {'a2a share':>9s} {'error now':>9s} {'x' + format(factor, 'g'):>9s}")
    for r in rows:
        try:
            scn, est = train.run_entry(r)
        except Skip:
            continue
        if not load_model(scn.model).is_moe or not r["value"]:
            continue
        step = est.metrics["step_time_s"]
        b = est.breakdown_s
        a2a, bubble = b.get("ep_all_to_all", 0.0), b.get("pipeline_bubble", 0.0)
        piped = step - bubble - b.get("optimizer", 0.0) - b.get("dp_comm_exposed", 0.0)
        longer = step + (factor - 1) * a2a * (1 + bubble / piped)
        pred = est.metrics["tokens_per_s_per_chip"]
        meas = float(r["value"])
        print(f"{r['id']:14s} {est.chip:6s} {est.plan.ep:3d} {a2a / step:9.0%} {pred / meas - 1:+9.1%} "
              f"{pred * step / longer / meas - 1:+9.1%}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0)
