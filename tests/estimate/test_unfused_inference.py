"""A stack's ``attention_kernel: unfused`` at inference (issue 13): the prefill and decode graphs'
attention ops run as the unfused chain (two batched matmuls and a softmax, the scores in memory), with
no dropout (eval) and the query heads of a KV group stacked into one product, as optimum-habana's
eager attention (gaudi_llama_repeat_kv) runs it. Values worked out by hand."""

from __future__ import annotations

import pytest

from fabless.estimate.engine import request_graphs, unfused_attention
from fabless.perf.attention import unfused_attention_time
from fabless.perf.ops import op_time
from fabless.perf.params import ChipParams
from fabless.workload import Precision, load_model
from fabless.workload.ops import Attention

A100 = ChipParams.from_chip("a100-sxm")


def test_decode_reads_each_kv_head_once_and_runs_no_dropout():
    # Llama-3-8B-like decode: 2 sequences, 32 query heads over 8 KV heads of 128, 1,024 cached
    # positions, bf16. Stacked per KV head: 2 x 8 products of 4 query rows.
    b, h, kvh, kv, d = 2, 32, 8, 1024, 128
    r = unfused_attention_time(b, 1, kv, h, d, A100, "bf16", dropout=False, kv_heads=kvh)
    # two matmuls over every (query, key) pair and the softmax's 6 FLOPs a score: no dropout kernel
    assert r.tiling["kernels"] == 3
    assert float(r.flops[0]) == pytest.approx(2 * b * h * kv * d * 2 + 6 * b * h * kv, rel=1e-12)
    # per query head (kv_heads None) each KV head's K and V are read 4 times instead of once: 3 more
    # reads of 2 x 8 x (1024 x 128) x 2 matrices of 2 bytes (the matmuls' split-K partial sums, a few
    # hundred kB, differ between the two)
    per_head = unfused_attention_time(b, 1, kv, h, d, A100, "bf16", dropout=False)
    saved = 3 * b * kvh * 2 * kv * d * 2
    assert float(per_head.bytes[0]) - float(r.bytes[0]) == pytest.approx(saved, rel=0.01)


def test_an_inference_attention_op_runs_the_chain_without_dropout():
    op = Attention("attention", batch=16, q_len=1, kv_len=4096, heads=32, kv_heads=8, head_dim_qk=128,
                   head_dim_v=128, phase="decode", fused=False)
    expect = unfused_attention_time(16, 1, 4096, 32, 128, A100, "bf16", dropout=False, kv_heads=8)
    assert float(op_time(op, A100).time_s[0]) == pytest.approx(float(expect.time_s[0]), rel=1e-12)
    # a training op keeps Megatron's chain (per head, with dropout)
    train = Attention("attention", batch=1, q_len=2048, kv_len=2048, heads=24, kv_heads=24, head_dim_qk=96,
                      head_dim_v=96, phase="train", fused=False)
    assert float(op_time(train, A100).time_s[0]) == pytest.approx(
        float(unfused_attention_time(1, 2048, 2048, 24, 96, A100, "bf16").time_s[0]), rel=1e-12)


def test_request_graphs_unfuse_only_the_attention():
    cfg = load_model("llama-2-7b")
    from fabless.estimate.plan import Plan

    fused = request_graphs(cfg, Plan(), 4, 10, 110, Precision())
    unfused = request_graphs(cfg, Plan(), 4, 10, 110, Precision(), fused_attention=False)
    for fg, ug in zip(fused[0] + fused[1], unfused[0] + unfused[1]):
        assert ug == unfused_attention(fg)
        f_ops = [op for b in fg.blocks for op in b.ops]
        u_ops = [op for b in ug.blocks for op in b.ops]
        assert len(f_ops) == len(u_ops)
        for f, u in zip(f_ops, u_ops):
            if isinstance(f, Attention):
                assert f.fused and not u.fused
            else:
                assert f == u
