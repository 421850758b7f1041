"""Gaudi 2's four physical MMEs take the independent products of a batched matmul one each
(chips/gaudi2.yaml ``matrix_units.physical_split``; ChipParams.product_geometries).

Intel's forum answer (cited in chips/gaudi2.yaml) says the 2 logical MMEs are 4 physical ones that
the 256 x 256, 128 x 512 and 512 x 128 modes pair. A batched matmul of one query row per product
against a 128-wide V (decode attention's score x V, one product per sequence and head) fills 128 of
a 2xWide MME's 512 columns; a 256 x 128 physical MME holds those 128 columns whole. The check:
the MME times of Llama-2-7B decode attention's batched matmuls on Gaudi 2 published in the g2
README (github.com/ZhaiFeiyue/g2 at commit 63aee66af112ec24fa97917cd621ddf1d7dfec4e, 2024-07-12:
batch 64, 32 heads, head dim 128, BF16, 'MME latency(us)')."""

from __future__ import annotations

import pytest

from fabless.hardware.schema import MatrixUnits
from fabless.perf.gemm import gemm_time
from fabless.perf.params import ChipParams

G2 = ChipParams.from_chip("gaudi2")
LOGICAL = G2.replace(mu_split=1.0)  # the two logical MMEs only, as before the split
PRODUCTS = 64 * 32  # (sequence, head) products of the README's runs
#: the README's MME latency (us) by cached tokens T: Q K^T ([1 x 128] x [128 x T]) and score x V ([1 x T] x [T x 128])
QK_US = {128: 41, 256: 77, 512: 69, 1024: 192, 2048: 467, 4096: 935, 8192: 1894}
SV_US = {128: 42, 256: 81, 512: 160, 1024: 311, 2048: 639, 4096: 1279, 8192: 2539}


def _us(r) -> float:
    return float(r.time_s[0]) * 1e6


def test_score_v_by_hand():
    # 432 TFLOPS = 2 logical MMEs x 65,536 MACs x 2 FLOPs x 1.648 GHz. A 256 x 128 physical MME holds
    # V's 128 columns and loads 256 of its T rows per pass (256 cycles for one query row), so one
    # product takes T cycles; the 4 physical MMEs take 4 products at once, then one fill and drain
    # of 256 + 128 cycles. At mma_efficiency e the time is cycles / (1.648 GHz x e).
    clock = 432e12 / (2 * 65536 * 2)
    eff = float(G2.mma_efficiency[0])
    for t in (1024, 8192):
        cycles = PRODUCTS * t / 4 + (256 + 128)
        r = gemm_time(1, 128, t, G2, "bf16", batch=PRODUCTS)
        assert float(r.compute_s[0]) == pytest.approx(cycles / (clock * eff), rel=1e-9)
        # the logical MMEs alone: 2 arrays, each taking 128 useful columns a cycle: twice the cycles
        logical = gemm_time(1, 128, t, LOGICAL, "bf16", batch=PRODUCTS)
        assert float(logical.compute_s[0]) / float(r.compute_s[0]) == pytest.approx(2.0, rel=1e-3)


def test_score_v_against_the_measured_mme_times():
    # every length within 25% (the model runs GEMMs at the family's step-level mma_efficiency 0.88, and
    # a launch of 5 us); the logical shapes alone were more than twice the measured time at every length
    for t, us in SV_US.items():
        assert _us(gemm_time(1, 128, t, G2, "bf16", batch=PRODUCTS)) == pytest.approx(us, rel=0.25)
        assert _us(gemm_time(1, 128, t, LOGICAL, "bf16", batch=PRODUCTS)) > 2.0 * us


def test_qk_streams_the_keys_at_the_hbm_rate():
    # Q K^T's 128-deep products fill the 128 rows of a 128 x 256 physical MME (or of a 2xWide logical
    # one): 1,024 key columns a cycle, above what the HBM gives, so the keys stream at its rate. From
    # 2,048 tokens on the README's times are those of 2.27-2.30 TB/s; at 512 and 1,024 tokens they
    # would need 3.9 and 2.8 TB/s, above the 2.46 TB/s HBM (not HBM-bound runs), and are not compared.
    for t in (2048, 4096, 8192):
        us = QK_US[t]
        keys_gb_s = PRODUCTS * t * 128 * 2 / (us * 1e-6) / 1e9
        assert 2200 < keys_gb_s < 2460
        r = gemm_time(1, t, 128, G2, "bf16", batch=PRODUCTS)
        assert float(r.memory_s[0]) > float(r.compute_s[0])
        assert _us(r) == pytest.approx(us, rel=0.10)


def test_single_gemms_keep_the_logical_shapes():
    # the split applies to a batched matmul's independent products only: a single GEMM (decode's
    # weight GEMMs, training's) runs on the logical MMEs as before
    for m, n, k in ((1, 4096, 4096), (512, 11008, 4096), (8192, 8192, 8192)):
        assert _us(gemm_time(m, n, k, G2, "bf16")) == _us(gemm_time(m, n, k, LOGICAL, "bf16"))


def test_the_split_must_divide_the_array():
    base = dict(kind="systolic_array", count=2, rows=256, cols=256, macs_per_cycle={"bf16": 65536})
    assert MatrixUnits(**base, physical_split=2).physical_split == 2
    with pytest.raises(ValueError, match="physical_split 3 must divide"):
        MatrixUnits(**base, physical_split=3)
    with pytest.raises(ValueError, match="systolic_array"):
        MatrixUnits(kind="tensor_core", count=132, macs_per_cycle={"bf16": 1024}, physical_split=2)
