"""The thirteenth unseen-data check (published_fresh13_comm.csv, fresh13_comm_scores.md): nccl-tests all-reduce rows on
one host of 8 A100 and on one and two hosts of 8 H100, from four public documents new to the project. Values are
hand-copied below from the cited logs; every row is cited with its document, maps to a preset by the hardware text,
is held out (no fit reads it), and has a first score in fresh13_comm_scores.md."""

from __future__ import annotations

import pytest

from fabless.measurements import MEASUREMENTS_DIR
from fabless.units import parse_bytes
from fabless.validate import comm
from fabless.validate.core import parse_config
from tests.conftest import (assert_cited_only_by, assert_first_scores_recorded, assert_rows_cite,
                            assert_unseen_rows_held_out, rows_of)

ROWS, BY_ID = rows_of("published_fresh13_comm.csv")
SCORES = MEASUREMENTS_DIR / "fresh13_comm_scores.md"

# (first id, last id) -> document fragment every row of the range cites
SOURCES = {
    (1, 6): ("yumibyte/cs244c-research", "results_8gpu_allreduce.txt", "00e8182a"),
    (7, 8): ("nvidia/nccl-tests issue #290", "https://github.com/nvidia/nccl-tests/issues/290"),
    (9, 22): ("nvidia/nccl-tests issue #309", "https://github.com/nvidia/nccl-tests/issues/309"),
    (23, 23): ("nvidia/nccl issue #2409", "https://github.com/nvidia/nccl/issues/2409"),
}

# Out-of-place values hand-copied from the logs (size -> time in us below 1 MiB, busbw in GB/s from 1 MiB)
A100_MODAL = {"8B": 58.00, "1KiB": 54.44, "64KiB": 58.10, "1MiB": 26.47, "8MiB": 78.39, "64MiB": 160.99}
H100_290 = {"256MiB": 412.35, "1GiB": 465.25}
H100_309_DELL = {"1KiB": 29.75, "64KiB": 33.84, "1MiB": 27.33, "8MiB": 118.57, "64MiB": 269.98, "256MiB": 392.35,
                 "1GiB": 448.90, "8GiB": 468.46}
H100_309_COMMENT = {"1MiB": 21.08, "8MiB": 103.78, "64MiB": 263.66, "256MiB": 388.31, "1GiB": 447.65, "8GiB": 466.73}
H100_2409 = {"1GiB": 456.0}


def _size(r: dict) -> str:
    return parse_config(r["config"])["msg_size"]


def test_the_file_holds_the_rows_the_rules_take_in_order():
    assert [r["id"] for r in ROWS] == [f"comm-fresh13-{i:03d}" for i in range(1, 24)]
    groups = (A100_MODAL, H100_290, H100_309_DELL, H100_309_COMMENT, H100_2409)
    expected = [(size, value) for g in groups for size, value in g.items()]
    assert [(_size(r), float(r["value"])) for r in ROWS] == expected
    for r in ROWS:
        small = parse_bytes(_size(r)) < 2**20
        assert r["metric"] == ("all-reduce time (us)" if small else "busbw (GB/s)"), r["id"]


def test_busbw_is_the_logs_time_by_nccl_tests_formula():
    # nccl-tests all_reduce: algbw = size / time, busbw = algbw * 2 (n - 1) / n; the Dell 1 GiB line of issue #309
    # prints 4484.9 us and 448.90 GB/s on 16 ranks, the Modal 64 MiB line 729.48 us and 160.99 GB/s on 8
    for row_id, time_us, n in (("comm-fresh13-015", 4484.9, 16), ("comm-fresh13-006", 729.48, 8)):
        size = parse_bytes(_size(BY_ID[row_id]))
        busbw = size / (time_us * 1e-6) * 2 * (n - 1) / n / 1e9
        assert busbw == pytest.approx(float(BY_ID[row_id]["value"]), rel=2e-3)


def test_rows_cite_their_documents_and_are_new_to_the_project():
    assert_rows_cite(BY_ID, "comm-fresh13-", SOURCES, "Held out (thirteenth unseen-data check")
    assert_cited_only_by("published_fresh13_comm.csv",
                         ("cs244c-research", "nccl-tests/issues/290", "nccl-tests/issues/309", "nccl/issues/2409"))


def test_every_row_maps_to_its_preset_and_is_held_out():
    # but the two 8 MiB two-host InfiniBand rows, which became the network Simple step's fit rows at stop 46, when that
    # value had to leave the fit where DeepEP's own (reserved) rows stood in for NCCL all-to-alls
    # (comm.FIT_IDS_SIMPLE_STEP, fitted alone by comm.fit_scale_out_simple_step); their first scores stay recorded in
    # fresh13_comm_scores.md
    ids = set(BY_ID)
    assert_unseen_rows_held_out(ids, "-fresh13-")
    assert comm.FIT_IDS_SIMPLE_STEP == {"comm-fresh13-012", "comm-fresh13-018"}
    assert not (ids - comm.FIT_IDS_SIMPLE_STEP) & comm.FIT_IDS
    for r in ROWS:
        want = "dgx-a100" if "A100" in r["hardware"] else "dgx-h100"
        assert comm.system_for_row(r).name == want, r["id"]
        cfg = parse_config(r["config"])
        assert int(cfg["gpus"]) == int(r["n_chips"]) == (8 if "single node" in r["config"] else 16), r["id"]


def test_first_scores_are_recorded_for_every_row():
    assert_first_scores_recorded(ROWS, SCORES)
