"""A framework step on a TPU is one compiled XLA program (families.yaml ``compiled_step``): its
operators pay their on-device fixed cost (``device_fixed_s``), not a host dispatch each
(``launch_overhead_s``); a software stack may state its own cost per operator (``op_fixed_s``).
Checked by hand on one operator and on a decode step's operator count."""

from __future__ import annotations

import dataclasses

import pytest

from fabless.api import estimate
from fabless.estimate.optime import engine_params, step_chip
from fabless.estimate.software import software_stacks
from fabless.perf.ops import op_time
from fabless.perf.params import ChipParams, families
from fabless.workload.builder import build_decode_graph
from fabless.workload.catalog import load_model
from fabless.workload.ops import Elementwise

TINY = Elementwise(name="add", elements=8)  # 8 elements: its memory and math take picoseconds


def test_a_tpu_operator_in_a_step_pays_the_on_device_cost_and_alone_the_launch():
    tpu = families()["google-tpu"].values
    assert tpu["compiled_step"] == 1
    chip = ChipParams.from_chip("tpu-v5e")
    # a kernel timed on its own (a benchmark's loop of launches) keeps the whole fixed cost
    assert float(op_time(TINY, chip).time_s[0]) == pytest.approx(tpu["launch_overhead_s"], rel=1e-3)
    # inside a framework step it pays the device's part only: the scaling book's microsecond
    assert float(op_time(TINY, step_chip(chip)).time_s[0]) == pytest.approx(tpu["device_fixed_s"], rel=1e-3)
    assert tpu["device_fixed_s"] < tpu["launch_overhead_s"]


def test_a_gpu_step_launches_every_kernel_and_a_stack_may_state_its_own_cost():
    gpu = ChipParams.from_chip("h100-sxm")
    assert families()["nvidia-hopper"].values["compiled_step"] == 0
    assert step_chip(gpu) is gpu  # unchanged: the kernels are launched one by one
    own = dataclasses.replace(software_stacks()["sglang-jax"], op_fixed_s=7e-6)
    assert float(op_time(TINY, step_chip(gpu, own)).time_s[0]) == pytest.approx(7e-6, rel=1e-3)
    assert float(op_time(TINY, step_chip(ChipParams.from_chip("tpu-v5e"), own)).time_s[0]) == pytest.approx(7e-6, rel=1e-3)


def test_a_stacks_operator_cost_adds_to_every_operator_of_a_decode_step():
    # Llama 3.1 8B at batch 1 on one TPU v5e: sglang-jax differs from no stack only in its cost per
    # operator (same engine-wide efficiency, no per-position cost), so each decode step differs by that
    # cost less the device's, times the step's operators, counted here from the decode graph itself.
    base = {"model": "llama-3.1-8b", "system": {"name": "tpu-v5e-256", "count": 1}, "precision": "bf16",
            "parallel": {"tp": 1}, "inference": {"batch": 1, "input_tokens": 128, "output_tokens": 129}}
    sgl = software_stacks()["sglang-jax"]
    assert sgl.framework_kernel_efficiency == engine_params()["framework_kernel_efficiency"]
    assert sgl.decode_score_cost_s == 0
    plain, stack = estimate(base), estimate({**base, "software": "sglang-jax"})
    assert plain.metrics["software"] is None and stack.metrics["software"] == "sglang-jax"
    ops = sum(len(b.ops) * b.repeat for b in build_decode_graph(load_model("llama-3.1-8b"), 1, 200).blocks)
    per_op = sgl.op_fixed_s - families()["google-tpu"].values["device_fixed_s"]
    assert stack.metrics["tpot_s"] - plain.metrics["tpot_s"] == pytest.approx(ops * per_op, rel=1e-6)


def test_a_recommendation_step_on_a_tpu_is_one_program_too():
    # DLRM (MLPerf v1 config) inference at batch 4096 on 8 TPU v5e: the estimate times its kernels as operators of
    # one compiled step. Against the same step with every kernel launched from the host, each kernel saves the
    # launch cost less the device's (the collectives are timed from the system's links, not from these), so the
    # difference is a whole number of kernels at that saving, at least one per dense layer of the model.
    from fabless.estimate.engine import resolve_system
    from fabless.estimate.recsys import recsys_step
    from fabless.estimate.scenario import Scenario
    from fabless.workload.catalog import load_recsys

    spec = {"model": "dlrm-mlperf-v1", "system": {"name": "tpu-v5e-256", "count": 8}, "precision": "bf16",
            "inference": {"batch": 4096}}
    est = estimate(spec)
    system = resolve_system(Scenario.model_validate(spec))
    cfg = load_recsys("dlrm-mlperf-v1")
    launched = recsys_step(cfg, system, ChipParams.from_chip(system.chip), batch=4096, training=False)
    saving = families()["google-tpu"].values["launch_overhead_s"] - families()["google-tpu"].values["device_fixed_s"]
    kernels = (launched.time_s - est.metrics["latency_s"]) / saving
    assert kernels == pytest.approx(round(kernels), abs=1e-6)
    assert round(kernels) >= len(cfg.bottom_mlp) + len(cfg.top_mlp)
    # a GPU step is unchanged: its kernels are launched one by one
    gpu = {**spec, "system": {"name": "dgx-h100", "count": 1}}
    system = resolve_system(Scenario.model_validate(gpu))
    assert estimate(gpu).metrics["latency_s"] == pytest.approx(
        recsys_step(cfg, system, ChipParams.from_chip(system.chip), batch=4096, training=False).time_s, rel=1e-12)
