"""``moe_experts_sliced_per_core``: a stack that slices every routed expert's intermediate
dimension over all the replica's cores (NxD ExpertMLPs without expert parallelism), so each
core's expert matmuls are only that slice wide on its 128-column Tensor Engine. Worked by hand on
Qwen3-30B-A3B (experts 768 wide) on Trainium1 (2 NeuronCores a chip) and Trainium2 (8)."""

from __future__ import annotations

import dataclasses

import pytest

from fabless.estimate.engine import expert_array_use
from fabless.estimate.software import software_stacks
from fabless.hardware.presets import load_chip
from fabless.workload import load_model

NEURON = software_stacks()["neuron-inference"]


def test_the_slice_fills_its_share_of_the_array():
    cfg = load_model("qwen3-30b-a3b")
    trn1, trn2 = load_chip("trainium1"), load_chip("trainium2")
    assert (trn1.compute.cores, trn2.compute.cores, trn1.compute.matrix_units.cols) == (2, 8, 128)
    # 16 Trainium1 chips (tp 32 cores): 768 / 32 = 24 columns of 128
    assert expert_array_use(cfg, 16, trn1, NEURON) == pytest.approx(24 / 128)
    # one Trainium2 chip: 768 / 8 = 96 of 128
    assert expert_array_use(cfg, 1, trn2, NEURON) == pytest.approx(96 / 128)
    # one Trainium1 chip: 768 / 2 = 384 = three full passes of 128
    assert expert_array_use(cfg, 1, trn1, NEURON) == pytest.approx(1.0)
    # 4 Trainium1 chips: 768 / 8 = 96; 3 chips: 128 wide, a full pass
    assert expert_array_use(cfg, 4, trn1, NEURON) == pytest.approx(0.75)
    assert expert_array_use(cfg, 3, trn1, NEURON) == pytest.approx(1.0)


def test_only_a_slicing_stack_and_a_moe_model():
    cfg = load_model("qwen3-30b-a3b")
    trn1 = load_chip("trainium1")
    assert NEURON.moe_experts_sliced_per_core is True
    assert expert_array_use(cfg, 16, trn1, dataclasses.replace(NEURON, moe_experts_sliced_per_core=False)) == 1.0
    assert expert_array_use(load_model("llama-3.1-8b"), 16, trn1, NEURON) == 1.0
    assert expert_array_use(cfg, 16, trn1, None) == 1.0
    # neuron-inference and the vllm-neuron and optimum-neuron stacks merged from it (the same NxD modules)
    neuron = ("neuron-inference", "vllm-neuron", "vllm-neuron-cpu-sampling", "optimum-neuron-2025")
    assert software_stacks()["vllm-neuron"].moe_experts_sliced_per_core is True
    assert all(not s.moe_experts_sliced_per_core for n, s in software_stacks().items() if n not in neuron)
