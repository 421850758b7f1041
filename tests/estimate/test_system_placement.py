"""A scenario's system may name a system and a chip: that chip in place of the system's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from fabless.estimate.engine import resolve_system
from fabless.estimate.scenario import scenario_from_dict
from fabless.errors import FablessError
from fabless.hardware.presets import load_chip, load_system

MY_CHIP = str(Path(__file__).resolve().parents[2] / "examples/scenarios/hardware/my-chip.yaml")
BASE = {"model": "llama-3.1-70b", "precision": "fp8", "parallel": {"tp": 8},
        "inference": {"batch": 8, "input_tokens": 1024, "output_tokens": 256}}


def test_chip_placed_in_a_named_system():
    scn = scenario_from_dict({**BASE, "system": {"name": "dgx-h100", "chip": MY_CHIP}})
    sysm = resolve_system(scn)
    dgx = load_system("dgx-h100")
    assert sysm.chip.name == "my-chip"
    # the box's domain and network, the chip's own links
    assert sysm.scale_up == dgx.scale_up and sysm.chips == dgx.chips
    assert sysm.chip.links.scale_up.bidir_gb_s == load_chip(MY_CHIP).links.scale_up.bidir_gb_s == 800


def test_neither_system_nor_chip_is_an_error():
    with pytest.raises(FablessError, match="give name"):
        scenario_from_dict({**BASE, "system": {"count": 8}})


def test_cli_system_and_chip_together_place_the_chip(cli):
    r = cli("estimate", "--model", "llama-3.1-70b", "--system", "dgx-h100", "--chip", MY_CHIP, "--precision", "fp8",
            "--parallel", "tp=8", "--batch", "8", "--input-tokens", "1024", "--output-tokens", "128", "--json")
    assert r.code == 0, r.err
    d = r.json()
    assert d["chip"] == "my-chip" and d["system"] == "dgx-h100"
