"""Simulated against measured TTFT of the InferenceX DeepSeek-R1 rows (published_amd2.csv).

The rows' metric is output tokens/s per GPU; the same dashboard row's median TTFT is kept in
each row's notes ("median TTFT N ms"). This script simulates every infer-amd2-* entry of
serve_scenarios_amd2.yaml as `fabless validate` does (fabless.validate.serve.simulate_entry)
and prints, per (input length, clients), the median measured and simulated TTFT and their gap,
then the median relative error per chip and input length. It fits nothing and writes nothing.

    PYTHONPATH=src python scripts/amd2_ttft.py            # every row (~3 min of CPU)
    PYTHONPATH=src python scripts/amd2_ttft.py infer-amd2-006 infer-amd2-047
"""

from __future__ import annotations

import csv
import re
import statistics as st
import sys
from collections import defaultdict
from pathlib import Path

from fabless.validate import serve as vs

ROWS = Path(__file__).resolve().parents[1] / "src" / "fabless" / "data" / "measurements" / "published_amd2.csv"


def main(ids: list[str]) -> None:
    rows = {r["id"]: r for r in csv.DictReader(ROWS.open())}
    entries = vs.serve_map()
    ids = ids or sorted(i for i in entries if i.startswith("infer-amd2-"))
    by_load: dict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
    by_chip: dict[tuple[str, int], list[float]] = defaultdict(list)
    for i in ids:
        e = entries[i]
        m = re.search(r"median TTFT ([\d.]+) ms", rows[i]["notes"])
        if m is None:
            continue
        meas_ms = float(m.group(1))
        pred_ms = vs.simulate_entry(e)["ttft_s"] * 1e3
        scn = e["scenario"]
        inp, clients = int(scn["inference"]["input_tokens"]), int(e["load"]["concurrency"])
        print(f"{i} {scn.get('software')} {scn['system']['name']} in {inp} clients {clients}: "
              f"measured {meas_ms:.0f} ms, simulated {pred_ms:.0f} ms ({100 * (pred_ms / meas_ms - 1):+.0f}%)", flush=True)
        by_load[(inp, clients)].append((meas_ms, pred_ms))
        by_chip[(scn["system"]["name"], inp)].append(pred_ms / meas_ms - 1)
    print("\ninput clients rows  measured  simulated  gap (medians, ms)")
    for (inp, c), v in sorted(by_load.items()):
        print(f"{inp:5d} {c:7d} {len(v):4d}  {st.median(a for a, _ in v):8.0f}  {st.median(b for _, b in v):9.0f}  "
              f"{st.median(a - b for a, b in v):5.0f}")
    print("\nchip input rows median error")
    for (chip, inp), v in sorted(by_chip.items()):
        print(f"{chip} {inp} {len(v)} {100 * st.median(v):+.1f}%")


if __name__ == "__main__":
    main(sys.argv[1:])
