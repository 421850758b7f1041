"""MLA (DeepSeek-V3) is costed in the form each serving phase runs.

Prefill runs MLA non-absorbed: the 512-d KV latent is up-projected by ``kv_b`` to 128 heads of
K (128 nope + 64 rope = 192 per head) and V (128 per head), and attention is plain multi-head
attention over those. Decode runs it absorbed: ``W_UK`` is folded into the query and ``W_UV``
into the output, so attention is multi-query over the cached 576-d latent (512 + 64 rope), with
512-d values. Dimensions from DeepSeek-V3's config.json (num_attention_heads 128,
qk_nope_head_dim 128, qk_rope_head_dim 64, v_head_dim 128, kv_lora_rank 512, 61 layers); the
phase split is what SGLang's DeepSeek model does on ROCm with its aiter backend
(sglang python/sglang/srt/models/deepseek_common/attention_backend_handler.py,
handle_attention_aiter: extend batches -> AttnForwardMethod.MHA, others -> MLA).

Every expected number below is worked by hand from those dimensions.
"""

from __future__ import annotations

import pytest

from fabless.workload import Precision, build_decode_graph, build_prefill_graph, load_model
from fabless.workload.ops import Attention

H, NOPE, ROPE, V, R_KV = 128, 128, 64, 128, 512
S = 8192  # prompt tokens


def _layer_ops(graph):
    return {op.name: op for op in graph.blocks[1].ops}  # blocks[0] is the embedding


@pytest.fixture(scope="module")
def cfg():
    c = load_model("deepseek-v3")
    assert (c.num_heads, c.qk_nope_head_dim, c.qk_rope_head_dim, c.v_head_dim, c.kv_lora_rank) == (H, NOPE, ROPE, V, R_KV)
    return c


def test_prefill_attention_is_non_absorbed_mha_with_hand_flops(cfg):
    ops = _layer_ops(build_prefill_graph(cfg, 1, S, Precision()))
    att = ops["attention"]
    assert isinstance(att, Attention)
    assert (att.heads, att.kv_heads, att.head_dim_qk, att.head_dim_v) == (128, 128, 192, 128)
    # causal: query i sees i+1 keys -> S(S+1)/2 pairs per head; 2 FLOPs per multiply-add,
    # QK^T over 192 dims and PV over 128 dims
    pairs = S * (S + 1) / 2  # 33,558,528
    hand = 2 * 128 * pairs * (192 + 128)  # 2.749e12 FLOPs per layer
    assert att.flops == pytest.approx(2.7490e12, rel=1e-4)
    assert att.flops == pytest.approx(hand, rel=1e-12)
    # the latent is expanded for every prompt token: kv_b is 512 -> 128 x (128 + 128)
    kv_b = ops["kv_b"]
    assert kv_b.flops == pytest.approx(2 * S * 512 * 128 * 256, rel=1e-12)  # 1.374e11
    assert "q_absorb_uk" not in ops and "out_absorb_uv" not in ops


def test_decode_attention_is_absorbed_mqa_over_the_latent(cfg):
    ctx, batch = 8192, 4
    ops = _layer_ops(build_decode_graph(cfg, batch, ctx, Precision(kv_cache="fp8")))
    att = ops["attention"]
    assert (att.heads, att.kv_heads, att.head_dim_qk, att.head_dim_v) == (128, 1, 576, 512)
    # one query per sequence sees all ctx positions: 2 x 128 heads x ctx x (576 + 512) per sequence
    assert att.flops == pytest.approx(batch * 2 * 128 * ctx * (576 + 512), rel=1e-12)
    # the latent (576 values, V a slice of it) is read once per position, 1 byte each in FP8
    assert att.kv_bytes == pytest.approx(batch * ctx * 576 * 1, rel=1e-12)
    assert "kv_b" not in ops


def test_absorbed_projections_cost_the_same_flops_per_token_as_kv_b(cfg):
    """The serving step times every token's projections from the decode graph (absorbed), also
    for prompt tokens (fabless.estimate.stepcost). That is exact in FLOPs for DeepSeek-V3:
    absorbed, per token and head, q x W_UK is 128 -> 512 and o x W_UV is 512 -> 128:
    2 x 128 x (512 x 128 + 128 x 512) = 33.55 MFLOP; non-absorbed kv_b is 512 -> 128 x 256:
    2 x 512 x 128 x 256 = 33.55 MFLOP (equal because qk_nope_head_dim == v_head_dim)."""
    T = 1000
    dec = _layer_ops(build_decode_graph(cfg, T, 1, Precision()))
    pre = _layer_ops(build_prefill_graph(cfg, 1, T, Precision()))
    absorbed = dec["q_absorb_uk"].flops + dec["out_absorb_uv"].flops
    assert absorbed == pytest.approx(T * 2 * 128 * (512 * 128 + 128 * 512), rel=1e-12)
    assert pre["kv_b"].flops == pytest.approx(T * 2 * 512 * 128 * 256, rel=1e-12)
    assert absorbed == pytest.approx(pre["kv_b"].flops, rel=1e-12)
    # and the weights streamed are the same 512 x 128 x 256 elements
    assert dec["q_absorb_uk"].k * dec["q_absorb_uk"].n * 128 + dec["out_absorb_uv"].k * dec["out_absorb_uv"].n * 128 \
        == pre["kv_b"].k * pre["kv_b"].n == 512 * 128 * 256
