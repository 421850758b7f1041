"""A grouped GEMM of routed experts pads each expert's last row tile on its own
(perf.ops.expected_row_tiles, gemm_time's m_tiles), and a serving stack's grouped GEMMs may run at
their own share of its dense GEMMs' rate (software.yaml grouped_gemm_efficiency)."""

from __future__ import annotations

import math

import pytest

from fabless.errors import FablessError
from fabless.estimate import software as swmod
from fabless.estimate.optime import graph_time
from fabless.perf.gemm import gemm_time
from fabless.perf.ops import expected_row_tiles, op_time
from fabless.perf.params import ChipParams, concat
from fabless.workload.graph import Block, Graph
from fabless.workload.ops import ExpertMatMul


def test_expected_tiles_of_a_small_binomial_by_hand():
    # X ~ Binomial(4, 1/2): pmf 1, 4, 6, 4, 1 (/16); ceil(X / 2) = 0, 1, 1, 2, 2
    # -> E = (4 + 6 + 2 x 4 + 2 x 1) / 16 = 20 / 16
    assert expected_row_tiles(4, 0.5, 2.0) == pytest.approx(20 / 16, rel=1e-12)
    # tiles of one row: E[ceil(X / 1)] = E[X] = n p
    assert expected_row_tiles(2, 0.25, 1.0) == pytest.approx(0.5, rel=1e-12)
    # Binomial(3, 0.1), tiles of 2 rows: P(X >= 1) + P(X >= 3) = (1 - 0.9^3) + 0.1^3
    assert expected_row_tiles(3, 0.1, 2.0) == pytest.approx(1 - 0.9 ** 3 + 0.1 ** 3, rel=1e-12)
    # every token to the expert: ceil(n / b); no tokens: no tile
    assert expected_row_tiles(100, 1.0, 64.0) == 2.0 and expected_row_tiles(0, 0.5, 64.0) == 0.0


def test_a_round_mean_spills_about_half_the_experts_into_one_more_tile():
    # Mixtral, 8 experts top 2, a 8192-token prefill: each expert's rows are Binomial(8192, 1/4),
    # mean 2048 = 16 tiles of 128 exactly, sd sqrt(8192 x 1/4 x 3/4) = 39: about half the experts
    # hold more than 2048 rows and need a 17th tile, so E ~ 16.5 (the mean's ceil says 16).
    e = expected_row_tiles(8192, 0.25, 128.0)
    assert 16.45 < e < 16.55
    # far from a multiple of the tile (mean 224 of 128-row tiles, sd 13), the spill is rare
    assert expected_row_tiles(896, 0.25, 128.0) == pytest.approx(2.0, abs=0.01)


def test_m_tiles_sets_the_row_tiles_of_each_batch_entry():
    chip = ChipParams.from_chip("h100-sxm")
    # 4 entries of 100 x 256, tiles 128 x 128: 1 row tile x 2 column tiles x 4 = 8 tiles; with 1.5
    # row tiles per entry, 1.5 x 2 x 4 = 12
    plain = gemm_time(100, 256, 256, chip, "bf16", batch=4, tiles=[(128, 128)])
    spill = gemm_time(100, 256, 256, chip, "bf16", batch=4, tiles=[(128, 128)], m_tiles=lambda bm: 1.5)
    assert float(plain.tiling["tiles"][0]) == 8 and float(spill.tiling["tiles"][0]) == 12
    # the array path (several designs) counts the same tiles
    arr = gemm_time(100, 256, 256, concat([chip, chip]), "bf16", batch=4, tiles=[(128, 128)], m_tiles=lambda bm: 1.5)
    assert list(arr.tiling["tiles"]) == [12, 12]


def test_an_expert_matmul_pays_for_the_spilled_tiles():
    chip = ChipParams.from_chip("h100-sxm")
    # 8192 tokens, 8 experts top 2, n = 28672, k = 4096 (Mixtral's gate/up): the mean rows 2048
    # are whole tiles, the expected rows spill; compute-bound, so the time grows with the tiles
    op = ExpertMatMul("experts.gate_up", experts=8, tokens=8192, top_k=2, n=28672, k=4096,
                      dtype_a="fp8", dtype_b="fp8", dtype_out="bf16")
    r = op_time(op, chip)
    even = gemm_time(2048, 28672, 4096, chip, "fp8", batch=8, out_dtype="bf16")
    bm = float(r.tiling["tile_m"][0])
    ratio = expected_row_tiles(8192, 0.25, bm) / math.ceil(2048 / bm)
    assert float(r.tiling["tiles"][0]) == pytest.approx(8 * ratio * (2048 / bm) * math.ceil(28672 / float(r.tiling["tile_n"][0])))
    assert float(r.time_s[0]) > float(even.time_s[0])
    # with a capacity factor every expert computes its capacity: the mean rows, no spill
    capped = ExpertMatMul("experts.gate_up", experts=8, tokens=8192, top_k=2, n=28672, k=4096, capacity_factor=1.0,
                          dtype_a="fp8", dtype_b="fp8", dtype_out="bf16")
    assert float(op_time(capped, chip).time_s[0]) == pytest.approx(float(even.time_s[0]), rel=1e-9)


def test_grouped_efficiency_slows_only_the_expert_matmuls():
    chip = ChipParams.from_chip("h100-sxm")
    op = ExpertMatMul("experts.down", experts=8, tokens=16384, top_k=2, n=4096, k=14336,
                      dtype_a="fp8", dtype_b="fp8", dtype_out="bf16")
    g = Graph("g", "prefill", (Block("b", (op,), 1),), 16384, {})
    full = graph_time(g, chip, eff=0.6)["matmul"]
    half = graph_time(g, chip, eff=0.6, grouped_eff=0.5)["matmul"]
    same = graph_time(g, chip.replace(tile_overhead_s=chip.tile_overhead_s * 0.0), eff=0.3)["matmul"]
    # compute-bound (2 x 32768 x 4096 x 14336 FLOP against 8 experts' 59 MB of weights): at half
    # the rate the expert matmul takes what it takes at half the framework efficiency, on the chip without
    # the dense GEMMs' time per wave of tiles (a stack's own grouped kernel runs without it)
    assert half == pytest.approx(same, rel=1e-12) and half > 1.8 * full


def test_grouped_efficiency_is_checked_and_inference_only(tmp_path, monkeypatch):
    bad = tmp_path / "software.yaml"
    monkeypatch.setattr(swmod, "_PATH", bad)
    try:
        for phase, value, match in (("inference", 1.5, r"\(0, 1\]"), ("inference", 0, r"\(0, 1\]"),
                                    ("training", 0.8, "inference stacks only")):
            bad.write_text(f"x:\n  phase: {phase}\n  vendors: [NVIDIA]\n  date: 2026-01-01\n"
                           f"  grouped_gemm_efficiency: {{value: {value}, source: test, confidence: assumed, note: a test value}}\n")
            swmod.software_stacks.cache_clear()
            with pytest.raises(FablessError, match=match):
                swmod.software_stacks()
    finally:
        monkeypatch.undo()
        swmod.software_stacks.cache_clear()
