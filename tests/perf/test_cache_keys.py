"""Caches keyed on a chip's content, not on the identity of the Python object.

``ChipParams.key`` is a digest of every value; the engine's operator-time caches key on it, so
an estimate that rebuilds its ChipParams for the same chip hits them, and two chips that differ
in any one value never share an entry. ``ChipParams.from_chip`` and ``load_model`` return the
object already built for the same content.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from fabless.estimate import engine
from fabless.hardware import load_chip
from fabless.perf.params import ChipParams
from fabless.workload import load_model
from fabless.workload.ops import Elementwise, MatMul


def design(**over) -> ChipParams:
    """A hand-made one-design chip (fresh arrays on every call)."""
    kw = dict(peak_flops_per_s={"bf16": 400e12, "fp8": 800e12}, cores=100, hbm_bytes_per_s=2.0e12,
              boost_clock_hz=1.5e9, sram_per_core_bytes=200 * 1024, sram_shared_bytes=40e6, name="hand")
    kw.update(over)
    return ChipParams.from_arrays(**kw)


#: A memory-bound kernel: 0.5 GB read and 0.5 GB written, 1 FLOP per 4 bytes.
STREAM = Elementwise("stream", elements=250_000_000, dtype="bf16")


def test_equal_content_equal_key_and_hash():
    a, b = design(), design()
    assert a is not b and a.cores is not b.cores
    assert a.key == b.key and hash(a) == hash(b) and a == b


@pytest.mark.parametrize("change", [
    {"hbm_bytes_per_s": 2.0e12 * (1 + 2**-40)},        # one numeric field, by a few ulps
    {"cores": 101},
    {"peak_flops_per_s": {"bf16": 400e12, "fp8": 800e12, "fp4": 1600e12}},  # one more datatype
    {"peak_flops_per_s": {"bf16": 400e12, "fp8": 799e12}},
    {"name": "other"},
    {"hbm_efficiency": 0.5},                              # a family parameter
])
def test_one_field_changes_the_key(change):
    a, b = design(), design(**change)
    assert a.key != b.key and a != b


def _op_time():
    """The engine's cached operator time (wherever the engine keeps it)."""
    from fabless.estimate import optime

    return getattr(engine, "_op_time", None) or optime._op_time


def count_models(monkeypatch) -> list:
    """A list that grows by one each time the memory-bound or GEMM model actually runs."""
    from fabless.perf import gemm, memory

    runs: list = []
    for mod, name in ((memory, "_stream"), (gemm, "_gemm_one"), (gemm, "_gemm_designs")):
        real = getattr(mod, name)
        monkeypatch.setattr(mod, name, lambda *a, _real=real, **k: runs.append(1) or _real(*a, **k))
    return runs


def test_op_cache_hits_across_equal_chips_and_not_across_different(monkeypatch):
    runs = count_models(monkeypatch)
    bw = 2.0e12 + float(np.random.default_rng().integers(1, 2**30))  # content no earlier test cached
    t1 = _op_time()(STREAM, design(hbm_bytes_per_s=bw))
    assert runs == [1]
    t2 = _op_time()(STREAM, design(hbm_bytes_per_s=bw))  # a new object of the same content: a hit
    assert runs == [1] and t2 == t1
    # twice the HBM bandwidth: a miss, and the memory-bound kernel takes about half the time
    t3 = _op_time()(STREAM, design(hbm_bytes_per_s=2 * bw))
    assert runs == [1, 1] and 0.45 < t3 / t1 < 0.55


def test_gemm_cache_entry_is_per_chip(monkeypatch):
    runs = count_models(monkeypatch)
    mm = MatMul("mm", m=4096, n=4096, k=4096)
    bf16 = 400e12 + float(np.random.default_rng().integers(1, 2**30))
    slow = _op_time()(mm, design(peak_flops_per_s={"bf16": bf16}))
    fast = _op_time()(mm, design(peak_flops_per_s={"bf16": 2 * bf16}))
    assert len(runs) == 2 and fast < slow  # a compute-bound GEMM on twice the peak
    assert _op_time()(mm, design(peak_flops_per_s={"bf16": bf16})) == slow and len(runs) == 2


def test_from_chip_memoised_on_content():
    chip = load_chip("h100-sxm")
    a = ChipParams.from_chip(chip)
    rebuilt = type(chip).model_validate(json.loads(chip.model_dump_json()))  # same content, new object
    assert rebuilt is not chip and ChipParams.from_chip(rebuilt) is a
    faster = chip.model_copy(update={"clock": chip.clock.model_copy(update={"boost_mhz": chip.clock.boost_mhz + 1})})
    b = ChipParams.from_chip(faster)
    assert b is not a and b.key != a.key and b.boost_clock_hz[0] == (chip.clock.boost_mhz + 1) * 1e6
    with pytest.raises(ValueError):  # shared by every caller, so not editable in place
        a.cores[0] = 1.0


def test_a_rebuilt_chip_gets_the_same_params_after_the_content_cache_fills(monkeypatch):
    """The content cache and the by-identity cache of ChipParams.from_chip are cleared together. With room for 3
    entries: a chip, then two copies rebuilt from its JSON (the identity cache fills with three objects of one
    content), then three chips of other clocks. Cleared apart, the identity cache was cleared by the first of those
    and the content cache by the third, so the identity cache still returned the first of them while a copy rebuilt
    from its JSON got a second object (a long test run's order-dependent failure of
    test_from_chip_memoised_on_content). Cleared together, both get the same object."""
    from fabless.perf import params as P

    monkeypatch.setattr(P, "_FROM_CHIP_MAX", 3)
    monkeypatch.setattr(P, "_FROM_CHIP", {})
    monkeypatch.setattr(P, "_FROM_CHIP_BY_ID", {})
    chip = load_chip("h100-sxm")

    def rebuilt(c):
        return type(c).model_validate(json.loads(c.model_dump_json()))

    for c in (chip, rebuilt(chip), rebuilt(chip)):
        ChipParams.from_chip(c)
    others = [chip.model_copy(update={"clock": chip.clock.model_copy(update={"boost_mhz": chip.clock.boost_mhz + i})})
              for i in (1, 2, 3)]
    for other in others:
        ChipParams.from_chip(other)
    again = ChipParams.from_chip(others[0])
    assert ChipParams.from_chip(rebuilt(others[0])) is again


def test_estimate_again_runs_no_operator_model(monkeypatch):
    """A second estimate of the same scenario (its ChipParams, graphs and Scenario built anew)
    finds every operator time cached."""
    from fabless.estimate import scenario_from_dict

    raw = {"model": "llama-3.1-8b", "system": {"name": "dgx-h100", "count": 1}, "precision": "bf16",
           "parallel": {"tp": 1}, "inference": {"batch": 4, "input_tokens": 512, "output_tokens": 64}}
    first = engine.estimate(scenario_from_dict(raw))
    runs = count_models(monkeypatch)
    again = engine.estimate(scenario_from_dict(raw))
    assert runs == [] and again.metrics == first.metrics


def test_load_model_read_once_and_again_when_edited(tmp_path):
    assert load_model("llama-3.1-8b") is load_model("llama-3.1-8b")
    raw = {"model_type": "llama", "vocab_size": 1000, "hidden_size": 256, "num_hidden_layers": 2,
           "num_attention_heads": 4, "num_key_value_heads": 4, "intermediate_size": 512,
           "max_position_embeddings": 2048}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    first = load_model(path)
    assert load_model(path) is first and first.num_layers == 2
    path.write_text(json.dumps({**raw, "num_hidden_layers": 3}))
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a later mtime, whatever the clock's grain
    assert load_model(path).num_layers == 3
    assert np.isfinite(first.params_total)
