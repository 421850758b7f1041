"""The unseen-data rows (published_fresh_train.csv, scenarios_fresh_train.yaml): sourced with a
commit, every value hand-copied below from its table, every training row mapped with the settings
its table states (or skipped with the reason), and every row held out."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from fabless.validate import comm, kernel, train
from fabless.validate.core import load_rows, parse_config
from fabless.validate.hardware_map import preset_for_hardware

ROWS = [r for r in load_rows() if r["_file"] == "published_fresh_train.csv"]
BY_ID = {r["id"]: r for r in ROWS}

# Hand-copied from NVIDIA-NeMo/Megatron-Bridge docs/performance-summary-archive.md (commit 067f987df03b):
# id -> (section, system preset, GPUs, gbs, mbs, seq, tp, pp, cp, vp, ep, fsdp, tokens/s/GPU)
MB = {
    "train-fresh-001": ("25.11", "dgx-h100", 8, 128, 1, 8192, 1, 1, 1, 1, 1, 8, 14451),
    "train-fresh-002": ("25.11", "dgx-h100", 64, 128, 1, 8192, 4, 8, 1, 5, 1, 0, 1602),
    "train-fresh-003": ("25.11", "dgx-h100", 1024, 512, 1, 8192, 8, 8, 2, 8, 1, 0, 292),
    "train-fresh-004": ("25.11", "dgx-h100", 16, 512, 2, 4096, 1, 2, 1, 24, 8, 0, 5275),
    "train-fresh-005": ("25.11", "dgx-h100", 256, 2048, 1, 4096, 2, 8, 1, 4, 32, 0, 1575),
    "train-fresh-006": ("25.11", "gb300-nvl72", 256, 1536, 1, 8192, 2, 8, 2, 4, 1, 0, 999),
    "train-fresh-009": ("25.11", "gb300-nvl72", 8, 512, 4, 4096, 1, 1, 1, 1, 8, 0, 28934),
    "train-fresh-010": ("25.11", "gb300-nvl72", 256, 8192, 2, 4096, 1, 4, 1, 12, 16, 0, 6131),
    "train-fresh-011": ("25.11", "gb200-nvl72", 8, 512, 4, 4096, 1, 1, 1, 1, 8, 0, 23766),
    "train-fresh-012": ("25.11", "hgx-b200", 8, 512, 1, 4096, 1, 1, 1, 1, 8, 0, 9299),
    "train-fresh-018": ("26.04.01", "dgx-h100", 64, 256, 1, 8192, 4, 8, 1, 5, 1, 0, 1664),
    "train-fresh-019": ("26.04.01", "dgx-h100", 1024, 1536, 1, 8192, 8, 8, 2, 8, 1, 0, 328),
    "train-fresh-020": ("26.04.01", "dgx-h100", 16, 1024, 1, 4096, 1, 1, 1, 1, 16, 0, 8960),
    "train-fresh-021": ("26.04.01", "gb300-nvl72", 64, 256, 2, 8192, 1, 1, 1, 1, 1, 64, 5248),
    "train-fresh-022": ("26.04.01", "gb200-nvl72", 64, 256, 2, 8192, 1, 1, 1, 1, 1, 64, 4224),
    "train-fresh-023": ("26.04.01", "gb200-nvl72", 256, 1536, 1, 8192, 4, 16, 1, 4, 1, 0, 864),
    "train-fresh-024": ("26.04.01", "gb200-nvl72", 256, 1536, 1, 8192, 4, 16, 1, 8, 1, 0, 800),
}
SKIPPED = {"train-fresh-007", "train-fresh-008", "train-fresh-014", "train-fresh-015", "train-fresh-016", "train-fresh-017"}
# MaxText MaxText/configs/a3/llama_2_7b/README.md at efb6d9e4a: A3 VMs -> TFLOP/s/chip
MAXTEXT = {"train-fresh-013": (1, 492), "train-fresh-014": (2, 422), "train-fresh-015": (4, 407),
           "train-fresh-016": (8, 409), "train-fresh-017": (16, 375)}
# Azure ND A100 v4 'GEMM CuBLASLt' table (FP16): (M, N, K) -> TFLOP/s
GEMM = {(1024, 1024, 1024): 119.4, (2048, 2048, 2048): 221.8, (4096, 4096, 4096): 228.0, (8192, 8192, 8192): 253.7,
        (16384, 16384, 16384): 256.5, (1024, 2145, 1024): 132.8, (6144, 12288, 12288): 250.8, (802816, 192, 768): 157.8}
# Azure all-reduce bus bandwidth tables, 8 GPUs: chip preset -> {size: GB/s}
BUSBW = {"a100-sxm": {"1MiB": 36.22, "8MiB": 89.99, "64MiB": 166.63, "1GiB": 228.10, "8GiB": 231.58},
         "h100-sxm": {"1MiB": 43.70, "8MiB": 172.13, "64MiB": 361.78, "1GiB": 466.35, "8GiB": 478.87},
         "mi300x": {"1MiB": 22.41, "8MiB": 131.57, "64MiB": 266.34, "1GiB": 313.92, "8GiB": 316.82}}


def test_the_file_holds_the_collected_rows():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) == 47
    assert sorted(i for i in ids if i.startswith("train-")) == sorted([*MB, *MAXTEXT, "train-fresh-007", "train-fresh-008"])
    assert sum(i.startswith("kernel-fresh-") for i in ids) == len(GEMM)
    assert sum(i.startswith("comm-fresh-") for i in ids) == 15
    for r in ROWS:
        assert r["category"] == r["id"].split("-")[0], r["id"]


def test_every_row_names_a_repository_commit_and_notes():
    for r in ROWS:
        assert re.search(r"github\.com/[\w.-]+/[\w.-]+", r["source"]), r["id"]
        assert re.search(r"commit [0-9a-f]{9,40}", r["source"]), (r["id"], r["source"])
        assert r["notes"].strip(), r["id"]


def test_no_reserved_source():
    # shared/RESERVED.md: MLPerf Training v4.1/v5.x, the tpu-recipes tables, stas00's tables, FA2/FA3 figures ...
    for r in ROWS:
        s = r["source"].lower()
        for bad in ("v4.1", "v5.0", "v5.1", "tpu-recipes", "ml-engineering", "flash-attention", "perf-overview"):
            assert bad not in s, (r["id"], bad)


def test_every_row_is_held_out_but_the_collective_fit_s_replacements():
    # the batch's Azure A100 all-reduce rows at 1 MiB, 64 MiB and 1 GiB became collective fit rows at stop 45, when they
    # replaced the reserved stas00/ml-engineering A100 rows of the same sizes (comm.FIT_IDS_SINGLE_NODE); their first
    # scores stay recorded in scenarios_fresh_train.yaml
    smap = train.scenario_map()
    replacements = {"comm-fresh-001", "comm-fresh-003", "comm-fresh-004"}
    assert replacements <= comm.FIT_IDS_SINGLE_NODE
    for r in ROWS:
        if r["id"] in replacements:
            continue
        assert r["id"] not in train.FIT_IDS | kernel.FIT_IDS | comm.FIT_IDS, r["id"]
        assert smap.get(r["id"], {}).get("set") != "fit", r["id"]


@pytest.mark.parametrize("rid", sorted(MB))
def test_megatron_bridge_row_and_scenario_match_the_table(rid):
    section, system, gpus, gbs, mbs, seq, tp, pp, cp, vp, ep, fsdp, value = MB[rid]
    r = BY_ID[rid]
    assert float(r["value"]) == value and int(r["n_chips"]) == gpus
    assert f"section '{section} NeMo Container'" in r["source"]
    cfg = parse_config(r["config"])
    assert (int(cfg["gbs"]), int(cfg["mbs"]), int(cfg["seq"]), int(cfg["tp"]), int(cfg["pp"]), int(cfg["cp"])) == (gbs, mbs, seq, tp, pp, cp)
    assert int(cfg["fsdp"]) == fsdp
    s = train.scenario_map()[rid]["scenario"]
    assert s["system"] == {"name": system, "count": gpus}
    p = s["parallel"]
    assert (p["tp"], p["pp"], p.get("cp", 1), p.get("interleave", 1), p.get("ep", 1)) == (tp, pp, cp, vp, ep)
    t = s["training"]
    assert (t["global_batch"], t["micro_batch"], t["seq_len"]) == (gbs, mbs, seq)
    assert t.get("zero", 1) == (3 if fsdp else 1)  # FSDP N -> zero 3; 0 -> Megatron's distributed optimizer
    assert s["precision"] == ("bf16" if r["precision"] == "BF16" else "fp8")
    # the recipes of the H100 Qwen3 235B plans set moe_a2a_overlap (train-nc-019 is the same recipe at gbs 8192)
    assert train.software_by_row()[rid] == ("megatron-bridge-ep-overlap" if rid == "train-fresh-005" else "megatron-bridge")
    # the data-parallel degree the table's plan implies divides the global batch into whole micro-batches
    dp = gpus // (tp * pp * cp)
    assert gbs % (dp * mbs) == 0


def test_the_h100_qwen3_235b_recipe_overlaps_its_all_to_alls():
    sw = train.software_by_row()
    assert sw["train-fresh-005"] == sw["train-nc-019"] == "megatron-bridge-ep-overlap"
    assert sw["train-fresh-020"] == "megatron-bridge"  # the H100 Qwen3 30B recipe sets it False


def test_stated_accumulation_steps_follow_from_the_plan():
    # GA = gbs / (mbs x dp) where the 25.11 table gives it; train-fresh-010's GA 32 does not (its note says so)
    for rid, (section, _, gpus, gbs, mbs, _, tp, pp, cp, *_rest) in MB.items():
        ga = parse_config(BY_ID[rid]["config"]).get("ga")
        if ga is None or rid == "train-fresh-010":
            continue
        assert int(ga) == gbs // (mbs * gpus // (tp * pp * cp)), rid
    assert "does not follow" in BY_ID["train-fresh-010"]["notes"]


def test_skipped_rows_say_why():
    smap = train.scenario_map()
    for rid in SKIPPED:
        assert "skip" in smap[rid] and len(smap[rid]["skip"]) > 40, rid


@pytest.mark.parametrize("rid", sorted(MAXTEXT))
def test_maxtext_rows_match_the_table(rid):
    nodes, value = MAXTEXT[rid]
    r = BY_ID[rid]
    assert float(r["value"]) == value and int(r["n_chips"]) == 8 * nodes
    cfg = parse_config(r["config"])
    assert int(cfg["dcn_data_parallelism"]) == nodes and int(cfg["ici_fsdp_parallelism"]) == 8
    assert int(cfg["per_device_batch_size"]) == 4 and int(cfg["max_target_length"]) == 4096
    assert preset_for_hardware(r["hardware"])[0] == "h100-sxm"


def test_maxtext_tflops_conversion_by_hand():
    # MaxText's count at efb6d9e4a: 6 N s b + 6 H L d s^2 b per chip (causal half of 12 H L d s^2 b).
    # Llama-2-7B: N = 6,738,415,616 (HF count), H = 32 heads, L = 32 layers, d = 128; b = 4 per chip, s = 4096.
    entry = train.scenario_map()["train-fresh-013"]
    scn, _ = train.run_entry(BY_ID["train-fresh-013"])
    assert scn.training.global_batch == 32 and scn.system.count == 8
    est = SimpleNamespace(metrics={"step_time_s": 1.0}, chips=8)
    hand = (6 * 6_738_415_616 * 4096 * 4 + 6 * 32 * 32 * 128 * 4096**2 * 4) / 1e12
    assert train.convert(BY_ID["train-fresh-013"], entry, scn, est) == pytest.approx(hand, rel=0.005)


def test_kernel_rows_match_the_table():
    seen = set()
    for r in (r for r in ROWS if r["category"] == "kernel"):
        cfg = parse_config(r["config"])
        shape = (int(cfg["m"]), int(cfg["n"]), int(cfg["k"]))
        assert float(r["value"]) == GEMM[shape] and r["precision"] == "FP16"
        assert preset_for_hardware(r["hardware"])[0] == "a100-sxm"
        assert "AI-benchmarking-guide" in r["source"]  # predicted with the harness's library entry
        seen.add(shape)
    assert seen == set(GEMM)


def test_comm_rows_match_the_tables_and_map_to_eight_gpu_systems():
    seen = {}
    for r in (r for r in ROWS if r["category"] == "comm"):
        chip = preset_for_hardware(r["hardware"])[0]
        size = parse_config(r["config"])["msg_size"]
        assert float(r["value"]) == BUSBW[chip][size] and int(r["n_chips"]) == 8
        assert comm.system_for_row(r).name == {"a100-sxm": "dgx-a100", "h100-sxm": "dgx-h100", "mi300x": "mi300x-8"}[chip]
        seen.setdefault(chip, set()).add(size)
    assert seen == {c: set(v) for c, v in BUSBW.items()}
