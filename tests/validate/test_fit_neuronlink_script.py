"""scripts/fit_neuronlink.py rewrites three shipped values in copies of the parameter files, one grid point at a
time. Its editors must find each value where the files hold it: when one did not (the stack's header gained a YAML
anchor), the script stopped with 'not found' before fitting anything."""

from __future__ import annotations

from pathlib import Path

import yaml

from fabless.estimate import software as swmod
from fabless.perf import collectives as C
from tests.conftest import load_script

fit = load_script("fit_neuronlink")


def test_the_score_cost_editor_rewrites_the_stacks_value_and_nothing_else():
    text = Path(swmod._PATH).read_text()
    edited = fit._set_score(text, 2.4e-09)
    before, after = yaml.safe_load(text), yaml.safe_load(edited)
    assert after[fit.STACK]["decode_score_cost_s"]["value"] == 2.4e-09
    assert before[fit.STACK]["decode_score_cost_s"]["value"] != 2.4e-09
    # stacks merged from it (<<: *neuron_inference) follow; every other line is untouched
    changed = [(a, b) for a, b in zip(text.splitlines(), edited.splitlines()) if a != b]
    assert len(changed) == 1 and "decode_score_cost_s" in changed[0][0]


def test_the_collective_editor_rewrites_neuronlinks_values_only():
    text = Path(C._PARAMS_PATH).read_text()
    edited = fit._set(fit._set(text, "launch_latency_s", 1.5e-05), "simple_step_overhead_s", 5.0e-07)
    gen = yaml.safe_load(edited)["generations"]["neuronlink"]
    assert gen["launch_latency_s"]["value"] == 1.5e-05 and gen["simple_step_overhead_s"]["value"] == 5.0e-07
    assert yaml.safe_load(edited)["launch_latency_s"] == yaml.safe_load(text)["launch_latency_s"]  # NCCL's own
    assert sum(a != b for a, b in zip(text.splitlines(), edited.splitlines())) == 2
