"""The second unseen-data check's kernel and collective rows (published_fresh2_kc.csv): each with a
repository commit, every value hand-copied below from its source, busbw and TFLOP/s re-derived by
hand from the printed algbw and times, every row picked up and predicted, and none a fit row."""

from __future__ import annotations

import math
import re

import pytest

from fabless.validate import comm, kernel
from fabless.validate.core import load_rows, parse_config
from fabless.validate.hardware_map import preset_for_hardware

ROWS = [r for r in load_rows() if r["_file"] == "published_fresh2_kc.csv"]
BY_ID = {r["id"]: r for r in ROWS}

# Hand-copied GEMM rows: id -> (chip preset, square size M=N=K, TFLOP/s as printed)
GEMM = {
    # pranjalssh/fast.cu README, cuBLAS (KERNEL 0), H100 SXM
    "kernel-fresh2-001": ("h100-sxm", 4096, 716.0),
    "kernel-fresh2-002": ("h100-sxm", 6144, 741.1),
    "kernel-fresh2-003": ("h100-sxm", 8192, 797.8),
    # gau-nernst/learn-cuda 02e_matmul_sm100, Modal B200, CuBLAS row
    "kernel-fresh2-004": ("b200", 2048, 1077.67),
    "kernel-fresh2-005": ("b200", 4096, 1358.69),
    "kernel-fresh2-006": ("b200", 8192, 1414.29),
    # gau-nernst/learn-cuda 02b_matmul_sm80, Modal A100 40GB SXM4, CuBLAS 13.0 row
    "kernel-fresh2-007": ("a100-sxm", 2048, 155.31),
    "kernel-fresh2-008": ("a100-sxm", 4096, 246.29),
    "kernel-fresh2-009": ("a100-sxm", 8192, 261.82),
    # gau-nernst/learn-cuda 02d_matmul_cdna3, MI300X, PyTorch (2.8.0+rocm6.4)
    "kernel-fresh2-010": ("mi300x", 4096, 548.09),
    # gau-nernst/learn-cuda 02_matmul_cdna4, MI355X, PyTorch (2.14.0+rocm7.14)
    "kernel-fresh2-011": ("mi355x", 4096, 1450.22),
    "kernel-fresh2-012": ("mi355x", 8192, 1589.08),
    "kernel-fresh2-013": ("mi355x", 16384, 1267.29),
}
# fast.cu prints the average time per launch next to the TFLOP/s: id -> seconds
FAST_TIMES = {"kernel-fresh2-002": 0.000626, "kernel-fresh2-003": 0.001378}

# Hand-copied rccl-tests all_reduce_perf rows (out-of-place columns) from hisohara/ai-scripts:
# id -> (ranks, nodes, size in bytes, config msg_size, algbw GB/s, busbw GB/s)
ALLREDUCE = {
    "comm-fresh2-001": (8, 1, 1048576, "1MiB", 36.94, 64.64),
    "comm-fresh2-002": (8, 1, 67108864, "64MiB", 155.15, 271.51),
    "comm-fresh2-003": (8, 1, 1073741824, "1GiB", 179.24, 313.66),
    "comm-fresh2-004": (8, 1, 8589934592, "8GiB", 180.40, 315.69),
    "comm-fresh2-005": (16, 2, 8388608, "8MiB", 20.85, 39.10),
    "comm-fresh2-006": (16, 2, 67108864, "64MiB", 81.65, 153.10),
    "comm-fresh2-007": (16, 2, 1073741824, "1GiB", 181.74, 340.75),
    "comm-fresh2-008": (16, 2, 17179869184, "16GiB", 190.64, 357.46),
}


def test_the_file_holds_the_collected_rows():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) == len(GEMM) + len(ALLREDUCE)
    assert sorted(ids) == sorted([*GEMM, *ALLREDUCE])
    for r in ROWS:
        assert r["category"] == r["id"].split("-")[0], r["id"]
    # the ids are new: no other measurement file uses them
    others = [r["id"] for r in load_rows() if r["_file"] != "published_fresh2_kc.csv"]
    assert not set(ids) & set(others)


def test_every_row_names_a_repository_commit_date_and_notes():
    for r in ROWS:
        assert re.search(r"github\.com/[\w.-]+/[\w.-]+", r["source"]), r["id"]
        assert re.search(r"commit [0-9a-f]{40}", r["source"]), (r["id"], r["source"])
        assert re.search(r"\b20\d\d\b", r["source"]), (r["id"], "no date or year")
        assert r["notes"].strip(), r["id"]
    # every row but the MI355X ones (whose commit is not in the local snapshot) has a full date
    for r in ROWS:
        if "mi355x" not in r["hardware"].lower():
            assert re.search(r"20\d\d-\d\d-\d\d", r["source"]), r["id"]


def test_no_reserved_or_already_held_source():
    # shared/RESERVED.md and the sources the earlier files already hold
    bad = ("ml-engineering", "flash-attention", "deepep", "perf-overview", "tpu-recipes", "ai-benchmarking-guide",
           "accelerator-microbenchmarks", "coreweave/nccl-tests", "marin", "triton-distributed", "dstack", "crickett-hpe")
    for r in ROWS:
        s = r["source"].lower()
        for b in bad:
            assert b not in s, (r["id"], b)


def test_every_row_is_held_out():
    for r in ROWS:
        assert r["id"] not in kernel.FIT_IDS | comm.FIT_IDS, r["id"]


@pytest.mark.parametrize("rid", sorted(GEMM))
def test_gemm_row_matches_the_source(rid):
    preset, n, value = GEMM[rid]
    r = BY_ID[rid]
    assert float(r["value"]) == value
    assert preset_for_hardware(r["hardware"])[0] == preset
    cfg = parse_config(r["config"])
    assert (int(cfg["m"]), int(cfg["n"]), int(cfg["k"])) == (n, n, n)
    assert cfg["timing"] == "stream"  # cudaEvents / nvbench / do_bench around back-to-back launches
    assert r["precision"] == "BF16" and r["metric"] == "achieved TFLOP/s"
    assert r["model_or_kernel"].startswith("GEMM")


def test_gemm_tflops_from_the_printed_times_by_hand():
    # 2 M N K / time: 2 x 6144^3 = 463,856,467,968 FLOP; 2 x 8192^3 = 1,099,511,627,776 FLOP
    assert 2 * 6144**3 == 463_856_467_968 and 2 * 8192**3 == 1_099_511_627_776
    for rid, t in FAST_TIMES.items():
        n = GEMM[rid][1]
        assert 2 * n**3 / t / 1e12 == pytest.approx(float(BY_ID[rid]["value"]), abs=0.15), rid


@pytest.mark.parametrize("rid", sorted(ALLREDUCE))
def test_allreduce_row_matches_the_output(rid):
    ranks, nodes, size, label, algbw, busbw = ALLREDUCE[rid]
    r = BY_ID[rid]
    assert float(r["value"]) == busbw and int(r["n_chips"]) == ranks
    cfg = parse_config(r["config"])
    assert cfg["msg_size"] == label and int(cfg["nodes"]) == nodes
    assert {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[label[-3:]] * int(label[:-3]) == size
    assert str(size) in r["notes"] and f"algbw {algbw:.2f}" in r["notes"]
    assert "mi300x" in r["hardware"].lower() and r["metric"] == "busbw (GB/s)"
    assert "all_reduce" in r["model_or_kernel"]


def test_allreduce_busbw_from_algbw_by_hand():
    # nccl-tests/rccl-tests: busbw = algbw x 2(n-1)/n; 8 ranks -> 1.75, 16 ranks -> 1.875
    assert 2 * 7 / 8 == 1.75 and 2 * 15 / 16 == 1.875
    for rid, (ranks, _, _, _, algbw, busbw) in ALLREDUCE.items():
        assert algbw * 2 * (ranks - 1) / ranks == pytest.approx(busbw, abs=0.02), rid
    # and algbw = size / time for two rows, from the printed times (us)
    assert 1073741824 / 5990.7e-6 / 1e9 == pytest.approx(179.24, abs=0.01)
    assert 17179869184 / 90115e-6 / 1e9 == pytest.approx(190.64, abs=0.01)


@pytest.mark.parametrize("rid", sorted(GEMM))
def test_every_kernel_row_is_predicted(rid):
    v = kernel.predict(BY_ID[rid])
    assert v is not None and math.isfinite(v) and v > 0


@pytest.mark.parametrize("rid", sorted(ALLREDUCE))
def test_every_comm_row_is_predicted(rid):
    v = comm.predict(BY_ID[rid])
    assert v is not None and math.isfinite(v) and v > 0
