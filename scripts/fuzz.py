"""Run N malformed-input cases through the fabless CLI and count the outcomes.

    PYTHONPATH=src python scripts/fuzz.py --cases 10000 [--seed 0] [--jobs 2] [--show 20]

Each case (tests/fuzz/cases.py) runs in-process in a worker with a 10 s alarm. Prints the
counts of: exit 2 with one line, exit 0 with finite positive figures, tracebacks, hangs past
10 s, nonsense figures, and anything else; then the first --show of each kind of failure.
Exit status 1 when any case failed (traceback, hang, nonsense, other).
The valid starting commands run first (--valid) so a broken base shows up at once.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

# One BLAS thread: the hang limit counts CPU seconds of all threads, and the machine is shared.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fuzz"))
import cases as fz  # noqa: E402

KINDS = ("exit2", "ok", "traceback", "hang", "nonsense", "other")


def _work(args: tuple[int, int]) -> tuple[int, str, str, float]:
    seed, index = args
    rnd = random.Random(f"{seed}:{index}")
    case = fz.make_case(rnd)
    with tempfile.TemporaryDirectory(prefix="fabless-fuzz-") as tmp:
        res = fz.run_case(case, Path(tmp))
    return index, res.kind, res.detail, res.seconds


def _valid(index: int) -> tuple[int, str, str, float]:
    cmd = fz.COMMANDS[index]
    case = fz.Case(list(cmd.argv), {n: fz._dump(fz.BASES[k], k) for n, k in cmd.files}, "valid base")
    with tempfile.TemporaryDirectory(prefix="fabless-fuzz-") as tmp:
        res = fz.run_case(case, Path(tmp))
    return index, res.kind, res.detail, res.seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--show", type=int, default=10, help="failures of each kind to print")
    ap.add_argument("--valid", action="store_true", help="only run the valid starting commands")
    a = ap.parse_args()
    t0 = time.time()
    counts: Counter[str] = Counter()
    shown: Counter[str] = Counter()
    slowest = (0.0, "")
    if a.valid:
        for i in range(len(fz.COMMANDS)):
            _, kind, detail, s = _valid(i)
            print(f"{kind:9s} {s:6.2f}s {detail[:300]}")
            counts[kind] += 1
    else:
        jobs = [(a.seed, i) for i in range(a.cases)]
        pool = mp.get_context("fork").Pool(a.jobs, maxtasksperchild=200) if a.jobs > 1 else None
        it = pool.imap_unordered(_work, jobs, chunksize=4) if pool else map(_work, jobs)
        for n, (index, kind, detail, s) in enumerate(it, 1):
            counts[kind] += 1
            if s > slowest[0]:
                slowest = (s, detail[:200])
            if kind not in ("exit2", "ok") and shown[kind] < a.show:
                shown[kind] += 1
                print(f"[{kind}] case {index} ({s:.1f}s): {detail}", flush=True)
            if n % 500 == 0:
                print(f"... {n} cases, {dict(counts)}, {time.time() - t0:.0f}s", flush=True)
        if pool:
            pool.close()
    total = sum(counts.values())
    print(f"\n{total} cases in {time.time() - t0:.0f} s (seed {a.seed}):")
    labels = {"exit2": "exit 2, one line", "ok": "exit 0, finite positive figures", "traceback": "tracebacks",
              "hang": f"hangs past {fz.HANG_S} s", "nonsense": "nonsense figures", "other": "other"}
    for k in KINDS:
        print(f"  {labels[k]:32s} {counts[k]}")
    if slowest[1]:
        print(f"  slowest case: {slowest[0]:.1f} s ({slowest[1]})")
    return 1 if any(counts[k] for k in ("traceback", "hang", "nonsense", "other")) else 0


if __name__ == "__main__":
    sys.exit(main())
