"""Shared test helpers: run the CLI in-process and capture what it prints."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from fabless.cli import main


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(capsys):
    """``cli("chips", "list", "--json")`` runs fabless in-process and returns code, stdout, stderr."""

    def run(*args: str) -> CliResult:
        code = main(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def assert_one_line_error(result: CliResult, *fragments: str) -> None:
    """A user error: exit 2, nothing on stdout, one line on stderr containing each fragment."""
    assert result.code == 2, (result.code, result.out, result.err)
    assert result.out == ""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    for frag in fragments:
        assert frag in lines[0], (frag, lines[0])


#: The tests that need every validation row's outcome share one worker (scripts/test.sh runs pytest
#: with ``--dist loadgroup``), so the validation (about ten minutes on one core) runs once per suite:
#: the first to ask fills scripts/docs.py's cache, keyed by the code and data, and the rest read it.
SHARED_VALIDATION = pytest.mark.xdist_group("validation")


def load_script(name: str):
    """The module of ``scripts/<name>.py`` (the scripts are not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def validation_outcomes() -> list:
    """Every validation row's outcome (``fabless.validate.core.evaluate()``: every category), from
    scripts/docs.py's cache: the same run that docs/validation.md is written from."""
    return load_script("docs").validation_outcomes()


def pytest_addoption(parser):
    parser.addoption("--long", action="store_true", default=False,
                     help="tests/fuzz: run 10,000 generated cases instead of the CI sample")


def linkless_chip_file(folder: Path, name: str) -> str:
    """A chip with no chip-to-chip links and no system preset built from it: MTIA v2's shipped
    file under another name (MTIA v2 itself has systems, on a PCIe switch). Its path."""
    text = (Path(__file__).resolve().parents[1] / "src/fabless/data/chips/mtia-v2.yaml").read_text()
    path = Path(folder) / f"{name}.yaml"
    path.write_text(text.replace("\nname: mtia-v2\n", f"\nname: {name}\n"))
    assert f"\nname: {name}\n" in path.read_text()
    return str(path)


def assert_unseen_rows_held_out(ids: set[str], marker: str) -> None:
    """Rows of an unseen-data batch are held out everywhere: no fit set of serve or infer, no
    software stack's fit rows, and no fitted value of the engine, a stack, a chip or a system
    names one (``ids``: the batch's held-out rows; ``marker``: its id prefix, which every one
    holds). error_bands.yaml is exempt: it records held-out residuals, where these rows belong."""
    from importlib import resources

    from fabless.estimate.software import software_stacks
    from fabless.validate import infer, serve

    assert ids and all(marker in i for i in ids)
    assert not ids & serve.FIT_IDS and not ids & infer.FIT_IDS
    for stack in software_stacks().values():
        assert not set(stack.fit_rows) & ids, stack.name
    data = Path(str(resources.files("fabless") / "data"))
    for f in [*data.glob("estimate/*.yaml"), *data.glob("chips/*.yaml"), *data.glob("systems/*.yaml")]:
        if f.name != "error_bands.yaml":
            named = set(re.findall(r"[\w-]*" + re.escape(marker) + r"\d+", f.read_text()))
            assert not named & ids, (f.name, sorted(named & ids))


def assert_cited_only_by(file: str, publications: tuple[str, ...], *, also: tuple[str, ...] = ()) -> None:
    """No measurement file but ``file`` (and those whose name holds one of ``also``: later batches that
    read other documents of the same place) cites any of ``publications`` (lower-case fragments of a
    source): an unseen-data batch's sources are new to the project."""
    from fabless.validate.core import load_rows

    for r in load_rows():
        if r["_file"] == file or any(a in r["_file"] for a in also):
            continue
        s = r.get("source", "").lower()
        for pub in publications:
            assert pub not in s, (r["id"], pub)


def rows_of(file: str) -> tuple[list[dict], dict[str, dict]]:
    """The shipped measurement rows of one data file (``published_*.csv``), in file order, and the
    same rows by id. Fails if the file has no rows, repeats an id, or uses an id another file uses:
    a batch's ids must name its rows alone."""
    from fabless.validate.core import load_rows

    everything = load_rows()
    rows = [r for r in everything if r["_file"] == file]
    by_id = {r["id"]: r for r in rows}
    assert rows and len(by_id) == len(rows), f"{file}: no rows or a repeated id"
    clash = by_id.keys() & {r["id"] for r in everything if r["_file"] != file}
    assert not clash, f"{file}: ids also used elsewhere: {sorted(clash)[:5]}"
    return rows, by_id


def assert_rows_cite(by_id: dict[str, dict], prefix: str, sources: dict[tuple[int, int], tuple[str, ...]],
                     held_out_note: str) -> None:
    """Each row ``prefix + NNN`` of an id range (first, last) cites every lower-case fragment its range names, and
    its notes open with ``held_out_note`` (an unseen-data batch says which check it belongs to)."""
    for (first, last), fragments in sources.items():
        for i in range(first, last + 1):
            r = by_id[f"{prefix}{i:03d}"]
            assert all(f in r["source"].lower() for f in fragments), r["id"]
            assert r["notes"].startswith(held_out_note), r["id"]


def assert_first_scores_recorded(rows: list[dict], scores_path) -> None:
    """An unseen-data batch's scores file states its rules and holds a first-score line for every row."""
    text = scores_path.read_text()
    assert "## Sources and selection rules (fixed before any prediction)" in text
    assert "## First scores (before any change)" in text
    for r in rows:
        assert f"| {r['id']} |" in text, r["id"]
