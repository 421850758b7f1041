"""The fourth unseen-data check, training (published_fresh4_train.csv, scenarios_fresh4_train.yaml): every row
sourced with a repository commit or an issue and a date, values hand-copied below from the sources, every row
mapped with the settings its source states (or skipped with the reason), and every row held out. The simulator is
not run here."""

from __future__ import annotations

import re

import pytest

from fabless.validate import train
from fabless.validate.core import load_rows, parse_config
from tests.conftest import assert_unseen_rows_held_out, rows_of
from tests.validate.test_row_software import framework_stack

FILE = "published_fresh4_train.csv"
ROWS, BY_ID = rows_of(FILE)

AXLEARN = "github.com/apple/axlearn axlearn/experiments/text/gpt/fuji.py"
AUTOMODEL = "github.com/NVIDIA-NeMo/Automodel docs/performance-summary.mdx at commit cb9765441e5127b8100879ca1f7ff5920f825887"
PITH = "github.com/mlc-ai/pith-train/issues/79"
FMS = "github.com/foundation-model-stack/fms-fsdp README.md at commit ed74fd5ddec00e309eac20f478de883464c86526"

# AXLearn code comments: id -> (commit prefix, date, model, version, chips, seq, global batch, step s, system, fsdp group)
AX = {
    "train-fresh4-001": ("4dae7198", "2024-05-06", "llama-2-7b", 1, 512, 2048, 2048, 3.03, "tpu-v4-pod", 16),
    "train-fresh4-002": ("4dae7198", "2024-05-06", "llama-2-7b", 1, 1024, 2048, 2048, 2.44, "tpu-v5e-256", 16),
    "train-fresh4-003": ("4dae7198", "2024-05-06", "llama-2-7b", 1, 256, 2048, 2048, 2.85, "tpu-v5p-512", 8),
    "train-fresh4-004": ("4dae7198", "2024-05-06", "llama-2-7b", 1, 256, 2048, 2048, 2.44, "p5-48xlarge", 8),
    "train-fresh4-005": ("4dae7198", "2024-05-06", "llama-2-7b", 1, 512, 2048, 2048, 1.54, "p5-48xlarge", 8),
    "train-fresh4-006": ("f2326c53", "2024-09-13", "llama-2-7b", 2, 1024, 4096, 1024, 2.21, "tpu-v5e-256", 256),
    "train-fresh4-007": ("dd2e4492", "2024-09-19", "llama-2-7b", 2, 256, 4096, 1024, 1.78, "p5-48xlarge", 8),
    "train-fresh4-009": ("a7c64ee0", "2024-08-14", "llama-2-70b", 2, 1024, 4096, 1024, 14.3736, "tpu-v5e-256", 256),
    "train-fresh4-010": ("2a44f58f", "2024-06-03", "llama-2-70b", 2, 512, 4096, 1024, 12.9, "p5-48xlarge", 128),
    "train-fresh4-011": ("3f361084", "2025-01-12", "llama-2-70b", 2, 1024, 4096, 1024, 4.9, "tpu-v6e-256", 256),
    "train-fresh4-012": ("3f361084", "2025-01-12", "llama-2-70b", 2, 256, 4096, 1024, 19.5, "tpu-v6e-256", 256),
    "train-fresh4-013": ("fea9ba89", "2024-07-06", "llama-2-7b", 1, 8, 2048, 64, 2.03, "p5-48xlarge", 8),
    "train-fresh4-014": ("fea9ba89", "2024-07-06", "llama-2-7b", 1, 8, 2048, 32, 1.1, "p5-48xlarge", 8),
    "train-fresh4-015": ("fea9ba89", "2024-07-06", "llama-2-7b", 2, 8, 4096, 16, 1.54, "p5-48xlarge", 8),
    "train-fresh4-016": ("fea9ba89", "2024-07-06", "llama-2-7b", 1, 32, 2048, 64, 1.93, "tpu-v5e-256", 16),
}
# AutoModel DGX-H100 BF16 table: id -> (GPUs, GBS, MBS, GA, seq, PP, EP, VP, CP, FSDP, step s, tokens/s/GPU)
AM = {
    "train-fresh4-017": (1024, 8192, 1, 4, 4096, 4, 64, 8, 1, 256, 37.87, 865),
    "train-fresh4-018": (256, 512, 1, 1, 4096, 4, 64, 8, 1, 64, 8.18, 1002),
    "train-fresh4-019": (8, 512, 4, 16, 4096, 1, 8, 1, 1, 8, 21.773, 12040),
    "train-fresh4-020": (64, 512, 2, 4, 4096, 1, 1, 1, 1, 64, 4.30, 7626),
    "train-fresh4-021": (64, 128, 1, 4, 8192, 1, 1, 1, 2, 32, 18.90, 866.77),
}
# fms-fsdp table: id -> (model, GPU, GPUs, sharding, AC, tokens/s/GPU)
FMS_ROWS = {
    "train-fresh4-024": ("7b", "A100", 128, "HSDP", "No AC", 4550),
    "train-fresh4-025": ("7b", "H100", 96, "HSDP", "No AC", 9600),
    "train-fresh4-026": ("13b", "A100", 128, "FSDP", "Selective AC", 2150),
    "train-fresh4-027": ("13b", "H100", 96, "FSDP", "Selective AC", 4850),
    "train-fresh4-028": ("70b", "A100", 128, "FSDP", "Selective AC", 410),
    "train-fresh4-029": ("70b", "H100", 96, "FSDP", "Selective AC", 890),
}
SKIPPED = {"train-fresh4-008", "train-fresh4-023", "train-fresh4-026", "train-fresh4-027", "train-fresh4-028",
           "train-fresh4-029"}
MAPPED = set(AX) | set(AM) | {"train-fresh4-022", "train-fresh4-024", "train-fresh4-025"}


def test_the_file_holds_the_collected_rows():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) == 29
    assert set(ids) == MAPPED | SKIPPED and not MAPPED & SKIPPED
    for r in ROWS:
        assert r["category"] == "train" and re.fullmatch(r"train-fresh4-0\d\d", r["id"]), r["id"]


def test_every_row_names_its_source_with_a_commit_or_issue_and_a_date():
    for r in ROWS:
        s = r["source"]
        assert s.startswith("github.com/"), r["id"]
        assert re.search(r"\b20\d\d-\d\d-\d\d\b", s), r["id"]
        assert re.search(r"at commit [0-9a-f]{8,40}", s) or "/issues/" in s, r["id"]
        assert len(r["notes"]) > 80, r["id"]
    assert {r["id"] for r in ROWS if r["source"].startswith(AXLEARN)} == set(AX) | {"train-fresh4-008"}
    assert {r["id"] for r in ROWS if r["source"].startswith(AUTOMODEL)} == set(AM)
    assert {r["id"] for r in ROWS if r["source"].startswith(PITH)} == {"train-fresh4-022", "train-fresh4-023"}
    assert {r["id"] for r in ROWS if r["source"].startswith(FMS)} == set(FMS_ROWS)


def test_no_reserved_or_already_cited_source():
    for r in ROWS:
        s = r["source"].lower()
        for bad in ("v4.1", "v5.0", "v5.1", "tpu-recipes", "ml-engineering", "flash-attention", "perf-overview",
                    "tiering", "megatron-bridge", "performance_summary", "dgxc-benchmarking", "2507.05411"):
            assert bad not in s, (r["id"], bad)
    others = [x for x in load_rows() if x["_file"] != FILE]
    for repo in ("apple/axlearn", "NVIDIA-NeMo/Automodel", "mlc-ai/pith-train", "foundation-model-stack/fms-fsdp"):
        assert not [x["id"] for x in others if repo.lower() in (x["source"] + x["notes"]).lower()], repo


def test_every_row_is_held_out_and_mapped_or_skipped_with_a_reason():
    smap = train.scenario_map()
    for r in ROWS:
        entry = smap[r["id"]]
        assert r["id"] not in train.FIT_IDS and entry.get("set") != "fit", r["id"]
        if r["id"] in SKIPPED:
            assert set(entry) == {"skip"} and len(entry["skip"]) > 60, r["id"]
        else:
            assert "skip" not in entry and entry["note"], r["id"]
            assert entry["convert"] == ("tokens_per_s_per_chip" if "tokens/s" in r["metric"] else "step_time_s"), r["id"]
            # each row names its framework's stack (stop 48; before, the vendor default): uncalibrated stacks
            assert train.software_by_row().get(r["id"]) == framework_stack(r), r["id"]  # PithTrain: none
    assert_unseen_rows_held_out({r["id"] for r in ROWS}, "-fresh4-")


@pytest.mark.parametrize("rid", sorted(AX))
def test_axlearn_rows_match_the_code_comments(rid):
    commit, date, model, version, chips, seq, gbs, step, system, fsdp = AX[rid]
    r = BY_ID[rid]
    assert float(r["value"]) == step and int(r["n_chips"]) == chips and r["precision"] == "BF16"
    assert f"at commit {commit}" in r["source"] and date in r["source"]
    assert str(step) in r["source"]  # the comment is quoted in the source
    assert f"Fuji-{'70B' if '70b' in model else '7B'}-v{version}" in r["model_or_kernel"]
    cfg = parse_config(r["config"])
    assert int(cfg["gbs"].split()[0]) == gbs and int(cfg["seq"]) == seq
    # 4M tokens per batch for the multi-host configs (4 * 1024**2), 128K / 64K for the single-host docstring
    tokens = gbs * seq
    assert tokens in (4 * 1024**2, 128 * 1024, 64 * 1024)
    assert (tokens == 4 * 1024**2) == (chips >= 256)
    s = train.scenario_map()[rid]["scenario"]
    assert s["model"] == model and s["system"] == {"name": system, "count": chips} and s["precision"] == "bf16"
    assert s["training"]["global_batch"] == gbs and s["training"]["seq_len"] == seq and s["training"]["zero"] == 3
    ga = 4 if rid == "train-fresh4-012" else 1
    assert s["training"]["micro_batch"] == gbs // chips // ga
    expected_parallel = {"tp": 1, "pp": 1} if fsdp >= chips else {"tp": 1, "pp": 1, "shard": fsdp}
    assert s["parallel"] == expected_parallel
    assert s["training"]["recompute"] == ("selective" if rid == "train-fresh4-006" else "full")


def test_axlearn_mfu_comments_follow_from_the_step_times():
    # 70B v2 on 1024 v5e: 6 N tokens / chips / step over the v5e's 197 TFLOP/s is the comment's 59.87% (N ~ 68.7e9)
    mfu = 6 * 68.7e9 * 4 * 1024**2 / 1024 / 14.3736 / 197e12
    assert abs(mfu - 0.5987) < 0.01
    # the skipped v5e-512 row: the same batch on half the chips would exceed the chip's peak
    assert 6 * 68.7e9 * 4 * 1024**2 / 512 / 14.0817 > 197e12
    assert float(BY_ID["train-fresh4-008"]["value"]) == 14.0817


@pytest.mark.parametrize("rid", sorted(AM))
def test_automodel_rows_match_the_table(rid):
    gpus, gbs, mbs, ga, seq, pp, ep, vp, cp, fsdp, step, tps = AM[rid]
    r = BY_ID[rid]
    assert float(r["value"]) == step and int(r["n_chips"]) == gpus and r["precision"] == "BF16"
    cfg = parse_config(r["config"])
    assert (int(cfg["gbs"]), int(cfg["mbs"]), int(cfg["ga"]), int(cfg["seq"]), int(cfg["pp"]), int(cfg["fsdp"])) == (gbs, mbs, ga, seq, pp, fsdp)
    # FSDP is the whole data-parallel group: GPUs / (pp cp); the table's tokens/s/GPU = gbs x seq / step / GPUs
    assert fsdp == gpus // (pp * cp)
    assert abs(gbs * seq / step / gpus - tps) / tps < 0.002
    s = train.scenario_map()[rid]["scenario"]
    assert s["system"] == {"name": "dgx-h100", "count": gpus} and s["precision"] == "bf16"
    assert s["training"]["global_batch"] == gbs and s["training"]["micro_batch"] == mbs and s["training"]["seq_len"] == seq
    assert s["training"]["zero"] == 3
    assert s["parallel"].get("pp", 1) == pp and s["parallel"].get("ep", 1) == ep and s["parallel"].get("cp", 1) == cp
    assert s["parallel"].get("interleave", 1) == vp
    assert s["training"]["recompute"] == ("none" if rid == "train-fresh4-020" else "full")


def test_torchtitan_b200_row():
    r = BY_ID["train-fresh4-022"]
    assert float(r["value"]) == 19520 and int(r["n_chips"]) == 8
    assert "19.41k, 19.53k, and 19.52k" in r["notes"] and "2026-07-22" in r["source"]
    assert sorted([19410, 19530, 19520])[1] == 19520  # the median of the three stable steps
    cfg = parse_config(r["config"])
    assert (int(cfg["gbs"]), int(cfg["mbs"]), int(cfg["seq"]), int(cfg["fsdp"])) == (64, 8, 8192, 8)
    assert int(cfg["gbs"]) == int(cfg["mbs"]) * 8  # one micro-batch of 8 per GPU
    s = train.scenario_map()["train-fresh4-022"]["scenario"]
    assert s["model"] == "qwen3-30b-a3b" and s["system"] == {"name": "hgx-b200", "count": 8}
    assert s["training"] == {"global_batch": 64, "micro_batch": 8, "seq_len": 8192, "recompute": "selective", "zero": 3}
    assert float(BY_ID["train-fresh4-023"]["value"]) == 17500


@pytest.mark.parametrize("rid", sorted(FMS_ROWS))
def test_fms_fsdp_rows_match_the_table(rid):
    size, gpu, n, strat, ac, tps = FMS_ROWS[rid]
    r = BY_ID[rid]
    assert float(r["value"]) == tps and int(r["n_chips"]) == n and gpu in r["hardware"]
    cfg = parse_config(r["config"])
    assert cfg["sharding"] == strat and cfg["ac"] == ac and int(cfg["batch_per_gpu"]) == 2 and int(cfg["seq"]) == 4096
    if rid in SKIPPED:
        return
    s = train.scenario_map()[rid]["scenario"]
    assert s["model"] == "llama-2-7b" and s["system"]["count"] == n
    assert s["training"] == {"global_batch": 2 * n, "micro_batch": 2, "seq_len": 4096, "recompute": "none", "zero": 3}
    assert s["parallel"] == {"tp": 1, "pp": 1, "shard": 8}


def test_the_sources_own_orderings():
    # more chips, same global batch -> shorter AXLearn steps on H100; v2 7B (GQA-free, seq 4096) on 8 H100 at 64K tokens
    # is slower than v1 at 64K tokens (the docstring's 1.1 s vs 1.54 s)
    assert AX["train-fresh4-005"][7] < AX["train-fresh4-004"][7]
    assert AX["train-fresh4-014"][7] < AX["train-fresh4-015"][7] and AX["train-fresh4-014"][7] < AX["train-fresh4-013"][7]
    # the v6e-256 single slice takes about 4x the 4-slice step for the same batch
    assert 3.5 < AX["train-fresh4-012"][7] / AX["train-fresh4-011"][7] < 4.5
    # fms-fsdp: H100 faster than A100 for every model size
    for size in ("7b", "13b", "70b"):
        a, h = (v[5] for v in FMS_ROWS.values() if v[0] == size)
        assert h > a
