"""perf.ops.op_time maps the workload IR's operators onto the shape-level models."""

from __future__ import annotations

import pytest

from fabless.errors import FablessError
from fabless.perf.attention import attention_time
from fabless.perf.gemm import gemm_time
from fabless.perf.ops import op_time
from fabless.perf.params import ChipParams
from fabless.workload import ops as w


@pytest.fixture(scope="module")
def chip():
    return ChipParams.from_chip("h100-sxm")


def test_matmul_is_a_gemm(chip):
    op = w.MatMul("proj", m=4096, n=8192, k=4096, weight=True)
    assert op_time(op, chip).time_s[0] == gemm_time(4096, 8192, 4096, chip).time_s[0]
    assert op_time(op, chip).flops[0] == op.flops


def test_attention_decode_and_backward(chip):
    op = w.Attention("attn", batch=8, q_len=1, kv_len=4096, heads=32, kv_heads=8, head_dim_qk=128,
                     head_dim_v=128, phase="decode")
    r = op_time(op, chip)
    ref = attention_time(8, 1, 4096, 32, 128, chip, kv_heads=8, phase="decode")
    assert r.time_s[0] == ref.time_s[0] and r.bound[0] == "memory"
    fwd = w.Attention("a", batch=4, q_len=4096, kv_len=4096, heads=16, kv_heads=16, head_dim_qk=128, head_dim_v=128)
    bwd = w.Attention("a", batch=4, q_len=4096, kv_len=4096, heads=16, kv_heads=16, head_dim_qk=128, head_dim_v=128, pass_="bwd")
    tf, tb = op_time(fwd, chip), op_time(bwd, chip)
    # H100's backward takes the Hopper family's measured 3.075 forward times (H200 cuDNN rows at cuDNN's forward rate,
    # fresh17_kc_scores.md; 2.86 at FlashAttention-3's until stop 54)
    assert tb.compute_s[0] == pytest.approx(3.075 * tf.compute_s[0])
    assert tb.flops[0] == bwd.flops
    # MLA's 192/128: the backward's time follows the Q/K head dimension -> 2 x 192 / (192 + 128) = 1.2 of an
    # equal-head backward's time per forward FLOP, by hand
    fwd = w.Attention("a", batch=4, q_len=4096, kv_len=4096, heads=16, kv_heads=16, head_dim_qk=192, head_dim_v=128)
    bwd = w.Attention("a", batch=4, q_len=4096, kv_len=4096, heads=16, kv_heads=16, head_dim_qk=192, head_dim_v=128,
                      pass_="bwd")
    tf, tb = op_time(fwd, chip), op_time(bwd, chip)
    assert tb.compute_s[0] == pytest.approx(3.075 * 1.2 * tf.compute_s[0])


def test_memory_bound_ops_and_collectives(chip):
    norm = w.Norm("ln", rows=8192, hidden=4096)
    assert op_time(norm, chip).bound[0] == "memory"
    with pytest.raises(FablessError, match="collectives"):
        op_time(w.Collective("ar", collective="all_reduce", payload_bytes=1e6), chip)


@pytest.mark.parametrize("name", ["h100-sxm", "b200", "tpu-v5p", "mi300x"])
def test_norm_backward_moves_its_own_bytes(name):
    # LayerNorm backward over 8192 x 4096 bf16: reads x and dy (2 x 8192 x 4096 x 2 bytes) and
    # the gain and bias (2 x 4096 x 2), writes dx (8192 x 4096 x 2): 3 x 64 MiB + 16 KiB, half as
    # much again as the forward's 2 x 64 MiB + 16 KiB; no memory-bound kernel streams faster than
    # the chip's HBM bandwidth x its achievable fraction
    chip = ChipParams.from_chip(name)
    rate = float(chip.hbm_bytes_per_s[0] * chip.hbm_efficiency[0])
    n = 8192 * 4096
    fwd = w.Norm("ln", rows=8192, hidden=4096, norm="layer")
    bwd = w.Norm("ln", rows=8192, hidden=4096, norm="layer", pass_="bwd")
    tf, tb = op_time(fwd, chip), op_time(bwd, chip)
    assert tf.time_s[0] >= (2 * n * 2 + 2 * 4096 * 2) / rate * (1 - 1e-9)
    assert tb.time_s[0] >= (3 * n * 2 + 2 * 4096 * 2) / rate * (1 - 1e-9)
    assert tb.memory_s[0] == pytest.approx(1.5 * tf.memory_s[0], rel=1e-3)
    # and its math is twice the forward's 7 FLOPs per element
    assert tb.flops[0] == 2 * 7 * n


def test_accepts_a_preset_name():
    op = w.MatMul("x", m=1024, n=1024, k=1024)
    assert op_time(op, "h100-sxm").time_s.shape == (1,)
