"""Reading Hugging Face configs: families, errors that name the missing field."""

from __future__ import annotations

import json

import pytest

from fabless.errors import FablessError
from fabless.workload import Precision, build_decode_graph, load_model, parse_config

LLAMA = {"model_type": "llama", "hidden_size": 512, "num_hidden_layers": 2, "num_attention_heads": 8,
         "num_key_value_heads": 2, "intermediate_size": 1024, "vocab_size": 1000, "max_position_embeddings": 256}


def test_qwen2_has_qkv_bias():
    c = parse_config({**LLAMA, "model_type": "qwen2"})
    plain = parse_config(LLAMA)
    h, d = 512, 64
    assert c.params_total - plain.params_total == 2 * (8 + 2 * 2) * d


def test_qwen2_moe_shared_expert_with_gate():
    c = parse_config({**LLAMA, "model_type": "qwen2_moe", "num_experts": 4, "num_experts_per_tok": 2,
                      "moe_intermediate_size": 128, "shared_expert_intermediate_size": 256})
    h = 512
    per_layer_moe = 4 * 3 * h * 128 + 3 * h * 256 + h + 4 * h  # experts, shared expert, its gate, router
    assert c.params_by_part()["experts"] + c.params_by_part()["shared_experts"] + c.params_by_part()["router"] == 2 * per_layer_moe


def test_qwen3_moe_dense_layers_from_mlp_only_layers():
    c = parse_config({**LLAMA, "model_type": "qwen3_moe", "num_experts": 4, "num_experts_per_tok": 1,
                      "moe_intermediate_size": 64, "mlp_only_layers": [0]})
    assert c.layer_runs() == [("dense", 1), ("moe", 1)]
    assert c.qk_norm


def test_deepseek_v3_layers_and_mla():
    c = load_model("deepseek-v3")
    assert c.layer_runs() == [("dense", 3), ("moe", 58)]
    assert c.attention_kind == "MLA"
    g = build_decode_graph(c, batch=1, context_len=10)
    assert len([b for b in g.blocks if b.name.startswith("layers")]) == 2


def test_missing_field_is_named():
    raw = dict(LLAMA)
    del raw["intermediate_size"]
    with pytest.raises(FablessError, match="missing field 'intermediate_size'"):
        parse_config(raw, origin="my/config.json")


def test_unknown_architecture_names_the_missing_field():
    with pytest.raises(FablessError) as err:
        parse_config({"model_type": "mamba", "hidden_size": 768, "vocab_size": 50280}, origin="mamba.json")
    msg = str(err.value)
    assert "mamba.json" in msg and "missing field 'num_attention_heads'" in msg and "mamba" in msg and "\n" not in msg


def test_unknown_architecture_with_llama_fields_is_read():
    c = parse_config({**LLAMA, "model_type": "somethingnew"})
    assert c.params_total == parse_config(LLAMA).params_total


def test_deepseek_missing_mla_field():
    raw = json.loads(load_model.__globals__["MODELS_DIR"].joinpath("deepseek-v3.json").read_text())
    del raw["kv_lora_rank"]
    with pytest.raises(FablessError, match="'kv_lora_rank'"):
        parse_config(raw)


def test_config_file_errors(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    with pytest.raises(FablessError, match="JSON syntax error"):
        load_model(str(bad))
    with pytest.raises(FablessError, match="no such file"):
        load_model(str(tmp_path / "nope.json"))
    good = tmp_path / "mymodel" / "config.json"
    good.parent.mkdir()
    good.write_text(json.dumps(LLAMA))
    assert load_model(str(good)).name == "mymodel"


def test_unknown_model_name_suggests():
    with pytest.raises(FablessError, match="did you mean llama-3.1-70b"):
        load_model("llama-3.1-7b")


def test_bad_precision_and_recompute():
    with pytest.raises(FablessError, match="unknown dtype 'fp6'"):
        Precision(weights="fp6")
    from fabless.workload import build_training_graph

    with pytest.raises(FablessError, match="recompute mode"):
        build_training_graph(load_model("llama-2-7b"), 1, 16, recompute="partial")
    with pytest.raises(FablessError, match="batch must be a positive integer"):
        build_decode_graph(load_model("llama-2-7b"), 0, 16)


def test_gpt_oss_layer_types_are_checked():
    oss = {**LLAMA, "model_type": "gpt_oss", "num_local_experts": 4, "num_experts_per_tok": 2, "sliding_window": 16,
           "attention_bias": True, "layer_types": ["sliding_attention", "full_attention"]}
    c = parse_config(oss)
    assert [c.layer_window(i) for i in range(2)] == [16, None]
    assert c.is_moe and c.router_bias and c.mlp_bias and c.attention_sinks
    with pytest.raises(FablessError, match="field 'layer_types' must list one of sliding_attention, full_attention"):
        parse_config({**oss, "layer_types": ["sliding_attention"]})
