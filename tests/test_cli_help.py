"""Every sub-command teaches: --help works and shows examples, and every example runs.

Convention: an example is a line of a command's help that starts with ``Example: fabless ``
(the rest of the line is the command line, as a shell would split it). The test finds every
such line in every command's help and runs it in-process, from a scratch folder where
``examples/`` is this repository's, and asserts exit status 0. Examples whose full run takes
tens of seconds run with the extra options in QUICK appended (a later option wins), which
shrink the work without changing what the example exercises.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from fabless.cli import _COMMANDS, load_command

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = re.compile(r"^\s*Example: fabless (.+?)\s*$")

#: example prefix -> options appended for a quick run
QUICK = {
    "fleet ": ["--max-layouts", "1", "--duration", "10s"],      # 5 chips x 6 layouts of 60 s runs: ~1 min
    "serve ": ["--duration", "60s"],                            # the max-throughput search simulates 600 s per rate
    "ui ": ["--check"],                                         # serves until Ctrl-C: check on a free port and stop
}


def _leaves(cmd, path):
    subs = getattr(cmd, "commands", None)
    if subs:
        for name, sub in subs.items():
            yield from _leaves(sub, [*path, name])
    else:
        yield " ".join(path), cmd


def _all_commands() -> dict[str, object]:
    out = {}
    for name in _COMMANDS:
        out.update(_leaves(load_command(name), [name]))
    return out


COMMANDS = _all_commands()


def examples_of(help_text: str) -> list[str]:
    return [m.group(1) for line in (help_text or "").splitlines() if (m := EXAMPLE.match(line))]


def test_every_command_is_found():
    # the ones a user meets first, so that a broken walk over the command tree cannot pass silently
    for name in ("chips list", "chips compare", "systems show", "models graph", "import", "op gemm", "op allreduce",
                 "estimate", "serve", "fleet", "cost", "tco", "breakeven", "explore", "validate", "calibrate", "ui"):
        assert name in COMMANDS
    assert len(COMMANDS) >= 28  # 4 chips, 3 systems, 3 models, import, 8 op, and 9 single commands


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_shows_its_examples(cli, command):
    res = cli(*command.split(), "--help")
    assert res.code == 0, res.err
    found = examples_of(COMMANDS[command].help)
    assert found, f"fabless {command} --help has no 'Example: fabless ...' line"
    shown = "".join(res.out.split())  # Rich wraps long lines; compare without whitespace
    for example in found:
        assert "".join(f"fabless {example}".split()) in shown


@pytest.fixture
def in_scratch(tmp_path, monkeypatch):
    """A scratch working folder with this repository's examples/ (examples write their outputs here)."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("command", sorted(c for c in COMMANDS if examples_of(COMMANDS[c].help)))
def test_examples_run(cli, in_scratch, command):
    if command == "import":
        pytest.importorskip("torch")
    for example in examples_of(COMMANDS[command].help):  # in order: a later one may reopen an earlier one's output
        args = shlex.split(example)
        args += next((extra for prefix, extra in QUICK.items() if example.startswith(prefix)), [])
        if args[0] == "explore" and "--show" not in args:
            args += ["--samples", "512", "--no-plot"]  # the example's 65,536 designs and plots: ~10 s
        res = cli(*args)
        assert res.code == 0, f"fabless {' '.join(args)}\n{res.err}"
        assert res.out.strip()


def test_top_level_help_lists_the_commands(cli):
    res = cli("--help")
    assert res.code == 0
    for name in _COMMANDS:
        assert name in res.out


def test_top_level_help_imports_no_command_module():
    """`fabless --help` lists the commands from cli.py's table, without importing their modules
    (which is what keeps start-up short; bench/bench_startup.py measures the time)."""
    modules = sorted({module for module, *_ in _COMMANDS.values()})
    code = ("import sys, contextlib, io\nfrom fabless.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()): main(['--help'])\n"
            f"print([m for m in {modules!r} + ['pandas'] if m in sys.modules])")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_command_loads_its_module_when_it_runs(cli):
    res = cli("chips", "compare", "h100-sxm", "b200", "--json")
    assert res.code == 0
    assert "fabless.hardware.cli" in sys.modules
