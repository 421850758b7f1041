"""The AMD and NVIDIA Blackwell measurement rows (published_amd.csv, published_blackwell.csv):
sourced, mapped or skipped with a reason, physically possible, and enough of them scored."""

from __future__ import annotations

import re

import pytest

from fabless.hardware.presets import load_chip
from fabless.validate import kernel, serve, train
from fabless.validate.core import Skip, evaluate, load_rows
from fabless.validate.hardware_map import Unmapped, preset_for_hardware

FILES = ("published_amd.csv", "published_blackwell.csv")
NEW = [r for r in load_rows() if r["_file"] in FILES]
FAMILIES = {"amd": ("mi300x", "mi325x", "mi355x"), "blackwell": ("b200", "gb200")}
#: Scored rows (a prediction, not a skip) each family must have among the new rows.
MIN_SCORED = 15


def _family(row: dict) -> str | None:
    try:
        preset = preset_for_hardware(row["hardware"])[0]
    except Unmapped:
        return None
    return next((f for f, presets in FAMILIES.items() if preset in presets), None)


def test_the_files_hold_rows_with_unique_family_ids():
    assert len(NEW) >= 60
    ids = [r["id"] for r in NEW]
    assert len(ids) == len(set(ids))
    for r in NEW:
        tag = "amd" if r["_file"] == "published_amd.csv" else "bw"
        assert re.fullmatch(rf"(train|infer|kernel)-{tag}-\d{{3}}", r["id"]), r["id"]
        assert r["id"].split("-")[0] == r["category"], r["id"]


def test_every_row_names_a_url_or_repo_and_a_date_or_commit():
    for r in NEW:
        src = r["source"]
        assert re.search(r"(github\.com/[\w.-]+/[\w.-]+|[\w-]+\.(com|org)/\S+)", src), (r["id"], src)
        assert re.search(r"\b[0-9a-f]{40}\b|\b20\d\d-\d\d-\d\d\b", src), (r["id"], src)
        assert r["notes"].strip() and r["config"].strip(), r["id"]


def _mapped_or_skipped(row: dict) -> str:
    """'scored', or the skip reason; fails if a row is neither."""
    cat = row["category"]
    if cat in ("train", "infer"):
        entry = train.scenario_map().get(row["id"])
        assert entry is not None, f"{row['id']}: no entry in scenarios_*.yaml"
        if "skip" in entry:
            return str(entry["skip"])
        assert entry.get("note") and entry.get("convert") and entry.get("scenario"), row["id"]
        return "scored"
    assert cat == "kernel", row["id"]
    try:
        kernel.predict(row)
    except (Skip, Unmapped) as exc:
        return str(exc)
    return "scored"


def test_every_new_id_is_mapped_or_skipped_with_a_reason():
    for r in NEW:
        how = _mapped_or_skipped(r)
        assert how == "scored" or len(how) > 20, (r["id"], how)
        if r["category"] == "infer" and how != "scored":
            # a serving row skipped by the static-batch engine must be in the serve map
            e = serve.serve_map().get(r["id"])
            assert e is not None, f"{r['id']}: skipped in infer but not in serve_scenarios_*.yaml"
            assert "skip" in e or (e.get("note") and e.get("convert") and e.get("load")), r["id"]


def test_kernel_rows_are_below_the_chips_dense_peak():
    # A measured GEMM rate above the datasheet's dense peak would be a typo or a sparse figure.
    for r in (r for r in NEW if r["category"] == "kernel" and r["model_or_kernel"].lower().startswith("gemm")):
        chip = load_chip(preset_for_hardware(r["hardware"])[0])
        dtype = r["precision"].strip().lower()
        peak = getattr(chip.compute.peak_tflops, dtype)
        assert 0 < float(r["value"]) < peak, (r["id"], r["value"], peak)


def test_training_rows_use_less_than_the_dense_peak():
    # Hand bound: tokens/s/GPU x 6 x parameters (the matmul FLOPs of a dense step, attention left
    # out, so a lower bound on the work) must stay below the chip's dense peak in the row's
    # precision. Dense Llama rows only: their parameter counts are the models' own.
    params = {"Llama 3 8B": 8.03e9, "Llama 3 70B": 70.6e9, "Llama 3.1 405B": 405.9e9}
    peak_key = {"FP8": "fp8", "MXFP8": "fp8", "NVFP4": "fp4", "BF16": "bf16"}
    checked = 0
    for r in (r for r in NEW if r["category"] == "train"):
        name = next((k for k in params if r["model_or_kernel"].startswith(k)), None)
        if name is None or _family(r) is None:
            continue
        prec = peak_key[r["precision"].split()[0].split("-")[0]]
        chip = load_chip(preset_for_hardware(r["hardware"])[0])
        flops_per_s = float(r["value"]) * 6 * params[name]
        assert flops_per_s < getattr(chip.compute.peak_tflops, prec) * 1e12, r["id"]
        checked += 1
    assert checked >= 8


@pytest.fixture(scope="module")
def scored() -> dict[str, set[str]]:
    rows = NEW + serve.rows(NEW)
    out: dict[str, set[str]] = {f: set() for f in FAMILIES}
    for o in evaluate(["kernel", "train", "serve"], rows=rows):
        row = next(r for r in NEW if r["id"] == o.id)
        fam = _family(row)
        if o.predicted is not None and fam is not None:
            out[fam].add(o.id)
    return out


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_family_has_enough_scored_rows(scored, family):
    assert len(scored[family]) >= MIN_SCORED, (family, sorted(scored[family]))
