"""Write docs/economics.md's energy-per-token table from a fresh run (category `energy` of
`fabless validate`): each published row, the model's power and throughput, its J per output token
and the error. `python scripts/docs_energy.py` rewrites the section between its markers;
`--check` exits 1 when the committed table differs from a rerun."""

from __future__ import annotations

import sys
from pathlib import Path

from fabless.economics.params import default_params
from fabless.economics.tco import work_power_w
from fabless.estimate import estimate
from fabless.measurements import load_rows
from fabless.validate.core import parse_config
from fabless.validate.energy import predict, scenario_of

DOC = Path(__file__).resolve().parents[1] / "docs" / "economics.md"
BEGIN, END = "<!-- energy-table: begin (scripts/docs_energy.py) -->", "<!-- energy-table: end -->"


def table() -> str:
    out = ["| row | model, chip | batch, in/out tokens | software | published J/token | model W | model out tok/s | "
           "model J/token | error |", "|---|---|---|---|---|---|---|---|---|"]
    for r in (r for r in load_rows() if r["category"] == "energy"):
        cfg = parse_config(r["config"])
        scn, chip = scenario_of(r)
        est = estimate(scn)
        watts = work_power_w(est, scn, chip, default_params())[0]
        tps = float(est.metrics["output_tokens_per_s_per_chip"])
        pred = predict(r)
        meas = float(r["value"])
        out.append(f"| {r['id']} | {cfg['model']}, {r['n_chips']} x {chip.name} | {cfg['batch']}, {cfg['input']}/{cfg['output']} | "
                   f"{cfg.get('framework', '')} | {meas:.3f} | {watts:.0f} | {tps:,.0f} | {pred:.3f} | {pred / meas - 1:+.0%} |")
    return "\n".join(out)


def regenerate(text: str) -> str:
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + table() + "\n" + text[end:]


if __name__ == "__main__":
    old = DOC.read_text()
    new = regenerate(old)
    if "--check" in sys.argv:
        sys.exit(0 if new == old else 1)
    DOC.write_text(new)
