"""The second unseen-data check, training (published_fresh2_train.csv, scenarios_fresh2_train.yaml): every row
sourced with a repository commit and a date, every value hand-copied below from its source, every row mapped
with the settings its source states or skipped with the reason, and every row held out."""

from __future__ import annotations

import re

import pytest

from fabless.validate import train
from fabless.validate.core import load_rows, parse_config

ROWS = [r for r in load_rows() if r["_file"] == "published_fresh2_train.csv"]
BY_ID = {r["id"]: r for r in ROWS}

# MLPerf Training v4.0 NVIDIA GPT-3 (training_results_v4.0 at 6fe95437): id -> (system dir, GPUs, gbs, tp, pp, vp,
# mbs, logged gradient accumulation, median step time in s, per-run medians)
MLPERF = {
    "train-fresh2-001": ("eos_n64_ngc24.04_nemo", 512, 2304, 4, 8, 4, 2, 72, 10.980, (10.903, 10.983, 10.982)),
    "train-fresh2-002": ("eos-dfw_n1344_ngc24.04_nemo", 10752, 2688, 4, 6, 8, 1, 6, 0.921, (0.921, 0.920, 0.921)),
    "train-fresh2-003": ("eos-dfw_n1452_ngc24.04_nemo", 11616, 2904, 4, 6, 8, 1, 6, 0.922, (0.922, 0.922, 0.921)),
    # v3.1 (training_results_v3.1 at d06288b2): median of the logged train_step_timing
    "train-fresh2-016": ("eos_n96_ngc23.09_nemo", 768, 3072, 4, 8, 12, 1, 128, 11.0751, (11.0723, 11.0779, 11.0754)),
    "train-fresh2-017": ("eos-dfw_n768_ngc23.09_nemo", 6144, 3072, 4, 8, 12, 1, 16, 1.61529, (1.61586, 1.6152, 1.61501)),
    "train-fresh2-018": ("eos-dfw_n1024_ngc23.09_nemo", 8192, 4096, 4, 8, 12, 1, 16, 1.61926, (1.61933, 1.61924, 1.6192)),
    "train-fresh2-019": ("eos-dfw_n1280_ngc23.09_nemo", 10240, 2560, 4, 8, 12, 1, 8, 0.925566, (0.925628, 0.925483, 0.92557)),
    # v3.0 (training_results_v3.0 at 63e326c4): NVIDIA and NVIDIA+CoreWeave, median of the logged train_step_timing
    "train-fresh2-020": ("dgxh100_n64_nemo", 512, 2048, 4, 8, 12, 1, 128, 12.0769, (12.0827, 12.0713, 12.0741)),
    "train-fresh2-021": ("dgxh100_n96_nemo", 768, 3072, 4, 8, 12, 1, 128, 12.1261, (12.1282, 12.1274, 12.1236)),
    "train-fresh2-022": ("coreweave_hgxh100_n96_ngc23.04_pytorch", 768, 3072, 4, 8, 12, 1, 128, 12.2993, (12.3223, 12.2857, 12.3049)),
    "train-fresh2-023": ("coreweave_hgxh100_n192_ngc23.04_pytorch", 1536, 3072, 4, 8, 12, 1, 64, 6.33759, (6.32644, 6.35725, 6.3397)),
    "train-fresh2-024": ("coreweave_hgxh100_n448_ngc23.04_pytorch", 3584, 2688, 4, 8, 12, 1, 24, 2.59756, (2.59435, 2.60047, 2.60213)),
}
COMMITS = {"v4.0": "6fe954378efe4a1a1bd665550b18ff8f26018def", "v3.1": "d06288b2bd675a9d88e0e6181f5bb5626b71ec19",
           "v3.0": "63e326c400f5d8bb8c6070a9ab08332d4931152e"}


def _version(system: str) -> str:
    return "v4.0" if system.endswith("24.04_nemo") else "v3.1" if system.endswith("23.09_nemo") else "v3.0"
# torchtitan benchmarks/llama3-8b_h200_202506_trainy-whitefiber.md: id -> (hosts, TPS/GPU)
H200 = {"train-fresh2-004": (4, 10938), "train-fresh2-005": (8, 10753)}
# torchtitan benchmarks/llama3_h100_202412_torchtitan.md: id -> (table, GPUs, local batch, global batch, TPS/GPU)
GRAND_TETON = {
    "train-fresh2-006": ("Table 1", 8, 2, 16, 5762),
    "train-fresh2-007": ("Table 1", 8, 2, 16, 6667),
    "train-fresh2-008": ("Table 1", 8, 2, 16, 8532),
    "train-fresh2-009": ("Table 3", 128, 2, 256, 8380),
    "train-fresh2-010": ("Table 4", 256, 16, 512, 829),
    "train-fresh2-011": ("Table 4", 256, 16, 512, 876),
    "train-fresh2-012": ("Table 5", 512, 32, 256, 100),
    "train-fresh2-013": ("Table 5", 512, 32, 256, 128),
}
# MLPerf Training v4.0 Google GPT-3: id -> (system, chips, run_start -> run_stop of the three runs, minutes)
TPU_TTT = {
    "train-fresh2-014": ("cloud-tpu-v5p-2048-maxtext", 1024, (56.914, 56.948, 57.066)),
    "train-fresh2-015": ("cloud-tpu-v5p-3072-maxtext", 1536, (39.425, 38.519, 39.336)),
}
MAPPED = set(MLPERF) | set(H200)
SKIPPED = set(GRAND_TETON) | set(TPU_TTT)


def test_the_file_holds_the_collected_rows():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) == 24
    assert set(ids) == MAPPED | SKIPPED
    for r in ROWS:
        assert r["category"] == "train" and re.fullmatch(r"train-fresh2-0\d\d", r["id"]), r["id"]


def test_every_row_names_a_repository_commit_date_and_notes():
    for r in ROWS:
        assert re.search(r"github\.com/[\w.-]+/[\w.-]+", r["source"]), r["id"]
        assert re.search(r"commit [0-9a-f]{12,40}", r["source"]) or re.search(r"at commit [0-9a-f]{12,40}", r["source"]), r["id"]
        assert re.search(r"20\d\d-\d\d-\d\d", r["source"]), r["id"]
        assert r["notes"].strip(), r["id"]


def test_no_reserved_source():
    for r in ROWS:
        s = r["source"].lower()
        for bad in ("v4.1", "v5.0", "v5.1", "tpu-recipes", "ml-engineering", "flash-attention", "perf-overview", "tiering"):
            assert bad not in s, (r["id"], bad)


def test_every_row_is_held_out_and_mapped_or_skipped_with_a_reason():
    smap = train.scenario_map()
    for r in ROWS:
        entry = smap[r["id"]]
        assert r["id"] not in train.FIT_IDS and entry.get("set") != "fit", r["id"]
        if r["id"] in SKIPPED:
            assert "skip" in entry and len(entry["skip"]) > 80, r["id"]
        else:
            assert "skip" not in entry and entry["convert"] and entry["note"], r["id"]


@pytest.mark.parametrize("rid", sorted(MLPERF))
def test_mlperf_rows_match_the_logs_and_configs(rid):
    system, gpus, gbs, tp, pp, vp, mbs, ga, step, runs = MLPERF[rid]
    r = BY_ID[rid]
    assert float(r["value"]) == step and int(r["n_chips"]) == gpus
    assert f"/results/{system}/gpt3" in r["source"] and COMMITS[_version(system)] in r["source"]
    assert f"MLPerf Training {_version(system)} closed" in r["source"]
    cfg = parse_config(r["config"])
    assert (int(cfg["gbs"]), int(cfg["tp"]), int(cfg["pp"]), int(cfg["vp"].split()[0]), int(cfg["mbs"]), int(cfg["ga"])) == (gbs, tp, pp, vp, mbs, ga)
    # independent arithmetic: dp = GPUs / (tp pp); the logged accumulation = gbs / (dp mbs); 96 layers split evenly
    dp = gpus // (tp * pp)
    assert dp * tp * pp == gpus and int(cfg["dp"]) == dp
    assert gbs == ga * dp * mbs
    assert 96 % (pp * vp) == 0
    # the overall median lies within the per-run medians
    assert min(runs) <= step <= max(runs)
    s = train.scenario_map()[rid]["scenario"]
    assert s["model"] == "gpt3-175b" and s["system"] == {"name": "dgx-h100", "count": gpus} and s["precision"] == "fp8"
    assert s["parallel"] == {"tp": tp, "pp": pp, "interleave": vp}
    assert s["training"] == {"global_batch": gbs, "micro_batch": mbs, "seq_len": 2048, "recompute": "none"}
    assert train.software_by_row()[rid] == "nemo-24.09"
    assert train.scenario_map()[rid]["convert"] == "step_time_s"


def test_mlperf_step_times_imply_plausible_throughputs():
    # tokens per step / step time per GPU: 839 on 512 GPUs (v3.1's 512-GPU train-006: 741 by its notes) and
    # 556 / 555 on 10752 / 11616 GPUs (mbs 1, a pipeline of 6 x 8 virtual stages over 6 micro-batches)
    per_gpu = {rid: gbs * 2048 / step / gpus for rid, (_, gpus, gbs, *_r, step, _runs) in MLPERF.items()}
    assert per_gpu["train-fresh2-001"] == pytest.approx(839.3, abs=0.1)
    assert per_gpu["train-fresh2-002"] == pytest.approx(555.9, abs=0.1)
    assert per_gpu["train-fresh2-003"] == pytest.approx(555.3, abs=0.1)
    # the two Eos-DFW systems run the same config at the same step time: scaling by the node count
    assert abs(MLPERF["train-fresh2-002"][8] - MLPERF["train-fresh2-003"][8]) < 0.01
    # v3.1: MINIBS = gbs / dp per config name (config_DGXH100_<nodes>x8x<MINIBS>x4x8_mbs1.sh), and the same 16
    # micro-batches per rank take the same step on 768 and 1024 nodes
    for rid, minibs in (("train-fresh2-016", 128), ("train-fresh2-017", 16), ("train-fresh2-018", 16), ("train-fresh2-019", 8)):
        _, gpus, gbs, tp, pp, *_r = MLPERF[rid]
        assert gbs // (gpus // (tp * pp)) == minibs and f"x8x{minibs}x4x8_mbs1.sh" in BY_ID[rid]["config"]
    assert abs(MLPERF["train-fresh2-017"][8] / MLPERF["train-fresh2-018"][8] - 1) < 0.005
    # v3.0: the same config names; NVIDIA's and CoreWeave's 96-node runs of one plan within 1.5% of each other
    for rid, minibs in (("train-fresh2-020", 128), ("train-fresh2-021", 128), ("train-fresh2-022", 128),
                        ("train-fresh2-023", 64), ("train-fresh2-024", 24)):
        _, gpus, gbs, tp, pp, *_r = MLPERF[rid]
        assert gbs // (gpus // (tp * pp)) == minibs and f"x8x{minibs}x4x8_mbs1.sh" in BY_ID[rid]["config"]
    assert abs(MLPERF["train-fresh2-022"][8] / MLPERF["train-fresh2-021"][8] - 1) < 0.015


@pytest.mark.parametrize("rid", sorted(H200))
def test_torchtitan_h200_rows_match_the_table(rid):
    hosts, value = H200[rid]
    r = BY_ID[rid]
    gpus = 8 * hosts
    assert float(r["value"]) == value and int(r["n_chips"]) == gpus
    assert "llama3-8b_h200_202506_trainy-whitefiber.md" in r["source"]
    cfg = parse_config(r["config"])
    assert int(cfg["local_batch"]) == 2 and int(cfg["gbs"]) == 2 * gpus and int(cfg["seq"]) == 8192
    s = train.scenario_map()[rid]["scenario"]
    assert s["model"] == "llama-3.1-8b" and s["system"] == {"name": "dgx-h200", "count": gpus} and s["precision"] == "fp8"
    assert s["training"] == {"global_batch": 2 * gpus, "micro_batch": 2, "seq_len": 8192, "recompute": "selective", "zero": 3}
    assert train.software_by_row()[rid] == "torchtitan"  # uncalibrated (stop 48; before, the NVIDIA default)


def test_torchtitan_h100_rows_match_the_tables_and_are_skipped():
    smap = train.scenario_map()
    for rid, (table, gpus, local, gbs, value) in GRAND_TETON.items():
        r = BY_ID[rid]
        assert float(r["value"]) == value and int(r["n_chips"]) == gpus and r["source"].endswith(table)
        cfg = parse_config(r["config"])
        assert int(cfg["local_batch"]) == local and int(cfg["gbs"]) == gbs
        # global batch = local batch x data-parallel ranks (GPUs / (tp pp))
        assert gbs == local * gpus // (int(cfg["tp"]) * int(cfg["pp"])), rid
        assert "Grand Teton" in smap[rid]["skip"]
    # the tables' own orderings: compile and Float8 each speed the 8B run up; async TP and interleaving help
    v = {k: GRAND_TETON[k][4] for k in GRAND_TETON}
    assert v["train-fresh2-006"] < v["train-fresh2-007"] < v["train-fresh2-008"]
    assert v["train-fresh2-010"] < v["train-fresh2-011"] and v["train-fresh2-012"] < v["train-fresh2-013"]


def test_tpu_time_to_train_is_the_olympic_mean():
    for rid, (system, chips, runs) in TPU_TTT.items():
        r = BY_ID[rid]
        assert f"Google/results/{system}/gpt3" in r["source"] and int(r["n_chips"]) == chips
        # a v5p-N slice name counts TensorCores: N / 2 chips
        assert int(system.split("-")[3]) == 2 * chips
        olympic = sorted(runs)[1:-1]
        assert float(r["value"]) == pytest.approx(sum(olympic) / len(olympic), abs=1e-3)
        assert "time to train" in train.scenario_map()[rid]["skip"]
