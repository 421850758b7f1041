"""The seventh unseen-data check's kernel and collective rows (published_fresh7_kc.csv): each with its URL and a date
(and, for repository files, the commit), every value hand-copied below from its source, TFLOP/s and busbw re-derived
by hand from the printed times and algbw, every row either mapped (a chip preset with a timing method, or a system
preset) or skipped with its reason, and none a fit row. The simulator is not run here: the first scores are in
fresh7_kc_scores.md."""

from __future__ import annotations

import re

import pytest

from fabless.validate import comm, kernel
from fabless.validate.core import parse_config
from fabless.validate.hardware_map import preset_for_hardware
from tests.conftest import assert_cited_only_by, assert_unseen_rows_held_out, rows_of

FILE = "published_fresh7_kc.csv"
ROWS, BY_ID = rows_of(FILE)

# ROCm blog 'FP8 GEMM Optimization on AMD CDNA4 Architecture', Table 5, row 'hipBLASLt' (MI355X, FP8 E4M3FN in, BF16 out):
# id -> (M = N = K, Avg ms, Avg TFLOPS/s)
GEMM = {
    "kernel-fresh7-001": (4096, 0.04997, 2750.42),
    "kernel-fresh7-002": (8192, 0.351, 3130.21),
}
# HazyResearch/HipKittens kernels/attn/gqa/README.md 'Performance (MI300X, B=4, H=32, H_KV=8, N=1024)':
# id -> (head_dim, column, value, kernel TFLOPS, PyTorch SDPA TFLOPS)
ATTN = {
    "kernel-fresh7-003": (128, "kernel", 69.0, 69.0, 55.4),
    "kernel-fresh7-004": (64, "kernel", 72.7, 72.7, 53.0),
    "kernel-fresh7-005": (128, "sdpa", 55.4, 69.0, 55.4),
    "kernel-fresh7-006": (64, "sdpa", 53.0, 72.7, 53.0),
}
# lessizzmore/create-a3mega-ztan-fork ztan-NCCL-test-result: out-of-place columns of all_reduce_perf -b 8 -e 8G -f 2 -g 1,
# 16 ranks on 2 A3 Mega VMs x 8 H100: id -> (size label, bytes, time us, algbw, busbw, metric kind)
A3 = {
    "comm-fresh7-001": ("8B", 8, 135.8, 0.00, 0.00, "time"),
    "comm-fresh7-002": ("1KiB", 1024, 147.1, 0.01, 0.01, "time"),
    "comm-fresh7-003": ("64KiB", 65536, 159.4, 0.41, 0.77, "time"),
    "comm-fresh7-004": ("1MiB", 1048576, 203.2, 5.16, 9.68, "busbw"),
    "comm-fresh7-005": ("4MiB", 4194304, 364.6, 11.50, 21.57, "busbw"),
    "comm-fresh7-006": ("16MiB", 16777216, 977.6, 17.16, 32.18, "busbw"),
    "comm-fresh7-007": ("64MiB", 67108864, 1261.6, 53.20, 99.74, "busbw"),
    "comm-fresh7-008": ("256MiB", 268435456, 2360.9, 113.70, 213.19, "busbw"),
    "comm-fresh7-009": ("1GiB", 1073741824, 6759.0, 158.86, 297.86, "busbw"),
    "comm-fresh7-010": ("8GiB", 8589934592, 47535, 180.71, 338.82, "busbw"),
}
# ROCm/system-acceptance-docs docs/common/rccl-benchmarking.md 'Example output' (8 MI350X, -g 8): same layout
SA = {
    "comm-fresh7-011": ("8B", 8, 58.63, 0.00, 0.00, "time"),
    "comm-fresh7-012": ("8GiB", 8589934592, 41644, 206.27, 360.97, "busbw"),
}

#: Rows collected but not predicted, with the reason.
SKIPPED: dict[str, str] = {
    **{rid: "PyTorch reference path (K/V repeat_interleave, fp32 casts, fp32 scaled_dot_product_attention, cast back) timed as "
            "one span: not a single flash-style attention kernel, and fp32 (kernel.predict skips it)"
       for rid in ("kernel-fresh7-005", "kernel-fresh7-006")},
    **{rid: "AMD Instinct MI350X: fabless.validate.comm.HARDWARE_SYSTEMS maps no MI350X system (nor MI355X/MI325X), so "
            "comm.predict has no system for this 8-GPU xGMI node"
       for rid in SA},
}

SOURCES = {  # name -> (URL text, date, commit)
    "blog": ("https://rocm.blogs.amd.com/software-tools-optimization/cdna4-gemm-kernels/README.html", "2026-03-10",
             "c9ef8066b5803794cc6f661c5f0d450153fd3a5c"),
    "hk": ("https://github.com/HazyResearch/HipKittens/blob/74edb5332599ae828e4d72fee6ee666a0c88357f/kernels/attn/gqa/README.md",
           "2026-12-05", "74edb5332599ae828e4d72fee6ee666a0c88357f"),
    "a3": ("https://github.com/lessizzmore/create-a3mega-ztan-fork/blob/02dd8f455c43ced1cf442ef29334bda97149264b/ztan-NCCL-test-result",
           "2025-04-02", "02dd8f455c43ced1cf442ef29334bda97149264b"),
    "sa": ("https://instinct.docs.amd.com/projects/system-acceptance/en/latest/common/rccl-benchmarking.html", "2026-01-05",
           "1d91a6f159868cfeab24cf251f9c048592fc363d"),
}


def _source_of(rid: str) -> str:
    return "blog" if rid in GEMM else "hk" if rid in ATTN else "a3" if rid in A3 else "sa"


def test_the_file_holds_the_collected_rows():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) == len(GEMM) + len(ATTN) + len(A3) + len(SA) == 18
    assert sorted(ids) == sorted([*GEMM, *ATTN, *A3, *SA])
    for r in ROWS:
        assert r["category"] == r["id"].split("-")[0], r["id"]


def test_every_row_cites_its_url_and_date():
    for r in ROWS:
        url, date, commit = SOURCES[_source_of(r["id"])]
        assert url in r["source"] and date in r["source"], r["id"]
        assert commit in r["source"], r["id"]
        assert re.search(r"20\d\d-\d\d-\d\d", r["source"]), (r["id"], "no date")
        assert r["notes"].strip() and "Held out" in r["notes"], r["id"]


def test_no_reserved_or_already_cited_source():
    bad = ("ml-engineering", "flash-attention", "deepep", "perf-overview", "tpu-recipes", "ai-benchmarking-guide",
           "accelerator-microbenchmarks", "mlcommons", "maxtext", "tiering", "gpu-tpu-pedia", "google/dranet",
           "hisohara", "learn-cuda", "dstack", "marin", "triton-distributed", "coreweave", "crickett-hpe", "tritonbench",
           "jetstream-pytorch", "oci-gpu-quickstarts", "oracle", "aiconfigurator", "axlearn", "tmoreau89", "rccl/issues/1562",
           "measuring-max-achievable-flops", "mi300x-rccl-xgmi", "aiter")
    for r in ROWS:
        s = r["source"].lower()
        for b in bad:
            assert b not in s, (r["id"], b)
    # no earlier measurement file cites these publications (published_cdna3_gemm.csv and published_fresh15_kc.csv,
    # later, read HipKittens' MI300X and MI355X GEMM results, other documents of the same repository)
    assert_cited_only_by(FILE, ("cdna4-gemm-kernels", "hipkittens", "lessizzmore", "create-a3mega", "system-acceptance"),
                         also=("cdna3_gemm", "fresh15_kc"))


def test_every_row_is_held_out():
    ids = {r["id"] for r in ROWS}
    assert not ids & (kernel.FIT_IDS | comm.FIT_IDS)
    assert_unseen_rows_held_out(ids, "-fresh7-")


@pytest.mark.parametrize("rid", sorted(GEMM))
def test_gemm_row_matches_the_source(rid):
    n, ms, tflops = GEMM[rid]
    r = BY_ID[rid]
    cfg = parse_config(r["config"])
    assert (int(cfg["m"]), int(cfg["n"]), int(cfg["k"])) == (n, n, n)
    assert cfg["timing"] == "stream" and r["precision"] == "FP8" and int(r["n_chips"]) == 1
    assert r["metric"] == "achieved TFLOP/s" and r["model_or_kernel"].lower().startswith("gemm")
    assert float(r["value"]) == tflops
    assert f"Avg ms {ms:g}" in r["notes"] or f"Avg ms {ms}" in r["notes"], rid
    assert "ROCm 7.1.0" in r["notes"] and "--rotating 512" in r["notes"]


def test_gemm_arithmetic_by_hand():
    # TFLOP/s = 2*M*N*K / t: 2 * 4096^3 = 137438953472 FLOP in 0.04997 ms -> 2750.4 TFLOP/s
    assert 2 * 4096**3 == 137438953472
    assert 137438953472 / 0.04997e-3 / 1e12 == pytest.approx(2750.42, abs=0.1)
    # 2 * 8192^3 = 1099511627776 FLOP in 0.351 ms -> 3132.5 TFLOP/s; the table prints 3130.21 (its ms is rounded to 3 digits)
    assert 1099511627776 / 0.351e-3 / 1e12 == pytest.approx(3130.21, rel=0.002)
    # the post's text rounds them: '~2750' and '~3130 TFLOPS/s'
    assert round(2750.42, -1) == 2750 and round(3130.21, -1) == 3130


@pytest.mark.parametrize("rid", sorted(ATTN))
def test_attention_row_matches_the_source(rid):
    d, col, value, kern, ref = ATTN[rid]
    r = BY_ID[rid]
    cfg = parse_config(r["config"])
    assert (int(cfg["batch"]), int(cfg["heads"]), int(cfg["kv_heads"]), int(cfg["seq"]), int(cfg["head_dim"])) == (4, 32, 8, 1024, d)
    assert cfg["causal"] == "false" and cfg["timing"] == "stream"
    assert float(r["value"]) == value and r["metric"] == "achieved TFLOP/s"
    assert f"'D={d} non-causal'" in r["notes"]
    if col == "kernel":
        assert "flashattention" in r["model_or_kernel"].lower() and r["precision"] == "BF16"
        assert f"Speedup {round(kern / ref, 2)}x" in r["notes"]
    else:
        assert "flashattention" not in r["model_or_kernel"].lower()


def test_attention_arithmetic_by_hand():
    # test_python.py: FLOPs = 4*B*H*N^2*D; at D=128: 4*4*32*1024^2*128 = 68719476736 -> 69.0 TFLOPS is 0.996 ms
    flops = 4 * 4 * 32 * 1024**2 * 128
    assert flops == 68719476736
    assert flops / 69.0e12 * 1e3 == pytest.approx(0.996, abs=0.001)
    # the README's speedup column is kernel / reference: 69.0 / 55.4 = 1.25, 72.7 / 53.0 = 1.37
    assert round(69.0 / 55.4, 2) == 1.25 and round(72.7 / 53.0, 2) == 1.37


@pytest.mark.parametrize("rid", sorted({**A3, **SA}))
def test_allreduce_row_matches_the_source(rid):
    label, size, t, algbw, busbw, kind = {**A3, **SA}[rid]
    r = BY_ID[rid]
    cfg = parse_config(r["config"])
    n = 16 if rid in A3 else 8
    assert cfg["msg_size"] == label and int(cfg["gpus"]) == int(r["n_chips"]) == n
    assert "all_reduce" in r["model_or_kernel"]
    assert f"size {size} B" in r["notes"] and f"time {t:g} us" in r["notes"]
    if kind == "time":
        assert r["metric"] == "all-reduce time (us)" and float(r["value"]) == t
    else:
        assert r["metric"] == "busbw (GB/s)" and float(r["value"]) == busbw


def test_busbw_and_algbw_by_hand():
    # nccl-tests / rccl-tests: algbw = bytes / time, all-reduce busbw = algbw x 2(n-1)/n
    for table, n in ((A3, 16), (SA, 8)):
        factor = 2 * (n - 1) / n
        for rid, (_, size, t, algbw, busbw, _) in table.items():
            assert algbw * factor == pytest.approx(busbw, abs=0.03), rid
            if size >= 2**20:
                assert size / (t * 1e-6) / 1e9 == pytest.approx(algbw, rel=0.005), rid
    # 8 GiB over 16 H100s: 8589934592 B / 47535 us = 180.71 GB/s, x 1.875 = 338.8 GB/s
    assert 8589934592 / 47535e-6 / 1e9 == pytest.approx(180.71, abs=0.01)
    assert 180.71 * 1.875 == pytest.approx(338.83, abs=0.01)


def test_every_row_maps_or_is_skipped_with_a_reason():
    for r in ROWS:
        rid = r["id"]
        if rid in SKIPPED:
            assert len(SKIPPED[rid]) > 60, rid
            assert "Not predicted" in r["notes"], rid
            if r["category"] == "comm":
                assert comm.system_for_row(r) is None, rid
            else:
                assert r["precision"].lower() not in kernel._DTYPES, rid
            continue
        assert "Not predicted" not in r["notes"], rid
        if r["category"] == "kernel":
            assert preset_for_hardware(r["hardware"])[0] == ("mi355x" if rid in GEMM else "mi300x"), rid
            assert r["precision"].lower() in kernel._DTYPES
            assert parse_config(r["config"])["timing"] in ("stream", "wall_sync", "device_trace")
        else:
            system = comm.system_for_row(r)
            assert system is not None and system.name == "dgx-h100", rid
    assert set(SKIPPED) == {"kernel-fresh7-005", "kernel-fresh7-006", "comm-fresh7-011", "comm-fresh7-012"}


def test_the_scores_file_lists_every_row_once():
    from pathlib import Path

    import fabless

    text = (Path(fabless.__file__).parent / "data" / "measurements" / "fresh7_kc_scores.md").read_text()
    assert "first scores at commit fb8bd6f" in text.lower()
    for rid in [*GEMM, *ATTN, *A3, *SA]:
        assert text.count(f"| {rid} |") == 1, rid
