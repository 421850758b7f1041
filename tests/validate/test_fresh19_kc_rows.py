"""The nineteenth unseen-data check's kernel rows (published_fresh19_kc.csv): cuDNN's fused RMSNorm and LayerNorm
kernels, forward and backward, on GB200, GB300 and H200, from NVIDIA/cudnn-frontend's committed norm results, each
cited with its file and commit; the byte counts and values checked by hand against the source's printed times; the
fit rows are the ones fresh19_kc_scores.md's second rule names, every other row held out."""

from __future__ import annotations

import pytest

from fabless.validate import kernel
from fabless.validate.core import parse_config
from fabless.validate.hardware_map import preset_for_hardware
from tests.conftest import assert_unseen_rows_held_out, rows_of

FILE = "published_fresh19_kc.csv"
ROWS, BY_ID = rows_of(FILE)
COMMIT = "df73764adb98b7445b77662ce07b1ea434c8f3ee"

# NVIDIA/cudnn-frontend benchmark/norms/results/<chip>/all_models_*.csv at df73764a, backend cudnn, bfloat16:
# (chip, norm_name) -> (N, C, fwd_time_ms, bwd_time_ms, fwd_gbps, bwd_gbps), copied from the files
SOURCE = {
    ("gb200", "llama3-8b"): (16384, 4096, 0.042, 0.065, 6424.6, 6187.3),
    ("gb200", "gpt3-175b"): (1024, 12288, 0.013, 0.053, 3758.4, 1413.4),
    ("gb300", "llama31-405b"): (4096, 16384, 0.044, 0.082, 6079.4, 4896.8),
    ("h200", "llama3-70b"): (8192, 8192, 0.071, 0.114, 3770.9, 3526.2),
}
IDS = {("gb200", "llama3-8b"): (1, 2), ("gb200", "gpt3-175b"): (9, 10), ("gb300", "llama31-405b"): (35, 36),
       ("h200", "llama3-70b"): (63, 64)}
#: the fit rows of the batch's second rule (written before the fit): each family's backward rows of its first product
#: in the file at hidden >= 2048, every other from the first (GB200 -> nvidia-blackwell, H200 -> nvidia-hopper)
FIT = {f"kernel-fresh19-{i:03d}" for i in (2, 6, 10, 14, 18, 26, 62, 66, 70, 74, 78, 86)}


def _bytes_by_hand(layer: bool, n: int, c: int, bwd: bool) -> int:
    # the script's count (benchmark_single_norm.py compute_bandwidth_bytes), bf16 (2 bytes), fp32 statistics
    stats = n * 4 * (2 if layer else 1)  # LayerNorm: mean and inverse variance; RMSNorm: inverse RMS
    params = c * 2 * (2 if layer else 1)  # the gain, and LayerNorm's bias
    if not bwd:
        return n * c * 2 + params + n * c * 2 + stats
    return 2 * n * c * 2 + c * 2 + stats + n * c * 2 + params


def test_the_file_holds_the_collected_rows():
    assert len(ROWS) == 90 and [r["id"] for r in ROWS] == [f"kernel-fresh19-{i:03d}" for i in range(1, 91)]
    presets = [preset_for_hardware(r["hardware"])[0] for r in ROWS]
    assert presets == ["gb200"] * 30 + ["gb300"] * 30 + ["h200-sxm"] * 30
    for r in ROWS:
        cfg = parse_config(r["config"])
        assert r["category"] == "kernel" and r["precision"] == "BF16" and cfg["timing"] == "device_trace", r["id"]
        assert f"@ {COMMIT}" in r["source"] and "benchmark/norms/results/" in r["source"], r["id"]
        assert cfg["pass"] == ("fwd" if int(r["id"][-3:]) % 2 else "bwd"), r["id"]
        assert r["model_or_kernel"].startswith(("RMSNorm", "LayerNorm")) and "cuDNN 9.19.1" in r["model_or_kernel"]


@pytest.mark.parametrize("key", sorted(SOURCE))
def test_rows_match_the_source_by_hand(key):
    n, c, fwd_ms, bwd_ms, fwd_gbps, bwd_gbps = SOURCE[key]
    layer = key[1] == "gpt3-175b"
    for rid, bwd, ms, gbps in zip(IDS[key], (False, True), (fwd_ms, bwd_ms), (fwd_gbps, bwd_gbps)):
        r = BY_ID[f"kernel-fresh19-{rid:03d}"]
        cfg = parse_config(r["config"])
        assert (int(cfg["rows"]), int(cfg["hidden"])) == (n, c) and r["model_or_kernel"].startswith(
            "LayerNorm" if layer else "RMSNorm")
        nbytes = _bytes_by_hand(layer, n, c, bwd)
        assert int(cfg["bytes"]) == nbytes
        assert float(r["value"]) == pytest.approx(gbps, abs=0.05)
        # the printed time (three decimals of a millisecond) agrees with the printed bandwidth
        assert nbytes / (gbps * 1e9) * 1e3 == pytest.approx(ms, abs=5e-4)


def test_the_fit_rows_are_the_rules_and_the_rest_held_out():
    assert set(kernel.NORM_BWD_FIT_IDS) == FIT and FIT <= kernel.FIT_IDS
    for rid in FIT:
        cfg = parse_config(BY_ID[rid]["config"])
        assert cfg["pass"] == "bwd" and int(cfg["hidden"]) >= 2048
        assert preset_for_hardware(BY_ID[rid]["hardware"])[0] in ("gb200", "h200-sxm")
    assert_unseen_rows_held_out(set(BY_ID) - FIT, "kernel-fresh19-")


def test_shipped_partials_are_the_fit():
    fitted = kernel.calibrate()
    from fabless.perf.params import ChipParams
    for preset, fam in (("gb200", "nvidia-blackwell"), ("h200-sxm", "nvidia-hopper")):
        assert float(ChipParams.from_chip(preset).norm_bwd_partials_per_core[0]) == fitted[fam]["norm_bwd_partials_per_core"]


def test_held_out_wide_backward_rows_within_ten_percent():
    # the held-out GB200 and H200 backward rows at hidden >= 4096 and 8192 rows (kernel-fresh19-004, -008, -064, -068:
    # 5200.5, 4950.7, 3526.2 and 3658.5 GB/s in the source) are predicted within 10% with the partial sums
    for rid, measured in (("kernel-fresh19-004", 5200.5), ("kernel-fresh19-008", 4950.7),
                          ("kernel-fresh19-064", 3526.2), ("kernel-fresh19-068", 3658.5)):
        assert kernel.predict(BY_ID[rid]) == pytest.approx(measured, rel=0.10), rid
