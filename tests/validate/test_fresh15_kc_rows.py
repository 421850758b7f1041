"""The fifteenth unseen-data check's kernel rows (published_fresh15_kc.csv): MI355X GEMMs of HipKittens' MI355X
benchmark files and MI355X flash-attention rows of ROCm/aiter pull request #3390, each cited with its repository,
commit or pull request and date, values hand-copied below from the sources, every row mapped (the mi355x preset and
a timing method the kernel predictor accepts) and listed once in fresh15_kc_scores.md with its first score."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fabless.measurements import MEASUREMENTS_DIR
from fabless.perf.params import TIMING_METHODS
from fabless.validate import comm, kernel
from fabless.validate.core import parse_config
from fabless.validate.hardware_map import preset_for_hardware
from tests.conftest import assert_unseen_rows_held_out, rows_of

FILE = "published_fresh15_kc.csv"
ROWS, BY_ID = rows_of(FILE)
SCORES = Path(MEASUREMENTS_DIR) / "fresh15_kc_scores.md"
COMMIT = "f09e9685c4c6aaa41fb3ebd4fe4ca664938589e1"

# HipKittens analysis/bf16_gemm/mi350x/mi355x_bf16_gemm.json at f09e9685: size -> (tflops_pytorch, tflops_aiter, tflops)
BF16 = {1024: (56.90949163947867, 53.12462118975713, 139.4822233475431),
        2048: (327.9246818830567, 328.6171718999014, 665.0553419313824),
        4096: (1138.526846403435, 1113.6000031361102, 1412.851596799276),
        8192: (1521.2544125131246, 1590.7883065461044, 1610.4923225655825),
        16384: (1559.8110939913774, 1564.0732769406807, 1571.4911732838739)}
# the same file's mean times (ms) of the torch series: 2 N^3 / t reproduces tflops_pytorch
TORCH_MS = {1024: 0.03773506995290518, 8192: 0.7227664345502853, 16384: 5.639204039573669}
# analysis/bf16_gemm/plot.py mi355x_baselines['hipblaslt']
HIPBLASLT = {1024: 167.903, 2048: 639.608, 4096: 1432.70, 8192: 1574.69, 16384: 1579.2}
# analysis/fp8_gemm/mi350x/mi355x_fp8_gemm.json: size -> (tflops_hipblaslt, tflops)
FP8 = {1024: (204.913, 270.13), 2048: (1172.69, 1054.23), 4096: (2748.78, 2741.41), 8192: (3233.19, 3327.46),
       16384: (3293.23, 3377.75)}
# aiter pull request #3390, 'Benchmark (MI355X, bf16, ...)': (batch, q_nhead, kv_nheads, seqlen, q_hdim, v_hdim, causal,
# Ref TFLOPS, This PR TFLOPS), in the table's order
ATTN = [(4, 64, 8, 8192, 128, 128, 1, 1280, 1278), (1, 16, 16, 16384, 128, 128, 1, 1324, 1231),
        (4, 64, 8, 8192, 128, 128, 0, 1371, 1390), (1, 16, 16, 16384, 128, 128, 0, 1401, 1333),
        (4, 64, 8, 8192, 192, 128, 1, 1259, 1298), (1, 16, 16, 16384, 192, 128, 1, 1315, 1238),
        (4, 64, 8, 8192, 192, 128, 0, 1281, 1378), (1, 16, 16, 16384, 192, 128, 0, 1343, 1348)]

SIZES = sorted(BF16)
EXPECTED = {}  # id -> (precision, size or None, value, timing)
for i, s in enumerate(SIZES):
    for j in range(3):
        EXPECTED[f"kernel-fresh15-{1 + 3 * i + j:03d}"] = ("BF16", s, BF16[s][j], "wall_sync")
    EXPECTED[f"kernel-fresh15-{16 + i:03d}"] = ("BF16", s, HIPBLASLT[s], "stream")
    for j in range(2):  # hipblaslt-bench and a C++ launch between two events: stream (corrected after the first scores)
        EXPECTED[f"kernel-fresh15-{21 + 2 * i + j:03d}"] = ("FP8", s, FP8[s][j], "stream")
for i, a in enumerate(ATTN):
    EXPECTED[f"kernel-fresh15-{31 + i:03d}"] = ("BF16", None, float(a[8]), "stream")


def test_the_file_holds_the_collected_rows():
    assert sorted(BY_ID) == sorted(EXPECTED) and len(ROWS) == 38
    for r in ROWS:
        assert r["category"] == "kernel" and int(r["n_chips"]) == 1, r["id"]
        assert preset_for_hardware(r["hardware"])[0] == "mi355x", r["id"]


@pytest.mark.parametrize("rid", sorted(EXPECTED))
def test_row_matches_the_source(rid):
    prec, size, value, timing = EXPECTED[rid]
    r = BY_ID[rid]
    cfg = parse_config(r["config"])
    assert r["precision"] == prec and cfg["timing"] == timing and float(r["value"]) == pytest.approx(value, abs=5e-4)
    if size is not None:
        assert (int(cfg["m"]), int(cfg["n"]), int(cfg["k"])) == (size, size, size)
        assert COMMIT in r["source"] and "HazyResearch/HipKittens" in r["source"], rid
    else:
        b, h, kvh, s, dq, dv, causal, ref, _ = ATTN[int(rid[-3:]) - 31]
        assert (int(cfg["batch"]), int(cfg["heads"]), int(cfg["kv_heads"]), int(cfg["seq"]), int(cfg["head_dim"])) \
            == (b, h, kvh, s, dq)
        assert int(cfg.get("v_head_dim", dq)) == dv and (cfg["causal"] == "true") == bool(causal)
        assert "github.com/ROCm/aiter/pull/3390" in r["source"] and "2026-05-28" in r["source"], rid
        assert f"'Ref TFLOPS' column (before the PR) is {ref}" in r["notes"], rid


def test_torch_times_reproduce_the_printed_throughput():
    # the file's tflops is 2 N^3 over its mean time (ms): hand check at three sizes
    for s, ms in TORCH_MS.items():
        assert 2 * s ** 3 / (ms * 1e-3) / 1e12 == pytest.approx(BF16[s][0], rel=1e-9)


def test_attention_time_in_the_notes_is_the_prs_flops_over_its_tflops():
    # FLOPs = batch x q_nhead x (2 s^2 q_hdim + 2 s^2 v_hdim), halved when causal: 4 x 64 x 2 x 8192^2 x 256 / 2 at
    # 1278 TFLOP/s is 3441 us
    for i, (b, h, _, s, dq, dv, causal, _, tflops) in enumerate(ATTN):
        us = b * h * 2 * s * s * (dq + dv) * (0.5 if causal else 1.0) / (tflops * 1e12) * 1e6
        r = BY_ID[f"kernel-fresh15-{31 + i:03d}"]
        assert re.search(rf"kernel time implied {round(us)} us", r["notes"]), r["id"]


#: the torch.matmul rows, every one of the series (amd-cdna3's rule on tritonBLAS), fit amd-cdna4 since stop 50
CDNA4_FIT = {"kernel-fresh15-001", "kernel-fresh15-004", "kernel-fresh15-007", "kernel-fresh15-010", "kernel-fresh15-013"}


#: aiter's FMHA fwd v3 rows, every other from the first, fit amd-cdna4's attention ratio and overhead since stop 54 (the
#: NVIDIA families' native-kernel rule applied to AMD's, written after the held-out scores: fresh15_kc_scores.md)
CDNA4_ATTENTION_FIT = {"kernel-fresh15-031", "kernel-fresh15-033", "kernel-fresh15-035", "kernel-fresh15-037"}


def test_every_row_is_held_out_but_the_cdna4_fit_rows():
    ids = set(BY_ID)
    fit = CDNA4_FIT | CDNA4_ATTENTION_FIT
    assert ids & (kernel.FIT_IDS | comm.FIT_IDS) == fit
    assert CDNA4_FIT == {i for i in ids if "torch.matmul" in BY_ID[i]["model_or_kernel"]}
    aiter = [r["id"] for r in ROWS if "aiter FMHA fwd v3" in r["model_or_kernel"] and r["precision"] == "BF16"]
    assert len(aiter) == 8 and set(aiter[0::2]) == CDNA4_ATTENTION_FIT == set(kernel.CDNA4_AITER_FIT_IDS)
    for r in ROWS:
        assert ("Held out" in r["notes"]) != (r["id"] in CDNA4_FIT), r["id"]
        assert ("a fit row of amd-cdna4 attention" in r["notes"]) == (r["id"] in CDNA4_ATTENTION_FIT), r["id"]
    assert_unseen_rows_held_out(ids - fit, "-fresh15-")


def test_cdna4_attention_values_are_what_their_fit_gives():
    from fabless.perf.params import ChipParams

    fitted = kernel.calibrate()["amd-cdna4"]
    chip = ChipParams.from_chip("mi355x")
    assert fitted["attention_mma_ratio"] == pytest.approx(float(chip.attention_mma_ratio[0]), abs=0.003)
    assert fitted["attention_overhead_blocks"] == pytest.approx(float(chip.attention_overhead_blocks[0]), abs=0.01)
    # the held-out seq-512 row of the same assembly kernel (ROCm/FlyDSL pull request #629: 427.5 TFLOP/s, batch 8,
    # 64 heads, causal), which the overhead dominates, comes out within 5%
    row = next(r for r in kernel.kernel_rows() if r["id"] == "kernel-fresh16-206")
    assert float(row["value"]) == 427.5 and kernel.predict(row) == pytest.approx(427.5, rel=0.05)


def test_every_row_is_mapped_and_scored_once():
    text = SCORES.read_text()
    assert "First scores at commit 0613ecb" in text
    for r in ROWS:
        assert parse_config(r["config"])["timing"] in TIMING_METHODS, r["id"]
        assert kernel.predict(r) > 0, r["id"]
        assert len([ln for ln in text.splitlines() if ln.startswith(f"| {r['id']} |")]) == 1, r["id"]
