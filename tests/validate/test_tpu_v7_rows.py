"""TPU7x (Ironwood) per-device kernel rows (published_tpu_v7_kernel.csv): AI-Hypercomputer's
accelerator-microbenchmarks tables, each row cited with its commit, the values copied by hand here,
mapped to the tpu-v7-chiplet preset (one JAX device) and predicted, not skipped. The HBM rows are
held out; the GEMM table's rows are fit rows of google-tpu by the NVIDIA GEMM tables' rule, but for
256 and 1024 cubed, held out."""

from __future__ import annotations

import csv
import re
from importlib import resources
from pathlib import Path

import pytest

from fabless.validate import kernel
from fabless.validate.core import load_rows, parse_config
from fabless.validate.hardware_map import preset_for_hardware

MEAS = Path(str(resources.files("fabless") / "data" / "measurements"))
ROWS = list(csv.DictReader(open(MEAS / "published_tpu_v7_kernel.csv", encoding="utf-8")))
BY_ID = {r["id"]: r for r in ROWS}

# Copied by hand from Ironwood/Ironwood_Microbenchmarks_readme.md ('GEMM': m=n=k -> TFLOP/s/device) and
# Ironwood/guides/hbm/hbm.md (array bytes -> GB/s/core) at commit 9706b0e2.
GEMM = {128: 2.589961271, 256: 18.28645367, 512: 105.0783466, 1024: 349.7270639, 2048: 679.284728,
        4096: 892.9445127, 16384: 950.1286983, 32768: 956.3824592}
HBM = {2097152: 1379.335021, 4194304: 2249.746091, 8388608: 2246.129937, 16777216: 2757.308985,
       33554432: 3009.83593, 67108864: 3097.217778, 134217728: 3176.50274, 268435456: 3167.144485,
       536870912: 3199.020504, 1073741824: 3198.414211, 2147483648: 3203.486119, 4294967296: 3197.879607,
       8589934592: 3210.480912}


def test_rows_match_the_hand_copy_and_are_unique():
    assert len(BY_ID) == len(ROWS) == len(GEMM) + len(HBM)
    others = {r["id"] for r in load_rows() if r["_file"] != "published_tpu_v7_kernel.csv"}
    assert not set(BY_ID) & others
    got_gemm = {int(parse_config(r["config"])["m"]): float(r["value"]) for r in ROWS if r["model_or_kernel"].startswith("GEMM")}
    got_hbm = {int(parse_config(r["config"])["bytes"]): float(r["value"]) for r in ROWS if r["model_or_kernel"].startswith("HBM")}
    assert got_gemm == GEMM and got_hbm == HBM


def test_rows_are_sourced_with_a_commit_held_out_and_on_one_chiplet():
    for r in ROWS:
        assert re.search(r"github\.com/AI-Hypercomputer/accelerator-microbenchmarks commit [0-9a-f]{40}", r["source"]), r["id"]
        assert re.search(r"\b20\d\d-\d\d-\d\d\b", r["source"]) and r["notes"].strip(), r["id"]
        assert preset_for_hardware(r["hardware"])[0] == "tpu-v7-chiplet" and int(r["n_chips"]) == 1


def test_fit_rows_follow_the_gemm_tables_rule():
    # the rule of the NVIDIA GEMM tables (validate/kernel.py FIT_IDS): every shape with m, n and k each 4096 or
    # more sets the efficiency; of the smaller ones, every other one from the first sets the exposed panels
    gemm = sorted((r for r in ROWS if r["model_or_kernel"].startswith("GEMM")), key=lambda r: r["id"])
    small = [r["id"] for r in gemm if int(parse_config(r["config"])["m"]) < kernel.LARGE_GEMM_DIM]
    large = [r["id"] for r in gemm if r["id"] not in small]
    assert {r["id"] for r in ROWS} & kernel.FIT_IDS == set(large) | set(small[::2])
    assert small[1::2] == ["kernel-v7-002", "kernel-v7-004"]
    assert not {r["id"] for r in ROWS if r["model_or_kernel"].startswith("HBM")} & kernel.FIT_IDS
    for r in gemm:  # each fit row's notes say so, with its first score
        assert ("a fit row since stop 47" in r["notes"]) == (r["id"] in kernel.FIT_IDS), r["id"]


def test_held_out_mid_sizes_within_fifteen_percent():
    # 256 and 1024 cubed, held out: 1.8 and 6.1 us on the device, where the plain max of the math and the traffic
    # is 40% to 75% short of the measurement (stop 46: +30% and +77% in TFLOP/s); the unoverlapped K panels
    # (families.yaml google-tpu gemm_exposed_steps) bring both within 15%
    for rid in ("kernel-v7-002", "kernel-v7-004"):
        assert abs(kernel.predict(BY_ID[rid]) / float(BY_ID[rid]["value"]) - 1) < 0.15, rid


def test_measurements_stay_under_one_devices_peaks():
    # half a chip: 2307 / 2 TFLOPS bf16 and 7380 / 2 GB/s of HBM
    for r in ROWS:
        cap = 1153.5 if r["model_or_kernel"].startswith("GEMM") else 3690
        assert 0 < float(r["value"]) < cap, r["id"]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["id"])
def test_the_kernel_model_predicts_each_row_below_the_device_peak(row):
    pred = kernel.predict(row)
    cap = 1153.5 if row["model_or_kernel"].startswith("GEMM") else 3690
    assert 0 < pred <= cap


def test_large_shapes_within_ten_percent():
    # Where fixed costs are small (GEMM m=n=k >= 4096, copies of >= 64 MiB) the device's rates set the time.
    for r in ROWS:
        cfg = parse_config(r["config"])
        big = int(cfg["m"]) >= 4096 if "m" in cfg else int(cfg["bytes"]) >= 2**26
        if big:
            assert abs(kernel.predict(r) / float(r["value"]) - 1) < 0.10, r["id"]


# The all-gather guide's 2x2x1 rows (Ironwood/guides/collectives/all_gather.md at 9706b0e2):
# elements of the f32 input per device -> (achieved GB/s, transferred GB), as printed.
AG = {65536: (71.7703034, 0.001572864), 262144: (129.1869148, 0.006291456), 1048576: (161.9040742, 0.025165824),
      4194304: (174.765465, 0.100663296), 16777216: (178.7714158, 0.402653184)}
COMM = list(csv.DictReader(open(MEAS / "published_tpu_v7_comm.csv", encoding="utf-8")))


def test_allgather_rows_are_the_printed_transfer_over_the_printed_bandwidth():
    from fabless.validate import comm
    assert len(COMM) == len(AG)
    for r, (elements, (bw, gb)) in zip(COMM, sorted(AG.items())):
        # the benchmark's transferred data for a parallel group of 4: input x (4 - 1) x 2 groups, f32
        assert gb == pytest.approx(elements * 4 * 3 * 2 / 1e9)
        assert float(r["value"]) == pytest.approx(gb / bw * 1e6, abs=1e-4), r["id"]  # rounded to 0.1 ns
        cfg = parse_config(r["config"])
        assert cfg["msg_size"] == f"{4 * elements * 4}B" and cfg["shape"] == "1x2x2" and int(r["n_chips"]) == 4
        assert r["id"] not in comm.FIT_IDS and re.search(r"commit [0-9a-f]{40}", r["source"])
        assert preset_for_hardware(r["hardware"])[0] == "tpu-v7"
        assert comm.predict(r) > 0


def test_large_allgather_is_the_shared_ici_link_by_hand():
    # 4 devices, one per chip of the 2x2 host, one chiplet plane: two 2-device dimensions, each joined by one
    # 200 GB/s ICI link shared with the other plane's group: 50e9 B/s each way per device and axis. Each device
    # receives 3/4 of the gathered S from its 2 neighbours at once: 0.75 S / (2 x 50e9) = 0.375 S / 50e9
    # (collectives.md's torus rings: share 0 moves 1/2 of S/2 along x, then 1/2 of S/4 along y).
    from fabless.perf.collectives import load_params, scale_up_params
    from fabless.validate import comm
    r = COMM[-1]
    S = 4 * 16777216 * 4
    fab, _, _ = scale_up_params("ICI", load_params())
    assert comm.predict(r) * 1e-6 == pytest.approx(0.375 * S / (50e9 * fab.bw_efficiency), rel=0.01)
