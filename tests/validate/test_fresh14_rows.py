"""The fourteenth unseen-data check (published_fresh14_comm.csv, fresh14_comm_scores.md): nccl-tests all-reduce rows on
one host of 8 H100 (NVIDIA's DGX Cloud benchmarking recipe), one host of 8 A100 (an Oracle Cloud tutorial) and two
hosts of 8 H200 (a SkyPilot example). Values are hand-copied below from the cited logs; every row is cited, maps to a
preset by its hardware text, is held out, and has a first score in fresh14_comm_scores.md."""

from __future__ import annotations

import pytest

from fabless.measurements import MEASUREMENTS_DIR
from fabless.units import parse_bytes
from fabless.validate import comm
from fabless.validate.core import parse_config
from tests.conftest import (assert_cited_only_by, assert_first_scores_recorded, assert_rows_cite,
                            assert_unseen_rows_held_out, rows_of)

ROWS, BY_ID = rows_of("published_fresh14_comm.csv")
SCORES = MEASUREMENTS_DIR / "fresh14_comm_scores.md"

SOURCES = {
    (1, 9): ("nvidia/dgxc-benchmarking", "nccl/readme.md", "80634adfb0e4555a7c5c6b9c9a5ed38ef9e15f12"),
    (10, 17): ("oracle-japan/ocitutorials", "https://oracle-japan.github.io/ocitutorials/intermediates/spinup-gpu-cluster/"),
    (18, 19): ("skypilot-org/skypilot", "examples/coreweave_infiniband/readme.md", "01da2359"),
}

# Out-of-place values hand-copied from the logs (time in us below 1 MiB, busbw in GB/s from 1 MiB)
DGXC_H100 = {"8B": 13.67, "1KiB": 16.94, "64KiB": 19.54, "1MiB": 67.04, "8MiB": 176.77, "64MiB": 361.67,
             "256MiB": 422.25, "1GiB": 466.33, "8GiB": 480.16}
OCI_A100 = {"1KiB": 32.03, "64KiB": 35.40, "1MiB": 23.92, "8MiB": 79.02, "64MiB": 199.23, "256MiB": 221.38,
            "1GiB": 230.08, "8GiB": 235.14}
SKYPILOT_H200 = {"1GiB": 455.85, "8GiB": 481.35}


def _size(r: dict) -> str:
    return parse_config(r["config"])["msg_size"]


def test_the_file_holds_the_rows_the_rules_take_in_order():
    assert [r["id"] for r in ROWS] == [f"comm-fresh14-{i:03d}" for i in range(1, 20)]
    expected = [(s, v) for g in (DGXC_H100, OCI_A100, SKYPILOT_H200) for s, v in g.items()]
    assert [(_size(r), float(r["value"])) for r in ROWS] == expected
    for r in ROWS:
        small = parse_bytes(_size(r)) < 2**20
        assert r["metric"] == ("all-reduce time (us)" if small else "busbw (GB/s)"), r["id"]


def test_busbw_is_the_logs_time_by_nccl_tests_formula():
    # busbw = size / time * 2 (n - 1) / n: SkyPilot's 1 GiB line prints 4416.5 us and 455.85 GB/s on 16 ranks
    size = parse_bytes(_size(BY_ID["comm-fresh14-018"]))
    assert size / 4416.5e-6 * 2 * 15 / 16 / 1e9 == pytest.approx(455.85, rel=2e-3)


def test_rows_cite_their_documents_and_are_new_to_the_project():
    assert_rows_cite(BY_ID, "comm-fresh14-", SOURCES, "Held out (fourteenth unseen-data check")
    assert_cited_only_by("published_fresh14_comm.csv", ("dgxc-benchmarking, file nccl/", "ocitutorials", "skypilot-org/skypilot"))


def test_every_row_maps_to_its_preset_and_is_held_out():
    ids = set(BY_ID)
    assert_unseen_rows_held_out(ids, "-fresh14-")
    assert not ids & comm.FIT_IDS
    want = {"H100": "dgx-h100", "A100": "dgx-a100", "H200": "dgx-h200"}
    for r in ROWS:
        chip = next(k for k in want if k in r["hardware"])
        assert comm.system_for_row(r).name == want[chip], r["id"]
        assert int(parse_config(r["config"])["gpus"]) == int(r["n_chips"]), r["id"]


def test_first_scores_are_recorded_for_every_row():
    assert_first_scores_recorded(ROWS, SCORES)
