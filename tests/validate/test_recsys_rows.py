"""Recommendation rows (published_recsys.csv): derived values checked by hand."""

from __future__ import annotations

import csv

import pytest

from fabless.estimate.engine import estimate
from fabless.estimate.scenario import scenario_from_dict
from fabless.measurements import MEASUREMENTS_DIR
from fabless.validate.recsys import mapping


def _rows() -> dict[str, dict]:
    with open(MEASUREMENTS_DIR / "published_recsys.csv", newline="") as f:
        return {r["id"]: r for r in csv.DictReader(f)}


def test_mlperf_dlrm_v2_pairs_per_second_by_hand():
    # MLPerf's DLRM-v2 sample is a user with 100..700 items; the benchmark draws each size from the
    # 20 quantiles of mlcommons/inference recommendation/dlrm_v2/pytorch/tools/dist_quantile.txt
    quantiles = [100, 100, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 300, 300, 400, 500, 600, 700]
    pairs_per_sample = sum(quantiles) / len(quantiles)
    assert pairs_per_sample == 270
    row = _rows()["recsys-012"]
    assert float(row["value"]) == pytest.approx(70346.2 * pairs_per_sample, abs=1)  # 'Samples per second: 70346.2'
    assert "3c4a1cf196b70175cfe7c59e067cd1d923aa4f3f" in row["source"]


def test_mtia_per_watt_row_compares_accelerator_tdp_only():
    # Meta: 6x throughput and 1.5x perf/W at the platform level, so the platforms' power grew 4x
    # (hosts included); fabless's perf/W counts only the accelerators: 24 x 90 W / (12 x 25 W) = 7.2x,
    # so its perf/W ratio is its throughput ratio / 7.2 whatever the step model gives
    rows = _rows()
    assert float(rows["recsys-010"]["value"]) / float(rows["recsys-011"]["value"]) == pytest.approx(4.0)
    num, den = mapping()["recsys-011"]["ratio"]
    a, b = (estimate(scenario_from_dict(dict(s))).metrics for s in (num, den))
    assert a["samples_per_s_per_w"] / b["samples_per_s_per_w"] == pytest.approx(
        a["samples_per_s"] / b["samples_per_s"] * (12 * 25) / (24 * 90), rel=1e-9)


@pytest.mark.parametrize("row_id,samples_per_s,gpus", [("recsys-013", 595658, 8), ("recsys-014", 637342, 8),
                                                      ("recsys-015", 86731.2, 1)])
def test_mlperf_v41_dlrm_v2_rows_by_hand(row_id, samples_per_s, gpus):
    # inference_results_v4.1 closed/NVIDIA/results/<system>/dlrm-v2-99/Offline: 'Samples per second'
    # x 270 pairs per sample; NVIDIA's config gives every GPU its own 600,000-pair batches
    row = _rows()[row_id]
    assert float(row["value"]) == pytest.approx(samples_per_s * 270, abs=1)
    assert "198fc46799b3328b36ee4bcbdebfa2db5a8e6183" in row["source"] and f"'Samples per second: {samples_per_s:g}'" in row["source"]
    assert int(row["n_chips"]) == gpus
    scn = mapping()[row_id]["scenario"]
    assert scn["inference"]["batch"] == 600000 * gpus and scn["system"]["count"] == gpus


@pytest.mark.parametrize("row_id", ["recsys-012", "recsys-013", "recsys-014", "recsys-015"])
def test_mlperf_dlrm_v2_rows_run_nvidias_int8_layers(row_id):
    # closed/NVIDIA/configs/dlrm-v2/__init__.py: bot_mlp, embeddings, interaction_op, top_mlp int8
    scn = mapping()[row_id]["scenario"]
    assert scn["precision"]["weights"] == scn["precision"]["activations"] == "int8"
    assert scn["recsys"] == {"embedding_dtype": "int8", "fused_epilogue": True}
    assert "int8" in _rows()[row_id]["precision"].lower()


def test_mlperf_training_dlrm_dcnv2_row_by_hand():
    # config_DGXH100_1x8x6912.sh: 1 node x 8 GPUs x 6912 samples = BATCHSIZE 55296; HugeCTR replicates
    # tables under DP_SHARDING_THRESHOLD = 0.008 GiB, fabless's replicate_below_mb is in 1e6 bytes
    row, scn = _rows()["recsys-016"], mapping()["recsys-016"]["scenario"]
    assert scn["training"]["global_batch"] == 1 * 8 * 6912 == 55296
    assert scn["recsys"]["replicate_below_mb"] == pytest.approx(0.008 * 2**30 / 1e6, abs=0.005)
    assert scn["system"] == {"name": "dgx-h100", "count": 8} and int(row["n_chips"]) == 8
    # the median of the ten runs' training throughputs lies in the range the notes give
    assert 15.20e6 <= float(row["value"]) <= 15.32e6
    assert "d06288b2bd675a9d88e0e6181f5bb5626b71ec19" in row["source"]
