"""FLOPs and bytes of whole graphs against independent formulas."""

from __future__ import annotations

import time

import pytest

from fabless.workload import (
    Precision,
    build_decode_graph,
    build_prefill_graph,
    build_training_graph,
    load_model,
)


def _matmul_and_attention_dense(g, pass_=None):
    return g.total("flops_dense", kind="matmul", pass_=pass_) + g.total("flops_dense", kind="attention", pass_=pass_)


def _gpt(name):
    c = load_model(name)
    return c, c.num_layers, c.hidden_size, c.vocab_size


MEGATRON = ["megatron-1.7b", "megatron-18.4b", "megatron-145.6b", "megatron-1t", "gpt3-175b"]


@pytest.mark.parametrize("name", MEGATRON)
@pytest.mark.parametrize("B,s", [(1, 2048), (8, 1024), (2, 4096)])
def test_training_flops_equal_megatron_formula(name, B, s):
    # Narayanan et al. 2021, eq. (3): 72 B s l h^2 (1 + s/(6h) + V/(12 l h)); attention counted without the mask
    c, l, h, V = _gpt(name)
    g = build_training_graph(c, batch=B, seq_len=s)
    expected = 72 * B * s * l * h * h * (1 + s / (6 * h) + V / (12 * l * h))
    assert _matmul_and_attention_dense(g) == pytest.approx(expected, rel=1e-9)
    # the remaining ops (norms, activations, softmax, optimizer) add a little
    assert g.flops_dense == pytest.approx(expected, rel=0.03)
    assert g.flops_dense > expected


@pytest.mark.parametrize("name", MEGATRON)
def test_full_recompute_flops_equal_megatron_formula(name):
    # with full activation recomputation: 96 B s l h^2 (1 + s/(6h) + V/(16 l h)) (the head is not recomputed)
    c, l, h, V = _gpt(name)
    B, s = 4, 2048
    g = build_training_graph(c, batch=B, seq_len=s, recompute="full")
    expected = 96 * B * s * l * h * h * (1 + s / (6 * h) + V / (16 * l * h))
    assert _matmul_and_attention_dense(g) == pytest.approx(expected, rel=1e-9)


def test_selective_recompute_adds_one_attention_forward():
    # Korthikanti et al. 2022 recompute only the attention core: QK^T and AV, 4 B s^2 h per layer (dense count)
    c, l, h, V = _gpt("gpt3-175b")
    B, s = 2, 2048
    g = build_training_graph(c, batch=B, seq_len=s, recompute="selective")
    expected = 72 * B * s * l * h * h * (1 + s / (6 * h) + V / (12 * l * h)) + 4 * B * s * s * h * l
    assert _matmul_and_attention_dense(g) == pytest.approx(expected, rel=1e-9)
    assert g.total("flops_dense", pass_="recompute") == pytest.approx(4 * B * s * s * h * l, rel=1e-9)


@pytest.mark.parametrize("name", ["gpt3-175b", "megatron-1t", "megatron-529.6b"])
def test_training_flops_approach_6NT(name):
    # 72 B s l h^2 (1 + s/6h + V/12lh) / (6 N B s) with N ~ 12 l h^2 + V h tends to 1 as s/(6h) -> 0:
    # within s/(6h) of 6NT, and within 0.2% at s = 128.
    c, l, h, V = _gpt(name)
    N = c.params_total
    for s, tol in ((2048, 2048 / (6 * h) + 1e-3), (128, 2e-3)):
        g = build_training_graph(c, batch=1, seq_len=s)
        ratio = _matmul_and_attention_dense(g) / (6 * N * s)
        assert abs(ratio - 1) < tol


def test_training_passes_are_distinguishable():
    c = load_model("llama-3.1-8b")
    g = build_training_graph(c, batch=1, seq_len=1024, recompute="full")
    fwd = g.total("flops", pass_="fwd", kind="matmul")
    assert g.total("flops", pass_="bwd", kind="matmul") == pytest.approx(2 * fwd)
    # full recompute repeats every layer matmul but not the LM head (2 T h V)
    head = 2 * 1024 * c.hidden_size * c.vocab_size
    assert g.total("flops", pass_="recompute", kind="matmul") == pytest.approx(fwd - head)
    assert g.total("flops", pass_="opt") == pytest.approx(12 * c.params_total)


def _attention_term(c, ctx):
    # per token: per layer and head, QK^T (2 d) and PV (2 d) for each of ctx keys
    return 4 * c.num_layers * c.num_heads * c.head_dim * ctx


@pytest.mark.parametrize("name", ["llama-3.1-70b", "llama-2-7b", "mixtral-8x7b", "qwen3-235b-a22b", "gpt3-175b"])
@pytest.mark.parametrize("ctx", [1, 4096, 32768])
def test_decode_flops_per_token(name, ctx):
    c = load_model(name)
    N_matmul = c.params_active - c.vocab_size * c.hidden_size * (1 if not c.tie_embeddings else 0)
    if c.positions == "learned":
        N_matmul -= c.max_position_embeddings * c.hidden_size
    expected = 2 * N_matmul + _attention_term(c, ctx)
    g = build_decode_graph(c, batch=4, context_len=ctx)
    assert g.flops / g.tokens == pytest.approx(expected, rel=0.01)


def test_decode_flops_deepseek_v3_mla():
    # absorbed MLA: multi-query over the 512-d latent plus the 64-d rotary key: 2*(576 + 512) per key and head
    c = load_model("deepseek-v3")
    ctx = 8192
    expected = 2 * (c.params_active - 129280 * 7168) + 61 * 128 * 2 * (576 + 512) * ctx
    g = build_decode_graph(c, batch=1, context_len=ctx)
    assert g.flops == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("name,expected", [
    ("llama-3.1-70b", 2 * 80 * 8 * 128 * 2),
    ("llama-2-7b", 2 * 32 * 32 * 128 * 2),
    ("mixtral-8x7b", 2 * 32 * 8 * 128 * 2),
    ("qwen3-32b", 2 * 64 * 8 * 128 * 2),
    ("deepseek-v3", 61 * (512 + 64) * 2),  # compressed latent + shared rotary key
])
def test_kv_cache_bytes_per_token(name, expected):
    c = load_model(name)
    assert c.kv_cache_bytes_per_token("bf16") == expected
    assert c.kv_cache_bytes_per_token("fp8") == expected / 2
    assert c.kv_cache_bytes_per_token("int4") == expected / 4


@pytest.mark.parametrize("name", ["llama-3.1-70b", "deepseek-v3"])
def test_decode_reads_the_whole_kv_cache(name):
    c = load_model(name)
    B, ctx = 8, 4096
    g = build_decode_graph(c, batch=B, context_len=ctx, precision=Precision(kv_cache="fp8"))
    kv_read = sum(b.repeat * op.kv_bytes for b, op in g.items() if op.kind == "attention")
    assert kv_read == pytest.approx(B * ctx * c.kv_cache_bytes_per_token("fp8"))


def test_decode_weight_bytes_scale_with_weight_precision():
    c = load_model("llama-3.1-8b")
    wb = {dt: sum(b.repeat * op.weight_bytes for b, op in build_decode_graph(c, 1, 128, Precision(weights=dt)).items()
                  if op.kind == "matmul") for dt in ("bf16", "fp8", "int4", "fp4")}
    matmul_params = c.params_total - c.vocab_size * c.hidden_size - c.num_layers * 2 * c.hidden_size - c.hidden_size
    assert wb["bf16"] == pytest.approx(2 * matmul_params)
    assert wb["fp8"] == pytest.approx(wb["bf16"] / 2)
    assert wb["int4"] == wb["fp4"] == pytest.approx(wb["bf16"] / 4)


def test_prefill_counts_causal_pairs():
    # causal prefill of s tokens: s(s+1)/2 visible pairs per head
    c = load_model("llama-2-7b")
    s = 2048
    g = build_prefill_graph(c, batch=1, prompt_len=s)
    att = g.total("flops", kind="attention")
    assert att == pytest.approx(c.num_layers * c.num_heads * (s * (s + 1) / 2) * 4 * c.head_dim)
    assert g.total("flops_dense", kind="attention") == pytest.approx(c.num_layers * c.num_heads * s * s * 4 * c.head_dim)


def test_moe_capacity_factor_pads_expert_compute():
    c = load_model("mixtral-8x7b")
    base = build_prefill_graph(c, batch=1, prompt_len=1024)
    padded = build_prefill_graph(c, batch=1, prompt_len=1024, capacity_factor=1.25)
    expert = lambda g: sum(b.repeat * op.flops for b, op in g.items() if op.name.startswith("experts.") and op.kind == "matmul")
    assert expert(padded) == pytest.approx(1.25 * expert(base))
    # 1024 tokens x top-2 x (3 matrices of 4096 x 14336) x 2 FLOPs x 32 layers
    assert expert(base) == pytest.approx(1024 * 2 * 3 * 4096 * 14336 * 2 * 32)


def test_decode_with_few_tokens_reads_only_touched_experts():
    # one token, top-2 of 8: exactly 2 experts' weights are read
    c = load_model("mixtral-8x7b")
    g = build_decode_graph(c, batch=1, context_len=10)
    expert_w = sum(b.repeat * op.bytes_read for b, op in g.items() if op.name == "experts.down")
    per_expert = 4096 * 14336 * 2
    act = 2 * 14336 * 2  # two expert rows of 14336 bf16 activations
    assert expert_w == pytest.approx(32 * (2 * per_expert + act))


def test_layers_are_evaluated_once():
    big = build_training_graph(load_model("llama-3.1-405b"), batch=1, seq_len=4096, recompute="full")
    small = build_training_graph(load_model("llama-3.1-8b"), batch=1, seq_len=4096, recompute="full")
    assert big.n_ops == small.n_ops
    assert big.n_ops_executed > 3 * small.n_ops_executed
    t = time.perf_counter()
    for _ in range(20):
        build_decode_graph(load_model("llama-3.1-405b"), batch=8, context_len=4096).flops
    assert (time.perf_counter() - t) / 20 < 0.05


def test_sliding_window_caps_attention():
    c = load_model("mistral-7b")  # window 4096
    g = build_decode_graph(c, batch=1, context_len=16384)
    att = g.total("flops", kind="attention")
    assert att == pytest.approx(_attention_term(c, 4096))


def test_gpt_oss_alternates_window_and_full_attention():
    """gpt-oss-120b: 18 layers see at most 128 keys, 18 the whole context (config.json layer_types).
    Decode at 16,384 cached tokens: attention FLOPs per token by hand are 4 x heads x head_dim x keys
    per layer, summed over 18 layers at 128 keys and 18 at 16,384."""
    c = load_model("gpt-oss-120b")
    g = build_decode_graph(c, batch=1, context_len=16384)
    att = g.total("flops", kind="attention")
    assert att == pytest.approx(4 * 64 * 64 * (18 * 128 + 18 * 16384))
    assert sorted(b.repeat for b in g.blocks if b.name.startswith("layers[")) == [18, 18]
