"""Old against new in one run: a benchmark's measurement, repeated in fresh processes that
alternate between this checkout's ``src`` and a baseline commit's ``src`` (``git archive``
into a temporary folder), so that both sides see the same machine load. Used by
bench_estimate.py and bench_explore.py (``--baseline REV``; ``--baseline none`` skips it).

The measuring process prints one JSON object (its figures) as its last line of output.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The commit the speed work (issue 12, item 7) started from.
DEFAULT_BASELINE = "0991533"


def baseline_src(rev: str, into: str) -> Path | None:
    """``src`` of commit ``rev`` extracted under ``into``; None (with a note) without git or the commit."""
    try:
        tar = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"(no baseline: git archive {rev} failed: {getattr(exc, 'stderr', b'').decode().strip() or exc})")
        return None
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        try:
            t.extractall(into, filter="data")
        except TypeError:  # a Python 3.11 before 3.11.4: no extraction filters (our own repository's archive)
            t.extractall(into)
    return Path(into) / "src"


def measure(script: str, src: Path, args: list[str]) -> dict:
    """Run ``script --measure ARGS`` with ``src`` first on the path; its figures."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    out = subprocess.run([sys.executable, script, "--measure", *args], check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(script: str, args: list[str], rev: str, rounds: int) -> tuple[dict, dict | None]:
    """Median figures of ``rounds`` measurements of this checkout and of ``rev`` (None without it),
    the two alternating."""
    new_runs, old_runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        old_src = baseline_src(rev, tmp) if rev != "none" else None
        for _ in range(rounds):
            new_runs.append(measure(script, ROOT / "src", args))
            if old_src is not None:
                old_runs.append(measure(script, old_src, args))
    med = lambda runs: {k: statistics.median(r[k] for r in runs) for k in runs[0]}  # noqa: E731
    return med(new_runs), (med(old_runs) if old_runs else None)
