"""The serving-load examples of docs/user-guide.md section 5 run as written (shortened runs)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from fabless.cli import main

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "user-guide.md"


def _load_examples() -> list[list[str]]:
    text = GUIDE.read_text()
    block = text.split("The loads benchmarks use", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    env = dict(re.findall(r"^(\w+)=(\S+)$", block, re.M))
    cmds = []
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("fabless "):
            cmds.append([env.get(w[1:], w) if w.startswith("$") else w for w in shlex.split(line)[1:]])
    return cmds


EXAMPLES = _load_examples()


def test_the_guide_shows_every_load():
    flags = {w for c in EXAMPLES for w in c if w.startswith("--")}
    assert {"--offline", "--concurrency", "--max-throughput", "--mlperf", "--lengths"} <= flags


@pytest.mark.parametrize("argv", EXAMPLES, ids=lambda a: " ".join(a[2:]))
def test_guide_load_example_runs(argv, capsys):
    # the searches simulate a minute per rate instead of ten: the same code path, shorter runs
    extra = ["--duration", "60s"] if ("--max-throughput" in argv or "--mlperf" in argv) else []
    assert main([*argv, *extra, "--json"]) == 0, capsys.readouterr().err
