"""The AMD Instinct training rows (published_amd_train.csv, scenarios_amd_train.yaml): sourced,
mapped or skipped with a reason, fit / held-out fixed by id, and the one conversion relied on checked
by hand."""

from __future__ import annotations

import re

import pytest

from fabless.validate import train
from fabless.validate.core import load_rows
from fabless.validate.hardware_map import preset_for_hardware

ROWS = [r for r in load_rows() if r["_file"] == "published_amd_train.csv"]
#: Rows with a scenario (counted as mapping entries, not as predictions).
SCORED = {"train-amdt-012"}


def test_the_file_holds_train_rows_with_unique_ids_on_amd_chips():
    assert len(ROWS) == 14
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids))
    for r in ROWS:
        assert re.fullmatch(r"train-amdt-\d{3}", r["id"]), r["id"]
        assert r["category"] == "train"
        assert preset_for_hardware(r["hardware"])[0] in ("mi300x", "mi325x"), r["id"]
        assert float(r["value"]) > 0 and int(r["n_chips"]) >= 1


def test_every_row_names_a_url_or_repo_and_a_date_or_commit():
    for r in ROWS:
        src = r["source"]
        assert re.search(r"github\.com/[\w.-]+/[\w.-]+", src), (r["id"], src)
        assert re.search(r"\b[0-9a-f]{7,40}\b|\b20\d\d-\d\d-\d\d\b", src), (r["id"], src)
        assert r["notes"].strip() and r["config"].strip(), r["id"]


def test_every_row_is_mapped_or_skipped_with_a_reason_and_the_scored_rows_are_these():
    smap = train.scenario_map()
    scored = set()
    for r in ROWS:
        entry = smap.get(r["id"])
        assert entry is not None, f"{r['id']}: not in scenarios_amd_train.yaml"
        if "skip" in entry:
            assert len(str(entry["skip"])) > 40, r["id"]
            continue
        assert entry.get("note") and entry.get("convert") and entry.get("scenario"), r["id"]
        scored.add(r["id"])
    assert scored == SCORED


def test_fit_rows_are_exactly_the_mapped_ids_one_mod_four():
    """Ids 1 mod 4 are fit when mapped; a skipped row is in neither set (fit rows must be predicted)."""
    smap = train.scenario_map()
    fit = {r["id"] for r in ROWS if smap[r["id"]].get("set") == "fit"}
    one_mod_four = {r["id"] for r in ROWS if int(r["id"][-3:]) % 4 == 1}
    assert fit == one_mod_four & SCORED
    assert all("skip" in smap[i] for i in one_mod_four - fit)
    assert not fit & SCORED  # this round the scored row is held out


def _scenario(global_batch: int):
    from fabless.estimate.scenario import scenario_from_dict

    raw = dict(train.scenario_map()["train-amdt-012"]["scenario"])
    raw["training"] = {**raw["training"], "global_batch": global_batch}
    return scenario_from_dict(raw, origin="test")


def test_tokens_per_chip_conversion_by_hand():
    """train-amdt-012: tokens/s/GPU = global batch x seq / (step time x GPUs), from the step time."""
    row = next(r for r in ROWS if r["id"] == "train-amdt-012")
    scn, est = train.run_entry(row)
    assert est.chips == 64 and scn.training.seq_len == 8192 and scn.training.global_batch == 1024
    by_hand = 1024 * 8192 / (est.metrics["step_time_s"] * 64)
    assert train.predict(row) == pytest.approx(by_hand, rel=1e-9)


def test_the_unstated_global_batch_moves_the_prediction_by_under_a_tenth_percent():
    from fabless.estimate.engine import estimate

    vals = [estimate(_scenario(g)).metrics["tokens_per_s_per_chip"] for g in (128, 512, 1024, 2048)]
    assert max(vals) / min(vals) - 1 < 1e-3
