"""The fourth unseen-data check's kernel and collective rows (published_fresh4_kc.csv): each with its URL and a date
(and the repository commit where the source is a file), every value hand-copied below from its source, TFLOP/s and
busbw re-derived by hand from the printed times and algbw, every row either mapped to a preset (kernel) or system
(comm) or skipped with its reason, and none a fit row. The simulator is not run here: the first scores are in
fresh4_kc_scores.md."""

from __future__ import annotations

import re

import pytest

from fabless.validate import comm, kernel
from fabless.validate.core import parse_config
from fabless.validate.hardware_map import Unmapped, preset_for_hardware
from tests.conftest import assert_cited_only_by, assert_unseen_rows_held_out, rows_of

FILE = "published_fresh4_kc.csv"
ROWS, BY_ID = rows_of(FILE)

# Hand-copied GEMM rows: id -> (chip preset or None, precision, M, N, K, timing, value in the CSV)
GEMM = {
    # ROCm blog 'Measuring Max-Achievable FLOPs - Part 2', Table 1 (hipblaslt-bench, Appendix B shapes)
    "kernel-fresh4-001": ("mi300x", "FP16", 4096, 4864, 32896, "stream", 654.0),
    "kernel-fresh4-002": ("mi300x", "BF16", 4096, 4864, 32896, "stream", 708.0),
    "kernel-fresh4-003": ("mi300x", "FP8", 4096, 3648, 32896, "stream", 1273.0),
    "kernel-fresh4-004": ("mi325x", "FP16", 4096, 4864, 32896, "stream", 794.0),
    "kernel-fresh4-005": ("mi325x", "BF16", 4096, 4864, 32896, "stream", 843.0),
    "kernel-fresh4-006": ("mi325x", "FP8", 4096, 3648, 32896, "stream", 1519.0),
    # meta-pytorch/tritonbench PR #1009: B200 aten_matmul (fp16 default precision, triton_do_bench)
    "kernel-fresh4-007": ("b200", "FP16", 8192, 8192, 1024, "stream", 714.28),
    "kernel-fresh4-008": ("b200", "FP16", 8192, 8192, 2048, "stream", 836.248),
    "kernel-fresh4-009": ("b200", "FP16", 8192, 8192, 4096, "stream", 913.191),
    "kernel-fresh4-010": ("b200", "FP16", 8192, 8192, 8192, "stream", 933.638),
    "kernel-fresh4-011": ("b200", "FP16", 8192, 8192, 16384, "stream", 911.073),
    "kernel-fresh4-012": ("b200", "FP16", 1000000, 512, 512, "stream", 605.89),
    # AI-Hypercomputer/jetstream-pytorch PR #168: v5litepod-8 'Matmul replicated' (L = 1 << 15)
    "kernel-fresh4-013": ("tpu-v5e", "BF16", 32768, 32768, 32768, "wall_sync", 160.6),
    "kernel-fresh4-014": ("tpu-v5e", "INT8", 32768, 32768, 32768, "wall_sync", 377.44),
    # meta-pytorch/tritonbench PR #1230: MI350X ATen addmm (no preset)
    "kernel-fresh4-015": (None, "FP16", 1024, 896, 1840, "stream", 154.923),
    "kernel-fresh4-016": (None, "FP16", 1024, 1536, 2048, "stream", 291.836),
    "kernel-fresh4-017": (None, "FP16", 1024, 6144, 512, "stream", 230.972),
}
# printed times the TFLOP/s were derived from or agree with: id -> seconds
GEMM_TIMES = {
    "kernel-fresh4-007": 0.192416e-3, "kernel-fresh4-008": 0.328704e-3, "kernel-fresh4-009": 0.602016e-3,
    "kernel-fresh4-010": 1.177664e-3, "kernel-fresh4-011": 2.413664e-3, "kernel-fresh4-012": 0.865312e-3,
    "kernel-fresh4-013": 438.17e-3, "kernel-fresh4-014": 186.436e-3,
}

# Hand-copied rccl-tests all_reduce_perf rows (out-of-place) of the ROCm xGMI blog, 8 MI300X:
# id -> (config msg_size, size in bytes, time us, algbw, busbw, metric value)
ALLREDUCE = {
    "comm-fresh4-001": ("1MiB", 1048576, 27.42, 38.25, 66.93, 66.93),
    "comm-fresh4-002": ("8MiB", 8388608, 83.68, 100.24, 175.43, 175.43),
    "comm-fresh4-003": ("64MiB", 67108864, 429.1, 156.38, 273.66, 273.66),
    "comm-fresh4-004": ("512MiB", 536870912, 3026.2, 177.41, 310.46, 310.46),
    "comm-fresh4-005": ("4GiB", 4294967296, 23680, 181.37, 317.40, 317.40),
    "comm-fresh4-006": ("16GiB", 17179869184, 94254, 182.27, 318.98, 318.98),
    "comm-fresh4-007": ("1KiB", 1024, 13.11, 0.08, 0.14, 13.11),
    "comm-fresh4-008": ("64KiB", 65536, 13.77, 4.76, 8.33, 13.77),
}
# jetstream-pytorch PR #168 collectives on v5litepod-8: id -> (msg_size, time in ms as printed)
TPU_COLL = {"comm-fresh4-009": ("256MiB", 8.25386), "comm-fresh4-010": ("2GiB", 68.3381)}

#: Rows collected but not predicted, with the reason.
SKIPPED: dict[str, str] = {
    "kernel-fresh4-014": "int8 matmul: the kernel model has no int8 rate (kernel.predict skips precision INT8)",
    "kernel-fresh4-015": "AMD Instinct MI350X: no chip preset (the hardware map names only 'Instinct MI355X', a higher-clocked part)",
    "kernel-fresh4-016": "AMD Instinct MI350X: no chip preset (the hardware map names only 'Instinct MI355X', a higher-clocked part)",
    "kernel-fresh4-017": "AMD Instinct MI350X: no chip preset (the hardware map names only 'Instinct MI355X', a higher-clocked part)",
    "comm-fresh4-009": "TPU v5e 8-chip slice: fabless.validate.comm.HARDWARE_SYSTEMS maps no v5e system (v5p, v6e, TPU7x only)",
    "comm-fresh4-010": "TPU v5e 8-chip slice: fabless.validate.comm.HARDWARE_SYSTEMS maps no v5e system (v5p, v6e, TPU7x only)",
}

SOURCES = {  # name -> (URL text, commit the row cites or None, date)
    "maf": ("https://rocm.blogs.amd.com/software-tools-optimization/measuring-max-achievable-flops-part2/README.html",
            "8e011952aebcdc6ad86b42f5ee236136aa8765dd", "2025-02-28"),
    "tb1009": ("https://github.com/meta-pytorch/tritonbench/pull/1009", None, "2026-04-13"),
    "js168": ("https://github.com/AI-Hypercomputer/jetstream-pytorch/pull/168", "2647408239fdf9f5df1d42f3db05cb4a6cb13612", "2024-08-06"),
    "tb1230": ("https://github.com/meta-pytorch/tritonbench/pull/1230", None, "2026-08-17"),
    "rccl": ("https://rocm.blogs.amd.com/software-tools-optimization/mi300x-rccl-xgmi/README.html",
             "0e81c2ca45881844429731ad502be4a839ca96f0", "2025-03-02"),
}


def _source_of(rid: str) -> str:
    n = int(rid.rsplit("-", 1)[1])
    if rid.startswith("comm-"):
        return "js168" if n >= 9 else "rccl"
    if n <= 6:
        return "maf"
    if n <= 12:
        return "tb1009"
    return "js168" if n <= 14 else "tb1230"


def test_the_file_holds_the_collected_rows():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) == len(GEMM) + len(ALLREDUCE) + len(TPU_COLL) == 27
    assert sorted(ids) == sorted([*GEMM, *ALLREDUCE, *TPU_COLL])
    for r in ROWS:
        assert r["category"] == r["id"].split("-")[0], r["id"]


def test_every_row_cites_its_url_and_date():
    for r in ROWS:
        url, commit, date = SOURCES[_source_of(r["id"])]
        assert url in r["source"], (r["id"], url)
        assert date in r["source"], (r["id"], date)
        if commit is not None:
            assert f"commit {commit}" in r["source"], (r["id"], commit)
        assert re.search(r"20\d\d-\d\d-\d\d", r["source"]), (r["id"], "no date")
        assert r["notes"].strip() and "Held out" in r["notes"], r["id"]


def test_no_reserved_or_already_cited_source():
    bad = ("ml-engineering", "flash-attention", "deepep", "perf-overview", "tpu-recipes", "ai-benchmarking-guide",
           "accelerator-microbenchmarks", "mlcommons", "maxtext", "tiering", "pytorch/ao", "gpu-tpu-pedia", "google/dranet",
           "hisohara", "learn-cuda", "dstack", "marin", "triton-distributed", "coreweave", "crickett-hpe")
    for r in ROWS:
        s = r["source"].lower()
        for b in bad:
            assert b not in s, (r["id"], b)
    # no earlier measurement file cites these publications (later batches may read other documents of the same
    # repositories: the seventh and eighth batches read other rocm-blogs posts, the sixteenth other tritonbench threads)
    assert_cited_only_by(FILE, ("rocm-blogs", "rocm.blogs", "meta-pytorch/tritonbench", "jetstream-pytorch"),
                         also=("fresh7", "fresh8", "fresh16"))


def test_every_row_is_held_out():
    ids = {r["id"] for r in ROWS}
    assert not ids & (kernel.FIT_IDS | comm.FIT_IDS)
    assert_unseen_rows_held_out(ids, "-fresh4-")


@pytest.mark.parametrize("rid", sorted(GEMM))
def test_gemm_row_matches_the_source_and_maps(rid):
    preset, prec, m, n, k, timing, value = GEMM[rid]
    r = BY_ID[rid]
    assert float(r["value"]) == pytest.approx(value, abs=1e-9)
    cfg = parse_config(r["config"])
    assert (int(cfg["m"]), int(cfg["n"]), int(cfg["k"])) == (m, n, k)
    assert cfg["timing"] == timing
    assert r["precision"] == prec and r["metric"] == "achieved TFLOP/s"
    assert r["model_or_kernel"].lower().startswith("gemm")
    if preset is None:
        with pytest.raises(Unmapped):
            preset_for_hardware(r["hardware"])
    else:
        assert preset_for_hardware(r["hardware"])[0] == preset


def test_gemm_tflops_from_the_printed_times_by_hand():
    # 2 M N K / time: 2 x 8192 x 8192 x 1024 = 137,438,953,472 FLOP in 0.192416 ms = 714.28 TFLOP/s
    assert 2 * 8192 * 8192 * 1024 == 137_438_953_472
    assert 2 * 32768**3 == 70_368_744_177_664  # the v5e replicated matmul, L = 1 << 15
    for rid, t in GEMM_TIMES.items():
        _, _, m, n, k, _, value = GEMM[rid]
        assert 2 * m * n * k / t / 1e12 == pytest.approx(value, rel=2e-4), rid
    # the MAF sample output (Appendix B): 2 x 4096 x 4864 x 32896 in 1848.09 us = 709.3 TFLOP/s, the table's 708
    assert 2 * 4096 * 4864 * 32896 / 1848.09e-6 / 1e12 == pytest.approx(709.258, rel=1e-3)


@pytest.mark.parametrize("rid", sorted(ALLREDUCE))
def test_allreduce_row_matches_the_output(rid):
    label, size, t, algbw, busbw, value = ALLREDUCE[rid]
    r = BY_ID[rid]
    assert float(r["value"]) == value and int(r["n_chips"]) == 8
    cfg = parse_config(r["config"])
    assert cfg["msg_size"] == label and int(cfg["gpus"]) == 8 and "single node" in r["config"]
    assert {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[label[-3:]] * int(label[:-3]) == size
    assert f"size {size} B" in r["notes"] and f"time {t} us" in r["notes"]
    assert r["metric"] == ("busbw (GB/s)" if value == busbw else "all-reduce time (us)")
    assert comm.system_for_row(r).name == "mi300x-8" and "all_reduce" in r["model_or_kernel"]


def test_allreduce_busbw_and_algbw_by_hand():
    # rccl-tests all_reduce: algbw = size / time, busbw = algbw x 2 (n-1)/n; 8 ranks -> 1.75
    assert 2 * 7 / 8 == 1.75
    for rid, (_, size, t, algbw, busbw, _) in ALLREDUCE.items():
        assert algbw * 1.75 == pytest.approx(busbw, abs=0.02), rid
        assert size / (t * 1e-6) / 1e9 == pytest.approx(algbw, rel=0.005, abs=0.01), rid


@pytest.mark.parametrize("rid", sorted(TPU_COLL))
def test_tpu_collective_rows_match_the_output(rid):
    label, ms = TPU_COLL[rid]
    r = BY_ID[rid]
    assert float(r["value"]) == pytest.approx(ms * 1000, abs=1e-6) and int(r["n_chips"]) == 8
    assert parse_config(r["config"])["msg_size"] == label
    # a 32768 x 32768 bf16 array is 2 GiB; its shard on each of 8 chips is 256 MiB
    assert 32768 * 32768 * 2 == 2 * 2**30 and 2 * 2**30 // 8 == 256 * 2**20
    assert comm.system_for_row(r) is None


def test_every_row_maps_or_is_skipped_with_a_reason():
    for r in ROWS:
        rid = r["id"]
        if rid in SKIPPED:
            assert len(SKIPPED[rid]) > 60, rid
            assert "Not predicted" in r["notes"], rid
            continue
        assert "Not predicted" not in r["notes"], rid
        if r["category"] == "kernel":
            preset_for_hardware(r["hardware"])  # raises Unmapped if not
            assert parse_config(r["config"])["timing"] in ("stream", "wall_sync", "device_trace")
        else:
            assert comm.system_for_row(r) is not None, rid
    assert set(SKIPPED) == {"kernel-fresh4-014", "kernel-fresh4-015", "kernel-fresh4-016", "kernel-fresh4-017",
                            "comm-fresh4-009", "comm-fresh4-010"}


def test_the_scores_file_lists_every_row_once():
    from pathlib import Path

    import fabless

    text = (Path(fabless.__file__).parent / "data" / "measurements" / "fresh4_kc_scores.md").read_text()
    assert "first scores at commit aeb695a" in text.lower()
    for rid in [*GEMM, *ALLREDUCE, *TPU_COLL]:
        assert text.count(f"| {rid} |") == 1, rid
