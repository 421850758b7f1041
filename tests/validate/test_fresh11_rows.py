"""The eleventh unseen-data check (published_fresh11_train.csv, published_fresh11_infer.csv, scenarios_fresh11.yaml,
fresh11_scores.md): NVIDIA GB300 rows of Megatron-Bridge's 26.04 performance table and Google TPU v4 rows of three
PyTorch blog posts (GPT-2 FSDP training, Llama 2 training, LLaMA inference latency). The values are hand-copied below
from the sources at the cited commits; every row is cited with its repository, commit (or URL) and date, maps to the run
its source describes or is skipped with a reason, is held out, and has a first score in fresh11_scores.md when scored.
The engine is not run here."""

from __future__ import annotations

import math
import re

import pytest

from fabless.measurements import MEASUREMENTS_DIR
from fabless.validate import infer, serve, train
from fabless.validate.core import parse_config
from fabless.validate.hardware_map import preset_for_hardware
from fabless.workload import load_model
from tests.conftest import assert_unseen_rows_held_out, rows_of

TRAIN_ROWS, TRAIN = rows_of("published_fresh11_train.csv")
INFER_ROWS, INFER = rows_of("published_fresh11_infer.csv")
SCORES = MEASUREMENTS_DIR / "fresh11_scores.md"
MB_COMMIT = "067f987df03b8355b03192d88d70f1709fedf51a"
MB_FIRST = "74695a06d759adcab3d782193127969213e4f005"

# Megatron-Bridge docs/performance-summary-archive.md at 067f987d, '## 26.04 NeMo Container', every DGX-GB300 row, in order:
# table, #-GPUs, precision, GBS, MBS, seq, FSDP, TP, PP, CP, VP, EP, tokens/s/GPU, model TFLOP/s/GPU
GB300 = [
    ("LLAMA3_70B", 64, "NVFP4", 256, 1, 8192, 0, 1, 4, 1, "5", "n/a", 7397, 3321),
    ("LLAMA3_70B", 64, "MXFP8", 256, 1, 8192, 0, 1, 4, 1, "5", "n/a", 4742, 2131),
    ("LLAMA3_70B", 64, "FP8", 256, 2, 8192, 64, 1, 1, 1, "n/a", "n/a", 5243, 2355),
    ("LLAMA3.1_405B", 256, "NVFP4", 1536, 1, 8192, 0, 4, 8, 1, "4", "n/a", 1424, 3594),
    ("LLAMA3.1_405B", 256, "MXFP8", 1536, 1, 8192, 0, 2, 8, 2, "4", "n/a", 968, 2443),
    ("LLAMA3.1_405B", 256, "FP8", 1536, 1, 8192, 0, 4, 8, 1, "4", "n/a", 1036, 2615),
    ("DeepSeekV3", 256, "MXFP8", 4096, 2, 4096, 0, 1, 2, 1, "8", "32", 4965, 1290),
    ("GPT OSS 120B", 64, "BF16", 1280, 4, 4096, 0, 1, 1, 1, "n/a", "64", 19275, 524),
    ("Qwen3_30B_a3B", 8, "MXFP8", 512, 8, 4096, 0, 1, 1, 1, "n/a", "8", 31470, 724),
    ("Qwen3_235B_a22B", 256, "MXFP8", 8192, 2, 4096, 0, 1, 4, 1, "12", "32", 6994, 1035),
    ("Nemotron_3_Nano", 8, "MXFP8", 512, 4, 8192, 0, 1, 1, 1, "n/a", "8", 38102, 849),
    ("Nemotron_3_Super", 64, "NVFP4", 512, 1, 8192, 0, 1, 1, 1, "n/a", "64", 9623, 815),
    ("Nemotron_3_Super", 64, "MXFP8", 512, 1, 8192, 0, 1, 1, 1, "n/a", "64", 9243, 783),
    ("Kimi_K2", 256, "MXFP8", 4096, 2, 4096, 0, 1, 4, 1, "4", "64", 5332, 1090),
]
GB_IDS = {f"train-fresh11-{i:03d}": row for i, row in enumerate(GB300, 1)}
GB_MODEL = {"LLAMA3_70B": "llama-3.1-70b", "LLAMA3.1_405B": "llama-3.1-405b", "GPT OSS 120B": "gpt-oss-120b",
            "Qwen3_30B_a3B": "qwen3-30b-a3b", "Qwen3_235B_a22B": "qwen3-235b-a22b"}

# 'Large Scale Training of Hugging Face Transformers on TPUs With PyTorch/XLA FSDP', Table 1:
# TPU NumCores, tokens / batch, parameters, step time (ms), PFLOPS / step, MFU (%)
GPT2 = [("v4-8", 131072, "2B", 4191, 1.65, 35.7), ("v4-64", 524288, "16B", 14592, 50, 38.8),
        ("v4-128", 524288, "20B", 7824, 62, 45.1), ("v4-128", 524288, "32B", 12970, 101, 44.4),
        ("v4-256", 1048576, "64B", 25653, 404, 44.7), ("v4-512", 1048576, "128B", 30460, 809, 37.7)]
GPT2_IDS = {f"train-fresh11-{i:03d}": row for i, row in enumerate(GPT2, 101)}

# 'The Path to Achieve Ultra-Low Inference Latency With LLaMA 65B on PyTorch/XLA', Figure 1 (im1.svg at 5bc780a8), bars in
# order: x label, slice label, printed value (ms/token), the bar's top edge (SVG y; the axis 0 is at y 414.85, 40 at 72.92)
FIG1 = [("7B", "v4-8", 4.7, 375.0), ("7B", "v4-16", 3.8, 383.0), ("33B", "v4-8", 20.8, 237.0), ("33B", "v4-16", 10.9, 322.0),
        ("65B", "v4-16", 21.1, 234.0), ("65B", "v4-32", 14.5, 291.0), ("65B", "v4-64", 12.7, 306.0),
        ("175B", "v4-32", 33.4, 130.0), ("175B", "v4-64", 18.4, 257.0)]
FIG_IDS = {f"infer-fresh11-{i:03d}": row for i, row in enumerate(FIG1, 1)}
# the post's Table 1 (dim, heads, layers); the 175B is OPT-175B's dims in the LLaMA code base
LLAMA_TABLE = {"7B": (4096, 32, 32), "33B": (6656, 52, 60), "65B": (8192, 64, 80), "175B": (12288, 96, 96)}
# LLaMA paper (Touvron et al. 2023) Table 2 parameter counts
LLAMA_PARAMS = {"7B": 6.7e9, "33B": 32.5e9, "65B": 65.2e9}

SKIPPED = {"train-fresh11-007", "train-fresh11-011", "train-fresh11-012", "train-fresh11-013", "train-fresh11-014",
           "train-fresh11-102", "train-fresh11-103", "train-fresh11-104", "train-fresh11-105", "train-fresh11-106",
           "train-fresh11-107"}
ENGINE_REFUSED = {"infer-fresh11-004"}  # 52 heads on tp 8: mapped, refused by the engine's tp-divides-heads rule


def _chips(slice_name: str) -> int:
    return int(slice_name.split("-")[1]) // 2  # TPU v4 slice names count TensorCores, 2 per chip


def test_the_files_load_with_the_copied_values():
    assert set(TRAIN) == set(GB_IDS) | set(GPT2_IDS) | {"train-fresh11-107"} and len(TRAIN_ROWS) == 21
    assert set(INFER) == set(FIG_IDS) and len(INFER_ROWS) == 9
    for rid, (table, gpus, prec, gbs, mbs, seq, fsdp, tp, pp, cp, vp, ep, tps, tfl) in GB_IDS.items():
        r, cfg = TRAIN[rid], parse_config(TRAIN[rid]["config"])
        assert r["category"] == "train" and int(r["n_chips"]) == gpus and r["precision"] == prec, rid
        assert float(r["value"]) == tps and r["metric"] == "training throughput (tokens/s/GPU)", rid
        assert f"Model TFLOP / sec / GPU {tfl}" in r["notes"] and f"table 'Model: {table}'" in r["source"], rid
        got = [cfg[k] for k in ("gbs", "mbs", "seq", "fsdp", "tp", "pp", "cp", "vp", "ep")]
        assert got == [str(x) for x in (gbs, mbs, seq, fsdp, tp, pp, cp, vp, ep)], rid
    for rid, (cores, tokens, params, ms, pflops, mfu) in GPT2_IDS.items():
        r = TRAIN[rid]
        assert int(r["n_chips"]) == _chips(cores) and float(r["value"]) == pytest.approx(ms / 1000), rid
        assert r["metric"] == "training step time (s/step)" and f"# of Parameters {params}" in r["notes"], rid
        assert f"tokens_per_batch={tokens}" in r["config"] and f"MFU {mfu}%" in r["notes"], rid
    assert float(TRAIN["train-fresh11-107"]["value"]) == 53 and "53% training MFU" in TRAIN["train-fresh11-107"]["notes"]
    for rid, (model, sl, value, _top) in FIG_IDS.items():
        r = INFER[rid]
        assert r["category"] == "infer" and float(r["value"]) == value and int(r["n_chips"]) == _chips(sl), rid
        assert r["metric"] == "per-token latency (ms/token)" and f"slice label '{sl}'" in r["notes"], rid
        assert f"LLaMA {model} " in r["model_or_kernel"], rid


def test_the_copied_values_agree_with_each_other():
    # Megatron-Bridge: model FLOPs per token are a property of the model and length, so TFLOP/s over tokens/s is the
    # same across the precisions of one model (within the tables' rounding)
    for table in ("LLAMA3_70B", "LLAMA3.1_405B", "Nemotron_3_Super"):
        ratios = [t[-1] / t[-2] for t in GB300 if t[0] == table]
        assert max(ratios) / min(ratios) == pytest.approx(1.0, abs=0.01), table
    # GPT-2: MFU = PFLOPS per step / (step time x chips x 275 TFLOP/s, TPU v4's bf16 peak), with chips = cores / 2
    for cores, _tokens, _params, ms, pflops, mfu in GPT2:
        assert pflops * 1e15 / (ms / 1e3 * _chips(cores) * 275e12) * 100 == pytest.approx(mfu, abs=0.8), cores
    # Figure 1: each printed label agrees with its bar's height on the chart's axis (8.548 px per ms)
    scale = (414.85 - 72.92) / 40
    for model, sl, value, top in FIG1:
        assert (414.85 - top) / scale == pytest.approx(value, abs=0.15), (model, sl)


def test_every_row_is_cited_with_commit_url_and_date():
    for rid in GB_IDS:
        s = TRAIN[rid]["source"]
        assert f"commit {MB_COMMIT}, 2026-08-22" in s and "section '26.04 NeMo Container'" in s, rid
        assert f"{MB_FIRST}, 2026-04-17" in s and f"https://github.com/NVIDIA-NeMo/Megatron-Bridge/blob/{MB_COMMIT}/" in s, rid
    for rid in GPT2_IDS:
        s = TRAIN[rid]["source"]
        assert "dated 2023-08-24" in s and "commit c5e8218717738f56a6071be01c589fa73dcb001c" in s, rid
        assert "https://pytorch.org/blog/large-scale-training-hugging-face/" in s, rid
    s = TRAIN["train-fresh11-107"]["source"]
    assert "dated 2023-11-06" in s and "commit 605947bc04db6e54324ff356488128d9c8eb9e7a" in s and "pytorch.org/blog/high-performance-llama-2/" in s
    for rid in FIG_IDS:
        s = INFER[rid]["source"]
        assert "dated 2023-06-28" in s and "commit c2a12de55889ca9baf48acd4fe34d467ecc16bf4" in s, rid
        assert "im1.svg at commit 5bc780a8afe4dfac61031b343503c6d0b5a66848" in s, rid
        assert "https://pytorch.org/blog/path-achieve-low-inference-latency/" in s, rid
    for r in TRAIN_ROWS + INFER_ROWS:
        assert "Held out (eleventh unseen-data check" in r["notes"], r["id"]


def test_every_row_is_held_out():
    ids = set(TRAIN) | set(INFER)
    assert_unseen_rows_held_out(ids, "-fresh11-")
    assert not ids & train.FIT_IDS and not ids & infer.FIT_IDS and not ids & serve.FIT_IDS
    assert all("set" not in train.scenario_map()[i] for i in ids)


def test_gb300_rows_map_to_their_table_rows():
    m = train.scenario_map()
    sw = train.software_by_row()
    for rid, (table, gpus, prec, gbs, mbs, seq, fsdp, tp, pp, cp, vp, ep, _tps, _tfl) in GB_IDS.items():
        assert preset_for_hardware(TRAIN[rid]["hardware"])[0] == "gb300", rid
        e = m[rid]
        if rid in SKIPPED:
            reason = e["skip"]
            assert ("custom pipeline layout" in reason) if table == "DeepSeekV3" else ("no catalog model" in reason), rid
            assert table not in GB_MODEL, rid
            continue
        s = e["scenario"]
        assert e["convert"] == "tokens_per_s_per_chip" and s["model"] == GB_MODEL[table], rid
        assert s["system"] == {"name": "gb300-nvl72", "count": gpus}, rid
        p = s["parallel"]
        assert (p["tp"], p["pp"], p.get("cp", 1), p.get("ep", 1)) == (tp, pp, cp, 1 if ep == "n/a" else int(ep)), rid
        assert p.get("interleave") == (None if vp == "n/a" else int(vp)), rid
        t = s["training"]
        assert (t["global_batch"], t["micro_batch"], t["seq_len"]) == (gbs, mbs, seq), rid
        assert t.get("zero") == (3 if fsdp else None), rid
        if prec == "NVFP4":
            assert s["precision"] == {"weights": "fp4", "activations": "fp4", "kv_cache": "bf16"}, rid
            assert sw[rid] == "megatron-bridge-nvfp4", rid
        else:
            assert s["precision"] == {"FP8": "fp8", "MXFP8": "fp8", "BF16": "bf16"}[prec] and sw[rid] == "megatron-bridge", rid
        assert (p.get("recompute") == "none") == table.startswith("Qwen3"), rid


def test_tpu_v4_rows_map_to_their_sources():
    m = train.scenario_map()
    for rid in list(GPT2_IDS) + ["train-fresh11-107"] + list(FIG_IDS):
        r = TRAIN.get(rid) or INFER[rid]
        assert preset_for_hardware(r["hardware"])[0] == "tpu-v4", rid
    # GPT-2: only the 2B shape is published (the post's gpt2_config.json); the others are skipped
    e = m["train-fresh11-101"]
    c = e["model_config"]
    assert (c["model_type"], c["n_layer"], c["n_embd"], c["n_head"], c["n_positions"], c["vocab_size"]) == ("gpt2", 18, 3072, 24, 1024, 50257)
    s = e["scenario"]
    assert e["convert"] == "step_time_s" and s["system"] == {"name": "tpu-v4-pod", "count": 4}
    assert s["training"] == {"global_batch": 131072 // 1024, "micro_batch": 32, "seq_len": 1024, "recompute": "full", "zero": 3}
    assert s["parallel"] == {"tp": 1, "pp": 1} and s["precision"] == "bf16"
    for rid in set(GPT2_IDS) - {"train-fresh11-101"}:
        assert "shape" in m[rid]["skip"], rid
    assert "configuration" in m["train-fresh11-107"]["skip"]
    # LLaMA inference: every chip of the slice in one tensor-parallel group, the post's shapes, LLaMA's FFN width rule
    for rid, (model, sl, _value, _top) in FIG_IDS.items():
        e = m[rid]
        chips = _chips(sl)
        s, c = e["scenario"], e["model_config"]
        assert e["convert"] == "tpot_ms" and s["system"] == {"name": "tpu-v4-pod", "count": chips}, rid
        assert s["parallel"] == {"tp": chips} and s["precision"] == "bf16", rid
        assert s["inference"] == {"batch": 1, "input_tokens": 256, "output_tokens": 256}, rid
        dim, heads, layers = LLAMA_TABLE[model]
        assert (c["hidden_size"], c["num_attention_heads"], c["num_hidden_layers"]) == (dim, heads, layers), rid
        assert c["num_key_value_heads"] == heads and c["vocab_size"] == 32000, rid
        assert c["intermediate_size"] == 256 * math.ceil(int(2 * 4 * dim / 3) / 256), rid  # llama/model.py FeedForward
        assert (heads % chips != 0) == (rid in ENGINE_REFUSED), rid


def test_llama_configs_have_the_published_parameter_counts():
    m = train.scenario_map()
    for rid in ("infer-fresh11-001", "infer-fresh11-003", "infer-fresh11-005"):
        model = FIG_IDS[rid][0]
        cfg = load_model(train._config_file(rid, m[rid]["model_config"]))
        assert cfg.params_total == pytest.approx(LLAMA_PARAMS[model], rel=0.01), rid


def test_first_scores_are_recorded_for_every_scored_row():
    text = SCORES.read_text()
    assert "First scores (before any change)" in text and "30 rows collected, 18 scored, 12 skipped" in text
    scores = text.split("## First scores (before any change)")[1].split("## Summary")[0]
    for rid in list(TRAIN) + list(INFER):
        lines = [ln for ln in scores.splitlines() if ln.startswith(f"| {rid} |")]
        if rid in SKIPPED or rid in ENGINE_REFUSED:
            assert not lines, rid
            continue
        assert len(lines) == 1, rid
        r = TRAIN.get(rid) or INFER[rid]
        assert f"| {r['metric']} |" in lines[0] and f"| {float(r['value']):g} |" in lines[0], rid
        assert re.search(r"\| [+-]\d+\.\d%( \|)?$", lines[0]), rid
