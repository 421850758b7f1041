"""The third unseen-data check, training (published_fresh3_train.csv, scenarios_fresh3_train.yaml): every row
sourced with a repository commit and a date, every value hand-copied below from its source, every row mapped
with the settings its source states (or skipped with the reason), and every row held out."""

from __future__ import annotations

import math
import re

import pytest

from fabless.validate import train
from fabless.validate.core import load_rows, parse_config
from tests.conftest import assert_cited_only_by, assert_unseen_rows_held_out

ROWS = [r for r in load_rows() if r["_file"] == "published_fresh3_train.csv"]
BY_ID = {r["id"]: r for r in ROWS}
COMMIT = "1f6d9f40e4117d7c71b726f86074ac01c29f87f5"  # NVIDIA/dgxc-benchmarking, release v25.05.04
COMMIT_MAXTEXT = "8f5cbb3799ea8cc031ed2c2cee1cbdbc15b240ad"  # the same repository, release v25.02

# llama3.1/README.md at COMMIT: id -> (system, GPUs, precision, tp, pp, cp, vp, gbs, step time s, tokens/s, MFU %)
LLAMA = {
    "train-fresh3-001": ("gb200", 128, "bf16", 4, 8, 2, 8, 64, 9.347, 56092, 47.4),
    "train-fresh3-002": ("gb200", 128, "fp8", 4, 8, 2, 8, 64, 6.131, 85514, 36.1),
    "train-fresh3-003": ("gb200", 256, "bf16", 4, 8, 2, 8, 128, 9.484, 110563, 46.7),
    "train-fresh3-004": ("gb200", 256, "fp8", 4, 8, 2, 8, 128, 6.183, 169590, 35.8),
    "train-fresh3-005": ("gb200", 512, "bf16", 4, 8, 2, 8, 256, 9.508, 220567, 46.6),
    "train-fresh3-006": ("gb200", 512, "fp8", 4, 8, 2, 8, 256, 6.244, 335867, 35.5),
    "train-fresh3-007": ("h100", 512, "bf16", 8, 8, 2, 8, 256, 19.810, 105863, 55.34),
    "train-fresh3-008": ("h100", 512, "fp8", 8, 8, 2, 8, 256, 13.020, 161072, 42.12),
}
# deepseek_v3/pretraining/README.md at COMMIT (all BF16): id -> (system, GPUs, tp, pp, ep, gbs, GA, step time s,
# tokens/s, TFLOPS_per_GPU)
DEEPSEEK = {
    "train-fresh3-009": ("gb200", 128, 2, 4, 32, 1024, 64, 34.168, 122755.33, 249.3),
    "train-fresh3-010": ("gb200", 256, 2, 4, 64, 2048, 64, 34.194, 245323.97, 249.11),
    "train-fresh3-011": ("gb200", 512, 2, 4, 64, 4096, 64, 34.274, 489502.71, 248.53),
    "train-fresh3-012": ("h100", 512, 2, 8, 64, 4096, 128, 48.948, 342755.90, 174.02),
    "train-fresh3-013": ("h100", 1024, 2, 16, 64, 8192, 256, 52.04, 644781.55, 163.7),
}
# maxtext/README_70b.md at COMMIT_MAXTEXT (MaxText Llama 3 70B on H100): id -> (precision, GPUs, dcn_fsdp, dcn_dp,
# step time s, tokens/s, MFU %)
MAXTEXT = {
    "train-fresh3-014": ("bf16", 128, 16, 1, 15.563, 134752.43, 51.20),
    "train-fresh3-015": ("bf16", 256, 32, 1, 15.444, 271581.46, 51.59),
    "train-fresh3-016": ("bf16", 512, 16, 4, 15.519, 540537.92, 51.34),
    "train-fresh3-017": ("bf16", 1024, 16, 8, 15.603, 1075255.78, 51.06),
    "train-fresh3-018": ("bf16", 2048, 16, 16, 15.898, 2110607.12, 50.12),
    "train-fresh3-019": ("fp8", 128, 16, 1, 9.074, 231116.60, 43.88),
    "train-fresh3-020": ("fp8", 256, 32, 1, 9.488, 442064.08, 41.97),
    "train-fresh3-021": ("fp8", 512, 16, 4, 9.244, 907465.17, 43.07),
    "train-fresh3-022": ("fp8", 1024, 16, 8, 9.483, 1769188.65, 41.99),
    "train-fresh3-023": ("fp8", 2048, 16, 16, 9.339, 3592936.29, 42.64),
}
SYSTEM = {"gb200": "gb200-nvl72", "h100": "dgx-h100"}
PEAK_BF16 = {"gb200": 2450e12, "h100": 989e12}  # the READMEs' own peak table (BF16)
MAPPED = set(LLAMA) | set(DEEPSEEK) | set(MAXTEXT)
SKIPPED: set[str] = set()


def test_the_file_holds_the_collected_rows():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) == 23
    assert set(ids) == MAPPED | SKIPPED
    for r in ROWS:
        assert r["category"] == "train" and re.fullmatch(r"train-fresh3-0\d\d", r["id"]), r["id"]


def test_every_row_names_a_repository_commit_date_and_notes():
    for r in ROWS:
        assert "github.com/NVIDIA/dgxc-benchmarking" in r["source"], r["id"]
        assert re.search(r"table '[^']+'", r["source"]), r["id"]
        if r["id"] in MAXTEXT:
            assert f"at commit {COMMIT_MAXTEXT}" in r["source"] and "2025-06-09" in r["source"], r["id"]
            assert "jax:25.01-maxtext" in r["notes"] and "last of 50 steps" in r["metric"], r["id"]
        else:
            assert f"at commit {COMMIT}" in r["source"] and "2025-09-04" in r["source"], r["id"]
            assert "nemo:25.04.01" in r["notes"] and "11-44" in r["notes"] and "11-44" in r["metric"], r["id"]


def test_no_reserved_or_already_cited_source():
    for r in ROWS:
        s = r["source"].lower()
        for bad in ("v4.1", "v5.0", "v5.1", "tpu-recipes", "ml-engineering", "flash-attention", "perf-overview",
                    "tiering", "megatron-bridge", "performance_summary"):
            assert bad not in s, (r["id"], bad)
    # no other measurements file cites this repository's training recipes; the fourteenth batch (a later one) reads
    # its NCCL recipe, another document of it
    assert_cited_only_by("published_fresh3_train.csv", ("dgxc-benchmarking",), also=("published_fresh14_comm",))
    assert all("file nccl/README.md" in x["source"] for x in load_rows()
               if "dgxc-benchmarking" in x["source"] and x["_file"] == "published_fresh14_comm.csv")


def test_every_row_is_held_out_and_mapped_or_skipped_with_a_reason():
    smap = train.scenario_map()
    for r in ROWS:
        entry = smap[r["id"]]
        assert r["id"] not in train.FIT_IDS and entry.get("set") != "fit", r["id"]
        if r["id"] in SKIPPED:
            assert "skip" in entry and len(entry["skip"]) > 80, r["id"]
        else:
            assert "skip" not in entry and entry["convert"] == "step_time_s" and entry["note"], r["id"]
            if r["id"] in MAXTEXT:  # MaxText on GPUs: the uncalibrated maxtext-gpu stack (stop 48; before, the NVIDIA default)
                assert train.software_by_row()[r["id"]] == "maxtext-gpu", r["id"]
            else:
                assert train.software_by_row()[r["id"]] == "megatron-bridge", r["id"]
    assert_unseen_rows_held_out({r["id"] for r in ROWS}, "-fresh3-")


@pytest.mark.parametrize("rid", sorted(LLAMA))
def test_llama_rows_match_the_readme(rid):
    system, gpus, prec, tp, pp, cp, vp, gbs, step, tps, mfu = LLAMA[rid]
    r = BY_ID[rid]
    assert float(r["value"]) == step and int(r["n_chips"]) == gpus
    assert r["precision"].lower().startswith(prec)
    assert "llama3.1/README.md" in r["source"] and f"{'GB200' if system == 'gb200' else 'H100'} Performance" in r["source"]
    cfg = parse_config(r["config"])
    assert (int(cfg["tp"]), int(cfg["pp"]), int(cfg["cp"]), int(cfg["vp"]), int(cfg["gbs"]), int(cfg["seq"])) == (tp, pp, cp, vp, gbs, 8192)
    # independent arithmetic: dp = GPUs / (tp pp cp); launch.sh's gbs = GPUs / 2; the README's tokens/s = seq x gbs / step
    dp = gpus // (tp * pp * cp)
    assert dp * tp * pp * cp == gpus and int(cfg["dp"]) == dp and gbs == gpus // 2
    assert int(cfg["ga"].split()[0]) == gbs // dp
    assert abs(8192 * gbs / step - tps) < 1.5
    # 126 layers over pp x vp virtual stages (the last stages one short, as Megatron allows) and the README's MFU
    # (2.17e16 model FLOPs per sequence) within its rounding, BF16 rows against the BF16 peak, FP8 against twice it
    peak = PEAK_BF16[system] * (2 if prec == "fp8" else 1)
    assert abs(gbs * 2.17e16 / step / gpus / peak * 100 - mfu) < 0.15
    s = train.scenario_map()[rid]["scenario"]
    assert s["model"] == "llama-3.1-405b" and s["system"] == {"name": SYSTEM[system], "count": gpus} and s["precision"] == prec
    assert s["parallel"] == {"tp": tp, "pp": pp, "cp": cp, "interleave": vp}
    assert s["training"] == {"global_batch": gbs, "micro_batch": 1, "seq_len": 8192}


@pytest.mark.parametrize("rid", sorted(DEEPSEEK))
def test_deepseek_rows_match_the_readme(rid):
    system, gpus, tp, pp, ep, gbs, ga, step, tps, tflops = DEEPSEEK[rid]
    r = BY_ID[rid]
    assert float(r["value"]) == step and int(r["n_chips"]) == gpus and r["precision"] == "BF16"
    assert "deepseek_v3/pretraining/README.md" in r["source"]
    cfg = parse_config(r["config"])
    assert (int(cfg["tp"]), int(cfg["pp"]), int(cfg["ep"]), int(cfg["etp"]), int(cfg["gbs"]), int(cfg["ga"]), int(cfg["seq"])) == (tp, pp, ep, 1, gbs, ga, 4096)
    # launch.sh: gbs = GPUs x 8, mbs 1; dp = GPUs / (tp pp); GA = gbs / dp; ep fits in dp x tp
    dp = gpus // (tp * pp)
    assert gbs == 8 * gpus and int(cfg["dp"]) == dp and ga == gbs // dp and (dp * tp) % ep == 0
    assert abs(4096 * gbs / step - tps) < 0.5
    # MFU in the notes = TFLOPS_per_GPU / BF16 peak
    mfu = re.search(r"MFU ([\d.]+)%", r["notes"]).group(1)
    assert abs(tflops * 1e12 / PEAK_BF16["h100" if system == "h100" else "gb200"] * 100 - float(mfu)) < 0.01
    entry = train.scenario_map()[rid]
    s = entry["scenario"]
    assert s["model"] == "deepseek-v3" and s["system"] == {"name": SYSTEM[system], "count": gpus} and s["precision"] == "bf16"
    assert s["parallel"] == {"tp": tp, "pp": pp, "ep": ep}
    assert s["training"] == {"global_batch": gbs, "micro_batch": 1, "seq_len": 4096, "recompute": "selective"}
    assert ("core_attn" if system == "gb200" else "mla_up_proj") in r["notes"]


@pytest.mark.parametrize("rid", sorted(MAXTEXT))
def test_maxtext_rows_match_the_readme(rid):
    prec, gpus, dcn_fsdp, dcn_dp, step, tps, mfu = MAXTEXT[rid]
    r = BY_ID[rid]
    assert float(r["value"]) == step and int(r["n_chips"]) == gpus and r["precision"].lower().startswith(prec)
    assert "maxtext/README_70b.md" in r["source"] and f"column '{gpus}x H100 GPUs'" in r["source"]
    cfg = parse_config(r["config"])
    # configure.sh: ici_fsdp 8 (GPUs per node); dcn_fsdp = nodes below 64 nodes, else 16 with dcn_dp = nodes / 16
    nodes = gpus // 8
    assert int(cfg["ici_fsdp"]) == 8 and int(cfg["nodes"]) == nodes
    assert (dcn_fsdp, dcn_dp) == ((nodes, 1) if nodes < 64 else (16, nodes // 16))
    assert (int(cfg["dcn_fsdp"]), int(cfg["dcn_dp"])) == (dcn_fsdp, dcn_dp)
    gbs = 2 * gpus  # per_device_batch_size 2
    assert int(cfg["gbs"]) == gbs and int(cfg["per_device_batch_size"]) == 2 and int(cfg["seq"]) == 8192
    assert cfg["remat_policy"] == "save_qkv_proj"
    # the README's own arithmetic: tokens/s = seq x gbs / step; MFU = gbs x 3.94e15 / step / GPUs / peak
    assert abs(8192 * gbs / step - tps) < 0.5
    peak = {"bf16": 989e12, "fp8": 1979e12}[prec]  # the README's H100 peaks
    assert abs(gbs * 3.94e15 / step / gpus / peak * 100 - mfu) < 0.02
    s = train.scenario_map()[rid]["scenario"]
    assert s["model"] == "llama-3.1-70b" and s["system"] == {"name": "dgx-h100", "count": gpus} and s["precision"] == prec
    fsdp_group = 8 * dcn_fsdp
    assert s["parallel"] == ({"tp": 1, "pp": 1} if dcn_dp == 1 else {"tp": 1, "pp": 1, "shard": fsdp_group})
    assert s["training"] == {"global_batch": gbs, "micro_batch": 2, "seq_len": 8192, "recompute": "full", "zero": 3}


def test_the_readmes_own_orderings():
    # weak scaling: the step time grows with GPUs at a fixed per-replica batch, and FP8 is faster than BF16
    steps = {k: v[8] for k, v in LLAMA.items()}
    assert steps["train-fresh3-001"] < steps["train-fresh3-003"] < steps["train-fresh3-005"]
    assert steps["train-fresh3-002"] < steps["train-fresh3-004"] < steps["train-fresh3-006"]
    for bf16, fp8 in (("001", "002"), ("003", "004"), ("005", "006"), ("007", "008")):
        assert steps[f"train-fresh3-{fp8}"] < steps[f"train-fresh3-{bf16}"]
    assert DEEPSEEK["train-fresh3-009"][7] < DEEPSEEK["train-fresh3-010"][7] < DEEPSEEK["train-fresh3-011"][7]
    # MaxText: FP8 faster than BF16 at every size
    for n in (128, 256, 512, 1024, 2048):
        bf16, fp8 = (v[4] for v in MAXTEXT.values() if v[1] == n)
        assert fp8 < bf16


def test_every_mapped_row_runs_in_the_engine():
    for rid in sorted(MAPPED):
        value = train.predict(BY_ID[rid])
        assert value is not None and math.isfinite(value) and value > 0, rid
