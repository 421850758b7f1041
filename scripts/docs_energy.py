"""Write docs/economics.md's energy table from a fresh run (category `energy` of `fabless validate`):
each published row (J per output token, average GPU power summed over the GPUs, or tokens/s per GPU watt), the model's
power and throughput, its prediction and the error. `python scripts/docs_energy.py` rewrites the section between its markers;
`--check` exits 1 when the committed table differs from a rerun."""

from __future__ import annotations

import sys
from pathlib import Path

from fabless.economics.params import default_params
from fabless.economics.tco import work_power_w
from fabless.estimate import estimate
from fabless.measurements import load_rows
from fabless.validate.core import parse_config
from fabless.validate.energy import FIT_IDS, PER_WATT_METRIC, POWER_METRIC, predict, scenario_of

DOC = Path(__file__).resolve().parents[1] / "docs" / "economics.md"
BEGIN, END = "<!-- energy-table: begin (scripts/docs_energy.py) -->", "<!-- energy-table: end -->"


def table() -> str:
    out = ["| row | set | model, chips | batch | software | published | model W/chip | model out tok/s/chip | model | error |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in (r for r in load_rows() if r["category"] == "energy"):
        cfg = parse_config(r["config"])
        scn, chip = scenario_of(r)
        est = estimate(scn)
        unit, fmt = {POWER_METRIC: ("W", "{:,.0f}"), PER_WATT_METRIC: ("tokens/s/W", "{:.3f}")}.get(r["metric"], ("J/token", "{:.3f}"))
        meas = float(r["value"])
        head = (f"| {r['id']} | {'fit' if r['id'] in FIT_IDS else 'held out'} | {cfg['model']}, {r['n_chips']} x {chip.name} | "
                f"{cfg['batch']} | {cfg.get('framework', '')} | {fmt.format(meas)} {unit} |")
        if not est.fits:
            out.append(head + " | | does not fit (static batch at full length) | |")
            continue
        watts = work_power_w(est, scn, chip, default_params())[0]
        tps = float(est.metrics["output_tokens_per_s_per_chip"])
        pred = predict(r)
        out.append(head + f" {watts:.0f} | {tps:,.0f} | {fmt.format(pred)} | {pred / meas - 1:+.0%} |")
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
