"""8-bit attention: its matrix products run at the family's ``mma_8bit_ratio`` of the 16-bit fraction of the 8-bit
peak, as an 8-bit GEMM's do (perf/attention.py). Expected ratios are worked out from the chip files' datasheet peaks
and the family's ratio, not read back from a model run."""

from __future__ import annotations

import pytest

from fabless.hardware.presets import load_chip
from fabless.perf.attention import attention_time
from fabless.perf.params import ChipParams, families


def _matrix_bound(name: str) -> ChipParams:
    # no softmax bound and no per-unit overhead: the block time is its matrix products' alone
    return ChipParams.from_chip(name).replace(attention_softmax_cycles=0.0, attention_overhead_blocks=0.0)


@pytest.mark.parametrize("name", ["gb200", "b200", "mi300x"])
def test_an_8bit_attention_runs_at_the_8bit_ratio_of_twice_the_16bit_rate(name):
    chip = load_chip(name)
    # datasheets: FP8 twice BF16 (MI300X 2614.9 against 1307.4 TFLOP/s, rounded)
    assert chip.peak_flops("fp8") == pytest.approx(2 * chip.peak_flops("bf16"), rel=1e-4)
    ratio = families()[ChipParams.from_chip(name).family[0]].values["mma_8bit_ratio"]
    assert ratio < 1.0
    p = _matrix_bound(name)
    # a long non-causal prefill (4 x 32 heads x 16384^2): Q, K, V and O once are under 1% of the time
    t16 = float(attention_time(4, 16384, 16384, 32, 128, p, "bf16").time_s[0])
    t8 = float(attention_time(4, 16384, 16384, 32, 128, p, "fp8").time_s[0])
    assert t16 / t8 == pytest.approx(chip.peak_flops("fp8") / chip.peak_flops("bf16") * ratio, rel=0.01)


def test_hopper_8bit_attention_takes_the_whole_8bit_peak():
    # nvidia-hopper's mma_8bit_ratio is 1 (its FP8 training rows fit better at 1): 8 bits halve the matrix time
    assert families()["nvidia-hopper"].values["mma_8bit_ratio"] == 1.0
    p = _matrix_bound("h100-sxm")
    t16 = float(attention_time(4, 16384, 16384, 32, 128, p, "bf16").time_s[0])
    t8 = float(attention_time(4, 16384, 16384, 32, 128, p, "fp8").time_s[0])
    assert t16 / t8 == pytest.approx(2.0, rel=0.01)
