"""The eighteenth unseen-data check's kernel rows (published_fresh18_kc.csv): H100 torch.mm GEMMs of a community
benchmark's issue and HBM-stream rows of RRZE-HPC's gpu-benches on A100 80GB and MI300X, each cited with its issue or
commit, values hand-copied below from the sources, every row mapped and held out, and listed once in
fresh18_kc_scores.md with its first score."""

from __future__ import annotations

from pathlib import Path

import pytest

from fabless.measurements import MEASUREMENTS_DIR
from fabless.validate import comm, kernel
from fabless.validate.core import parse_config
from fabless.validate.hardware_map import preset_for_hardware
from tests.conftest import assert_cited_only_by, assert_unseen_rows_held_out, rows_of

FILE = "published_fresh18_kc.csv"
ROWS, BY_ID = rows_of(FILE)
SCORES = Path(MEASUREMENTS_DIR) / "fresh18_kc_scores.md"

# zzc0721/torch-performance-test-data issue #79 (2025-10-18), its detailed-data block: n -> TFLOPS of n x n x n torch.mm
H100_FP16 = {1024: 179.13, 2048: 645.12, 4096: 760.04, 8192: 736.19, 10240: 668.42}
H100_BF16 = {1024: 176.62, 2048: 676.59, 4096: 788.72, 8192: 797.51, 10240: 719.72}
# RRZE-HPC/gpu-benches gpu-stream/<file> at 1038c5d0, last line (100% occupancy), the 'scale' column (GB/s)
STREAM = {"a100_80.txt": 1737.0, "mi300x.txt": 3997.0}
STREAM_BYTES = (256 * 1024 * 1024 + 2) * 8  # main.cu: max_buffer_size doubles per array

EXPECTED = {}  # id -> (hardware preset, precision, config, value)
for i, n in enumerate(sorted(H100_FP16)):
    EXPECTED[f"kernel-fresh18-{1 + i:03d}"] = ("h100-sxm", "FP16", (n, n, n), H100_FP16[n])
    EXPECTED[f"kernel-fresh18-{6 + i:03d}"] = ("h100-sxm", "BF16", (n, n, n), H100_BF16[n])
EXPECTED["kernel-fresh18-011"] = ("a100-sxm", "FP64", STREAM_BYTES, STREAM["a100_80.txt"])
EXPECTED["kernel-fresh18-012"] = ("mi300x", "FP64", STREAM_BYTES, STREAM["mi300x.txt"])


def test_the_file_holds_the_collected_rows():
    assert sorted(BY_ID) == sorted(EXPECTED) and len(ROWS) == 12
    for r in ROWS:
        assert r["category"] == "kernel" and int(r["n_chips"]) == 1, r["id"]
        assert "Eighteenth unseen-data batch" in r["notes"], r["id"]


@pytest.mark.parametrize("rid", sorted(EXPECTED))
def test_row_matches_the_source(rid):
    preset, prec, shape, value = EXPECTED[rid]
    r = BY_ID[rid]
    cfg = parse_config(r["config"])
    assert preset_for_hardware(r["hardware"])[0] == preset and r["precision"] == prec
    assert float(r["value"]) == pytest.approx(value, abs=5e-3) and cfg["timing"] == "stream"
    if isinstance(shape, tuple):
        assert (int(cfg["m"]), int(cfg["n"]), int(cfg["k"])) == shape
        assert "torch-performance-test-data/issues/79" in r["source"], rid
    else:
        assert int(cfg["bytes"]) == shape == 2_147_483_664
        assert "RRZE-HPC/gpu-benches" in r["source"] and "1038c5d0d0f48cfe9912930d34eb2d8a31b72b9b" in r["source"]


def test_every_row_is_held_out_and_its_sources_are_new():
    ids = set(BY_ID)
    assert not ids & (kernel.FIT_IDS | comm.FIT_IDS)
    assert_unseen_rows_held_out(ids, "-fresh18-")
    assert_cited_only_by(FILE, ("torch-performance-test-data", "rrze-hpc/gpu-benches"))


def test_every_row_is_predicted_and_scored_once():
    text = SCORES.read_text()
    for r in ROWS:
        assert kernel.predict(r) > 0, r["id"]
        assert len([ln for ln in text.splitlines() if ln.startswith(f"| {r['id']} |")]) == 1, r["id"]
