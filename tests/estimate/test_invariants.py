"""Physical invariants of a whole estimate() on every chip preset (issue #14).

A chip with more cores (and their matrix units and peak), a higher clock (and the peak it
sets), more HBM bandwidth or more on-chip SRAM never serves a request or trains a step more
slowly, and a training step's MFU stays <= 1. The chips are placed, one or eight at a time,
in the DGX H100's topology (``system: {name: dgx-h100, chip: ...}``) so that every preset,
with or without a system of its own, runs the same scenarios. ``REL`` (1e-12) only absorbs
float rounding of the same time computed two ways.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fabless.estimate.engine import estimate
from fabless.estimate.scenario import scenario_from_dict
from fabless.hardware import chip_names
from fabless.hardware.presets import load_chip
from fabless.hardware.schema import Chip

REL = 1e-12


def scaled(chip: Chip, *, cores: float = 1.0, clock: float = 1.0, hbm: float = 1.0, sram: float = 1.0) -> Chip:
    """``chip`` with ``cores`` x the cores (with their matrix units, per-core SRAM instances,
    peaks and vector rate), ``clock`` x the clock (and the peaks it sets), ``hbm`` x the HBM
    bandwidth and ``sram`` x every on-chip memory's capacity."""
    comp = chip.compute
    x = cores * clock
    upd: dict = {"cores": int(round(comp.cores * cores)),
                 "peak_tflops": comp.peak_tflops.model_copy(
                     update={k: v * x for k, v in comp.peak_tflops.model_dump().items() if v})}
    if comp.matrix_units is not None:
        upd["matrix_units"] = comp.matrix_units.model_copy(update={"count": int(round(comp.matrix_units.count * cores))})
    if comp.vector_units is not None:
        upd["vector_units"] = comp.vector_units.model_copy(
            update={"fp32_flops_per_cycle": comp.vector_units.fp32_flops_per_cycle * cores})
    clk = chip.clock.model_copy(update={"boost_mhz": chip.clock.boost_mhz * clock,
                                        "sustained_mhz": chip.clock.sustained_mhz * clock if chip.clock.sustained_mhz else None})
    levels = [lv.model_copy(update={"capacity_kib": lv.capacity_kib * sram,
                                    **({"instances": int(round(lv.instances * cores))}
                                       if lv.scope == "core" and lv.instances else {})})
              for lv in chip.memory.on_chip]
    hbm_ = chip.memory.hbm.model_copy(update={"bandwidth_gb_s": chip.memory.hbm.bandwidth_gb_s * hbm})
    return chip.model_copy(update={"compute": comp.model_copy(update=upd), "clock": clk,
                                   "memory": chip.memory.model_copy(update={"on_chip": levels, "hbm": hbm_})})


SCENARIOS = [
    {"model": "llama-3.1-8b", "precision": "bf16", "parallel": {"tp": 1}, "chips": 1,
     "inference": {"batch": 1, "input_tokens": 2048, "output_tokens": 128}},
    {"model": "llama-3.1-8b", "precision": "fp8", "parallel": {"tp": 1}, "chips": 1,
     "inference": {"batch": 16, "input_tokens": 1000, "output_tokens": 100}},
    {"model": "mixtral-8x7b", "precision": "fp8", "parallel": {"tp": 8}, "chips": 8,
     "inference": {"batch": 8, "input_tokens": 512, "output_tokens": 64}},
    {"model": "llama-3.1-8b", "precision": "bf16", "parallel": {"tp": 1}, "chips": 1,
     "training": {"global_batch": 4, "micro_batch": 1, "seq_len": 2048, "recompute": "full"}},
    {"model": "gpt3-1.3b", "precision": "bf16", "parallel": {"tp": 2, "dp": 4}, "chips": 8,
     "training": {"global_batch": 64, "micro_batch": 2, "seq_len": 2048, "recompute": "selective"}},
]
#: chips that can join the DGX H100's scale-up domain (they have scale-up links)
LINKED = [c for c in chip_names() if load_chip(c).links.scale_up is not None]
#: the accelerators (a kind: cpu chip placed in a system runs the CPU model: tests/perf/test_cpu.py)
ACCELERATORS = [c for c in chip_names() if load_chip(c).kind != "cpu"]


def _scenario(s: dict, chip: str):
    body = {k: v for k, v in s.items() if k != "chips"}
    return scenario_from_dict({**body, "system": {"name": "dgx-h100", "chip": chip, "count": s["chips"]}})


def _time(s: dict, chip: Chip) -> tuple[float, dict]:
    est = estimate(_scenario(s, chip.name), chip=chip)
    key = "e2e_latency_s" if "inference" in s else "step_time_s"
    return est.metrics[key], est.metrics


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.sampled_from(ACCELERATORS), st.sampled_from(range(len(SCENARIOS))),
       st.sampled_from(["cores", "clock", "hbm", "sram"]), st.floats(1.1, 4.0))
def test_more_of_a_resource_never_slows_an_estimate(name, i, resource, f):
    s = SCENARIOS[i]
    if s["chips"] > 1 and name not in LINKED:
        name = "h100-sxm"
    chip = load_chip(name)
    base, metrics = _time(s, chip)
    if resource == "cores":
        f = round(f)  # whole cores
    more, _ = _time(s, scaled(chip, **{resource: f}))
    assert more <= base * (1 + REL)
    if "mfu" in metrics:
        assert 0 < metrics["mfu"] <= metrics["hfu"] <= 1


def test_h100_clock_and_peak_from_half_to_double_never_raise_llama_8b_latency():
    # The issue: scaling an H100's clock and peak from 0.5x to 2x made Llama-3.1-8B's end-to-end
    # latency zig-zag (rising at 0.55x, 0.95x and 1.4x by up to 5%); it must fall throughout.
    h100 = load_chip("h100-sxm")
    for s in SCENARIOS[:2]:
        lat = [_time(s, scaled(h100, clock=x))[0] for x in np.linspace(0.5, 2.0, 31)]
        assert all(b <= a * (1 + REL) for a, b in zip(lat, lat[1:])), lat
        # and it does fall: twice the clock leaves at most the memory-bound part
        assert lat[-1] < lat[0]
