"""Every training row runs the software its source names (issue #13, item 2): rows of frameworks with no
fit rows name an uncalibrated stack of software.yaml, which takes the engine-wide parameters, instead of
falling back to the vendor's default stack (Megatron-Bridge on NVIDIA, MaxText on TPU)."""

from __future__ import annotations

import re

import pytest

from fabless.estimate.optime import engine_params
from fabless.estimate.software import default_software, software_stacks
from fabless.hardware import load_chip
from fabless.validate import train
from fabless.validate.core import load_rows

#: What a row's config (``framework=``) or kernel text says -> the stack it must name.
FRAMEWORKS = (
    (r"torchtitan", "torchtitan"),
    (r"axlearn", "axlearn"),
    (r"torchprime", "torchprime"),
    (r"paxml", "paxml"),
    (r"fms-fsdp", "fms-fsdp"),
    (r"nemo automodel", "nemo-automodel"),
    (r"pytorch/xla", "pytorch-xla-hf"),
)
UNCALIBRATED = ("torchtitan", "fms-fsdp", "nemo-automodel", "maxtext-gpu", "paxml", "axlearn", "torchprime", "pytorch-xla-hf")


def framework_stack(row: dict) -> str | None:
    """The uncalibrated stack a training row's framework (its config's ``framework=`` or its kernel text)
    names: one of :data:`FRAMEWORKS`, or maxtext-gpu for MaxText on GPUs; None for any other framework."""
    m = re.search(r"framework=([^;]*)", row["config"])
    text = ((m.group(1) if m else "") + " " + row["model_or_kernel"]).lower()
    for pattern, stack in FRAMEWORKS:
        if re.search(pattern, text):
            return stack
    if "maxtext" in text and ("gpu" in text or "jax-toolbox" in text or "rocm" in text):
        return "maxtext-gpu"
    return None


def test_rows_of_a_named_framework_name_its_stack():
    stacks = train.software_by_row()
    seen = set()
    for r in load_rows():
        if r["category"] != "train" or r["id"] not in train.scenario_map():
            continue
        stack = framework_stack(r)
        if stack is not None:
            assert stacks.get(r["id"]) == stack, r["id"]
            seen.add(stack)
    assert seen == set(UNCALIBRATED)


@pytest.mark.parametrize("name", UNCALIBRATED)
def test_an_uncalibrated_stack_is_named_only_and_takes_the_engine_wide_parameters(name):
    s = software_stacks()[name]
    assert s.phase == "training" and s.named_only and not s.fit_rows and not s.calibrated
    assert s.date and s.sources
    assert s.framework_kernel_efficiency == engine_params()["framework_kernel_efficiency"]
    # the engine's defaults: gradient reduction overlapped, tensor-parallel collectives not, no MoE host time
    assert s.overlap_grad_reduce and not s.overlap_tp_comm and s.moe_host_s == s.moe_host_per_expert_s == 0.0


@pytest.mark.parametrize("chip", ["h100-sxm", "b200", "mi300x", "tpu-v5e", "tpu-v6e"])
def test_the_vendor_defaults_are_unchanged(chip):
    # a scenario that names no software keeps the newest calibrated stack of the vendor
    d = default_software(load_chip(chip), "training")
    assert d is None or d.name not in UNCALIBRATED
