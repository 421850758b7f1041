"""The third unseen-data check's kernel and collective rows (published_fresh3_kc.csv): each with its URL and a
repository commit and date, every value hand-copied below from its source, TFLOP/s and busbw re-derived by hand
from the printed times and algbw, every row picked up and predicted (none is skipped), and none a fit row."""

from __future__ import annotations

import math
import re

import pytest

from fabless.validate import comm, kernel
from fabless.validate.core import load_rows, parse_config
from fabless.validate.hardware_map import preset_for_hardware
from tests.conftest import rows_of

FILE = "published_fresh3_kc.csv"
ROWS, BY_ID = rows_of(FILE)

# Hand-copied GEMM rows: id -> (chip preset, M, N, K, timing, time in seconds as printed, TFLOP/s in the CSV)
GEMM = {
    # pytorch/ao PR #2427 description: bench_matmul.py on an NVIDIA B200, the torch.bfloat16 lines (time_sec, tops/sec)
    "kernel-fresh3-001": ("b200", 1024, 1024, 1024, "device_trace", 5.08e-06, 423.0),
    "kernel-fresh3-002": ("b200", 1536, 1536, 1536, "device_trace", 7.87e-06, 921.0),
    "kernel-fresh3-003": ("b200", 2048, 2048, 2048, "device_trace", 1.52e-05, 1130.0),
    "kernel-fresh3-004": ("b200", 3072, 3072, 3072, "device_trace", 3.84e-05, 1510.0),
    "kernel-fresh3-005": ("b200", 4096, 4096, 4096, "device_trace", 9.74e-05, 1410.0),
    "kernel-fresh3-006": ("b200", 6144, 6144, 6144, "device_trace", 3.19e-04, 1450.0),
    "kernel-fresh3-007": ("b200", 8192, 8192, 8192, "device_trace", 7.74e-04, 1420.0),
    # yangwhale/gpu-tpu-pedia chay_gemm_benchmark_simple results_v6e.csv (legacy perf_counter timing)
    "kernel-fresh3-008": ("tpu-v6e", 128, 8192, 8192, "wall_sync", 211.6613183170557e-6, 81.17),
    "kernel-fresh3-009": ("tpu-v6e", 512, 8192, 8192, "wall_sync", 228.35581563413143e-6, 300.93),
    "kernel-fresh3-010": ("tpu-v6e", 2048, 8192, 8192, "wall_sync", 460.8795326203108e-6, 596.42),
    "kernel-fresh3-011": ("tpu-v6e", 8192, 8192, 8192, "wall_sync", 1645.7434184849262e-6, 668.09),
    # ... results_v7.csv (legacy timing, one Ironwood chiplet)
    "kernel-fresh3-012": ("tpu-v7-chiplet", 128, 8192, 8192, "wall_sync", 191.78552000084892e-6, 89.58),
    "kernel-fresh3-013": ("tpu-v7-chiplet", 512, 8192, 8192, "wall_sync", 196.5871100037475e-6, 349.56),
    "kernel-fresh3-014": ("tpu-v7-chiplet", 2048, 8192, 8192, "wall_sync", 446.1408899987873e-6, 616.12),
    "kernel-fresh3-015": ("tpu-v7-chiplet", 8192, 8192, 8192, "wall_sync", 1449.9184600026638e-6, 758.33),
    # ... results_v7_trace.csv (trace timing, one Ironwood chiplet)
    "kernel-fresh3-016": ("tpu-v7-chiplet", 8192, 8192, 8192, "device_trace", 1016.8463385000001e-6, 1081.30),
    "kernel-fresh3-017": ("tpu-v7-chiplet", 12288, 12288, 12288, "device_trace", 3381.9429775e-6, 1097.25),
    "kernel-fresh3-018": ("tpu-v7-chiplet", 16384, 16384, 16384, "device_trace", 7971.2911165e-6, 1103.47),
    # ... results_trace_test.csv (trace timing, v6e)
    "kernel-fresh3-019": ("tpu-v6e", 8192, 8192, 8192, "device_trace", 1510.9437500000001e-6, 727.70),
}
# the TFLOP/s columns of the TPU result files as written (the CSV rounds them to 0.01)
TPU_TFLOPS = {
    "kernel-fresh3-008": 81.16678720797537, "kernel-fresh3-009": 300.9315814671495,
    "kernel-fresh3-010": 596.4202953018839, "kernel-fresh3-011": 668.0941970821989,
    "kernel-fresh3-012": 89.57855204044577, "kernel-fresh3-013": 349.5624750508312,
    "kernel-fresh3-014": 616.1235455121523, "kernel-fresh3-015": 758.3265253233482,
    "kernel-fresh3-016": 1081.295753494027, "kernel-fresh3-017": 1097.2543796368607,
    "kernel-fresh3-018": 1103.4715573240978, "kernel-fresh3-019": 727.6985842629813,
}

# Hand-copied nccl-tests all_gather_perf rows (out-of-place columns) from google/dranet's docs:
# id -> (ranks, nodes, per-node ranks or None for one node, size in bytes, config msg_size, time us, algbw, busbw)
ALLGATHER = {
    # site/content/docs/user/gke-rdma.md: 2 pods x 8 B200
    "comm-fresh3-001": (16, 2, 8, 1048576, "1MiB", 998.2, 1.05, 0.98),
    "comm-fresh3-002": (16, 2, 8, 67108864, "64MiB", 1621.8, 41.38, 38.79),
    "comm-fresh3-003": (16, 2, 8, 1073741824, "1GiB", 4057.5, 264.63, 248.09),
    "comm-fresh3-004": (16, 2, 8, 8589934592, "8GiB", 30970, 277.36, 260.03),
    # site/content/docs/user/nvidia-dranet.md: one pod, 2 B200 of one node
    "comm-fresh3-005": (2, 1, None, 67108864, "64MiB", 100.1, 670.29, 335.14),
    "comm-fresh3-006": (2, 1, None, 1073741824, "1GiB", 1186.1, 905.28, 452.64),
    "comm-fresh3-007": (2, 1, None, 8589934592, "8GiB", 8897.6, 965.42, 482.71),
    # ... two pods, one B200 rank each on different nodes
    "comm-fresh3-008": (2, 2, 1, 1048576, "1MiB", 46.45, 22.58, 11.29),
    "comm-fresh3-009": (2, 2, 1, 67108864, "64MiB", 1019.6, 65.82, 32.91),
    "comm-fresh3-010": (2, 2, 1, 1073741824, "1GiB", 14640, 73.35, 36.67),
}

#: Rows collected but not predicted, with the reason (none in this batch: every row's hardware has a preset).
SKIPPED: dict[str, str] = {}

SOURCES = {  # id prefix range -> (URL text, commit the row cites)
    "pytorch/ao": ("https://github.com/pytorch/ao/pull/2427", "faf788a1752dd8fbe3c529e6fe3612e68324651f"),
    "yangwhale/gpu-tpu-pedia": ("github.com/yangwhale/gpu-tpu-pedia", "3fa9ce174583eba63032ed504a05793fe8bd520b"),
    "google/dranet": ("github.com/google/dranet", "7b7661a153a6815194e957bd33147b538675e56e"),
}


def _source_of(rid: str) -> str:
    if rid.startswith("comm-"):
        return "google/dranet"
    return "pytorch/ao" if int(rid.rsplit("-", 1)[1]) <= 7 else "yangwhale/gpu-tpu-pedia"


def test_the_file_holds_the_collected_rows():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) == len(GEMM) + len(ALLGATHER)
    assert sorted(ids) == sorted([*GEMM, *ALLGATHER])
    for r in ROWS:
        assert r["category"] == r["id"].split("-")[0], r["id"]


def test_every_row_cites_its_url_commit_and_date():
    for r in ROWS:
        url, commit = SOURCES[_source_of(r["id"])]
        assert url in r["source"], (r["id"], url)
        assert f"commit {commit}" in r["source"], (r["id"], commit)
        assert re.search(r"commit [0-9a-f]{40}", r["source"]), r["id"]
        assert re.search(r"20\d\d-\d\d-\d\d", r["source"]), (r["id"], "no date")
        assert r["notes"].strip() and "Held out" in r["notes"], r["id"]


def test_no_reserved_or_already_held_source():
    # shared/RESERVED.md and the sources the earlier measurement files already cite
    bad = ("ml-engineering", "flash-attention", "deepep", "perf-overview", "tpu-recipes", "ai-benchmarking-guide",
           "accelerator-microbenchmarks", "coreweave/nccl-tests", "marin", "triton-distributed", "dstack", "crickett-hpe",
           "hisohara", "learn-cuda", "fast.cu", "pallas", "mlcommons", "maxtext")
    for r in ROWS:
        s = r["source"].lower()
        for b in bad:
            assert b not in s, (r["id"], b)
    # and no earlier file cites these three repositories (later batches may take other documents of them:
    # the sixth batch's training rows read pytorch/ao's float8 README, not the pull request read here)
    for r in load_rows():
        later = re.match(r"published_fresh(\d+)_", r["_file"])
        if not (later and int(later.group(1)) >= 3):
            s = r.get("source", "").lower()
            for repo in ("pytorch/ao", "gpu-tpu-pedia", "google/dranet"):
                assert repo not in s, (r["id"], repo)


def test_every_row_is_held_out():
    for r in ROWS:
        assert r["id"] not in kernel.FIT_IDS | comm.FIT_IDS, r["id"]


@pytest.mark.parametrize("rid", sorted(GEMM))
def test_gemm_row_matches_the_source(rid):
    preset, m, n, k, timing, _, value = GEMM[rid]
    r = BY_ID[rid]
    assert float(r["value"]) == pytest.approx(value, abs=1e-9)
    assert preset_for_hardware(r["hardware"])[0] == preset
    cfg = parse_config(r["config"])
    assert (int(cfg["m"]), int(cfg["n"]), int(cfg["k"])) == (m, n, k)
    assert cfg["timing"] == timing
    assert r["precision"] == "BF16" and r["metric"] == "achieved TFLOP/s" and r["model_or_kernel"].startswith("GEMM")


def test_gemm_tflops_from_the_printed_times_by_hand():
    # 2 M N K / time; e.g. 2 x 1024^3 = 2,147,483,648 FLOP in 5.08 us = 423 TFLOP/s
    assert 2 * 1024**3 == 2_147_483_648 and 2 * 128 * 8192 * 8192 == 17_179_869_184
    for rid, (_, m, n, k, _, t, value) in GEMM.items():
        rel = 0.006 if _source_of(rid) == "pytorch/ao" else 1e-9  # torchao prints 3 significant figures
        assert 2 * m * n * k / t / 1e12 == pytest.approx(value if rid not in TPU_TFLOPS else TPU_TFLOPS[rid], rel=rel), rid
    for rid, full in TPU_TFLOPS.items():
        assert float(BY_ID[rid]["value"]) == pytest.approx(full, abs=0.005), rid


@pytest.mark.parametrize("rid", sorted(ALLGATHER))
def test_allgather_row_matches_the_output(rid):
    ranks, nodes, per_node, size, label, t, algbw, busbw = ALLGATHER[rid]
    r = BY_ID[rid]
    assert float(r["value"]) == busbw and int(r["n_chips"]) == ranks
    cfg = parse_config(r["config"])
    assert cfg["msg_size"] == label and int(cfg["gpus"]) == ranks
    if per_node is None:
        assert "nodes" not in cfg and "single node" in r["config"]
    else:
        assert int(cfg["nodes"]) == nodes and int(cfg["per_node"]) == per_node
    assert {"MiB": 2**20, "GiB": 2**30}[label[-3:]] * int(label[:-3]) == size
    assert f"size {size} B" in r["notes"] and f"algbw {algbw:.2f}" in r["notes"] and f"time {t} us" in r["notes"]
    assert "b200" in r["hardware"].lower() and r["metric"] == "busbw (GB/s)" and "all_gather" in r["model_or_kernel"]


def test_allgather_busbw_and_algbw_by_hand():
    # nccl-tests all_gather: algbw = size / time, busbw = algbw x (n-1)/n; 16 ranks -> 0.9375, 2 ranks -> 0.5
    assert 15 / 16 == 0.9375
    for rid, (ranks, _, _, size, _, t, algbw, busbw) in ALLGATHER.items():
        assert algbw * (ranks - 1) / ranks == pytest.approx(busbw, abs=0.011), rid
        assert size / (t * 1e-6) / 1e9 == pytest.approx(algbw, rel=0.005, abs=0.01), rid


@pytest.mark.parametrize("rid", sorted(GEMM))
def test_every_kernel_row_is_predicted(rid):
    assert rid not in SKIPPED
    v = kernel.predict(BY_ID[rid])
    assert v is not None and math.isfinite(v) and v > 0


@pytest.mark.parametrize("rid", sorted(ALLGATHER))
def test_every_comm_row_is_predicted(rid):
    assert rid not in SKIPPED
    v = comm.predict(BY_ID[rid])
    assert v is not None and math.isfinite(v) and v > 0


def test_the_scores_file_lists_every_row_once():
    from pathlib import Path

    import fabless

    text = (Path(fabless.__file__).parent / "data" / "measurements" / "fresh3_kc_scores.md").read_text()
    assert "first scores at commit 7c39fa5, before any change" in text.lower()
    for rid in [*GEMM, *ALLGATHER]:
        assert text.count(f"| {rid} |") == 1, rid
