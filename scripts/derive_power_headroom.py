"""Blackwell Ultra over Blackwell: the matrix-unit efficiency (power headroom) and the attention
inner-loop ratio (doubled SFU exponential throughput) of GB300 and B300.

The nvidia-blackwell family's ``mma_efficiency`` (fitted on B200's framework GEMM tables) and
``mma_8bit_ratio`` (fitted on GB200's FP8 GEMMs) are fractions of the datasheet peak that fold in
the clock droop of a Blackwell GPU at its power limit: under a sustained dense GEMM these GPUs lower
the SM clock until the power fits the TDP (data/economics/power_sustained.yaml). A Blackwell Ultra
GPU has the same datasheet FP8/BF16 peak as its Blackwell sibling of the same form factor, but
reaches it with 160 SMs (640 Tensor Cores) at a lower clock instead of 148 SMs at a higher one, and
has more power: GB300 1,400 W against GB200's 1,200 W, HGX B300 1,100 W against HGX B200's
1,000 W. So under the power limit it holds a larger fraction of its peak.

The fraction comes from the project's power model (fabless.economics.power, no new knob): the
clock f at which static + memory + links + matrix power at f meets the TDP, the matrix power going
as f^(1 + gamma), at the GEMM utilisation ``power.gemm_efficiency_at_clock``. The headroom of a
Blackwell Ultra chip is its sustained fraction over its sibling's,

    headroom = (f_ultra / f_peak_ultra) / (f_blackwell / f_peak_blackwell)

(the sustained tensor throughput ratio over the datasheet peak ratio), and its ``mma_efficiency``
is the family's times the headroom, written with its derivation in the chip file's calibration
section. Only ratios of the power model enter: its absolute clocks are not used.

Attention: Blackwell Ultra doubles the SFU throughput (MUFU.EX2, the exponential of softmax) over
Blackwell (NVIDIA Technical Blog, 'Making Softmax More Efficient with NVIDIA Blackwell Ultra').
The softmax is its own bound in the model: the family's ``attention_softmax_cycles`` (a core's cycles per
score for the softmax's non-matrix work, where it bounds a block), fitted near the exponential unit's own 1/16
cycle, at most halves at twice the SFU rate (max, scale and sum stay). Printed here as that bound; the chips'
own value is fitted on GB300's 8-bit attention rows (fabless.validate.kernel.calibrate_chips), not derived. The family's
``attention_mma_ratio`` (the inner loop's matrix products against a GEMM's main loop, fitted at 1.139 where
cuDNN overlaps one tile's softmax with the next tile's products) carries no softmax share, and Blackwell
Ultra takes it unchanged.

    python scripts/derive_power_headroom.py
"""

from __future__ import annotations

from fabless.economics.params import default_params
from fabless.economics.power import chip_power
from fabless.hardware.presets import load_chip
from fabless.perf.params import families

#: Blackwell Ultra chip -> its Blackwell sibling of the same form factor (power and board).
PAIRS = {"gb300": "gb200", "b300": "b200"}


def sustained_fraction(name: str) -> tuple[float, float, float]:
    """(sustained clock MHz, peak-basis clock MHz, their ratio) of a chip at its TDP under a
    sustained dense GEMM, from the power model."""
    chip = load_chip(name)
    util = default_params().power.gemm_efficiency_at_clock
    r = chip_power(chip, dtype="bf16", matrix_util=util, enforce_budget=False)
    if r.sustained_clock_mhz is None:
        raise SystemExit(f"{name}: the power model finds no clock within its TDP")
    return r.sustained_clock_mhz, r.peak_clock_mhz, r.sustained_clock_mhz / r.peak_clock_mhz


def headroom(ultra: str, blackwell: str) -> float:
    return sustained_fraction(ultra)[2] / sustained_fraction(blackwell)[2]


#: Blackwell Ultra SFU (exponential) throughput per SM over Blackwell's.
SFU_SPEEDUP = 2.0


def main() -> None:
    fam = families()["nvidia-blackwell"].values
    eff = fam["mma_efficiency"]
    for name in sorted({*PAIRS, *PAIRS.values()}):
        f, fp, frac = sustained_fraction(name)
        print(f"{name:6s} TDP {load_chip(name).physical.tdp_w:6.0f} W  sustained {f:6.0f} MHz of {fp:6.0f} MHz = {frac:.3f}")
    for ultra, bw in PAIRS.items():
        h = headroom(ultra, bw)
        print(f"{ultra}: headroom over {bw} {h:.3f} -> mma_efficiency {eff} x {h:.3f} = {min(1.0, eff * h):.3f}")
    print(f"attention_mma_ratio {fam['attention_mma_ratio']}: the family's, unchanged (gb300, b300)")
    c = fam["attention_softmax_cycles"]
    print(f"attention_softmax_cycles {c} -> at least {c} / {SFU_SPEEDUP:g} = {c / SFU_SPEEDUP:.3f} (the bound; "
          "gb300 and b300 take the value fitted on GB300's rows: fabless.validate.kernel.calibrate_chips)")


if __name__ == "__main__":
    main()
