"""Training and inference predictors: every row mapped or skipped with a reason, the
conversions checked by hand, the fit/held-out split honest, the engine's physics fixes."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from fabless.estimate.engine import Kernels, engine_params, estimate, inference_all_reduce_s
from fabless.estimate.scenario import scenario_from_dict
from fabless.hardware.presets import load_system
from fabless.perf.collectives import group_collective_time_s
from fabless.validate import infer, train
from fabless.validate.core import Skip, evaluate, load_rows

ROWS = [r for r in load_rows() if r["category"] in ("train", "infer")]


def test_every_row_is_mapped_or_skipped_with_a_reason():
    m = train.scenario_map()
    for r in ROWS:
        entry = m.get(r["id"])
        assert entry is not None, f"{r['id']} has no entry in scenarios.yaml"
        if "skip" in entry:
            assert len(str(entry["skip"])) > 20, r["id"]
        else:
            assert entry.get("note") and entry.get("convert") and entry.get("scenario"), r["id"]


def test_fit_rows_are_mapped_and_at_most_half():
    outcomes = [o for o in evaluate(["train", "infer"]) if o.predicted is not None]
    for cat, mod in (("train", train), ("infer", infer)):
        predicted = {o.id for o in outcomes if o.category == cat}
        assert mod.FIT_IDS <= predicted, mod.FIT_IDS - predicted
        assert len(mod.FIT_IDS) <= len(predicted) / 2


def test_predictions_are_finite_and_positive():
    for o in evaluate(["train", "infer"]):
        if o.skipped is None:
            assert math.isfinite(o.predicted) and o.predicted > 0, o.id


def test_megatron_flops_conversion_by_hand():
    # Narayanan et al. eq. 3 for the 1T model (l 128, h 25600, V 51200, B 3072, s 2048):
    # 96 B s l h^2 (1 + s/6h + V/16lh) = 5.139e19 FLOPs per step (hand value: 6 x 1T params x 6.3M tokens x 4/3 for recompute = 5.0e19). At the
    # paper's 163 TFLOP/s on 3072 GPUs that is a 102.6 s step; the conversion must invert it.
    row = {"id": "train-067"}
    entry = train.scenario_map()["train-067"]
    scn = scenario_from_dict(entry["scenario"])
    flops = 96 * 3072 * 2048 * 128 * 25600**2 * (1 + 2048 / (6 * 25600) + 51200 / (16 * 128 * 25600))
    assert flops == pytest.approx(5.139e19, rel=1e-3)
    step = flops / (3072 * 163e12)
    est = SimpleNamespace(metrics={"step_time_s": step}, chips=3072)
    assert train.convert(row, entry, scn, est) == pytest.approx(163.0, rel=1e-9)


def test_skipped_row_raises_skip_with_reason():
    row = next(r for r in ROWS if r["id"] == "train-001")
    with pytest.raises(Skip, match="tokens to train"):
        train.predict(row)


def _decode(precision) -> float:
    scn = scenario_from_dict({"model": "llama-2-7b", "system": {"name": "dgx-a100", "count": 1},
                              "precision": precision, "parallel": {"tp": 1},
                              "inference": {"batch": 1, "input_tokens": 5, "output_tokens": 200}})
    return estimate(scn).metrics["tpot_s"]


def test_weight_only_int8_decode_reads_fewer_bytes():
    # batch-1 decode streams the weights: int8 weights (bf16 math) must be clearly faster than bf16
    bf16 = _decode("bf16")
    int8 = _decode({"weights": "int8", "activations": "bf16", "kv_cache": "bf16"})
    assert int8 < 0.75 * bf16


def test_weight_only_int4_decode_faster_than_int8():
    # int4 weights are half the bytes of int8: a memory-bound batch-1 decode must be faster
    # (it was identical while a tile-padded compute floor capped both narrow formats)
    int8 = _decode({"weights": "int8", "activations": "bf16", "kv_cache": "bf16"})
    int4 = _decode({"weights": "int4", "activations": "bf16", "kv_cache": "bf16"})
    assert int4 < 0.8 * int8


def _train_breakdown(precision, interleave=1):
    scn = scenario_from_dict({"model": "gpt3-175b", "system": {"name": "dgx-h100", "count": 512},
                              "precision": precision, "parallel": {"tp": 4, "pp": 8, "interleave": interleave},
                              "training": {"global_batch": 2048, "micro_batch": 1, "seq_len": 2048}})
    return estimate(scn)


def test_fp8_training_keeps_attention_and_elementwise_in_bf16():
    # Transformer Engine FP8 = FP8 GEMM inputs only: attention and memory-bound kernels cost what bf16 costs
    fp8, bf16 = _train_breakdown("fp8").breakdown_s, _train_breakdown("bf16").breakdown_s
    for cat in ("attention", "elementwise", "norm"):
        assert fp8[cat] == pytest.approx(bf16[cat], rel=1e-9), cat
    assert fp8["matmul"] < 0.75 * bf16["matmul"]


def test_interleave_shrinks_the_bubble_and_multiplies_p2p():
    one, twelve = _train_breakdown("fp8", 1), _train_breakdown("fp8", 12)
    m = one.metrics["micro_batches"]
    assert one.metrics["pipeline_bubble_fraction"] == pytest.approx(7 / (m + 7))
    assert twelve.metrics["pipeline_bubble_fraction"] == pytest.approx(7 / (12 * m + 7))
    assert twelve.breakdown_s["pp_send_recv"] == pytest.approx(12 * one.breakdown_s["pp_send_recv"], rel=1e-9)


def test_decode_without_gqa_kv_reuse_reads_kv_per_query_head():
    # Llama-2-70B: 64 query heads share 8 KV heads; without reuse the decode attention streams 8x the KV
    scn = scenario_from_dict({"model": "llama-2-70b", "system": {"name": "dgx-h100", "count": 2}, "precision": "fp8",
                              "parallel": {"tp": 2}, "inference": {"batch": 64, "input_tokens": 2048, "output_tokens": 2048}})
    reuse = estimate(scn).breakdown_s["decode.attention"]
    per_head = estimate(scn, Kernels(gqa_kv_reuse=False)).breakdown_s["decode.attention"]
    assert 5 * reuse < per_head < 8.5 * reuse
    assert estimate(scn, Kernels(gqa_kv_reuse=False)).memory_bytes == estimate(scn).memory_bytes


def test_inference_all_reduce_is_the_custom_kernel_up_to_its_buffer_then_nccl():
    # vLLM's CustomAllreduce registers an 8 MiB buffer (max_size=8192 * 1024): a tensor that fits runs the custom
    # kernel, latency + (n-1) x bytes / one-way NVLink bandwidth (450 GB/s on H100), whatever NCCL would take; a
    # larger one goes to NCCL. Gaudi's engines have no such kernel: HCCL (the collective model) at every size.
    sys_ = load_system("dgx-h100")
    lat = engine_params()["custom_allreduce_latency_s"]
    for nbytes in (16e3, 1e6, 8 * 2**20):
        assert inference_all_reduce_s(nbytes, 8, sys_) == pytest.approx(lat + 7 * nbytes / 450e9, rel=1e-9)
    for nbytes in (8 * 2**20 + 2, 64e6):
        assert inference_all_reduce_s(nbytes, 8, sys_) == group_collective_time_s("all_reduce", nbytes, 8, sys_, within_domain=True)
    gaudi = load_system("gaudi2-8")
    assert inference_all_reduce_s(16e3, 8, gaudi) == group_collective_time_s("all_reduce", 16e3, 8, gaudi, within_domain=True)


def _decode_attention_s(kv_cache: str) -> float:
    scn = scenario_from_dict({"model": "llama-2-7b", "system": {"name": "dgx-h100", "count": 1},
                              "precision": {"weights": "fp8", "activations": "fp8", "kv_cache": kv_cache},
                              "parallel": {"tp": 1}, "inference": {"batch": 256, "input_tokens": 2048, "output_tokens": 128}})
    return estimate(scn).breakdown_s["decode.attention"]


def test_fp8_kv_cache_decode_attention_streams_one_byte_per_element():
    # the single-kernel attention model counts the cache at the math width (bf16); a decode over an
    # FP8 cache is memory-bound and must take about half the time of a bf16 cache
    fp8, bf16 = _decode_attention_s("fp8"), _decode_attention_s("bf16")
    assert 0.45 * bf16 < fp8 < 0.6 * bf16


def test_fp8_inference_all_reduce_moves_bf16_activations():
    # FP8 GEMM inputs: the row-parallel GEMMs write bf16, so the TP all-reduce moves 2 bytes per element
    def tp_pre(prec):
        scn = scenario_from_dict({"model": "llama-2-70b", "system": {"name": "dgx-h100", "count": 4}, "precision": prec,
                                  "parallel": {"tp": 4}, "inference": {"batch": 1, "input_tokens": 2048, "output_tokens": 1}})
        return estimate(scn).breakdown_s["prefill.tp_comm"]
    assert tp_pre("fp8") == pytest.approx(tp_pre("bf16"), rel=1e-9)


def test_a_mapped_plan_the_engine_cannot_run_is_that_rows_skip_not_an_error(monkeypatch):
    # tensor parallelism 16 on 8-GPU nodes breaks the scale-up-domain rule: the row is skipped with the
    # engine's rule named, and the row after it is still predicted
    import types

    from fabless.estimate.plan import PlanError
    from fabless.validate import core

    def predict(row):
        if row["id"] == "x-1":
            raise PlanError("tp-in-domain", "tp 16 exceeds the 8-chip scale-up domain")
        return 2.0

    monkeypatch.setattr(core, "_predictor", lambda cat: types.SimpleNamespace(predict=predict, FIT_IDS=frozenset()))
    rows = [{"id": f"x-{i}", "category": "serve", "hardware": "NVIDIA H100 SXM", "metric": "m", "value": "1"} for i in (1, 2)]
    out = {o.id: o for o in core.evaluate(["serve"], rows=rows)}
    assert out["x-1"].predicted is None and "tp-in-domain" in out["x-1"].skipped
    assert out["x-2"].predicted == 2.0 and not out["x-2"].skipped
