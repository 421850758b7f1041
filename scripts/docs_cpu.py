"""Write the CPU worked example of docs/user-guide.md (section 3, "On a CPU"): Llama-3.1-8B on
one Graviton4 socket (c8g.24xlarge) against one H100, at small batch, tokens/s and $/Mtoken,
from `fabless estimate` and `fabless tco` (fabless.economics.tco.tco_rows). The table sits
between the markers below; `--check` exits 1 when the doc differs from a fresh run
(tests/perf/test_cpu.py runs the check).

    PYTHONPATH=src python scripts/docs_cpu.py [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path

from fabless.economics.tco import tco_rows
from fabless.estimate import estimate
from fabless.estimate.scenario import scenario_from_dict

DOC = Path(__file__).resolve().parents[1] / "docs" / "user-guide.md"
BEGIN, END = "<!-- cpu-example:begin (scripts/docs_cpu.py) -->", "<!-- cpu-example:end -->"

#: (label, system, chip, precision, batch)
CASES = [
    ("Graviton4, c8g.24xlarge (llama.cpp)", {"name": "c8g-24xlarge"}, "graviton4", "q4_0", 1),
    ("Graviton4, c8g.24xlarge (llama.cpp)", {"name": "c8g-24xlarge"}, "graviton4", "q8_0", 1),
    ("Graviton4, c8g.24xlarge (PyTorch)", {"name": "c8g-24xlarge"}, "graviton4", "bf16", 1),
    ("Graviton4, c8g.24xlarge (llama.cpp)", {"name": "c8g-24xlarge"}, "graviton4", "q4_0", 8),
    ("H100 SXM, 1 GPU of a DGX H100", {"name": "dgx-h100", "count": 1}, "h100-sxm", "bf16", 1),
    ("H100 SXM, 1 GPU of a DGX H100", {"name": "dgx-h100", "count": 1}, "h100-sxm", "bf16", 8),
]


def table() -> str:
    lines = ["| hardware | weights | batch | TPOT (ms) | output tokens/s | rent $/h | rent $/M output tokens | price |",
             "|---|---|---|---|---|---|---|---|"]
    for label, system, chip, prec, batch in CASES:
        base = {"model": "llama-3.1-8b", "system": system, "precision": prec, "parallel": {"tp": 1},
                "inference": {"batch": batch, "input_tokens": 512, "output_tokens": 256}}
        (row,) = tco_rows(base, [chip])
        if "error" in row:
            raise SystemExit(f"{label} {prec}: {row['error']}")
        est = estimate(scenario_from_dict(base))
        lines.append(f"| {label} | {prec} | {batch} | {est.metrics['tpot_s'] * 1e3:.1f} | "
                     f"{row['tokens_per_s_per_chip']:.0f} | {row['rent_chip_hour_usd']:.2f} | "
                     f"{row['rent_usd_per_mtoken_output_all_in']:.2f} | {row['rent_price_basis']} |")
    return "\n".join(lines)


def regenerate(text: str) -> str:
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main() -> int:
    text = DOC.read_text()
    new = regenerate(text)
    if "--check" in sys.argv[1:]:
        if new != text:
            print("docs/user-guide.md's CPU example is out of date: run python scripts/docs_cpu.py")
            return 1
        return 0
    DOC.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
