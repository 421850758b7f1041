"""`cost` command and --params overrides."""

from __future__ import annotations

import json

import pytest
import typer

from fabless.economics import load_params
from fabless.economics.cli import cost_app
from fabless.errors import FablessError

from ..conftest import CliResult, assert_one_line_error


@pytest.fixture
def cost_cli(capsys):
    """Runs the cost app in-process, turning FablessError into exit 2 like fabless.cli.main."""

    def run(*args: str) -> CliResult:
        try:
            cost_app(args=["cost", *args], standalone_mode=False)
            code = 0
        except FablessError as exc:
            print(f"error: {exc}", file=__import__("sys").stderr)
            code = 2
        except typer.Exit as exc:
            code = exc.exit_code
        out = capsys.readouterr()
        return CliResult(code, out.out, out.err)

    return run


def test_cost_json(cost_cli):
    r = cost_cli("h100-sxm", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["summary"]["die_area_mm2"] == 814
    assert 2000 < data["summary"]["package_usd"] < 4500
    names = {line["name"] for line in data["lines"]}
    assert {"yield", "good die cost", "memory", "packaging", "NRE total", "power: total"} <= names


def test_cost_table(cost_cli):
    r = cost_cli("h100-sxm")
    assert r.code == 0 and "good die cost" in r.out


def test_params_override(tmp_path, cost_cli):
    f = tmp_path / "p.yaml"
    f.write_text("silicon:\n  wafer_price_usd: {N4: 32000}\n")
    base = json.loads(cost_cli("h100-sxm", "--json").out)["summary"]["package_usd"]
    dear = json.loads(cost_cli("h100-sxm", "--json", "--params", str(f)).out)["summary"]["package_usd"]
    assert dear > base
    p = load_params(f)
    assert p.silicon.wafer_price_usd["N4"] == 32000
    assert p.silicon.wafer_price_usd["N5"] == 16000
    assert "user-set" in p.cite("silicon.wafer_price_usd.N4")


@pytest.mark.parametrize("text,frag", [
    ("silicon:\n  wafer_price_usd: {N4: -5}\n", "wafer_price_usd"),
    ("silicon:\n  wafer_price_usd: {N1: 5000}\n", "N1"),
    ("silcon:\n  reticle_limit_mm2: 900\n", "did you mean silicon"),
    ("ownership:\n  pue: 0.8\n", "pue"),
])
def test_bad_params_one_line(tmp_path, cost_cli, text, frag):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    assert_one_line_error(cost_cli("h100-sxm", "--params", str(f)), frag)


def test_unknown_chip_one_line(cost_cli):
    assert_one_line_error(cost_cli("h100-sxn"), "h100-sxm")
