"""Physical invariants over explore's design ranges (issue #14).

Designs are drawn from the shipped space (examples/openai-xpu/space.yaml, its own random
sampler) and one resource is made larger: more matrix units, cores, clock, SRAM per core
or shared, HBM stacks or a newer HBM generation, more or faster links. A design with more
of a resource never serves fewer tokens per second per chip (the best batch that fits and
meets the SLOs can only get better), and at a fixed batch its time to first token and per
output token never grow. Cores are added with their matrix units (the same core, twice as
many, as the issue states the invariant): cores alone at the same units are weaker cores,
and a wave of few work units (attention query blocks, GEMM tiles) on 3 weaker cores can
take longer than on 2 stronger ones. ``REL`` (1e-12) only absorbs float rounding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fabless.explore import load_space, space_from_dict
from fabless.explore.evaluate import Evaluator
from fabless.explore.samplers import values_of

ROOT = Path(__file__).resolve().parents[2]
REL = 1e-12
N = 256


def _more(values: dict, name: str, space_kind: str) -> dict:
    """``values`` with parameter ``name`` made larger for every design."""
    v = dict(values)
    x = values[name]
    if name == "hbm_generation":
        v[name] = np.full(len(x), "hbm4" if space_kind == "systolic" else "hbm3e", dtype=object)
    elif name == "sram_shared_mib":
        v[name] = x + 64
    elif name == "cores":  # the same cores, twice as many: their matrix units with them
        v[name] = x * 2
        v["matrix_units"] = values["matrix_units"] * 2
    elif name in ("matrix_units", "hbm_stacks", "links"):
        v[name] = np.ceil(x * 1.5)
    else:
        v[name] = x * 1.3
    return v


def _check(space, kind: str, metrics: tuple[str, ...]):
    ev = Evaluator(space)
    values = values_of(space, np.arange(N), "random")
    base = ev.evaluate(values)
    for name in space.parameters:
        if name in ("mu_rows", "mu_cols", "macs_per_unit", "process_node", "dtypes", "dies", "hbm_stack_gb"):
            continue  # not "more of a resource": a different array shape, node or package
        more = ev.evaluate(_more(values, name, kind))
        for w in space.workload:
            for m in metrics:
                key = f"{w.name}.{m}"
                if key not in base:
                    continue
                a, b = base[key], more[key]
                worse = b < a * (1 - REL) if m == "tokens_per_s_per_chip" else b > a * (1 + REL)
                first = int(np.argmax(worse))
                assert not worse.any(), (name, key, int(worse.sum()), {k: v[first] for k, v in values.items()})


@pytest.fixture(scope="module")
def shipped():
    return load_space(ROOT / "examples" / "openai-xpu" / "space.yaml")


def test_shipped_space_more_of_a_resource_never_serves_fewer_tokens(shipped):
    _check(shipped, "systolic", ("tokens_per_s_per_chip",))


def test_shipped_space_at_a_fixed_batch_more_of_a_resource_never_raises_latency(shipped):
    raw = shipped.model_dump(mode="json")
    raw["base"] = {"chip": shipped.base.chip, "system": shipped.base.system}
    for w in raw["workload"]:
        w["inference"]["batch"] = 8
        w["slo"] = {}
    _check(space_from_dict(raw), "systolic", ("ttft_s", "tpot_s"))


def test_tensor_core_space_more_of_a_resource_never_slows_serving_or_training():
    sp = space_from_dict({
        "name": "gpu", "base": {"chip": "h100-sxm", "system": "dgx-h100"},
        "parameters": {"matrix_units": {"min": 264, "max": 1056}, "cores": [66, 132, 264],
                       "clock_mhz": {"min": 1000, "max": 2400}, "sram_per_core_mib": {"min": 0.1, "max": 1},
                       "sram_shared_mib": [0, 50, 200], "hbm_generation": ["hbm3", "hbm3e"], "hbm_stacks": [4, 5, 6, 8]},
        "workload": [{"name": "dec", "model": "llama-3.1-8b", "precision": "fp8", "parallel": {"tp": 1},
                      "inference": {"batch": 4, "input_tokens": 1000, "output_tokens": 100}},
                     {"name": "tr", "model": "gpt3-1.3b", "precision": "bf16", "parallel": {"tp": 1},
                      "training": {"global_batch": 8, "micro_batch": 1, "seq_len": 2048}}],
        "objectives": [{"minimize": "tpot_s"}], "search": {"sampler": "random", "samples": N}})
    _check(sp, "tensor_core", ("tokens_per_s_per_chip", "ttft_s", "tpot_s", "step_time_s"))
