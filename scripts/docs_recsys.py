"""Write the DLRM worked example's numbers into docs/user-guide.md (between the recsys markers).

    python scripts/docs_recsys.py          # rewrite the block
    python scripts/docs_recsys.py --check  # exit 1 if the block differs from a fresh run
"""

from __future__ import annotations

import sys
from pathlib import Path

from fabless.estimate.engine import estimate
from fabless.estimate.scenario import load_scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "user-guide.md"
BEGIN, END = "<!-- recsys:begin (scripts/docs_recsys.py) -->", "<!-- recsys:end -->"
EXAMPLE = ROOT / "examples" / "scenarios" / "dlrm-v2-mtia-v2.yaml"


def block() -> str:
    base = load_scenario(EXAMPLE).model_dump(exclude_none=True)
    rows = []
    for label, system in (("MTIA v2 chassis (24 x MTIA v2)", {"name": "mtia-v2-chassis"}),
                          ("MTIA v2 rack (72 x MTIA v2)", {"name": "mtia-v2-rack"}),
                          ("DGX H100 (8 x H100)", {"name": "dgx-h100"})):
        e = estimate(scenario_from_dict({**base, "system": system}))
        m = e.metrics
        top = max(e.breakdown_s, key=e.breakdown_s.get)
        rows.append(f"| {label} | {m['samples_per_s'] / 1e6:.2f} M | {m['latency_s'] * 1e3:.3f} ms | "
                    f"{m['samples_per_s_per_w']:,.0f} | {', '.join(f'{v} {k}' for k, v in m['sharding'].items())} | "
                    f"{top} ({m['bounds'][top]}) |")
    head = ("| system | samples/s | latency (batch 4096) | samples/s per W (chips' TDP) | tables | largest part (bound) |\n"
            "| --- | --- | --- | --- | --- | --- |")
    return "\n".join([BEGIN, head, *rows, END])


def main() -> int:
    text = DOC.read_text()
    i, j = text.index(BEGIN), text.index(END) + len(END)
    new = text[:i] + block() + text[j:]
    if "--check" in sys.argv:
        return 0 if new == text else 1
    DOC.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
