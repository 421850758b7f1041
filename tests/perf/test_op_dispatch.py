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
    # LayerNorm backward over 8192 x 4096 bf16: reads x and dy (2 x 8192 x 4096 x 2 bytes) and the gain and bias
    # (2 x 4096 x 2), writes dx (8192 x 4096 x 2) and their gradients (2 x 4096 x 2); and where the family sums the
    # gradients through fp32 partials, P = min(rows, cores x partials a core) rows of them for the gain and the bias
    # (P x 4096 x 4 bytes each), written by the rows' kernel and read by a second one, whose fixed cost it also pays.
    # No memory-bound kernel streams faster than the chip's HBM bandwidth x its achievable fraction
    chip = ChipParams.from_chip(name)
    rate = float(chip.hbm_bytes_per_s[0] * chip.hbm_efficiency[0])
    n = 8192 * 4096
    partial_rows = min(8192.0, float(chip.cores[0] * chip.norm_bwd_partials_per_core[0]))
    fwd = w.Norm("ln", rows=8192, hidden=4096, norm="layer")
    bwd = w.Norm("ln", rows=8192, hidden=4096, norm="layer", pass_="bwd")
    tf, tb = op_time(fwd, chip), op_time(bwd, chip)
    assert tf.time_s[0] >= (2 * n * 2 + 2 * 4096 * 2) / rate * (1 - 1e-9)
    moved = 3 * n * 2 + 4 * 4096 * 2 + 2 * (2 * partial_rows * 4096 * 4)
    assert tb.memory_s[0] == pytest.approx(moved / rate, rel=1e-9)
    assert tb.overhead_s[0] == pytest.approx(chip.launch_overhead_s[0] * (2 if partial_rows else 1))
    # the NVIDIA families write partials (fitted on cuDNN's norm backward rows), the others run one kernel
    assert (partial_rows > 0) == (name in ("h100-sxm", "b200"))
    # and its math is twice the forward's 7 FLOPs per element
    assert tb.flops[0] == 2 * 7 * n


def test_norm_backward_partials_by_hand():
    # GPT-3 175B's LayerNorm backward, 1024 x 12288 bf16, on a design of 100 cores with 4 partial rows a core and
    # 1 TB/s of HBM at full efficiency: 400 rows of partials, 2 x 400 x 12288 x 4 = 39.3 MB written and read, against
    # 3 x 1024 x 12288 x 2 = 75.5 MB of data and 4 x 12288 x 2 of gains and gradients
    chip = ChipParams.from_arrays(peak_flops_per_s={"bf16": 1e15}, cores=100, hbm_bytes_per_s=1e12,
                                  boost_clock_hz=1e9, hbm_efficiency=1.0, norm_bwd_partials_per_core=4.0,
                                  launch_overhead_s=2e-6)
    r = op_time(w.Norm("ln", rows=1024, hidden=12288, norm="layer", pass_="bwd"), chip)
    moved = 3 * 1024 * 12288 * 2 + 4 * 12288 * 2 + 2 * (2 * 400 * 12288 * 4)
    assert r.memory_s[0] == pytest.approx(moved / 1e12, rel=1e-12)
    assert r.time_s[0] == pytest.approx(4e-6 + max(r.compute_s[0], moved / 1e12), rel=1e-12)
    # more cores than rows: one partial row per row at most
    chip8 = chip.replace(norm_bwd_partials_per_core=64.0)
    r8 = op_time(w.Norm("ln", rows=1024, hidden=12288, norm="layer", pass_="bwd"), chip8)
    assert r8.memory_s[0] == pytest.approx((3 * 1024 * 12288 * 2 + 4 * 12288 * 2 + 4 * 1024 * 12288 * 4) / 1e12)


def test_accepts_a_preset_name():
    op = w.MatMul("x", m=1024, n=1024, k=1024)
    assert op_time(op, "h100-sxm").time_s.shape == (1,)
