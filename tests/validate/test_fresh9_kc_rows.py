"""The ninth unseen-data check's kernel rows (published_fresh9_kc.csv): each cited with its repository, commit, URL and
date, values hand-copied below from the sources (DeepGEMM's dense-GEMM table, TileLang's two benchmark READMEs,
gaudi-perf's BF16 matmul table), TFLOP/s re-derived by hand where the source prints a time, every row mapped (a chip
preset and a timing method the kernel predictor accepts) and scored in fresh9_kc_scores.md, and none a fit row. The
simulator is not run here: the first scores are in fresh9_kc_scores.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fabless.measurements import MEASUREMENTS_DIR
from fabless.perf.params import TIMING_METHODS
from fabless.validate import comm, kernel
from fabless.validate.core import load_rows, parse_config
from fabless.validate.hardware_map import preset_for_hardware
from tests.conftest import assert_unseen_rows_held_out, rows_of

FILE = "published_fresh9_kc.csv"
ROWS, BY_ID = rows_of(FILE)
SCORES = Path(MEASUREMENTS_DIR) / "fresh9_kc_scores.md"

# deepseek-ai/DeepGEMM README.md at 55ab91f7, 'Normal GEMMs for dense models' (H800 SXM5, FP8):
# id -> (M, N, K, TFLOPS, GB/s)
DEEPGEMM = {
    "kernel-fresh9-001": (64, 2112, 7168, 206, 1688),
    "kernel-fresh9-002": (64, 24576, 1536, 289, 2455),
    "kernel-fresh9-003": (64, 32768, 512, 219, 2143),
    "kernel-fresh9-004": (64, 7168, 16384, 336, 2668),
    "kernel-fresh9-005": (64, 4096, 7168, 287, 2320),
    "kernel-fresh9-006": (64, 7168, 2048, 295, 2470),
    "kernel-fresh9-007": (128, 2112, 7168, 352, 1509),
    "kernel-fresh9-008": (128, 24576, 1536, 535, 2448),
    "kernel-fresh9-009": (128, 32768, 512, 358, 2103),
    "kernel-fresh9-010": (128, 7168, 16384, 645, 2604),
    "kernel-fresh9-011": (128, 4096, 7168, 533, 2221),
    "kernel-fresh9-012": (128, 7168, 2048, 510, 2277),
    "kernel-fresh9-013": (4096, 2112, 7168, 1009, 503),
    "kernel-fresh9-014": (4096, 24576, 1536, 1125, 893),
    "kernel-fresh9-015": (4096, 32768, 512, 751, 1569),
    "kernel-fresh9-016": (4096, 7168, 16384, 1426, 361),
    "kernel-fresh9-017": (4096, 4096, 7168, 1265, 485),
    "kernel-fresh9-018": (4096, 7168, 2048, 1168, 794),
}
# tile-ai/tilelang benchmark/matmul_fp8/README.md and benchmark/matmul/README.md at b2acfc37 (H800 SXM, M = N = 8192):
# id -> (precision, K, latency as printed (ms, column labelled '(s)'), TFLOPs)
TILELANG = {
    "kernel-fresh9-019": ("FP8", 256, 0.060352, 569),
    "kernel-fresh9-020": ("FP8", 512, 0.080096, 858),
    "kernel-fresh9-021": ("FP8", 1024, 0.121696, 1129),
    "kernel-fresh9-022": ("FP8", 2048, 0.204672, 1343),
    "kernel-fresh9-023": ("FP8", 4096, 0.374816, 1467),
    "kernel-fresh9-024": ("FP8", 8192, 0.729664, 1507),
    "kernel-fresh9-025": ("FP8", 16384, 1.427264, 1541),
    "kernel-fresh9-026": ("FP16", 256, 0.089056, 386),
    "kernel-fresh9-027": ("FP16", 512, 0.132064, 520),
    "kernel-fresh9-028": ("FP16", 1024, 0.218816, 628),
    "kernel-fresh9-029": ("FP16", 2048, 0.390112, 705),
    "kernel-fresh9-030": ("FP16", 4096, 0.746752, 736),
    "kernel-fresh9-031": ("FP16", 8192, 1.449888, 758),
    "kernel-fresh9-032": ("FP16", 16384, 2.871168, 766),
}
# NAVER-INTEL-Co-Lab/gaudi-perf matmul/README.md at f7be5e36, 'Results for BF16 matrix multiplication':
# (M, K, N) -> (Gaudi 2, A100, H100) Mean TFLOPS, in the table's order
GAUDI_PERF = {
    (16384, 8192, 1280): (395.4, 264.9, 754.0),
    (16384, 1024, 8192): (417.9, 235.9, 657.1),
    (16384, 8192, 7168): (425.2, 261.7, 700.7),
    (16384, 3584, 8192): (422.9, 257.1, 665.5),
    (4096, 4096, 4096): (408.2, 252.4, 748.4),
    (8192, 8192, 8192): (423.9, 263.6, 693.4),
    (16384, 16384, 16384): (379.8, 267.1, 688.9),
}
GP_IDS = {f"kernel-fresh9-{33 + 3 * i + j:03d}": (mkn, j) for i, mkn in enumerate(GAUDI_PERF) for j in range(3)}
GP_CHIP = ("gaudi2", "a100-sxm", "h100-sxm")

SOURCES = {  # name -> (URL, date, commit)
    "deepgemm": ("https://github.com/deepseek-ai/DeepGEMM/blob/55ab91f72f76e8a6db0e86282c3169a88d93df1b/README.md",
                 "2025-03-25", "55ab91f72f76e8a6db0e86282c3169a88d93df1b"),
    "tilelang": ("https://github.com/tile-ai/tilelang/blob/b2acfc3791d5ddeef3772214222461c85659c904/benchmark/",
                 "2025-10-19", "b2acfc3791d5ddeef3772214222461c85659c904"),
    "gaudiperf": ("https://github.com/NAVER-INTEL-Co-Lab/gaudi-perf/blob/f7be5e3653c3c1dadc8fd900b9a76c778d3ba601/matmul/README.md",
                  "2025-03-28", "f7be5e3653c3c1dadc8fd900b9a76c778d3ba601"),
}


def _source_of(rid: str) -> str:
    return "deepgemm" if rid in DEEPGEMM else "tilelang" if rid in TILELANG else "gaudiperf"


def test_the_file_holds_the_collected_rows():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) == len(DEEPGEMM) + len(TILELANG) + len(GP_IDS) == 53
    assert sorted(ids) == sorted([*DEEPGEMM, *TILELANG, *GP_IDS])
    for r in ROWS:
        assert r["category"] == "kernel" and r["id"].startswith("kernel-fresh9-"), r["id"]


def test_every_row_cites_its_url_commit_and_date():
    for r in ROWS:
        url, date, commit = SOURCES[_source_of(r["id"])]
        assert url in r["source"] and date in r["source"] and commit in r["source"], r["id"]
        assert re.search(r"20\d\d-\d\d-\d\d", r["source"]), (r["id"], "no date")
        assert r["notes"].strip() and ("Held out" in r["notes"] or r["id"] in GAUDI2_FIT), r["id"]


def test_no_reserved_or_already_cited_source():
    bad = ("ml-engineering", "flash-attention", "deepep", "perf-overview", "tpu-recipes", "mlcommons", "maxtext",
           "tiering", "intel-gaudi-3", "model-performance-data", "oracle", "hisohara", "gpu-tpu-pedia", "google/dranet")
    for r in ROWS:
        s = r["source"].lower()
        for b in bad:
            assert b not in s, (r["id"], b)
    # no earlier measurement file cites these publications
    for r in load_rows():
        if r["_file"] not in (FILE, "published_fresh9_infer.csv"):
            s = (r.get("source", "") + r.get("notes", "")).lower()
            for pub in ("deepgemm", "tile-ai/tilelang", "gaudi-perf", "naver-intel"):
                assert pub not in s, (r["id"], pub)


#: Gaudi 2 rows of the gaudi-perf table that fit intel-gaudi2 since stop 47, by the NVIDIA GEMM tables' rule: the shapes
#: with m, n and k each 4096 or more, and every other smaller one from the first (kernel-fresh9-036 held out)
GAUDI2_FIT = {"kernel-fresh9-039", "kernel-fresh9-045", "kernel-fresh9-048", "kernel-fresh9-051", "kernel-fresh9-033",
              "kernel-fresh9-042"}


def test_every_row_is_held_out_but_the_gaudi2_fit_rows():
    ids = set(BY_ID)
    assert ids & (kernel.FIT_IDS | comm.FIT_IDS) == GAUDI2_FIT
    gaudi = sorted(i for i in ids if "Gaudi 2" in BY_ID[i]["hardware"])
    small = [i for i in gaudi if min(int(parse_config(BY_ID[i]["config"])[d]) for d in "mnk") < kernel.LARGE_GEMM_DIM]
    assert GAUDI2_FIT == {i for i in gaudi if i not in small} | set(small[::2])
    for i in GAUDI2_FIT:  # each says so, with its first score
        assert "a fit row since stop 47" in BY_ID[i]["notes"], i
    assert_unseen_rows_held_out(ids, "-fresh9-")


@pytest.mark.parametrize("rid", sorted(DEEPGEMM))
def test_deepgemm_row_matches_the_source(rid):
    m, n, k, tflops, gbs = DEEPGEMM[rid]
    r = BY_ID[rid]
    cfg = parse_config(r["config"])
    assert (int(cfg["m"]), int(cfg["n"]), int(cfg["k"])) == (m, n, k)
    assert cfg["timing"] == "device_trace" and r["precision"] == "FP8" and int(r["n_chips"]) == 1
    assert float(r["value"]) == tflops
    assert f"Computation {tflops} TFLOPS, Memory bandwidth {gbs} GB/s" in r["notes"], rid
    assert "H800 SXM5" in r["hardware"] and preset_for_hardware(r["hardware"])[0] == "h100-sxm"


def test_deepgemm_bandwidth_column_is_consistent_with_its_tflops():
    # the test prints (m*k + k*n + m*n*2) / t bytes: the two columns imply the same time t to within the rounding
    for m, n, k, tflops, gbs in DEEPGEMM.values():
        t_flops = 2 * m * n * k / (tflops * 1e12)
        t_bytes = (m * k + k * n + m * n * 2) / (gbs * 1e9)
        assert t_flops == pytest.approx(t_bytes, rel=0.01), (m, n, k)


@pytest.mark.parametrize("rid", sorted(TILELANG))
def test_tilelang_row_matches_the_source(rid):
    prec, k, lat_ms, tflops = TILELANG[rid]
    r = BY_ID[rid]
    cfg = parse_config(r["config"])
    assert (int(cfg["m"]), int(cfg["n"]), int(cfg["k"])) == (8192, 8192, k)
    assert cfg["timing"] == "stream" and r["precision"] == prec and float(r["value"]) == tflops
    assert f"Latency {lat_ms}" in r["notes"], rid
    # the printed latency is in milliseconds: 2*M*N*K / t reproduces the printed throughput (rounded to a TFLOP)
    assert 2 * 8192 * 8192 * k / (lat_ms * 1e-3) / 1e12 == pytest.approx(tflops, abs=0.6)
    assert preset_for_hardware(r["hardware"])[0] == "h100-sxm"


@pytest.mark.parametrize("rid", sorted(GP_IDS))
def test_gaudi_perf_row_matches_the_source(rid):
    (m, k, n), j = GP_IDS[rid]
    r = BY_ID[rid]
    cfg = parse_config(r["config"])
    assert (int(cfg["m"]), int(cfg["n"]), int(cfg["k"])) == (m, n, k)
    assert cfg["timing"] == "stream" and r["precision"] == "BF16"
    assert float(r["value"]) == GAUDI_PERF[(m, k, n)][j]
    assert preset_for_hardware(r["hardware"])[0] == GP_CHIP[j], rid
    # the README's MFU column = mean / peak (432, 312, 989.4), copied into the notes
    peak = (432, 312, 989.4)[j]
    assert f"Peak TFLOPS {peak:g}" in r["notes"] or f"Peak TFLOPS {peak}" in r["notes"], rid
    # (the README computes it from the unrounded mean: 748.4 / 989.4 = 75.64% is printed 75.7%, so within 0.1)
    mfu = float(re.search(r"MFU ([\d.]+)%", r["notes"]).group(1))
    assert abs(mfu - GAUDI_PERF[(m, k, n)][j] / peak * 100) <= 0.1 + 1e-9, rid


def test_every_row_is_mapped_and_scored_once():
    text = SCORES.read_text()
    assert "First scores at commit c3c984e" in text
    for r in ROWS:
        cfg = parse_config(r["config"])
        assert cfg["timing"] in TIMING_METHODS, r["id"]
        assert r["model_or_kernel"].lower().startswith("gemm") and "tflop" in r["metric"].lower(), r["id"]
        preset_for_hardware(r["hardware"])  # raises Unmapped if the row had no chip preset
        line = [ln for ln in text.splitlines() if ln.startswith(f"| {r['id']} |")]
        assert len(line) == 1, r["id"]
        measured = line[0].split("|")[4].strip()
        assert float(measured) == float(r["value"]), r["id"]
        assert re.search(r"\| [+-]\d+\.\d%\s*\|$", line[0]), r["id"]  # a signed first score, not a skip
