"""The AMD Instinct training rows (published_amd_train.csv, scenarios_amd_train.yaml): sourced,
mapped or skipped with a reason, fit / held-out fixed by id, and the one conversion relied on checked
by hand."""

from __future__ import annotations

import re

import pytest

from fabless.validate import train
from fabless.validate.core import load_rows
from fabless.validate.hardware_map import preset_for_hardware

ROWS = [r for r in load_rows() if r["_file"] == "published_amd_train.csv"]
#: Rows with a scenario (counted as mapping entries, not as predictions).
SCORED = {"train-amdt-012", "train-amdt-029"} | {f"train-amdt-{i:03d}" for i in range(16, 29) if i != 22}

# Hand-copied from AMD-AGI/pytorch-training-benchmark Docker_Instructions.md at d23d4a12b582 (tables
# 'MI300X / MI325X platform performance results'): id -> (chip, model, precision, batch, seq len, TFLOP/s/GPU).
BENCH = {
    "train-amdt-015": ("MI300X", "70B", "BF16", 4, 8192, 426.79),
    "train-amdt-016": ("MI300X", "8B", "BF16", 3, 8192, 542.94),
    "train-amdt-017": ("MI300X", "8B", "FP8", 3, 8192, 737.40),
    "train-amdt-018": ("MI300X", "8B", "BF16", 6, 4096, 523.79),
    "train-amdt-019": ("MI300X", "8B", "FP8", 6, 4096, 735.44),
    "train-amdt-020": ("MI300X", "Mistral", "BF16", 3, 8192, 483.17),
    "train-amdt-021": ("MI300X", "Mistral", "FP8", 4, 8192, 723.30),
    "train-amdt-022": ("MI325X", "70B", "BF16", 7, 8192, 526.13),
    "train-amdt-023": ("MI325X", "8B", "BF16", 3, 8192, 643.01),
    "train-amdt-024": ("MI325X", "8B", "FP8", 5, 8192, 893.68),
    "train-amdt-025": ("MI325X", "8B", "BF16", 8, 4096, 625.96),
    "train-amdt-026": ("MI325X", "8B", "FP8", 10, 4096, 894.98),
    "train-amdt-027": ("MI325X", "Mistral", "BF16", 5, 8192, 590.23),
    "train-amdt-028": ("MI325X", "Mistral", "FP8", 6, 8192, 860.39),
}
# train_fsdp.py at d23d4a12b582: grad_accumlate_pre_steps = 8 by default; 8 GPUs (torchrun --nproc_per_node=8).
ACCUM, GPUS = 8, 8


def test_the_file_holds_train_rows_with_unique_ids_on_amd_chips():
    assert len(ROWS) == 31
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids))
    for r in ROWS:
        assert re.fullmatch(r"train-amdt-\d{3}", r["id"]), r["id"]
        assert r["category"] == "train"
        assert preset_for_hardware(r["hardware"])[0] in ("mi300x", "mi325x"), r["id"]
        assert float(r["value"]) > 0 and int(r["n_chips"]) >= 1


def test_every_row_names_a_url_or_repo_and_a_date_or_commit():
    for r in ROWS:
        src = r["source"]
        assert re.search(r"github\.com/[\w.-]+/[\w.-]+", src), (r["id"], src)
        assert re.search(r"\b[0-9a-f]{7,40}\b|\b20\d\d-\d\d-\d\d\b", src), (r["id"], src)
        assert r["notes"].strip() and r["config"].strip(), r["id"]


def test_every_row_is_mapped_or_skipped_with_a_reason_and_the_scored_rows_are_these():
    smap = train.scenario_map()
    scored = set()
    for r in ROWS:
        entry = smap.get(r["id"])
        assert entry is not None, f"{r['id']}: not in scenarios_amd_train.yaml"
        if "skip" in entry:
            assert len(str(entry["skip"])) > 40, r["id"]
            continue
        assert entry.get("note") and entry.get("convert") and entry.get("scenario"), r["id"]
        scored.add(r["id"])
    assert scored == SCORED


def test_fit_rows_are_exactly_the_mapped_ids_one_mod_four():
    """Ids 1 mod 4 are fit when mapped; a skipped row is in neither set (fit rows must be predicted)."""
    smap = train.scenario_map()
    fit = {r["id"] for r in ROWS if smap[r["id"]].get("set") == "fit"}
    one_mod_four = {r["id"] for r in ROWS if int(r["id"][-3:]) % 4 == 1}
    assert fit == one_mod_four & SCORED
    assert all("skip" in smap[i] for i in one_mod_four - fit)
    assert fit == {"train-amdt-017", "train-amdt-021", "train-amdt-025", "train-amdt-029"}
    assert fit <= train.FIT_IDS


def _scenario(global_batch: int, row_id: str = "train-amdt-012"):
    from fabless.estimate.scenario import scenario_from_dict

    raw = dict(train.scenario_map()[row_id]["scenario"])
    raw["training"] = {**raw["training"], "global_batch": global_batch}
    return scenario_from_dict(raw, origin="test")


def test_tokens_per_chip_conversion_by_hand():
    """train-amdt-012: tokens/s/GPU = global batch x seq / (step time x GPUs), from the step time."""
    row = next(r for r in ROWS if r["id"] == "train-amdt-012")
    scn, est = train.run_entry(row)
    assert est.chips == 64 and scn.training.seq_len == 8192 and scn.training.global_batch == 1024
    by_hand = 1024 * 8192 / (est.metrics["step_time_s"] * 64)
    assert train.predict(row) == pytest.approx(by_hand, rel=1e-9)


def test_the_unstated_global_batch_moves_the_prediction_by_under_a_tenth_percent():
    from fabless.estimate.engine import estimate

    vals = [estimate(_scenario(g)).metrics["tokens_per_s_per_chip"] for g in (128, 512, 1024, 2048)]
    assert max(vals) / min(vals) - 1 < 1e-3


def test_the_unstated_global_batch_of_the_one_node_primus_row_moves_it_by_under_a_fifth_percent():
    # one node: the gradient reduce-scatter is exposed once per step, a larger share of a smaller batch's step
    from fabless.estimate.engine import estimate

    vals = [estimate(_scenario(g, "train-amdt-029")).metrics["tokens_per_s_per_chip"] for g in (64, 128, 512, 1024)]
    assert max(vals) / min(vals) - 1 < 2e-3


@pytest.mark.parametrize("rid", sorted(BENCH))
def test_bench_rows_match_the_table_and_the_script(rid):
    chip, model, prec, batch, seq, value = BENCH[rid]
    r = next(x for x in ROWS if x["id"] == rid)
    assert float(r["value"]) == value and chip in r["hardware"] and r["precision"].startswith(prec)
    assert f"batch={batch}" in r["config"] and f"seq={seq}" in r["config"]
    assert "d23d4a12b582" in r["source"] and "2025-02-21" in r["source"]
    entry = train.scenario_map()[rid]
    if model == "70B":
        assert "skip" in entry
        return
    s = entry["scenario"]
    assert s["system"]["count"] == GPUS and s["system"].get("chip", "mi300x") == chip.lower()
    assert s["precision"] == prec.lower() and s["parallel"] == {"tp": 1, "pp": 1}
    # FULL_SHARD (FSDP's default) = zero 3; the script applies no activation checkpointing.
    assert s["training"] == {"global_batch": batch * GPUS * ACCUM, "micro_batch": batch, "seq_len": seq,
                             "recompute": "none", "zero": 3}
    assert entry["convert"] == "fsdp_bench_tflops_per_gpu"
    if model == "Mistral":  # configs/mistral-7b-v0.1.json: window_size 1024, vocabulary 32000
        cfg = entry["model_config"]
        assert (cfg["sliding_window"], cfg["vocab_size"], cfg["rope_theta"]) == (1024, 32000, 10000.0)
    else:
        assert s["model"] == "llama-3.1-8b"


def test_the_catalog_llama_matches_the_bench_config():
    # configs/llama-3.1-8b-8k.json at d23d4a12b582
    from fabless.workload import load_model

    cfg = load_model("llama-3.1-8b")
    assert (cfg.num_layers, cfg.num_heads, cfg.num_kv_heads, cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size) == \
        (32, 32, 8, 4096, 14336, 128256)


def test_bench_tflops_conversion_by_hand():
    """Llama 3.1 8B at seq 8192 as llama.py counts it: per layer 2 x (3 x 4096 x 14336 + 4096 x 48 x 128
    + 4096 x 32 x 128) = 436,207,616 FLOPs; logits 2 x 4096 x 128256 = 1,050,673,152; forward + backward x 3
    -> 3 x (32 x 436,207,616 + 1,050,673,152) = 45,027,950,592; attention 3 x 32 x 4 x 8192 x 32 x 128
    = 12,884,901,888; together 57,912,852,480 FLOPs per token. 192 sequences x 8192 on 8 GPUs in a 20 s
    step: 196,608 tokens per GPU -> 569.31 TFLOP/s/GPU."""
    from types import SimpleNamespace

    from fabless.estimate.scenario import scenario_from_dict

    per_token = 57_912_852_480
    entry = train.scenario_map()["train-amdt-016"]
    scn = scenario_from_dict(entry["scenario"])
    est = SimpleNamespace(metrics={"step_time_s": 20.0}, chips=8)
    want = per_token * 192 * 8192 / 8 / 20.0 / 1e12
    assert want == pytest.approx(569.31, abs=0.01)
    assert train.convert({"id": "train-amdt-016"}, entry, scn, est) == pytest.approx(want, rel=1e-12)


def test_bench_tflops_conversion_counts_the_mistral_window():
    """Mistral with window 1024 at seq 8192: attention 3 x 32 x 4 x 1024 x 32 x 128 per token instead of
    x 8192; weights as Llama but vocabulary 32000: 3 x (32 x 436,207,616 + 2 x 4096 x 32000) = 42,662,363,136;
    attention 1,610,612,736; total 44,272,975,872 per token."""
    from types import SimpleNamespace

    from fabless.estimate.scenario import scenario_from_dict

    entry = train.scenario_map()["train-amdt-020"]
    raw = dict(entry["scenario"])
    raw["model"] = train._config_file("train-amdt-020", entry["model_config"])
    scn = scenario_from_dict(raw)
    est = SimpleNamespace(metrics={"step_time_s": 10.0}, chips=8)
    want = 44_272_975_872 * 192 * 8192 / 8 / 10.0 / 1e12
    assert train.convert({"id": "train-amdt-020"}, entry, scn, est) == pytest.approx(want, rel=1e-12)
