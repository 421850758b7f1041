"""The twelfth unseen-data check (published_fresh12_comm.csv, fresh12_comm_scores.md): AWS p5.48xlarge nccl-tests rows
from three files of github.com/awslabs/awsome-distributed-ai. Values are hand-copied below from the files at the cited
commits; every row is cited with its repository, file, commit and date, maps to the p5-48xlarge preset, is held out,
and has a first score in fresh12_comm_scores.md."""

from __future__ import annotations

import pytest

from fabless.measurements import MEASUREMENTS_DIR
from fabless.units import parse_bytes
from fabless.perf.collectives import load_params
from fabless.validate import comm
from fabless.validate.core import parse_config
from tests.conftest import assert_cited_only_by, assert_first_scores_recorded, assert_unseen_rows_held_out, rows_of

ROWS, BY_ID = rows_of("published_fresh12_comm.csv")
SCORES = MEASUREMENTS_DIR / "fresh12_comm_scores.md"
REPO = "github.com/awslabs/awsome-distributed-ai"
A1 = ("0900f63c08086565e189e3d6be1b1f200ae9a44a", "4.validation_scripts/0.nccl-tests/README.md", "2023-11-24")
A2 = ("88c2e71b17895e2d5de10733861888c7faedf2f0", "micro-benchmarks/nccl-tests/README.md", "2024-04-19")
A3 = ("40e398b3892482cea800c41d4a13a09d0c1e3526",
      "micro-benchmarks/expert-parallelism/ep-backend-comparison/RESULTS-p5.md", "2026-06-24")

# Out-of-place times (us) of the two all_reduce_perf tables, hand-copied: size (B) -> time, in print order
A1_TIMES = {4: 202.2, 8: 175.5, 16: 177.6, 32: 175.8, 64: 175.7, 128: 171.8, 256: 176.7, 512: 174.4, 1024: 172.0,
            2048: 175.9, 4096: 174.1, 8192: 175.7, 16384: 224.9, 32768: 193.8, 65536: 194.9, 131072: 203.8,
            262144: 218.7, 524288: 225.7, 1048576: 239.3, 2097152: 269.9, 4194304: 305.7, 8388608: 336.1,
            16777216: 530.9, 33554432: 859.2, 67108864: 996.0, 134217728: 1950.5, 268435456: 3010.8,
            536870912: 3608.0, 1073741824: 6426.3, 2147483648: 9197.5}
A2_TIMES = {8: 69.12, 16: 72.64, 32: 74.06, 64: 65.48, 128: 74.92, 256: 74.12, 512: 69.50, 1024: 69.24, 2048: 72.22,
            4096: 78.58, 8192: 81.44, 16384: 94.36, 32768: 111.7, 65536: 135.1, 131072: 108.9, 262144: 128.0,
            524288: 123.7, 1048576: 123.2, 2097152: 147.2, 4194304: 168.6, 8388608: 204.8, 16777216: 298.1,
            33554432: 439.7, 67108864: 601.5, 134217728: 870.3, 268435456: 1468.2, 536870912: 2559.2,
            1073741824: 4607.6, 2147483648: 9074.5, 4294967296: 17286, 8589934592: 33605, 17179869184: 66132}
A3_BUSBW = {4: 45.1, 8: 40.4}  # 'busbw at EP payload (~64 MiB) | matched-size'


def _size(r: dict) -> int:
    return int(parse_bytes(parse_config(r["config"])["msg_size"]))


def test_the_file_holds_every_row_the_rules_take_in_order():
    assert len(ROWS) == 64 and [r["id"] for r in ROWS] == [f"comm-fresh12-{i:03d}" for i in range(1, 65)]
    a1, a2, a3 = ROWS[:30], ROWS[30:62], ROWS[62:]
    assert [_size(r) for r in a1] == list(A1_TIMES) and [float(r["value"]) for r in a1] == list(A1_TIMES.values())
    assert [_size(r) for r in a2] == list(A2_TIMES) and [float(r["value"]) for r in a2] == list(A2_TIMES.values())
    # the sweeps double from the first size; nccl-tests' size is the buffer in bytes
    assert all(b == 2 * a for a, b in zip(list(A1_TIMES), list(A1_TIMES)[1:]))
    assert all(b == 2 * a for a, b in zip(list(A2_TIMES), list(A2_TIMES)[1:]))
    for r, nodes in zip(a3, (4, 8)):
        cfg = parse_config(r["config"])
        assert (int(cfg["nodes"]), int(cfg["gpus"]), _size(r)) == (nodes, 8 * nodes, 64 * 2**20)
        assert float(r["value"]) == A3_BUSBW[nodes] and r["metric"] == "busbw (GB/s)"


def test_rows_cite_their_file_commit_and_date():
    for rows, (commit, path, date) in ((ROWS[:30], A1), (ROWS[30:62], A2), (ROWS[62:], A3)):
        for r in rows:
            s = r["source"]
            assert REPO in s and path in s and f"commit {commit} ({date}" in s, r["id"]
            assert f"https://github.com/awslabs/awsome-distributed-ai/blob/{commit}/{path}" in s, r["id"]
            assert r["notes"].startswith("Held out (twelfth unseen-data check"), r["id"]
    # no other measurement file took a collective from these documents (fresh7 cites other files of the repository)
    assert_cited_only_by("published_fresh12_comm.csv", ("nccl-tests/readme.md", "ep-backend-comparison"))


def test_every_row_maps_to_the_p5_preset_and_is_held_out():
    ids = set(BY_ID)
    assert_unseen_rows_held_out(ids, "-fresh12-")
    assert not ids & comm.FIT_IDS
    for r in ROWS:
        assert comm.system_for_row(r).name == "p5-48xlarge", r["id"]
        cfg = parse_config(r["config"])
        assert int(cfg["gpus"]) == 8 * int(cfg["nodes"]) == int(r["n_chips"]) and cfg["per_node"] == "8", r["id"]
    assert {r["metric"] for r in ROWS[:62]} == {"out-of-place all-reduce time (us)"}


def test_first_scores_are_recorded_for_every_row():
    assert_first_scores_recorded(ROWS, SCORES)


def test_small_all_reduce_by_hand():
    # 8 B on 2 x 8 H100 over EFA, Simple end to end (over EFA NCCL runs no other protocol): NCCL's NVLS-tree, the tree
    # between the two instances one exchange each way (2 network steps of 2.7 us wire + the preset's 6 us), NVLS's own
    # latency and 2 NVLink Simple steps inside each instance, and the launch: 89.7 us, against the 2024 table's
    # 69.12 us (held out, 30% below: test_aws_p5_comm_rows.py says why) and the 2023 log's 175.5 us (aws-ofi-nccl 1.7.3:
    # 2.5x the newer software's measured time, fresh12_comm_scores.md "Later")
    p = load_params()
    by_hand_us = (p.launch_latency_s + 2 * (2.7e-6 + 6e-6) + p.nvls_latency_s
                  + 2 * (0.47e-6 + p.scale_up.simple_step_overhead_s)) * 1e6
    t = comm.predict(BY_ID["comm-fresh12-031"])
    assert t == pytest.approx(by_hand_us, rel=1e-3)
    assert t == pytest.approx(float(BY_ID["comm-fresh12-031"]["value"]), rel=0.30)
    assert float(BY_ID["comm-fresh12-002"]["value"]) / float(BY_ID["comm-fresh12-031"]["value"]) == pytest.approx(2.54, rel=0.02)
