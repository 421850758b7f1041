"""The fifth unseen-data check's Meta MTIA rows (published_fresh5_mtia.csv): each with its URL and a date, every
value hand-copied below from its source (and the one derived value, a range's midpoint, re-derived by hand), every
row either mapped or skipped with its reason, and none a fit row. The simulator is not run here: the first scores
(each predictor's answer, taken once) are in fresh5_mtia_scores.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import fabless
from fabless.validate import kernel, recsys
from fabless.validate.core import Skip, parse_config
from fabless.validate.hardware_map import preset_for_hardware
from tests.conftest import assert_cited_only_by, assert_unseen_rows_held_out, rows_of

FILE = "published_fresh5_mtia.csv"
ROWS, BY_ID = rows_of(FILE)
DATA = Path(fabless.__file__).parent / "data" / "measurements"

# Hand-copied figures: id -> (chip preset, value in the CSV, the source's words around the figure)
FIGURES = {
    # ISCA 2023 abstract: 'We averaged 0.9x perf/W across various DLRMs, and benchmarks show operators such as
    # GEMMs reaching 2x perf/W.'
    "kernel-fresh5-m01": ("mtia-v1", 2.0, "GEMMs reaching 2x perf/W"),
    "recsys-fresh5-001": ("mtia-v1", 0.9, "We averaged 0.9x perf/W across various DLRMs"),
    # TechRadar on Meta's Hot Chips 2024 talk: '... enabling job launch times under 1 microsecond and job
    # replacement in less than 0.5 microseconds. Additionally, TBE optimization ... achieving 2-3x faster run times'
    "kernel-fresh5-m02": ("mtia-v2", 1.0, "job launch times under 1 microsecond"),
    "kernel-fresh5-m03": ("mtia-v2", 0.5, "job replacement in less than 0.5 microseconds"),
    "recsys-fresh5-002": ("mtia-v2", 2.5, "achieving 2-3x faster run times"),
}

#: Rows collected but not predicted, with the reason.
SKIPPED: dict[str, str] = {
    "kernel-fresh5-m01": "MTIA v1 / GPU GEMM perf/W 'reaching 2x': the GPU, the shapes and the data type are not stated, "
                         "and fabless.validate.kernel has no perf/W-ratio row kind",
    "kernel-fresh5-m02": "an upper bound ('under 1 microsecond') on MTIA v2's eager-mode job launch, not one measured "
                         "time; fabless.validate.kernel has no launch-latency row kind",
    "kernel-fresh5-m03": "an upper bound ('less than 0.5 microseconds') on MTIA v2's job replacement, a runtime "
                         "job-queue operation fabless does not model",
    "recsys-fresh5-001": "MTIA v1 / GPU perf/W averaged over Meta's DLRMs: the readable source does not name the GPU, "
                         "so the ratio's denominator system would be a guess",
    "recsys-fresh5-002": "MTIA v2 / v1 speed-up of the TBE cache's flush and prefetch: fabless's recommendation model "
                         "has no embedding cache to time",
}

SOURCES = {  # name -> (URL text, date the row cites)
    "isca23": ("https://www.aminer.org/pub/64a29612d68f896efa28bca4/mtia-first-generation-silicon-targeting-meta-s-"
               "recommendation-systems", "2023-06"),
    "hc24": ("https://techradar.com/pro/meta-showcases-the-hardware-that-will-power-recommendations-for-facebook-"
             "and-instagram-low-cost-risc-v-cores-and-mainstream-lpddr5-memory-are-at-the-heart-of-its-mtia-"
             "recommendation-inference-cpu", "2024-09"),
}
SOURCE_OF = {"kernel-fresh5-m01": "isca23", "recsys-fresh5-001": "isca23", "kernel-fresh5-m02": "hc24",
             "kernel-fresh5-m03": "hc24", "recsys-fresh5-002": "hc24"}


def test_the_file_holds_the_collected_rows():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) == len(FIGURES) == 5
    assert sorted(ids) == sorted(FIGURES)
    for r in ROWS:
        assert r["category"] == r["id"].split("-")[0], r["id"]
        assert "-fresh5-" in r["id"]


def test_every_row_cites_its_url_and_date():
    for r in ROWS:
        url, date = SOURCES[SOURCE_OF[r["id"]]]
        assert url in r["source"], (r["id"], url)
        assert date in r["source"], (r["id"], date)
        assert re.search(r"20\d\d-\d\d-\d\d", r["source"]), (r["id"], "no full date")
        assert r["notes"].strip() and "Held out" in r["notes"] and "Read as text" in r["notes"], r["id"]


def test_no_reserved_or_already_cited_source():
    # the MTIA v2 blog (2024-04-10) is recsys-009..011's source: not used again
    for r in ROWS:
        s = r["source"].lower()
        assert "ai.meta.com" not in s and "hawkinsight" not in s, r["id"]
    assert_cited_only_by(FILE, ("aminer.org", "techradar", "firoozshahian", "hot chips 2024"))


def test_every_row_is_held_out():
    ids = {r["id"] for r in ROWS}
    assert not ids & (kernel.FIT_IDS | recsys.FIT_IDS)
    assert_unseen_rows_held_out(ids, "-fresh5-")


@pytest.mark.parametrize("rid", sorted(FIGURES))
def test_row_matches_the_source(rid):
    preset, value, words = FIGURES[rid]
    r = BY_ID[rid]
    assert float(r["value"]) == pytest.approx(value, abs=1e-12)
    assert preset_for_hardware(r["hardware"])[0] == preset
    assert words in r["notes"], rid
    assert int(r["n_chips"]) == 1


def test_derived_values_by_hand():
    # the TBE speed-up is published as a range, 2-3x: the row records its midpoint (2 + 3) / 2
    assert (2 + 3) / 2 == 2.5 == float(BY_ID["recsys-fresh5-002"]["value"])
    assert parse_config(BY_ID["recsys-fresh5-002"]["config"])["range"] == "2-3"
    # the two bounds are in microseconds as printed: 1 us and 0.5 us, the second half the first
    assert float(BY_ID["kernel-fresh5-m03"]["value"]) * 2 == float(BY_ID["kernel-fresh5-m02"]["value"])
    for rid in ("kernel-fresh5-m02", "kernel-fresh5-m03"):
        assert parse_config(BY_ID[rid]["config"])["bound"] == "upper"
    # both ISCA 2023 figures are ratios against the same (unnamed) GPU: MTIA v1 over GPU
    for rid in ("kernel-fresh5-m01", "recsys-fresh5-001"):
        assert parse_config(BY_ID[rid]["config"])["ratio"] == "mtia-v1/gpu"


def test_every_row_maps_or_is_skipped_with_a_reason():
    assert set(SKIPPED) == set(FIGURES)  # no row of this batch could be mapped
    for r in ROWS:
        rid = r["id"]
        assert len(SKIPPED[rid]) > 60, rid
        assert "Not predicted" in r["notes"], rid
        if r["category"] == "recsys":
            entry = recsys.mapping()[rid]
            assert set(entry) == {"skip"} and len(entry["skip"]) > 60, rid
            with pytest.raises(Skip, match="collected, not predicted"):
                recsys.predict(r)
        else:  # the kernel predictor has no row kind for these metrics: it skips them without running a model
            assert "tflop" not in r["metric"].lower() and "bandwidth" not in r["metric"].lower()
            with pytest.raises(Skip):
                kernel.predict(r)


def test_the_recsys_mapping_file_is_read_after_the_first():
    assert recsys.EXTRA_MAPPINGS[0].name == "scenarios_fresh5_recsys.yaml"
    assert recsys.EXTRA_MAPPINGS[0].exists()
    m = recsys.mapping()
    assert "recsys-009" in m and "recsys-fresh5-001" in m  # both files are read


def test_the_scores_file_lists_every_row_once():
    text = (DATA / "fresh5_mtia_scores.md").read_text()
    assert "first scores at commit 642a05b" in text.lower()
    for rid in FIGURES:
        assert text.count(f"| {rid} |") == 1, rid
