"""The sixth unseen-data check's kernel and collective rows (published_fresh6_kc.csv): each with its URL and a date
(and, for the repository file, its commit), every value hand-copied below from its source, TFLOP/s and busbw
re-derived by hand, every row either mapped (a chip preset with a timing method, or a system preset) or skipped with
its reason, and none a fit row. The simulator is not run here: the first scores are in fresh6_kc_scores.md."""

from __future__ import annotations

import re

import pytest

from fabless.validate import comm, kernel
from fabless.validate.core import parse_config
from fabless.validate.hardware_map import preset_for_hardware
from tests.conftest import assert_cited_only_by, assert_unseen_rows_held_out, rows_of

FILE = "published_fresh6_kc.csv"
ROWS, BY_ID = rows_of(FILE)

# tmoreau89/triton python/triton_cublas_bench: RESULTS.md 'Prod cuBLAS' (rounded, as printed) and
# prod_benchmark_results2/*_results.csv cublas_tflops (as printed): id -> (precision, K, RESULTS.md, CSV)
GEMM = {
    "kernel-fresh6-001": ("FP16", 128, 493, 492.9041923198754),
    "kernel-fresh6-002": ("FP16", 256, 845, 845.4252491115337),
    "kernel-fresh6-003": ("FP16", 384, 1073, 1072.8628877910512),
    "kernel-fresh6-004": ("FP16", 512, 1222, 1221.7073962124193),
    "kernel-fresh6-005": ("FP16", 640, 1313, 1312.9638476822618),
    "kernel-fresh6-006": ("FP16", 768, 1342, 1341.8016098718417),
    "kernel-fresh6-007": ("FP16", 896, 1373, 1373.3451375444138),
    "kernel-fresh6-008": ("FP16", 1024, 1389, 1389.3427661032504),
    "kernel-fresh6-009": ("FP8", 128, 647, 647.1911004697179),
    "kernel-fresh6-010": ("FP8", 256, 1102, 1102.4978083034066),
    "kernel-fresh6-011": ("FP8", 384, 1521, 1521.1786607678207),
    "kernel-fresh6-012": ("FP8", 512, 1950, 1950.2326223695034),
    "kernel-fresh6-013": ("FP8", 640, 2300, 2299.9886834338713),
    "kernel-fresh6-014": ("FP8", 768, 2608, 2607.8646329869034),
    "kernel-fresh6-015": ("FP8", 896, 2730, 2729.7503024072057),
    "kernel-fresh6-016": ("FP8", 1024, 2770, 2770.042099089022),
    "kernel-fresh6-017": ("MXFP8", 8192, 2886, 2886.078892565633),
    "kernel-fresh6-018": ("MXFP8", 16384, 2810, 2809.7430754473353),
}
# ROCm/rccl issue #1562, 2025-02-22 comment: out-of-place columns of all_reduce_perf -b 8 -e 128M -f 2 -g 8 on 8 MI300X VFs
# id -> (size label, bytes, time us, algbw, busbw, metric kind)
ALLREDUCE = {
    "comm-fresh6-001": ("8B", 8, 45.92, 0.00, 0.00, "time"),
    "comm-fresh6-002": ("1KiB", 1024, 52.41, 0.02, 0.03, "time"),
    "comm-fresh6-003": ("64KiB", 65536, 55.40, 1.18, 2.07, "time"),
    "comm-fresh6-004": ("1MiB", 1048576, 65.38, 16.04, 28.07, "busbw"),
    "comm-fresh6-005": ("4MiB", 4194304, 65.52, 64.01, 112.03, "busbw"),
    "comm-fresh6-006": ("16MiB", 16777216, 152.7, 109.84, 192.22, "busbw"),
    "comm-fresh6-007": ("64MiB", 67108864, 431.9, 155.39, 271.93, "busbw"),
    "comm-fresh6-008": ("128MiB", 134217728, 801.4, 167.47, 293.07, "busbw"),
}

#: Rows collected but not predicted, with the reason.
SKIPPED: dict[str, str] = {
    rid: "MXFP8 block-scaled GEMM (E8M0 scale per 32 elements): the kernel model has no MXFP8 rate "
         "(kernel.predict models bf16/fp16/fp8/fp32/tf32 operands only)"
    for rid in ("kernel-fresh6-017", "kernel-fresh6-018")
}

TRITON_COMMIT = "bb85df3f64a2563fc448bc0f6f3af28f1436c60b"
SOURCES = {  # name -> (URL text, date, commit or None)
    "triton": (f"https://github.com/tmoreau89/triton/blob/{TRITON_COMMIT}/python/triton_cublas_bench/RESULTS.md",
               "2025-10-10", TRITON_COMMIT),
    "rccl": ("https://github.com/ROCm/rccl/issues/1562", "2025-02-22", None),
}


def test_the_file_holds_the_collected_rows():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) == len(GEMM) + len(ALLREDUCE) == 26
    assert sorted(ids) == sorted([*GEMM, *ALLREDUCE])
    for r in ROWS:
        assert r["category"] == r["id"].split("-")[0], r["id"]


def test_every_row_cites_its_url_and_date():
    for r in ROWS:
        url, date, commit = SOURCES["triton" if r["id"] in GEMM else "rccl"]
        assert url in r["source"] and date in r["source"], r["id"]
        if commit:
            assert f"commit {commit}" in r["source"], r["id"]
        assert re.search(r"20\d\d-\d\d-\d\d", r["source"]), (r["id"], "no date")
        assert r["notes"].strip() and "Held out" in r["notes"], r["id"]


def test_no_reserved_or_already_cited_source():
    bad = ("ml-engineering", "flash-attention", "deepep", "perf-overview", "tpu-recipes", "ai-benchmarking-guide",
           "accelerator-microbenchmarks", "mlcommons", "maxtext", "tiering", "gpu-tpu-pedia", "google/dranet",
           "hisohara", "learn-cuda", "dstack", "marin", "triton-distributed", "coreweave", "crickett-hpe", "rocm-blogs",
           "rocm.blogs", "tritonbench", "jetstream-pytorch", "oci-gpu-quickstarts", "oracle", "aiconfigurator", "axlearn")
    for r in ROWS:
        s = r["source"].lower()
        for b in bad:
            assert b not in s, (r["id"], b)
    # no earlier measurement file cites these publications
    assert_cited_only_by(FILE, ("tmoreau89", "rccl/issues/1562", "rccl issue #1562"))


def test_every_row_is_held_out():
    ids = {r["id"] for r in ROWS}
    assert not ids & (kernel.FIT_IDS | comm.FIT_IDS)
    assert_unseen_rows_held_out(ids, "-fresh6-")


@pytest.mark.parametrize("rid", sorted(GEMM))
def test_gemm_row_matches_the_source(rid):
    prec, k, shown, csv_value = GEMM[rid]
    r = BY_ID[rid]
    cfg = parse_config(r["config"])
    assert (int(cfg["m"]), int(cfg["n"]), int(cfg["k"])) == (8192, 8192, k)
    assert cfg["timing"] == "stream" and r["precision"] == prec and int(r["n_chips"]) == 1
    assert r["metric"] == "achieved TFLOP/s" and r["model_or_kernel"].lower().startswith("gemm")
    assert float(r["value"]) == round(csv_value, 2)
    assert round(csv_value) == shown  # RESULTS.md prints the CSV value rounded
    assert f"'Prod cuBLAS' {shown:,} TFLOPS" in r["notes"] and repr(csv_value) in r["notes"], rid


def test_gemm_arithmetic_by_hand():
    # TFLOP/s = 2*M*N*K / time: at K = 1024 the FP16 cuBLAS GEMM took 2*8192*8192*1024 / 1389.34e12 s = 98.9 us
    flops = 2 * 8192 * 8192 * 1024
    assert flops == 137438953472
    assert flops / 1389.3427661032504e12 * 1e6 == pytest.approx(98.92, abs=0.01)
    # and the FP8 one at K = 1024 half of that time to within 0.5%: 2770.04 / 1389.34 = 1.994
    assert 2770.042099089022 / 1389.3427661032504 == pytest.approx(1.994, abs=0.001)
    # RESULTS.md's 'cuBLAS vs Triton' column at FP16 K=1024: 1389 / 1198 - 1 = +16%
    assert round((1389.3427661032504 / 1197.5180982524246 - 1) * 100) == 16


@pytest.mark.parametrize("rid", sorted(ALLREDUCE))
def test_allreduce_row_matches_the_source(rid):
    label, size, t, algbw, busbw, kind = ALLREDUCE[rid]
    r = BY_ID[rid]
    cfg = parse_config(r["config"])
    assert cfg["msg_size"] == label and int(cfg["gpus"]) == int(r["n_chips"]) == 8 and "single node" in r["config"]
    assert "all_reduce" in r["model_or_kernel"]
    assert f"size {size} B" in r["notes"] and f"time {t:g} us" in r["notes"]
    if kind == "time":
        assert r["metric"] == "all-reduce time (us)" and float(r["value"]) == t
    else:
        assert r["metric"] == "busbw (GB/s)" and float(r["value"]) == busbw


def test_busbw_and_algbw_by_hand():
    # rccl-tests: algbw = bytes / time, all-reduce busbw = algbw x 2(n-1)/n, n = 8 -> x 1.75
    assert 2 * 7 / 8 == 1.75
    for rid, (_, size, t, algbw, busbw, _) in ALLREDUCE.items():
        assert algbw * 1.75 == pytest.approx(busbw, abs=0.02), rid
        if size >= 2**20:
            assert size / (t * 1e-6) / 1e9 == pytest.approx(algbw, rel=0.005), rid
    # 128 MiB: 134217728 B / 801.4 us = 167.48 GB/s
    assert 134217728 / 801.4e-6 / 1e9 == pytest.approx(167.48, abs=0.01)


def test_every_row_maps_or_is_skipped_with_a_reason():
    for r in ROWS:
        rid = r["id"]
        if rid in SKIPPED:
            assert len(SKIPPED[rid]) > 60, rid
            assert "Not predicted" in r["notes"], rid
            assert r["precision"].lower() not in kernel._DTYPES, rid
            continue
        assert "Not predicted" not in r["notes"], rid
        if r["category"] == "kernel":
            assert preset_for_hardware(r["hardware"])[0] == "b200"
            assert r["precision"].lower() in kernel._DTYPES
            assert parse_config(r["config"])["timing"] in ("stream", "wall_sync", "device_trace")
        else:
            system = comm.system_for_row(r)
            assert system is not None and system.name == "mi300x-8", rid
    assert set(SKIPPED) == {"kernel-fresh6-017", "kernel-fresh6-018"}


def test_the_scores_file_lists_every_row_once():
    from pathlib import Path

    import fabless

    text = (Path(fabless.__file__).parent / "data" / "measurements" / "fresh6_kc_scores.md").read_text()
    assert "first scores at commit d98cd4d" in text.lower()
    for rid in [*GEMM, *ALLREDUCE]:
        assert text.count(f"| {rid} |") == 1, rid
