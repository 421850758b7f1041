"""Unfused attention (perf.attention.unfused_attention_time): the score matrix in HBM between
batched matmuls and softmax / dropout kernels, as Megatron-LM ran it before flash attention.
Values are worked out by hand from the kernel sequence and the A100 datasheet."""

from __future__ import annotations

import dataclasses

import pytest

from fabless.perf.attention import attention_time, unfused_attention_time
from fabless.perf.ops import op_time
from fabless.perf.params import ChipParams
from fabless.workload.ops import Attention

A100 = ChipParams.from_chip("a100-sxm")
HBM_RATE = 2039e9 * 0.88      # A100 80 GB: 2039 GB/s (chip file) x hbm_efficiency 0.88 (families.yaml default-gpu)
LAUNCH = 3e-6                 # launch_overhead_s (families.yaml default-gpu)
B, H, S, D = 1, 24, 2048, 96  # the 1.7B model of Narayanan et al. 2021: 24 heads of 96, sequence 2048


def test_dropout_costs_one_read_two_writes_and_a_launch():
    # forward dropout: reads P (2 bytes/element), writes P' (2) and the keep mask (1): 5 bytes per score
    elems = B * H * S * S
    with_d = unfused_attention_time(B, S, S, H, D, A100, "bf16")
    without = unfused_attention_time(B, S, S, H, D, A100, "bf16", dropout=False)
    assert float(with_d.time_s[0] - without.time_s[0]) == pytest.approx(LAUNCH + 5 * elems / HBM_RATE, rel=1e-9)
    # backward dropout: reads dP' (2) and the mask (1), writes dP (2): also 5 bytes per score
    with_b = unfused_attention_time(B, S, S, H, D, A100, "bf16", backward=True)
    without_b = unfused_attention_time(B, S, S, H, D, A100, "bf16", backward=True, dropout=False)
    assert float(with_b.time_s[0] - without_b.time_s[0]) == pytest.approx(LAUNCH + 5 * elems / HBM_RATE, rel=1e-9)


def test_flops_are_the_full_score_matrix_and_the_vector_work():
    # QKᵀ and PV over every (query, key) pair (the mask is applied, not skipped), plus the
    # softmax (6) and dropout (2) vector FLOPs per score
    elems = B * H * S * S
    r = unfused_attention_time(B, S, S, H, D, A100, "bf16")
    assert float(r.flops[0]) == pytest.approx(2 * elems * D + 2 * elems * D + 8 * elems, rel=1e-12)
    # backward: four matmuls of the same size each, dropout (1) and softmax (5) backward
    rb = unfused_attention_time(B, S, S, H, D, A100, "bf16", backward=True)
    assert float(rb.flops[0]) == pytest.approx(4 * 2 * elems * D + 6 * elems, rel=1e-12)
    assert r.tiling["kernels"] == 4 and rb.tiling["kernels"] == 6


def test_the_score_traffic_makes_it_memory_bound_and_slower_than_flash():
    # forward: S written (2 B), softmax 2+2, dropout 2+3, P' read by PV (2): 13 bytes per score at
    # least; 100.7M scores -> >= 1.31 GB -> >= 0.73 ms at 1.79 TB/s, where flash needs ~0.13 ms
    elems = B * H * S * S
    r = unfused_attention_time(B, S, S, H, D, A100, "bf16")
    assert str(r.bound[0]) == "memory"
    assert float(r.bytes[0]) >= 13 * elems
    assert float(r.time_s[0]) >= 13 * elems / HBM_RATE
    flash = attention_time(B, S, S, H, D, A100, "bf16", causal=True)
    assert float(r.time_s[0]) > 5 * float(flash.time_s[0])


def test_the_workload_op_dispatches_to_it():
    op = Attention(name="attn", batch=B, q_len=S, kv_len=S, heads=H, kv_heads=H, head_dim_qk=D, head_dim_v=D,
                   phase="train", fused=False)
    assert float(op_time(op, A100).time_s[0]) == float(unfused_attention_time(B, S, S, H, D, A100).time_s[0])
    bwd = dataclasses.replace(op, pass_="bwd")
    assert float(op_time(bwd, A100).time_s[0]) == float(
        unfused_attention_time(B, S, S, H, D, A100, backward=True).time_s[0])
    # the default op is the fused (flash) kernel
    assert float(op_time(dataclasses.replace(op, fused=True), A100).time_s[0]) == float(
        attention_time(B, S, S, H, D, A100, causal=True, phase="prefill").time_s[0])


def test_designs_at_once_equal_each_design_alone():
    from fabless.perf.params import concat

    h100 = ChipParams.from_chip("h100-sxm")
    both = concat([A100, h100])
    for backward in (False, True):
        r = unfused_attention_time(B, S, S, H, D, both, backward=backward)
        for i, one in enumerate((A100, h100)):
            alone = unfused_attention_time(B, S, S, H, D, one, backward=backward)
            assert float(r.time_s[i]) == pytest.approx(float(alone.time_s[0]), rel=1e-12)
