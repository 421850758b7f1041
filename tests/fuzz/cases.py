"""Malformed inputs for every fabless command, and the rule each run must keep.

A :class:`Case` is an argv for ``fabless.cli.main`` plus the files it names (written to a
fresh folder just before the run). Cases start from a valid command or data file and change
one thing: a flag value, a YAML field (wrong type, negative, zero, NaN, inf, 1e308, missing,
unknown, empty, binary, deep, aliases, unicode) or the whole file.

:func:`run_case` runs one case in-process and sorts the outcome into one of
``exit2`` (one ``error:`` line, status 2), ``ok`` (status 0, every figure finite and
positive), ``traceback``, ``hang`` (past the time limit), ``nonsense`` (status 0 with an
inf, NaN, negative or null figure) or ``other`` (any other status or output shape).
Shared by ``tests/fuzz/test_fuzz.py`` (Hypothesis, CI) and ``scripts/fuzz.py`` (long runs).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
import random
import re
import signal
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "src" / "fabless" / "data"
EXAMPLES = ROOT / "examples"

#: A run using more CPU seconds than this is a hang (the issue's goal: none past 10 s).
HANG_S = 10


# --- valid starting points -------------------------------------------------------------------

def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _space() -> dict:
    space = _load(EXAMPLES / "openai-xpu" / "space.yaml")
    space["base"]["system"] = "system.yaml"
    # Few designs, so a valid space finishes in a second or two.
    space["search"].update(samples=4, batch_size=4)
    space["workload"] = space["workload"][:1]
    return space


BASES: dict[str, Any] = {
    "chip": _load(DATA / "chips" / "h100-sxm.yaml"),
    "chip_tpu": _load(DATA / "chips" / "tpu-v5p.yaml"),
    "system": _load(DATA / "systems" / "dgx-h100.yaml"),
    "train": _load(EXAMPLES / "scenarios" / "gpt3-175b-training-512-h100.yaml"),
    "auto": _load(EXAMPLES / "scenarios" / "llama-405b-training-auto.yaml"),
    "serve": _load(EXAMPLES / "scenarios" / "llama-70b-serving-dgx-h100.yaml"),
    "space": _space(),
    "xpu_system": _load(EXAMPLES / "openai-xpu" / "system.yaml"),
    "config_json": json.loads((DATA / "models" / "llama-3.1-8b.json").read_text()),
    "params": {"ownership": {"pue": 1.25, "electricity_usd_per_kwh": 0.08, "depreciation_years": 5,
                             "average_power_fraction": 0.75}},
}


# --- the commands, each valid as written -----------------------------------------------------
# Placeholders {name} are files of the case (written from BASES[kind] or a mutation of it).
# FLAGS lists flags whose value a mutation may replace.

@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    files: tuple[tuple[str, str], ...] = ()  # (placeholder, base kind)
    json: bool = True


COMMANDS: list[Command] = [
    Command(("chips", "show", "h100-sxm", "--json")),
    Command(("chips", "validate", "{chip}", "--json"), (("chip", "chip"),)),
    Command(("chips", "validate", "{chip}", "--json"), (("chip", "chip_tpu"),)),
    Command(("chips", "compare", "h100-sxm", "{chip}", "--json"), (("chip", "chip"),)),
    Command(("systems", "validate", "{system}", "--json"), (("system", "system"),)),
    Command(("models", "graph", "llama-3.1-8b", "--phase", "decode", "--batch", "4", "--seq", "1024", "--json")),
    Command(("op", "gemm", "--chip", "h100-sxm", "-m", "1024", "-n", "1024", "-k", "1024", "--batch", "1",
             "--dtype", "bf16", "--json")),
    Command(("op", "gemm", "--chip", "{chip}", "-m", "4096", "-n", "4096", "-k", "4096", "--json"), (("chip", "chip"),)),
    Command(("op", "attention", "--chip", "h100-sxm", "--batch", "2", "--heads", "16", "--seq", "2048",
             "--head-dim", "128", "--kv-heads", "8", "--phase", "prefill", "--json")),
    Command(("op", "attention", "--chip", "{chip}", "--heads", "16", "--seq", "4096", "--phase", "decode",
             "--json"), (("chip", "chip"),)),
    Command(("op", "memcpy", "--chip", "h100-sxm", "--bytes", "1GiB", "--json")),
    Command(("op", "memcpy", "--chip", "{chip}", "--bytes", "256MB", "--json"), (("chip", "chip"),)),
    Command(("op", "allreduce", "--system", "dgx-h100", "--chips", "8", "--bytes", "1GiB", "--json")),
    Command(("op", "alltoall", "--system", "{system}", "--chips", "16", "--bytes", "64MB", "--json"),
            (("system", "system"),)),
    Command(("op", "allgather", "--system", "tpu-v5p-128", "--chips", "8", "--shape", "2x2x2", "--bytes", "1MB",
             "--json")),
    Command(("estimate", "{scen}", "--json"), (("scen", "train"),)),
    Command(("estimate", "{scen}", "--json"), (("scen", "serve"),)),
    Command(("estimate", "{scen}", "--chips", "1024", "--json"), (("scen", "auto"),)),
    Command(("estimate", "--model", "llama-3.1-8b", "--chip", "h100-sxm", "--chips", "8", "--precision", "bf16",
             "--parallel", "tp=8", "--batch", "8", "--input-tokens", "512", "--output-tokens", "128", "--json")),
    Command(("estimate", "--model", "llama-3.1-8b", "--system", "dgx-h100", "--chips", "16", "--parallel",
             "tp=8,pp=2", "--global-batch", "256", "--seq-len", "4096", "--json")),
    Command(("serve", "{scen}", "--rate", "2/s", "--duration", "20s", "--slo", "ttft_p99=2s,tpot_p99=50ms",
             "--max-batched-tokens", "8192", "--max-seqs", "64", "--length-cv", "0.5", "--seed", "1", "--json"),
            (("scen", "serve"),)),
    Command(("serve", "{scen}", "--offline", "1000", "--json"), (("scen", "serve"),)),
    Command(("serve", "{scen}", "--concurrency", "4", "--duration", "20s", "--json"), (("scen", "serve"),)),
    Command(("fleet", "{scen}", "--demand", "300/min", "--slo", "ttft_p99=2s,tpot_p99=60ms", "--chips", "h100-sxm",
             "--duration", "20s", "--max-layouts", "1", "--json"), (("scen", "serve"),)),
    Command(("cost", "h100-sxm", "--physical-cores", "144", "--dtype", "bf16", "--utilisation", "0.8", "--json")),
    Command(("cost", "{chip}", "--json"), (("chip", "chip"),)),
    Command(("tco", "{scen}", "--compare", "h100-sxm,tpu-v5p", "--json"), (("scen", "serve"),)),
    Command(("tco", "{scen}", "--json"), (("scen", "train"),)),
    Command(("breakeven", "{scen}", "--custom", "{chip}", "--against", "h100-sxm", "--years", "4", "--fleet",
             "1000", "--gpu-price", "30000", "--json"), (("scen", "serve"), ("chip", "chip"))),
    Command(("estimate", "--model", "{config.json}", "--chip", "h100-sxm", "--chips", "8", "--parallel", "tp=8",
             "--batch", "8", "--input-tokens", "512", "--output-tokens", "128", "--json"),
            (("config.json", "config_json"),)),
    Command(("models", "graph", "{config.json}", "--phase", "prefill", "--seq", "2048", "--json"),
            (("config.json", "config_json"),)),
    Command(("cost", "h100-sxm", "--params", "{params}", "--json"), (("params", "params"),)),
    Command(("tco", "{scen}", "--params", "{params}", "--json"), (("scen", "serve"), ("params", "params"))),
    Command(("explore", "{space}", "--out", "{out}", "--samples", "4", "--seed", "0", "--top", "2", "--no-plot",
             "--no-progress", "--json"), (("space", "space"), ("system.yaml", "xpu_system"))),
]

#: Values any flag might be given by mistake.
BAD_FLAG_VALUES = [
    "abc", "", " ", "-1", "0", "-0", "0.5", "1.5", "nan", "NaN", "inf", "-inf", "1e308", "-1e308", "1e-308",
    "1e9", "1000000000", "1000000000000", "9223372036854775808", "2**63", "0x10", "1,000", "日本語", "🚀",
    "h900", "--json", "1/0", "../../etc/passwd", "-", "auto", "null", "None", "true", "[]", "{}",
]

#: Values that look close to right for one flag: out-of-range numbers with the flag's own syntax.
FLAG_VALUES: dict[str, list[str]] = {
    "--rate": ["1e9/s", "0/s", "-5/s", "nan/s", "inf/s", "5/fortnight", "5", "1e308/min", "5/s/s"],
    "--demand": ["1e12/min", "0/s", "-5/s", "nan/min", "inf/s", "5/fortnight", "300"],
    "--duration": ["1e9h", "0s", "-1s", "nans", "infs", "10", "1e308s", "1y", "100000h"],
    "--slo": ["ttft_p99=nan", "ttft_p99=-1s", "ttft_p99=0s", "tpot_p99=infms", "bogus=1s", "ttft_p99", "=", ",",
              "ttft_p99=1e308s", "ttft_p99=2s,ttft_p99=3s"],
    "--bytes": ["1e30GiB", "-1GiB", "0", "nanGiB", "infMB", "1.5", "1GiB1", "1 PB", "1e308", "1EiB", "1ZB"],
    "--chips": ["1000000", "1000000000", "0", "-8", "7", "h100-sxm,h900", "1e6"],
    "--compare": ["h100-sxm,h900", "h900", "", ",", "h100-sxm,,tpu-v5p", "h100-sxm," * 50],
    "--parallel": ["tp=0", "tp=abc", "tp=-1", "tp=1000000000", "auto", "tp=8,tp=4", "bogus=2", "tp", "tp=nan",
                   "tp=8,pp=1000000", "tp=3"],
    "--physical-cores": ["1000000000", "0", "-1", "131", "100000"],
    "--utilisation": ["2", "-0.5", "nan", "inf", "0", "1e308"],
    "--years": ["0", "-1", "nan", "inf", "1e308", "1000"],
    "--fleet": ["0", "-1", "nan", "inf", "1e308", "1e12"],
    "--gpu-price": ["0", "-1", "nan", "inf", "1e308"],
    "--length-cv": ["-1", "nan", "inf", "1e308", "100"],
    "--seq": ["9223372036854775807", "4611686018427387904", "0", "-1", "1000000000", "1048576"],
    "--seq-len": ["9223372036854775807", "0", "-1", "1000000000", "1048576"],
    "--input-tokens": ["9223372036854775807", "0", "-1", "1000000000"],
    "--output-tokens": ["9223372036854775807", "0", "-1", "1000000000"],
    "--global-batch": ["9223372036854775807", "0", "-1", "1000000000"],
    "--batch": ["9223372036854775807", "0", "-1", "1000000000", "auto"],
    "--heads": ["9223372036854775807", "0", "-1", "1000000"],
    "--kv-heads": ["0", "-1", "3", "1000000"],
    "--head-dim": ["0", "-1", "1000000000"],
    "-m": ["9223372036854775807", "0", "-1", "1000000000000"],
    "-n": ["9223372036854775807", "0", "-1", "1000000000000"],
    "-k": ["9223372036854775807", "0", "-1", "1000000000000"],
    "--max-seqs": ["0", "-1", "1000000000"],
    "--offline": ["0", "-1", "1000000000", "100000"],
    "--concurrency": ["0", "-1", "1000000000", "100000", "4096"],
    "--max-batched-tokens": ["0", "-1", "1000000000000"],
    "--max-layouts": ["0", "-1", "1000000000"],
    "--samples": ["0", "-1", "1000000000000", "100000000"],
    "--top": ["0", "-1", "1000000000"],
    "--seed": ["-1", "99999999999999999999", "abc"],
    "--shape": ["0x2", "2x2x2x2", "-1x8", "1000000x1000000", "x", "2x"],
    "--dtype": ["bf17", "fp4", "int4", "fp64", ""],
    "--precision": ["bf17", "fp64", ""],
    "--phase": ["train", "prefill", "bogus"],
    "--placement": ["spread", "bogus"],
}

#: What a YAML field may be replaced with.
BAD_YAML_VALUES: list[Any] = [
    "abc", "", -1, 0, -0.0, 0.5, float("nan"), float("inf"), float("-inf"), 1e308, -1e308, 1e-308,
    2**63, 10**30, True, False, None, [], {}, [1, 2], {"value": 1}, "日本語", "🚀" * 10, "1 GHz", "\x00\x01",
    "h900", "auto", 1e9, 1e12, 3,
]


@dataclass
class Case:
    """One run: argv (placeholders filled at run time) and the files it reads, by name."""

    argv: list[str]
    files: dict[str, bytes] = field(default_factory=dict)
    label: str = ""


def _dump(obj: Any, kind: str = "") -> bytes:
    if kind.endswith("_json"):
        return json.dumps(obj, ensure_ascii=False).encode()
    return yaml.safe_dump(obj, sort_keys=False, allow_unicode=True).encode()


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (of keys and indices) to a mapping entry or list item in ``obj``."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append(prefix + (k,))
            out.extend(_paths(v, prefix + (k,)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.append(prefix + (i,))
            out.extend(_paths(v, prefix + (i,)))
    return out


def _set(obj: Any, path: tuple, value: Any, delete: bool = False) -> None:
    for part in path[:-1]:
        obj = obj[part]
    if delete:
        del obj[path[-1]]
    elif isinstance(obj, dict) and isinstance(obj.get(path[-1]), dict) and "value" in obj[path[-1]]:
        obj[path[-1]]["value"] = value  # a sourced number: change the number, keep its source
    else:
        obj[path[-1]] = value


def _deep(depth: int) -> bytes:
    return ("a: " + "[" * depth + "]" * depth + "\n").encode()


def _alias_bomb(levels: int, width: int) -> bytes:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return ("\n".join(lines) + "\nname: bomb\n").encode()


def whole_file_mutations(rnd: random.Random, base: Any) -> tuple[bytes, str]:
    """A replacement for a whole data file, and what it is."""
    choice = rnd.randrange(12)
    if choice == 0:
        return b"", "empty"
    if choice == 1:
        return bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200))), "binary"
    if choice == 2:
        return b"\xff\xfe" + _dump(base), "non-utf8"
    if choice == 3:
        return _deep(rnd.choice([100, 1000, 5000, 20000])), "deep"
    if choice == 4:
        return _alias_bomb(rnd.choice([6, 8, 9]), rnd.choice([9, 10])), "alias bomb"
    if choice == 5:
        return b"- 1\n- 2\n", "a list"
    if choice == 6:
        return b"just a string\n", "a scalar"
    if choice == 7:
        return b"a: [1, 2\n", "syntax error"
    if choice == 8:
        return _dump(base).replace(b": ", b":\t", 1), "tab"
    if choice == 9:
        return ("\ufeff".encode() + _dump(base)), "BOM"
    if choice == 10:
        return b"x: !!python/object/apply:os.system ['true']\n", "python tag"
    return b"a: 1\n" * 1, "wrong mapping"


def mutate_yaml(rnd: random.Random, base: Any, kind: str = "") -> tuple[bytes, str]:
    """A copy of ``base`` with one field changed, removed or added (or a whole-file mutation)."""
    if rnd.random() < 0.12:
        return whole_file_mutations(rnd, base)
    doc = copy.deepcopy(base)
    paths = [p for p in _paths(doc) if not (isinstance(p[-1], str) and p[-1] in ("source", "note", "confidence"))]
    path = rnd.choice(paths)
    r = rnd.random()
    if r < 0.12:
        _set(doc, path, None, delete=True)
        return _dump(doc, kind), f"drop {path}"
    if r < 0.2:
        parent = path[:-1]
        target = doc
        for part in parent:
            target = target[part]
        if isinstance(target, dict):
            target[rnd.choice(["bogus", "clock_ghz", "Name", "count ", "tp"])] = rnd.choice(BAD_YAML_VALUES)
            return _dump(doc, kind), f"unknown key under {parent}"
    value = rnd.choice(BAD_YAML_VALUES)
    if rnd.random() < 0.3:
        # A scaled copy of the present number: in range for some fields, far out for others.
        old = _get(doc, path)
        if isinstance(old, dict):
            old = old.get("value")
        if isinstance(old, (int, float)) and not isinstance(old, bool):
            value = type(old)(old * rnd.choice([1e6, 1e9, 1e-6, -1, 1000, 0.001]))
    _set(doc, path, value)
    return _dump(doc, kind), f"{path} = {value!r}"


def _get(doc: Any, path: tuple) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def make_case(rnd: random.Random) -> Case:
    """One malformed (or, now and then, valid) case."""
    cmd = rnd.choice(COMMANDS)
    argv = list(cmd.argv)
    files = {name: _dump(BASES[kind], kind) for name, kind in cmd.files}
    r = rnd.random()
    label = "valid"
    flags = [i for i, a in enumerate(argv) if a.startswith("-") and i + 1 < len(argv) and not argv[i + 1].startswith("-")]
    if r < 0.45 and cmd.files:
        name, kind = rnd.choice([f for f in cmd.files if f[0] != "system.yaml"] or list(cmd.files))
        files[name], label = mutate_yaml(rnd, BASES[kind], kind)
        label = f"{name}: {label}"
    elif r < 0.9 and flags:
        i = rnd.choice(flags)
        own = FLAG_VALUES.get(argv[i], [])
        value = rnd.choice(own) if own and rnd.random() < 0.6 else rnd.choice(BAD_FLAG_VALUES)
        argv[i + 1] = value
        label = f"{argv[i]} {value!r}"
    elif r < 0.95:
        # Dropping --max-layouts or --duration picks the defaults: a valid run, just a long one.
        flags = [i for i in flags if argv[i] not in ("--max-layouts", "--duration", "--samples")]
        if flags:
            i = rnd.choice(flags)
            label = f"drop {argv[i]}"
            del argv[i:i + 2]
        else:
            argv.append("--bogus")
            label = "unknown flag"
    elif r < 0.97:
        argv.append(rnd.choice(["--bogus", "--chips", "--json"]))
        label = f"extra {argv[-1]}"
    return Case(argv, files, label)


# --- judging a run ----------------------------------------------------------------------------

#: JSON keys whose value is a figure: a number that must be finite and not negative.
_FIGURE = re.compile(
    r"(_s|_ms|_us|_usd|_w|_j|_bytes|_gb|_gib|_tb|_per_s|_per_hr|_per_token|_per_mtoken|_flops|tflops|gbps|mfu|"
    r"utilisation|utilization|throughput|tokens|_hz|_mhz|_mm2|cost|price|power|energy|time|latency|"
    r"ttft|tpot|rate|goodput|chips)$"
)


def nonsense_in(obj: Any, key: str = "") -> str | None:
    """The first non-finite number anywhere, or null/negative figure, in parsed JSON; else None."""
    if isinstance(obj, bool):
        return None
    if isinstance(obj, (int, float)):
        if isinstance(obj, float) and not math.isfinite(obj):
            return f"{key} = {obj}"
        if obj < 0 and _FIGURE.search(key.lower()) and not _SIGNED.search(key.lower()):
            return f"{key} = {obj}"
        return None
    if obj is None:
        return f"{key} = null" if _RESULT.search(key.lower()) and not _OPTIONAL.search(key.lower()) else None
    if isinstance(obj, dict):
        for k, v in obj.items():
            found = nonsense_in(v, str(k))
            if found:
                return found
    elif isinstance(obj, list):
        for v in obj:
            found = nonsense_in(v, key)
            if found:
                return found
    return None


#: Figures that may rightly be negative: a saving, a difference, a margin.
_SIGNED = re.compile(r"(saving|delta|diff|margin|profit|npv|change|error|growth|vs_)")

#: Keys of computed results, which are never null (input echoes such as an optional clock may be).
_RESULT = re.compile(r"(time_s|step_s|_usd|tflops|gbps|mfu|tokens_per_s|per_token|per_mtoken|ttft|tpot|throughput)")

#: Results that are rightly null when the input does not give what they need: a purchase cost for
#: a chip without a list or street price (TPUs), a rental cost for one without a cloud price.
_OPTIONAL = re.compile(r"^(rented|rent_|cloud|buy_|list|street)")

_TEXT_NONSENSE = re.compile(r"(?<![\w.])(-?inf|nan|NaN|Infinity|-Infinity)(?![\w])")


class Hang(BaseException):
    """Raised by the alarm when a run passes HANG_S (BaseException: no handler swallows it)."""


def _alarm(signum, frame):
    raise Hang()


@dataclass
class Outcome:
    kind: str  # exit2 | ok | traceback | hang | nonsense | other
    detail: str
    seconds: float


def run_case(case: Case, workdir: Path, hang_s: int = HANG_S) -> Outcome:
    """Run ``case`` in-process in ``workdir`` (its files written there) and judge it."""
    from fabless.cli import main

    workdir.mkdir(parents=True, exist_ok=True)
    cwd = os.getcwd()
    os.chdir(workdir)  # a relative path in a flag lands in the case's folder, not the repository
    subst = {name: str(workdir / name) for name in case.files}
    subst["out"] = str(workdir / "out")
    for name, content in case.files.items():
        (workdir / name).write_bytes(content)
    argv = [re.sub(r"\{([\w.]+)\}", lambda m: subst.get(m.group(1), m.group(0)), a) for a in case.argv]
    out, err = io.StringIO(), io.StringIO()
    # CPU time, not wall time: on a shared machine a case waiting for a core is not a hang.
    # A wall-clock alarm at 6x catches a case that sleeps or blocks.
    old = signal.signal(signal.SIGPROF, _alarm)
    old_wall = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_PROF, hang_s)
    signal.alarm(hang_s * 6)
    t0 = time.perf_counter()
    c0 = time.process_time()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except Hang:
        return Outcome("hang", f"{case.label}: {' '.join(argv)} ({time.process_time() - c0:.1f} s CPU)",
                       time.perf_counter() - t0)
    except BaseException as exc:  # noqa: BLE001 - anything escaping main is a traceback for the user
        tb = traceback.format_exception(exc)
        return Outcome("traceback", f"{case.label}: {' '.join(argv)}: {type(exc).__name__}: {exc}"[:600]
                       + "\n" + "".join(tb[-3:])[:1500], time.perf_counter() - t0)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.alarm(0)
        signal.signal(signal.SIGPROF, old)
        signal.signal(signal.SIGALRM, old_wall)
        os.chdir(cwd)
    dt = time.perf_counter() - t0
    so, se = out.getvalue(), err.getvalue()
    where = f"{case.label}: {' '.join(argv)}"
    if code == 2:
        lines = se.strip().splitlines()
        if len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in se:
            return Outcome("exit2", lines[0], dt)
        return Outcome("other", f"{where}: exit 2 with {len(lines)} lines: {se[:300]!r}", dt)
    if code != 0:
        return Outcome("other", f"{where}: exit {code}: {se[:300]!r}", dt)
    if "--json" in argv:
        try:
            parsed = json.loads(so)
        except ValueError:
            return Outcome("other", f"{where}: exit 0 but not JSON: {so[:200]!r}", dt)
        bad = nonsense_in(parsed)
        if bad:
            return Outcome("nonsense", f"{where}: {bad}", dt)
    elif _TEXT_NONSENSE.search(so):
        return Outcome("nonsense", f"{where}: {_TEXT_NONSENSE.search(so).group(0)} in output", dt)
    return Outcome("ok", where, dt)
