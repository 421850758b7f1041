"""Write docs/economics.md's energy table from a fresh run (category `energy` of `fabless validate`):
each published row (J per output token, average GPU power summed over the GPUs, or tokens/s per GPU watt), the running
batch (the row's, or what the KV pool holds), the model's power and throughput, its prediction and the error. `python scripts/docs_energy.py` rewrites the section between its markers;
`--check` exits 1 when the committed table differs from a rerun."""

from __future__ import annotations

import sys
from pathlib import Path

from fabless.economics.params import default_params
from fabless.economics.tco import serving_power_w
from fabless.measurements import load_rows
from fabless.validate.core import parse_config, Skip
from fabless.validate.energy import (FIT_IDS, PER_WATT_METRIC, POWER_METRIC, predict, stack_of, steady_state,
                                     tokens_per_s_per_chip)
from fabless.validate.hardware_map import chip_for_hardware

DOC = Path(__file__).resolve().parents[1] / "docs" / "economics.md"
BEGIN, END = "<!-- energy-table: begin (scripts/docs_energy.py) -->", "<!-- energy-table: end -->"


def table() -> str:
    out = ["| row | set | model, chips | batch | running | software | published | model W/chip | model out tok/s/chip | model | error |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in (r for r in load_rows() if r["category"] == "energy"):
        cfg = parse_config(r["config"])
        try:
            tps, scn, chip = tokens_per_s_per_chip(r)
            stack = stack_of(r)
            running = steady_state(scn, stack)["running"] if stack else cfg["batch"]
        except Skip as exc:
            tps, why, running = None, str(exc), ""
        unit, fmt = {POWER_METRIC: ("W", "{:,.0f}"), PER_WATT_METRIC: ("tokens/s/W", "{:.3f}")}.get(r["metric"], ("J/token", "{:.3f}"))
        meas = float(r["value"])
        head = (f"| {r['id']} | {'fit' if r['id'] in FIT_IDS else 'held out'} | {cfg['model']}, {r['n_chips']} x {chip_for_hardware(r['hardware']).name} | "
                f"{cfg['batch']} | {running} | {stack_of(r) or cfg.get('framework', '')} | {fmt.format(meas)} {unit} |")
        if tps is None:
            out.append(head + f" | | {why} | |")
            continue
        watts = serving_power_w(tps, scn, chip, default_params())[0]
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
