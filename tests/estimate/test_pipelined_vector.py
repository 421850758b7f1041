"""Gaudi's graph compiler runs TPC work (elementwise, norms) pipelined with the MME matmuls
(software.yaml pipelined_vector; fabless.estimate.step.part_times): checked by hand on toy
parts and on one Gaudi 2 training shape."""

from __future__ import annotations

import pytest

from fabless.estimate.engine import _precision
from fabless.estimate.scenario import scenario_from_dict
from fabless.estimate.software import software_stacks
from fabless.estimate.step import part_times, shape_times, vector_under_matmul
from fabless.workload.catalog import load_model
from fabless.perf.params import ChipParams
from fabless.workload.ops import Elementwise, MatMul

MM = MatMul(name="mm", m=8, n=8, k=8)
EW = Elementwise(name="ew", elements=8)


def _time(seconds):
    return lambda pairs: sum(seconds[op.name] * c for op, c in pairs)


def test_vector_work_hides_under_the_matmuls_and_only_its_excess_shows():
    assert vector_under_matmul(10.0, 4.0) == 0.0
    assert vector_under_matmul(2.0, 4.0) == 2.0
    terms = {"layer.matmul": [(MM, 1.0)], "layer.elementwise": [(EW, 3.0)], "layer.norm": [(EW, 1.0)],
             "rec_full": [(MM, 1.0), (EW, 1.0)], "rec_sel": [], "embed": [], "head": [], "optimizer": [], "bwd_mm": []}
    # matmuls 10 s, vector 3 + 1 = 4 s: all of it under the matmuls; recompute 10 + 1 -> 10
    out = part_times(terms, _time({"mm": 10.0, "ew": 1.0}), pipelined_vector=True)
    assert (out["layer.matmul"], out["layer.elementwise"], out["layer.norm"]) == (10.0, 0.0, 0.0)
    assert out["rec_full"] == 10.0
    # matmuls 2 s, vector 4 s: 2 s exposed, shared 3 : 1 between the categories; recompute 2 + max(0, 1 - 2)
    out = part_times(terms, _time({"mm": 2.0, "ew": 1.0}), pipelined_vector=True)
    assert out["layer.elementwise"] == pytest.approx(1.5) and out["layer.norm"] == pytest.approx(0.5)
    assert out["rec_full"] == pytest.approx(2.0)
    # without the flag every part is the plain sum
    out = part_times(terms, _time({"mm": 2.0, "ew": 1.0}))
    assert (out["layer.elementwise"], out["layer.norm"], out["rec_full"]) == (3.0, 1.0, 3.0)


def test_gaudi_training_stacks_pipeline_and_others_do_not():
    stacks = software_stacks()
    gaudi = {"megatron-deepspeed-gaudi", "megatron-deepspeed-gaudi-v3.0", "optimum-habana-deepspeed-lora"}
    assert {n for n, s in stacks.items() if s.pipelined_vector} == gaudi


def test_gpt3_layer_on_gaudi2_by_hand():
    # train-gaudi-004's shard (GPT-3 175B, tp 8, micro-batch 2, seq 2048, fp8): the layers' matmuls take far
    # longer than their elementwise and norm work, so the pipelined layers lose exactly that vector time.
    scn = scenario_from_dict({"model": "gpt3-175b", "system": {"name": "gaudi2-8", "count": 8}, "precision": "fp8",
                              "parallel": {"tp": 8}, "training": {"global_batch": 2, "micro_batch": 2, "seq_len": 2048}})
    cfg, prec, chip = load_model("gpt3-175b"), _precision(scn), ChipParams.from_chip("gaudi2")
    plain = shape_times(cfg, chip, prec, 8, 1, 1, 2, 2048)
    piped = shape_times(cfg, chip, prec, 8, 1, 1, 2, 2048, pipelined_vector=True)
    vec = plain.layers["elementwise"] + plain.layers["norm"]
    assert 0 < vec < plain.layers["matmul"]
    assert plain.layers_total - piped.layers_total == pytest.approx(vec, rel=1e-12)
    assert piped.layers["matmul"] == plain.layers["matmul"] and piped.layers["attention"] == plain.layers["attention"]
