"""Trainium2 and TPU v7 prices (#15), and energy per token against published measurements."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from fabless.economics.tco import tco_rows
from fabless.hardware.prices import records_for, select_price
from fabless.measurements import load_rows
from fabless.validate import energy
from fabless.validate.core import evaluate

ROOT = Path(__file__).resolve().parents[2]


def test_trainium2_rent_is_the_instance_price_over_its_chips():
    rec = select_price("trainium2", "on-demand")
    assert rec is not None and rec.source and rec.date
    assert rec.usd_per_chip_hour == pytest.approx(38.47 / 16, abs=0.005)  # trn2.48xlarge: 16 chips


def test_tpu_v7_has_no_price_and_tco_says_so():
    assert records_for("tpu-v7") == []
    row = tco_rows({"model": "llama-3.1-8b", "system": {"chip": "tpu-v7", "count": 4}, "parallel": {"tp": 4},
                    "inference": {"batch": 8, "input_tokens": 512, "output_tokens": 128}}, ["tpu-v7"])[0]
    assert row["rent_chip_hour_usd"] is None and row["buy_chip_hour_usd"] is None
    assert "no on-demand price" in row["rent_price_basis"]
    assert row["joules_per_output_token"] == pytest.approx(1 / row["tokens_per_joule"])


def test_energy_rows_are_sourced_held_out_and_predicted_from_the_power_model():
    rows = [r for r in load_rows() if r["category"] == "energy"]
    assert len(rows) >= 2 and all(r["source"].startswith("ML.ENERGY") or "http" in r["source"] for r in rows)
    assert energy.FIT_IDS == frozenset()  # nothing fitted: every row measures the model
    outs = {o.id: o for o in evaluate(["energy"])}
    for r in rows:
        o = outs[r["id"]]
        assert o.set == "held_out" and o.predicted is not None
        # the same figure tco reports for the scenario the row describes (J per output token)
        scn, chip = energy.scenario_of(r)
        tco = tco_rows(scn.model_dump(mode="json", exclude_none=True), [chip.name])[0]
        assert o.predicted == pytest.approx(tco["joules_per_output_token"], rel=1e-9)
        # a chip draws between its idle floor and its TDP: J/token is bounded by the throughput
        assert o.predicted < chip.physical.tdp_w / tco["tokens_per_s_per_chip"]


def test_docs_energy_table_is_current():
    spec = importlib.util.spec_from_file_location("docs_energy", ROOT / "scripts" / "docs_energy.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text = mod.DOC.read_text()
    assert mod.regenerate(text) == text, "docs/economics.md energy table is stale: run python scripts/docs_energy.py"
