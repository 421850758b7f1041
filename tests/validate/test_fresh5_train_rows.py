"""The fifth unseen-data check, training (published_fresh5_train.csv, scenarios_fresh5_train.yaml): every row
sourced with a repository commit and a date, values hand-copied below from the sources, every row mapped with the
settings its source states (or the stated assumption), and every row held out. The simulator is not run here."""

from __future__ import annotations

import re

import pytest

from fabless.validate import train
from fabless.validate.core import load_rows, parse_config
from tests.conftest import assert_unseen_rows_held_out, rows_of

FILE = "published_fresh5_train.csv"
ROWS, BY_ID = rows_of(FILE)

TORCHPRIME = ("github.com/AI-Hypercomputer/torchprime torchprime/torch_xla_models/README.md at commit "
              "d0d7f36a9b8f0c7d3ef7383e4ceaa37bf5c9bae4")
RECIPES = "github.com/AI-Hypercomputer/gpu-recipes "

# torchprime README: id -> (model, chips, global batch, fsdp ranks, tp, step s, MFU % as printed)
TP = {
    "train-fresh5-001": ("llama-3.1-8b", 256, 1024, 256, 1, 4.823, 45.20),
    "train-fresh5-002": ("llama-3.1-8b", 256, 1024, 256, 1, 4.819, 45.23),
    "train-fresh5-003": ("llama-3.1-70b", 256, 512, 256, 1, 19.277, 45.16),
    "train-fresh5-004": ("llama-3.1-405b", 256, 256, 64, 4, 67.212, 34.96),
    "train-fresh5-005": ("llama-3.1-405b", 512, 512, 128, 4, 69.081, 34.01),
}
# gpu-recipes MaxText log lines: id -> (commit prefix, date, system, GPUs, seconds, tokens/s/device, total_weights,
# per-device batch, seq, fsdp group, precision, recompute)
MX = {
    "train-fresh5-006": ("5be5988e", "2025-03-31", "hgx-b200", 256, 20.935, 3130.521, 16777216, 8, 8192, 256, "fp8", "full"),
    "train-fresh5-007": ("2850f84b", "2025-03-20", "hgx-b200", 256, 28.294, 579.059, 4194304, 2, 8192, 128, "fp8", "full"),
    "train-fresh5-011": ("a3b9caba", "2024-12-07", "dgx-h200", 256, 15.516, 1055.949, 4194304, 2, 8192, 128, "bf16", "full"),
    "train-fresh5-016": ("d57d2223", "2025-01-16", "dgx-h100", 256, 1.500, 10922.973, 4194304, 4, 4096, 8, "bf16", "selective"),
}
# gpu-recipes NeMo DLLogger entries: id -> (commit prefix, date, system, GPUs, step s, logged step, consumed_samples,
# gbs, mbs, seq, tp, pp, vp, cp, ep, precision)
NM = {
    "train-fresh5-008": ("7fa45181", "2024-12-16", "dgx-h200", 256, 20.021318435668945, 15, 16384, 1024, 1, 8192, 2, 4, 20, 1, 1, "fp8"),
    "train-fresh5-009": ("1a3020bb", "2025-02-19", "dgx-h200", 576, 92.28738164901733, 16, 34272, 2016, 1, 8192, 8, 9, 14, 1, 1, "fp8"),
    "train-fresh5-010": ("bd6c2597", "2024-12-05", "dgx-h200", 256, 2.7396187782287598, 26, 27648, 1024, 2, 4096, 1, 1, 1, 1, 8, "bf16"),
    "train-fresh5-012": ("916aa8ee", "2024-10-09", "dgx-h100", 256, 25.115550994873047, 47, 98304, 2048, 1, 2048, 4, 8, 2, 1, 1, "fp8"),
    "train-fresh5-014": ("24ba6df9", "2024-10-22", "dgx-h100", 128, 45.81364059448242, 36, 37888, 1024, 1, 8192, 4, 4, 5, 2, 1, "fp8"),
    "train-fresh5-015": ("3a1db077", "2024-10-30", "dgx-h100", 256, 67.82038879394531, 37, 77824, 2048, 1, 8192, 4, 4, 4, 2, 1, "bf16"),
}
# examples/dllogger.json (GPT-3 175B, 256 H100, run of 2024-09-28): 'train_step_timing in s' of steps 10..30
DLL_STEPS_10_30 = [25.636751174926758, 25.579267501831055, 25.343032836914062, 25.46991729736328, 25.52934455871582,
                   25.60711669921875, 25.637285232543945, 25.68196678161621, 25.384899139404297, 25.30147361755371,
                   25.22845458984375, 25.06499481201172, 25.09807777404785, 25.201101303100586, 25.2277889251709,
                   25.2721004486084, 25.44161033630371, 25.43352699279785, 25.470687866210938, 25.455108642578125,
                   25.28065299987793]
SKIPPED: set[str] = set()
MAPPED = set(TP) | set(MX) | set(NM) | {"train-fresh5-013"}
NEMO = set(NM) | {"train-fresh5-013"}


def test_the_file_holds_the_collected_rows():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) == 16
    assert set(ids) == MAPPED | SKIPPED and not MAPPED & SKIPPED
    for r in ROWS:
        assert r["category"] == "train" and re.fullmatch(r"train-fresh5-0\d\d", r["id"]), r["id"]


def test_every_row_names_its_source_with_a_commit_and_a_date():
    for r in ROWS:
        s = r["source"]
        assert s.startswith("github.com/"), r["id"]
        assert re.search(r"\b20\d\d-\d\d-\d\d\b", s), r["id"]
        assert re.search(r"at commit [0-9a-f]{40}", s), r["id"]
        assert len(r["notes"]) > 80, r["id"]
    assert {r["id"] for r in ROWS if r["source"].startswith(TORCHPRIME)} == set(TP)
    assert {r["id"] for r in ROWS if r["source"].startswith(RECIPES)} == set(MX) | NEMO


def test_no_reserved_or_already_cited_source():
    for r in ROWS:
        s = r["source"].lower()
        for bad in ("v4.1", "v5.0", "v5.1", "tpu-recipes", "ml-engineering", "flash-attention", "perf-overview",
                    "tiering", "megatron-bridge", "performance_summary", "dgxc-benchmarking", "apple/axlearn"):
            assert bad not in s, (r["id"], bad)
    others = [x for x in load_rows() if x["_file"] != FILE]
    for repo in ("AI-Hypercomputer/torchprime", "AI-Hypercomputer/gpu-recipes"):
        assert not [x["id"] for x in others if repo.lower() in (x["source"] + x["notes"]).lower()], repo


def test_every_row_is_held_out_and_mapped_or_skipped_with_a_reason():
    smap = train.scenario_map()
    stacks = train.software_by_row()
    for r in ROWS:
        entry = smap[r["id"]]
        assert r["id"] not in train.FIT_IDS and entry.get("set") != "fit", r["id"]
        if r["id"] in SKIPPED:
            assert set(entry) == {"skip"} and len(entry["skip"]) > 60, r["id"]
        else:
            assert "skip" not in entry and entry["note"], r["id"]
            assert entry["convert"] == "step_time_s" and "step time" in r["metric"], r["id"]
            # NeMo 24.07 runs name the nemo-24.09 stack; MaxText on GPU and torchprime their own (uncalibrated)
            # stacks since stop 48 (before, the vendor default)
            want = "nemo-24.09" if r["id"] in NEMO else "torchprime" if r["id"] in TP else "maxtext-gpu"
            assert stacks.get(r["id"]) == want, r["id"]
    assert_unseen_rows_held_out({r["id"] for r in ROWS}, "-fresh5-")


@pytest.mark.parametrize("rid", sorted(TP))
def test_torchprime_rows_match_the_readme(rid):
    model, chips, gbs, fsdp, tp, step, mfu = TP[rid]
    r = BY_ID[rid]
    assert float(r["value"]) == step and int(r["n_chips"]) == chips and r["precision"] == "BF16"
    assert f"{step}s" in r["source"] and f"{mfu:.2f}%" in r["source"]
    cfg = parse_config(r["config"])
    assert int(cfg["gbs"]) == gbs and int(cfg["seq"]) == 8192
    assert fsdp * tp == chips  # the mesh covers every chip
    s = train.scenario_map()[rid]["scenario"]
    assert s["model"] == model and s["system"] == {"name": "tpu-v6e-256", "count": chips} and s["precision"] == "bf16"
    assert s["parallel"] == {"tp": tp, "pp": 1}
    assert s["training"] == {"global_batch": gbs, "micro_batch": gbs // fsdp, "seq_len": 8192, "recompute": "full", "zero": 3}


def test_torchprime_mfu_follows_from_the_step_times():
    # 6 N tokens / chips / step over the v6e's 918 TFLOP/s, without attention: below the printed MFU, by the attention share
    n = {"llama-3.1-8b": 8.03e9, "llama-3.1-70b": 70.6e9, "llama-3.1-405b": 405.9e9}
    for rid, (model, chips, gbs, _, _, step, mfu) in TP.items():
        dense = 6 * n[model] * gbs * 8192 / chips / step / 918e12 * 100
        assert 0.6 * mfu < dense < mfu, (rid, dense, mfu)
    # the 8B recipes: the same batch on the same pod, 3.0 and 3.1 within 0.1%
    assert abs(TP["train-fresh5-001"][5] / TP["train-fresh5-002"][5] - 1) < 0.001


@pytest.mark.parametrize("rid", sorted(MX))
def test_maxtext_log_lines_match(rid):
    commit, date, system, gpus, sec, tps, weights, pdb, seq, fsdp, prec, recompute = MX[rid]
    r = BY_ID[rid]
    assert float(r["value"]) == sec and int(r["n_chips"]) == gpus
    assert f"at commit {commit}" in r["source"] and date in r["source"]
    assert f"seconds: {sec:.3f}" in r["source"] and f"Tokens/s/device: {tps}" in r["source"]
    # total_weights = GPUs x per-device batch x seq; tokens/s/device = total_weights / seconds / GPUs
    assert weights == gpus * pdb * seq
    assert abs(weights / sec / gpus - tps) / tps < 0.001
    cfg = parse_config(r["config"])
    assert int(cfg["gbs"]) == gpus * pdb and int(cfg["per_device_batch_size"]) == pdb and int(cfg["seq"]) == seq
    s = train.scenario_map()[rid]["scenario"]
    assert s["system"] == {"name": system, "count": gpus} and s["precision"] == prec
    expected_parallel = {"tp": 1, "pp": 1} if fsdp >= gpus else {"tp": 1, "pp": 1, "shard": fsdp}
    assert s["parallel"] == expected_parallel
    assert s["training"] == {"global_batch": gpus * pdb, "micro_batch": pdb, "seq_len": seq, "recompute": recompute, "zero": 3}


def test_maxtext_emfu_lines():
    # the READMEs' eMFU / MFU arithmetic: TFLOP/s/device over the BF16 peak they quote
    assert round(1507.142 / 2237, 4) == 0.6737
    assert round(1520.276 / 2237, 4) == 0.6796
    assert round(508.371 / 989, 3) == 0.514
    assert "1507.142" in BY_ID["train-fresh5-006"]["source"] and "1520.276" in BY_ID["train-fresh5-007"]["source"]


@pytest.mark.parametrize("rid", sorted(NM))
def test_nemo_dllogger_entries_match(rid):
    commit, date, system, gpus, step_s, step, consumed, gbs, mbs, seq, tp, pp, vp, cp, ep, prec = NM[rid]
    r = BY_ID[rid]
    assert float(r["value"]) == step_s and int(r["n_chips"]) == gpus
    assert f"at commit {commit}" in r["source"] and date in r["source"] and f"step {step}," in r["source"]
    assert repr(step_s) in r["source"]
    # consumed_samples after logged step k (0-based) = (k + 1) x global batch: the run took the config's batch
    assert consumed == (step + 1) * gbs and str(consumed) in r["notes"]
    cfg = parse_config(r["config"])
    assert (int(cfg["gbs"]), int(cfg["mbs"]), int(cfg["seq"])) == (gbs, mbs, seq)
    assert gpus % (tp * pp * cp) == 0
    s = train.scenario_map()[rid]["scenario"]
    assert s["system"] == {"name": system, "count": gpus} and s["precision"] == prec
    assert s["parallel"].get("tp", 1) == tp and s["parallel"].get("pp", 1) == pp and s["parallel"].get("cp", 1) == cp
    assert s["parallel"].get("interleave", 1) == vp and s["parallel"].get("ep", 1) == ep
    assert s["training"] == {"global_batch": gbs, "micro_batch": mbs, "seq_len": seq, "recompute": "none"}


def test_the_example_dllogger_mean():
    r = BY_ID["train-fresh5-013"]
    assert len(DLL_STEPS_10_30) == 21  # steps 10..30 inclusive, as process_training_results.py averages them
    mean = sum(DLL_STEPS_10_30) / len(DLL_STEPS_10_30)
    assert abs(mean - 25.3974) < 5e-5 and float(r["value"]) == 25.3974
    assert "steps 10-30" in r["source"] and "2024-09-28" in r["source"]
    s12 = train.scenario_map()["train-fresh5-012"]["scenario"]
    assert train.scenario_map()["train-fresh5-013"]["scenario"] == s12  # the same plan, another run


def test_the_sources_own_orderings():
    # two pods at twice the batch: a little slower per step than one pod (DCN), not twice
    assert 1.0 < TP["train-fresh5-005"][5] / TP["train-fresh5-004"][5] < 1.1
    # H100 GPT-3 175B: the README's single step and the example log's mean are two runs within 2%
    assert abs(NM["train-fresh5-012"][4] / 25.3974 - 1) < 0.02
    # A3 Mega Llama 3.1 70B: twice the batch on 256 GPUs (bf16) vs Llama 3 70B on 128 (fp8)
    assert NM["train-fresh5-015"][4] > NM["train-fresh5-014"][4]
