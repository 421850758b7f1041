"""The serving replica's KV capacity follows the engine's memory fraction (vLLM
--gpu-memory-utilization, SGLang --mem-fraction-static): EngineStepCost.from_scenario(memory_fraction)."""

from __future__ import annotations

import pytest

from fabless.errors import InvalidInput
from fabless.estimate.scenario import scenario_from_dict
from fabless.estimate.stepcost import EngineStepCost


def _scn():
    return scenario_from_dict({"model": "qwen3-8b", "system": {"name": "tpu-v6e-256", "count": 4}, "precision": "bf16",
                               "parallel": {"tp": 4}, "inference": {"batch": 1, "input_tokens": 1024, "output_tokens": 1024}})


def test_a_tenth_of_hbm_less_holds_a_tenth_of_hbm_less_kv():
    # Qwen3-8B: 36 layers, 8 KV heads of 128, bf16; tp 4 gives each chip 2 KV heads:
    # 36 x 2 x 128 x 2 (K and V) x 2 bytes = 36,864 bytes per token per chip. Weights and activations do not
    # depend on the fraction, so 0.9 -> 0.8 of a 32 GB v6e (32e9 bytes) loses 3.2e9 / 36,864 = 86,805 tokens.
    full = EngineStepCost.from_scenario(_scn(), 0.9)
    less = EngineStepCost.from_scenario(_scn(), 0.8)
    assert full.kv_capacity_tokens - less.kv_capacity_tokens == pytest.approx(3.2e9 / 36864, abs=1)
    assert EngineStepCost.from_scenario(_scn()).kv_capacity_tokens == full.kv_capacity_tokens  # 0.9 is the default


@pytest.mark.parametrize("frac", [0.0, 1.2])
def test_a_fraction_outside_0_1_is_refused(frac):
    with pytest.raises(InvalidInput, match="memory fraction"):
        EngineStepCost.from_scenario(_scn(), frac)
