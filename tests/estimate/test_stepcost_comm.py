"""The serving step cost's tensor-parallel all-reduces (EngineStepCost.comm_time_s): the same
all-reduce as the engine's inference estimate, on the bf16 activations the GEMMs write."""

from __future__ import annotations

import pytest

from fabless.estimate.engine import engine_params, estimate
from fabless.estimate.scenario import scenario_from_dict
from fabless.estimate.stepcost import EngineStepCost
from fabless.perf.collectives import group_collective_time_s


def _scn(precision: str, system: str = "mi300x-8", model: str = "llama-3.1-70b", batch: int = 1):
    return scenario_from_dict({"model": model, "system": {"name": system, "count": 8}, "precision": precision,
                               "parallel": {"tp": 8}, "inference": {"batch": batch, "input_tokens": 128, "output_tokens": 2048}})


def test_batch1_all_reduce_is_the_one_shot_custom_kernel_on_bf16():
    # Llama-3.1-70B: 80 layers, hidden 8192. One decode token: 8192 x 2 bytes (bf16, also under
    # fp8: FP8 GEMM inputs, bf16 outputs) = 16384 B per all-reduce, 2 per layer = 160.
    # MI300X: 7 xGMI links of 128 GB/s bidirectional = 448 GB/s one way. One-shot custom
    # all-reduce (vLLM's, enabled on ROCm for 1-hop xGMI): latency + 7 x 16384 / 448e9 = latency + 0.256 us.
    # The engine runs it for every tensor its buffer holds (8 MiB, engine.yaml custom_allreduce_max_bytes),
    # whatever the collective library's own all-reduce would take; a larger tensor goes to the library.
    m = EngineStepCost.from_scenario(_scn("fp8"))
    lat = engine_params()["custom_allreduce_latency_s"]
    one_shot = lat + 7 * 16384 / 448e9
    f = engine_params()["tp_comm_exposed_fraction"]
    assert m.comm_time_s(1) == pytest.approx(160 * f * one_shot, rel=1e-9)
    assert engine_params()["custom_allreduce_max_bytes"] == 8 * 2**20
    # 1024 tokens of a prefill: 1024 x 8192 x 2 B = 16 MiB per all-reduce, above the buffer: the library's
    library = group_collective_time_s("all_reduce", 16 * 2**20, 8, m.system, within_domain=True)
    assert m.comm_time_s(1024) == pytest.approx(160 * f * library, rel=1e-9)


def test_fp8_and_bf16_move_the_same_bytes():
    # The all-reduced tensor is a row-parallel GEMM's bf16 output either way.
    for T in (1, 64, 4096):
        assert EngineStepCost.from_scenario(_scn("fp8")).comm_time_s(T) == pytest.approx(
            EngineStepCost.from_scenario(_scn("bf16")).comm_time_s(T), rel=1e-12)


@pytest.mark.parametrize("system", ["mi300x-8", "dgx-h100"])
@pytest.mark.parametrize("batch", [1, 256])
def test_step_all_reduce_equals_the_static_estimate(system, batch):
    # A decode step of B sequences all-reduces B x hidden per call, as the static inference
    # estimate's decode step does: the two paths time the same collective.
    scn = _scn("fp8", system, batch=batch)
    est = estimate(scn)
    per_step = est.breakdown_s["decode.tp_comm"] / (2048 - 1)
    assert EngineStepCost.from_scenario(scn).comm_time_s(batch) == pytest.approx(per_step, rel=1e-9)
