"""What a kernel row's time includes (its config's ``timing=`` key, perf.params.TIMING_METHODS):
a per-op device trace holds only the on-device part of the fixed cost per kernel
(families.yaml ``device_fixed_s``), a timer around back-to-back launches the whole
``launch_overhead_s``, and a host clock with a synchronise after every call that plus the call's
host round trip (``sync_round_trip_s``)."""

from __future__ import annotations

import pytest

from fabless.errors import InvalidInput
from fabless.perf.params import TIMING_METHODS, ChipParams
from fabless.validate import kernel
from fabless.validate.core import Skip, parse_config

ROWS = kernel.kernel_rows()


def _copy_row(nbytes: int, timing: str | None) -> dict:
    cfg = f"bytes={nbytes}" + (f";timing={timing}" if timing else "")
    return {"id": "t", "category": "kernel", "hardware": "Google TPU v7 (Ironwood chiplet: one TensorCore, one JAX device)",
            "n_chips": "1", "model_or_kernel": "HBM copy (single_device_hbm_copy, jnp copy)", "precision": "BF16",
            "config": cfg, "metric": "HBM bandwidth per device (GB/s)", "value": "1", "source": "test"}


def test_every_predicted_kernel_row_states_how_it_was_timed():
    # the rows without a key are skipped for another reason (interconnect copies; FA2 rows without heads; the
    # fifth batch's MTIA figures: a perf/W ratio and two upper bounds, none a timed kernel)
    missing = sorted(r["id"] for r in ROWS if "timing" not in parse_config(r["config"]))
    assert missing == ["kernel-292", "kernel-293", "kernel-amd-010", "kernel-bw-010",
                       "kernel-fresh5-m01", "kernel-fresh5-m02", "kernel-fresh5-m03"]
    for i in missing:
        with pytest.raises(Skip):
            kernel.predict(next(r for r in ROWS if r["id"] == i))
    assert {parse_config(r["config"])["timing"] for r in ROWS if r["id"] not in missing} <= set(TIMING_METHODS)
    # the accelerator-microbenchmarks TPU7x rows read each op's device_duration_ps from the profiler trace
    assert {parse_config(r["config"])["timing"] for r in ROWS if r["id"].startswith("kernel-v7-")} == {"device_trace"}


def test_device_trace_copy_pays_one_microsecond_by_hand():
    # tpu-v7-chiplet: 3690 GB/s HBM (7380 / 2) at hbm_efficiency 0.9; device_fixed_s 1 us (google-tpu via
    # default-systolic). A 2 MiB copy reads and writes 2 MiB: 4 MiB / (3690e9 x 0.9) + 1 us.
    moved = 2 * 2**21
    t = moved / (3690e9 * 0.9) + 1e-6
    assert kernel.predict(_copy_row(2**21, "device_trace")) == pytest.approx(moved / t / 1e9, rel=2e-3)
    # timed around the call instead, the whole 5 us dispatch (default-systolic launch_overhead_s) is in it
    t_host = moved / (3690e9 * 0.9) + 5e-6
    assert kernel.predict(_copy_row(2**21, "stream")) == pytest.approx(moved / t_host / 1e9, rel=2e-3)
    # a synchronise after every call adds the host round trip, 103 us on TPUs (google-tpu sync_round_trip_s)
    t_sync = t_host + 103e-6
    assert kernel.predict(_copy_row(2**21, "wall_sync")) == pytest.approx(moved / t_sync / 1e9, rel=2e-3)


def test_tpu_round_trip_is_the_pallas_guides_fixed_time_per_call():
    # The JAX Pallas TPU guide's XLA matmul cell (v5e, jax.block_until_ready after every call): 119.43 us
    # at 1024^3 and 6047.15 us at 8192^3 (docs/pallas/tpu/matmul.ipynb at d0d08156). A line through the
    # two: rate (2*8192^3 - 2*1024^3) / (6047.15 - 119.43) us = 185.1 TFLOP/s; the time that does not
    # grow with the work 119.43 us - 2*1024^3 / 185.1e12 = 107.8 us, all of it per-call fixed cost:
    # launch_overhead_s (5 us) plus the round trip.
    rate = (2 * 8192**3 - 2 * 1024**3) / ((6047.15 - 119.43) * 1e-6)
    fixed = 119.43e-6 - 2 * 1024**3 / rate
    assert rate == pytest.approx(185.1e12, rel=1e-3) and fixed == pytest.approx(107.8e-6, abs=0.1e-6)
    p = ChipParams.from_chip("tpu-v5e")
    assert p.timed("wall_sync").launch_overhead_s[0] == pytest.approx(fixed, abs=0.5e-6)
    assert p.timed("stream").launch_overhead_s[0] == pytest.approx(5e-6)
    # no GPU round trip is sourced: a GPU's wall_sync view is its stream view
    g = ChipParams.from_chip("h100-sxm")
    assert g.timed("wall_sync").launch_overhead_s[0] == g.launch_overhead_s[0]


def test_a_row_without_a_timing_method_is_skipped_with_the_choices():
    with pytest.raises(Skip, match="device_trace, stream, wall_sync"):
        kernel.predict(_copy_row(2**21, None))
    with pytest.raises(Skip, match="timing=cuda"):
        kernel.predict(_copy_row(2**21, "cuda"))


def test_gpu_fixed_cost_is_not_split():
    # no GPU kernel row is device-traced and no split is sourced: the device-trace view keeps the whole 3 us
    p = ChipParams.from_chip("h100-sxm")
    assert p.timed("device_trace").launch_overhead_s[0] == p.launch_overhead_s[0] == pytest.approx(3e-6)
    assert p.timed("stream") is p


def test_device_part_never_exceeds_the_whole():
    p = ChipParams.from_chip("tpu-v7-chiplet").replace(launch_overhead_s=0.5e-6)
    assert p.timed("device_trace").launch_overhead_s[0] == pytest.approx(0.5e-6)


def test_unknown_timing_method_is_one_line_invalid_input():
    with pytest.raises(InvalidInput, match="timing must be one of device_trace, stream, wall_sync, got 'x'"):
        ChipParams.from_chip("tpu-v7-chiplet").timed("x")
