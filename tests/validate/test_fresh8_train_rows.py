"""The eighth unseen-data check, training (published_fresh8_train.csv, scenarios_fresh8_train.yaml): the four rows of
the ROCm blog's dropless-MoE throughput table, each sourced with the repository commit, URL and date, values hand-copied
below, every row collected and skipped with its reason (the device mesh beyond FSDP=8 is not stated), and every row held
out. The simulator is not run here."""

from __future__ import annotations

from fabless.validate import train
from fabless.validate.core import parse_config
from fabless.validate.hardware_map import preset_for_hardware
from tests.conftest import assert_unseen_rows_held_out, rows_of

FILE = "published_fresh8_train.csv"
ROWS, BY_ID = rows_of(FILE)
COMMIT = "450d03869b42c27651dad0355062befc56c9babf"
URL = "https://rocm.blogs.amd.com/software-tools-optimization/maxtext-dropless-moe/README.html"

# ROCm/rocm-blogs 'Dropless MoE Training in JAX with Primus-Turbo' (2026-06-10), table 'Throughput (Synthetic Data)',
# column 'sparse-gmm-deepep': id -> (pdbs, tokens/s/device)
TGS = {
    "train-fresh8-001": (4, 873.4),
    "train-fresh8-002": (7, 1121.6),
    "train-fresh8-003": (8, 1179.7),
    "train-fresh8-004": (9, 1189.4),
}


def test_the_file_loads_with_the_copied_values():
    assert set(BY_ID) == set(TGS) and len(ROWS) == 4
    for rid, (pdbs, v) in TGS.items():
        r = BY_ID[rid]
        cfg = parse_config(r["config"])
        assert r["category"] == "train" and float(r["value"]) == v, rid
        assert int(cfg["per_device_batch_size"]) == pdbs and int(cfg["seq"]) == 4096 and cfg["fsdp"] == "8", rid
        assert int(r["n_chips"]) == 64 and preset_for_hardware(r["hardware"])[0] == "mi355x", rid
        assert f"row pdbs {pdbs}, column 'sparse-gmm-deepep': {v} copied as printed" in r["notes"], rid


def test_every_row_is_cited_with_commit_url_and_date():
    for r in ROWS:
        assert COMMIT in r["source"] and URL in r["source"] and "2026-06-10" in r["source"], r["id"]


def test_every_row_is_skipped_with_its_reason_and_held_out():
    assert_unseen_rows_held_out(set(BY_ID), "-fresh8-")
    m = train.scenario_map()
    for rid in BY_ID:
        assert "scenario" not in m[rid] and "set" not in m[rid], rid
        assert "FSDP=8" in m[rid]["skip"] and "not stated" in m[rid]["skip"], rid
        assert "not stated" in parse_config(BY_ID[rid]["config"])["other_mesh_axes"], rid
    # the dropless DeepEP column only: throughput rises with the per-device batch, by the table
    assert [TGS[i][1] for i in sorted(TGS)] == sorted(TGS[i][1] for i in TGS)
