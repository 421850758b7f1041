"""The public API (docs/api.md): every name imports from ``fabless``, and each call returns what
the command of the same name computes."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

import fabless
from fabless.estimate.scenario import Scenario
from tests.conftest import linkless_chip_file

SCN = "examples/scenarios/llama-70b-serving-dgx-h100.yaml"


def test_every_documented_name_imports():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    for name in fabless.__all__:
        assert getattr(fabless, name) is not None
        if name not in ("FablessError", "__version__"):
            assert f"`{name}" in doc, f"docs/api.md does not list {name}"


def test_import_fabless_stays_light():
    # the API loads on first use: `import fabless` pulls in neither pandas nor the engine
    code = "import sys, fabless; print('pandas' in sys.modules, 'fabless.estimate.engine' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_estimate_takes_a_path_a_dict_or_a_scenario():
    from fabless.loading import read_yaml

    raw = read_yaml(SCN)
    a = fabless.estimate(SCN).metrics["tpot_s"]
    assert fabless.estimate(raw).metrics["tpot_s"] == a
    assert fabless.estimate(fabless.scenario(raw)).metrics["tpot_s"] == a
    assert isinstance(fabless.scenario(SCN), Scenario)
    with pytest.raises(fabless.FablessError, match="give a Scenario, a dict or a YAML path"):
        fabless.estimate(3)


def test_serve_closed_loop_obeys_littles_law():
    out = fabless.serve(SCN, concurrency=4).to_dict()
    assert out["rate_per_s"] * out["e2e_s"] == pytest.approx(4, rel=0.01)
    # the same figures fabless serve --json prints: the load's mode, the stack, each figure's band
    assert out["mode"] == "closed_loop" and out["software"] is not None
    assert out["tpot_s_lo"] <= out["tpot_s"] <= out["tpot_s_hi"] and "tpot_s" in out["bands"]
    with pytest.raises(fabless.FablessError, match="exactly one of"):
        fabless.serve(SCN, concurrency=4, offline=10)


def test_cost_adds_up():
    c = fabless.cost("h100-sxm")
    assert c.unit_usd == pytest.approx(c.package_usd + c.board_usd + c.partner_margin_usd, rel=1e-9)


def test_tco_has_one_row_per_chip_and_validate_one_per_row():
    df = fabless.tco(SCN, ["h100-sxm", "b200"])
    assert list(df["chip"]) == ["h100-sxm", "b200"]
    from fabless.validate.core import load_rows

    v = fabless.validate(["kernel"])
    assert isinstance(v, pd.DataFrame) and len(v) == sum(r["category"] == "kernel" for r in load_rows())


def test_errors_are_typed(tmp_path):
    from fabless.hardware.presets import load_chip

    own = linkless_chip_file(tmp_path, "own-npu")  # a chip of one's own with no system preset

    with pytest.raises(fabless.UnknownPreset, match="unknown chip 'h900'"):
        load_chip("h900")
    with pytest.raises(fabless.NoSystemPreset):
        fabless.estimate({"model": "llama-3.1-8b", "system": {"chip": own, "count": 1},
                          "parallel": {"tp": 1}, "inference": {"batch": 1, "input_tokens": 8, "output_tokens": 8}})
    with pytest.raises(fabless.InvalidInput):
        from fabless.units import parse_bytes

        parse_bytes("-3GB", "--bytes")
    assert issubclass(fabless.NoSystemPreset, fabless.UnknownPreset) and issubclass(fabless.UnknownPreset, fabless.FablessError)
    assert fabless.Infeasible is fabless.InfeasibleDesign
