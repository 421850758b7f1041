"""A systolic GEMM's K panels that its pipeline does not overlap (perf/gemm.py _systolic_exposed; the
family's gemm_exposed_steps, fitted for google-tpu on the TPU7x GEMM table): checked by hand on the
terms of the result, and against the physical limits of the idea (it fades with depth; a family
with none exposes nothing)."""

from __future__ import annotations

import pytest

from fabless.perf.gemm import PANEL_K, gemm_time
from fabless.perf.params import ChipParams, families

TPU = ChipParams.from_chip("tpu-v7-chiplet")
STEPS = families()["google-tpu"].values["gemm_exposed_steps"]


def test_two_panels_expose_steps_halves_of_the_lesser_term():
    # 1024 cubed runs K in two panels of 512: the exposed time is STEPS x min(math, traffic) / 2, added to
    # the plain max, as a GPU tile's unoverlapped K steps are
    r = gemm_time(1024, 1024, 1024, TPU, "bf16")
    c, m = float(r.compute_s[0]), float(r.memory_s[0])
    assert 1024 // PANEL_K == 2 and STEPS > 0
    assert float(r.tiling["exposed_s"][0]) == pytest.approx(STEPS * min(c, m) / 2, rel=1e-12)
    assert float(r.time_s[0]) == pytest.approx(float(r.overhead_s[0]) + max(c, m) + STEPS * min(c, m) / 2, rel=1e-12)


def test_one_panel_exposes_all_its_steps_and_a_deep_k_almost_nothing():
    shallow = gemm_time(4096, 4096, 256, TPU, "bf16")  # one panel (K < 512)
    c, m = float(shallow.compute_s[0]), float(shallow.memory_s[0])
    assert float(shallow.tiling["exposed_s"][0]) == pytest.approx(STEPS * min(c, m), rel=1e-12)
    deep = gemm_time(16384, 16384, 16384, TPU, "bf16")  # 32 panels: under 1% of the time
    assert 0 < float(deep.tiling["exposed_s"][0]) < 0.01 * float(deep.time_s[0])


@pytest.mark.parametrize("chip", ["trainium2", "gaudi2"])
def test_a_family_without_a_fitted_value_exposes_nothing(chip):
    p = ChipParams.from_chip(chip)
    assert float(p.gemm_exposed_steps[0]) == 0.0
    r = gemm_time(1024, 1024, 1024, p, "bf16")
    assert float(r.tiling["exposed_s"][0]) == 0.0
    assert float(r.time_s[0]) == pytest.approx(float(r.overhead_s[0]) + max(float(r.compute_s[0]), float(r.memory_s[0])))
