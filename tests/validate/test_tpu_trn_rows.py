"""TPU, Trainium and Inferentia rows (published_tpu_trn.csv, MaxText train-101..114) and their
mappings (scenarios_tpu.yaml): every row sourced with a commit or date, every row mapped or
skipped with a reason, enough rows scored per family, and the MaxText FLOP conversions checked
against hand arithmetic."""

from __future__ import annotations

import csv
import re
from importlib import resources
from pathlib import Path
from types import SimpleNamespace

import pytest

from fabless.estimate.scenario import scenario_from_dict
from fabless.hardware.presets import load_system
from fabless.validate import infer, train
from fabless.validate.core import evaluate, load_rows
from fabless.validate.hardware_map import preset_for_hardware

MEAS = Path(str(resources.files("fabless") / "data" / "measurements"))
NEW_ROWS = list(csv.DictReader(open(MEAS / "published_tpu_trn.csv", encoding="utf-8")))
MAXTEXT_IDS = {f"train-{i}" for i in range(101, 115)}
IDS = {r["id"] for r in NEW_ROWS} | MAXTEXT_IDS

# Held-out rows with a prediction at the commit that added them (`fabless validate`);
# a row lost to a mapping or engine change makes this fail.
MIN_SCORED_HELD_OUT = {"tpu": 33, "trainium/inferentia": 56}  # 27 before Neuron head padding mapped 29 more


def _family(row: dict) -> str:
    return "tpu" if "tpu" in row["hardware"].lower() else "trainium/inferentia"


def test_new_ids_are_unique_and_not_in_published_csv():
    ids = [r["id"] for r in NEW_ROWS]
    assert len(ids) == len(set(ids))
    old = {r["id"] for r in csv.DictReader(open(MEAS / "published.csv", encoding="utf-8"))}
    assert not (set(ids) & old)
    assert all(re.fullmatch(r"(train|infer|kernel)-(tpu|trn)-\d{3}", i) for i in ids), ids


@pytest.mark.parametrize("row", NEW_ROWS, ids=lambda r: r["id"])
def test_new_row_has_source_with_location_and_version(row):
    src = row["source"]
    assert re.search(r"https?://|github\.com/[\w.-]+/[\w.-]+", src), f"{row['id']}: no URL or repository in source"
    assert re.search(r"commit [0-9a-f]{7,40}|\d{4}-\d{2}-\d{2}", src), f"{row['id']}: no commit or date in source"
    assert float(row["value"]) > 0 and int(row["n_chips"]) > 0
    assert row["category"] == row["id"].split("-")[0]


def test_every_row_is_mapped_or_skipped_with_a_reason():
    m = train.scenario_map()
    for i in sorted(IDS):
        entry = m.get(i)
        assert entry is not None, f"{i} has no mapping entry"
        if "skip" in entry:
            assert len(str(entry["skip"])) > 40, i
        else:
            assert entry.get("note") and entry.get("convert") and entry.get("scenario"), i


def test_fit_rows_are_new_mapped_rows():
    m = train.scenario_map()
    fit = {i for i in IDS if m[i].get("set") == "fit"}
    assert fit and fit <= {r["id"] for r in NEW_ROWS}
    assert all("skip" not in m[i] for i in fit)
    assert fit <= train.FIT_IDS | infer.FIT_IDS


def test_enough_rows_scored_per_family():
    rows = [r for r in load_rows() if r["id"] in IDS]
    fit = train.FIT_IDS | infer.FIT_IDS
    scored: dict[str, int] = {}
    by_id = {r["id"]: r for r in rows}
    for o in evaluate(["train", "infer"], rows=rows):
        if o.predicted is not None and o.id not in fit:
            scored[_family(by_id[o.id])] = scored.get(_family(by_id[o.id]), 0) + 1
    for fam, n in MIN_SCORED_HELD_OUT.items():
        assert scored.get(fam, 0) >= n, (fam, scored)


def test_hardware_texts_map_to_presets():
    assert preset_for_hardware("AWS Trainium (Trainium1, trn1.32xlarge)")[0] == "trainium1"
    assert preset_for_hardware("AWS Inferentia2 (inf2.48xlarge)")[0] == "inferentia2"
    assert preset_for_hardware("Google TPU v6e (Trillium)")[0] == "tpu-v6e"
    assert preset_for_hardware("Google TPU v7 (Ironwood)")[0] == "tpu-v7"
    assert preset_for_hardware("AWS Trainium2 (trn2.48xlarge)")[0] == "trainium2"
    for r in NEW_ROWS:
        preset_for_hardware(r["hardware"])


def test_neuron_instance_systems_match_aws_architecture_pages():
    # trn1-arch.rst: 16 Trainium chips per trn1.32xlarge in a 2D torus; inf2-arch.rst: 12 Inferentia2.
    trn1, inf2 = load_system("trn1-server"), load_system("inf2-server")
    assert trn1.chips == 16 and trn1.chip.name == "trainium1"
    assert inf2.chips == 12 and inf2.chip.name == "inferentia2"


@pytest.mark.parametrize("name, chips, dims", [
    ("tpu-v5p-128", 64, [4, 4, 4]),      # Google's v5p topology table: v5p-128 = 4x4x4, 64 chips
    ("tpu-v5p-512", 256, [4, 8, 8]),
    ("tpu-v5p-4096", 2048, [8, 16, 16]),
])
def test_v5p_slice_presets_match_googles_topology_table(name, chips, dims):
    s = load_system(name)
    assert s.chips == chips and s.scale_up.size == chips
    assert [getattr(d, "value", d) for d in s.scale_up.torus_dims] == dims


def _convert_at(row_id: str, step_time_s: float, chips: int) -> float:
    entry = train.scenario_map()[row_id]
    raw = dict(entry["scenario"])
    raw["model"] = train._config_file(row_id, entry["model_config"])
    scn = scenario_from_dict(raw)
    est = SimpleNamespace(metrics={"step_time_s": step_time_s}, chips=chips)
    return train.convert({"id": row_id}, entry, scn, est)


def test_maxtext_causal_flops_by_hand():
    # v5p 32B (train-101): 32 layers x (4 x 8192^2 + 3 x 8192 x 28672) + 2 x 32000 x 8192 + 65 x 8192
    # = 31,663,333,376 parameters; per chip per step, batch 6, s 2048:
    # 6 N s b + 6 x 64 heads x 32 layers x 128 x s^2 x b = 2.33446e15 + 3.9582e13 = 2.37406e15 FLOPs.
    # At the README's 328 TFLOP/s that is a 7.238 s step; the conversion must give 328 back.
    assert _convert_at("train-101", 2.37406e15 / 328e12, 64) == pytest.approx(328.0, rel=2e-3)


def test_maxtext_2023_full_attention_flops_by_hand():
    # v5e 16B (train-108): 32 layers x (4 x 5120 x 32 x 256 + 2 x 5120 x 32768) + 32768 x 5120 (tied)
    # = 16,273,899,520 parameters (plus < 0.1% of biases/norms/positions in fabless's gpt3 family);
    # per chip, batch 6: 6 N s b + 12 x 32 x 32 x 256 x s^2 x b = 1.19992e15 + 7.9165e13 = 1.27901e15.
    assert _convert_at("train-108", 1.27901e15 / 120e12, 256) == pytest.approx(120.0, rel=2e-3)
