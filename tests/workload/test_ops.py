"""Single operators: FLOPs, minimum bytes and parameters by hand."""

from __future__ import annotations

import pytest

from fabless.errors import FablessError
from fabless.workload import (
    Attention,
    Collective,
    Elementwise,
    Embedding,
    ExpertMatMul,
    MatMul,
    Norm,
    backward_ops,
)


def test_matmul_with_weight():
    op = MatMul("w", m=16, n=4096, k=8192, dtype_a="bf16", dtype_b="fp8", dtype_out="bf16", weight=True)
    assert op.flops == 2 * 16 * 4096 * 8192
    assert op.bytes_read == 16 * 8192 * 2 + 8192 * 4096 * 1
    assert op.bytes_written == 16 * 4096 * 2
    assert op.params == 8192 * 4096
    assert MatMul("t", m=1, n=2, k=3, weight=True, tied=True).params == 0


def test_matmul_backward_is_twice_the_forward():
    op = MatMul("w", m=64, n=128, k=256, weight=True)
    bwd = backward_ops(op)
    assert [o.name for o in bwd] == ["w.dgrad", "w.wgrad"]
    assert sum(o.flops for o in bwd) == 2 * op.flops
    assert all(o.params == 0 for o in bwd)
    wgrad = bwd[1]  # A^T (k x m) @ dC (m x n): reads both activations, writes the k x n gradient
    assert wgrad.bytes_written == 256 * 128 * 2


@pytest.mark.parametrize("q,kv,pairs", [(4, 4, 10), (1, 100, 100), (3, 10, 7 * 3 + 6)])
def test_attention_causal_pairs(q, kv, pairs):
    # query i of q (at the end of kv positions) sees kv - q + i + 1 keys
    a = Attention("a", batch=1, q_len=q, kv_len=kv, heads=1, kv_heads=1, head_dim_qk=8, head_dim_v=8)
    assert a.pairs == pairs
    assert a.flops == 2 * pairs * (8 + 8)
    assert a.flops_dense == 2 * q * kv * 16


def test_attention_sliding_window():
    # 8 queries over 8 keys with a window of 3: 1 + 2 + 3*6 pairs
    a = Attention("a", batch=1, q_len=8, kv_len=8, heads=1, kv_heads=1, head_dim_qk=4, head_dim_v=4, window=3)
    assert a.pairs == 1 + 2 + 3 * 6
    d = Attention("d", batch=1, q_len=1, kv_len=1000, heads=1, kv_heads=1, head_dim_qk=4, head_dim_v=4, window=256)
    assert d.pairs == 256


def test_decode_attention_reads_the_cache_gqa():
    a = Attention("a", batch=2, q_len=1, kv_len=1000, heads=64, kv_heads=8, head_dim_qk=128, head_dim_v=128,
                  phase="decode", kv_dtype="fp8")
    assert a.kv_bytes == 2 * 1000 * 8 * 256 * 1
    assert a.bytes_read == a.kv_bytes + 2 * 64 * 128 * 2
    assert a.flops == 2 * 2 * 64 * 1000 * 256


def test_expert_matmul_touched_experts_and_active_params():
    e = ExpertMatMul("x", experts=8, tokens=1, top_k=2, n=14336, k=4096)
    assert e.experts_touched == pytest.approx(2)
    assert e.params == 8 * 4096 * 14336 and e.params_active == 2 * 4096 * 14336
    big = ExpertMatMul("x", experts=8, tokens=4096, top_k=2, n=14336, k=4096)
    assert big.experts_touched == pytest.approx(8)
    assert big.flops == 2 * 4096 * 2 * 14336 * 4096


def test_embedding_reads_touched_rows_only():
    e = Embedding("e", lookups=1000, rows=10_000_000, dim=128, dtype="fp32")
    assert e.params == 10_000_000 * 128
    assert e.bytes_read == 1000 * 8 + 1000 * 128 * 4
    small = Embedding("e", lookups=10_000, rows=100, dim=4)
    assert small.rows_touched == 100


def test_norm_params_and_elementwise_bias():
    assert Norm("n", rows=4, hidden=10, norm="rms").params == 10
    assert Norm("n", rows=4, hidden=10, norm="layer").params == 20
    b = Elementwise("b", elements=40, param_elements=10)
    assert b.params == 10 and b.bytes_read == (40 + 10) * 2


def test_bad_dtype_and_collective_are_one_line_errors():
    with pytest.raises(FablessError, match="unknown dtype 'bf61'"):
        MatMul("w", m=1, n=1, k=1, dtype_a="bf61").bytes_read
    with pytest.raises(FablessError, match="all_reduce"):
        Collective("c", collective="allreduce", payload_bytes=1e6)
    c = Collective("c", collective="all_gather", payload_bytes=1e6, group="tp")
    assert c.flops == 0 and backward_ops(c)[0].collective == "reduce_scatter"
