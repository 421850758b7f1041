"""Start-up time of the `fabless` command (a benchmark, not a test).

Goal (issue 14, item 4): `fabless --help` and simple commands (listing the chip, system and
model libraries, showing one chip) in under 0.5 s on this machine. Each command runs in a
fresh process (`python -m fabless.cli ...`, this checkout's src first on PYTHONPATH); the
wall time includes the interpreter's own start-up, as a user sees it. Output is discarded.

Sub-command help (`fabless estimate --help`) imports that command's modules, so it is shown
for reference, without a goal.

Run: python bench/bench_startup.py [--repeats 5]
To see which imports cost the time: python -X importtime -m fabless.cli chips list 2>&1 >/dev/null | sort -t'|' -k2 -n | tail
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 0.5

# (arguments, held to the goal)
COMMANDS = [
    (["--help"], True),
    (["--version"], True),
    (["chips", "list"], True),
    (["systems", "list"], True),
    (["models", "list"], True),
    (["chips", "show", "h100-sxm"], True),
    (["estimate", "--help"], False),
    (["serve", "--help"], False),
]


def wall_s(args: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fabless.cli", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="fresh processes per command; the median is reported")
    opts = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    wall_s(["--help"], env)  # warm the file cache and the bytecode
    print(f"{'command':<28} {'median s':>9} {'min s':>7}  goal < {GOAL_S} s")
    missed = 0
    for args, held in COMMANDS:
        times = [wall_s(args, env) for _ in range(opts.repeats)]
        med = statistics.median(times)
        verdict = ("ok" if med < GOAL_S else "MISSED") if held else "(reference)"
        missed += held and med >= GOAL_S
        print(f"{'fabless ' + ' '.join(args):<28} {med:>9.3f} {min(times):>7.3f}  {verdict}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
