"""Accuracy against a baseline commit, in one run: held-out median |error| per validate category,
on the rows that both the baseline and this checkout score as held out (goal of issue 12: no
category's median gets worse), and this checkout's medians on all of its own held-out rows.

    python bench/bench_validate.py [--baseline 325a208] [--json]

Both sides run ``fabless validate --json`` in a fresh process: the baseline from its own
``src`` (``git archive``), so its data files and model are the baseline's, and this checkout
from ``src``. A row counts in the comparison only where its category, id and metric are held out on both sides
(a row that became a fit row since, or did not exist then, is left out of the comparison).
The baseline's rows are kept in the temporary folder by commit, so a second run takes one validate.
Not a test: accuracy goals are reported here, not asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _baseline import ROOT, baseline_src  # noqa: E402

#: The commit issue 12 was filed at: its rows and model are the comparison's "then".
FILING_COMMIT = "325a208"


def rows(src: Path) -> list[dict]:
    """Every row of ``fabless validate --json`` run with ``src`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, "-m", "fabless.cli", "validate", "--json"], check=True,
                         capture_output=True, text=True, env=env, cwd=ROOT)
    return json.loads(out.stdout)["rows"]


def baseline_rows(rev: str) -> list[dict]:
    """The baseline's rows, kept in the temporary folder by commit (they cannot change)."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", rev], capture_output=True, text=True).stdout.strip() or rev
    cache = Path(tempfile.gettempdir()) / f"fabless-bench-validate-{sha}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        src = baseline_src(rev, tmp)
        if src is None:
            sys.exit(2)
        old = rows(src)
    cache.write_text(json.dumps(old))
    return old


def held_out(rs: list[dict]) -> dict[str, dict]:
    """Scored held-out rows by (category, id, metric): one published row may give two figures
    (TTFT and TPOT), or be scored in two categories (a serving row is also an energy row)."""
    return {(r["category"], r["id"], r["metric"]): r for r in rs if r.get("set") == "held_out" and r.get("error") is not None and not r.get("skipped")}


def median_abs_pct(rs) -> float | None:
    errs = [abs(r["error"]) * 100 for r in rs]
    return statistics.median(errs) if errs else None


def compare(old: list[dict], new: list[dict]) -> list[dict]:
    """Per category: n and held-out medians then and now on the common held-out rows, and now on all."""
    old_h, new_h = held_out(old), held_out(new)
    common = sorted(set(old_h) & set(new_h))
    cats = sorted({r["category"] for r in new_h.values()} | {r["category"] for r in old_h.values()})
    out = []
    for cat in cats:
        ids = [i for i in common if new_h[i]["category"] == cat]
        then = median_abs_pct(old_h[i] for i in ids)
        now = median_abs_pct(new_h[i] for i in ids)
        out.append({"category": cat, "n_common": len(ids), "then_pct": then, "now_pct": now,
                    "worse": (then is not None and now is not None and now > then),
                    "n_now_all": sum(1 for r in new_h.values() if r["category"] == cat),
                    "now_all_pct": median_abs_pct(r for r in new_h.values() if r["category"] == cat)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default=FILING_COMMIT, help="commit to compare with (default: issue 12's filing commit)")
    ap.add_argument("--json", action="store_true", help="print the table as JSON")
    args = ap.parse_args()
    old = baseline_rows(args.baseline)
    table = compare(old, rows(ROOT / "src"))
    if args.json:
        print(json.dumps({"baseline": args.baseline, "categories": table}))
        return
    fmt = lambda v: "-" if v is None else f"{v:.2f}%"  # noqa: E731
    print(f"held-out median |error|, rows held out both at {args.baseline} and now")
    print(f"{'category':10} {'n':>4} {'then':>8} {'now':>8}   {'now, all held-out rows':>24}")
    for r in table:
        flag = "  WORSE" if r["worse"] else ""
        print(f"{r['category']:10} {r['n_common']:>4} {fmt(r['then_pct']):>8} {fmt(r['now_pct']):>8}   "
              f"{fmt(r['now_all_pct']):>16} (n={r['n_now_all']}){flag}")


if __name__ == "__main__":
    main()
