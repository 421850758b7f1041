"""scripts/fit_ici_split.py moves ICI's fixed collective cost between the per-collective and the per-step
parameter in a copy of data/perf/collectives.yaml. Its editors must touch ICI's values and nothing else (the
file holds a launch_latency_s and a simple_step_overhead_s for NCCL and for other link generations too)."""

from __future__ import annotations

from pathlib import Path

import yaml

from fabless.perf import collectives as C
from tests.conftest import load_script

fit = load_script("fit_ici_split")


def test_the_reader_finds_the_shipped_ici_values():
    text = Path(C._PARAMS_PATH).read_text()
    ici = yaml.safe_load(text)["generations"]["ici"]
    assert fit._get(text, "launch_latency_s") == ici["launch_latency_s"]["value"]
    assert fit._get(text, "simple_step_overhead_s") == ici["simple_step_overhead_s"]["value"]


def test_the_editor_rewrites_icis_values_only():
    text = Path(C._PARAMS_PATH).read_text()
    edited = fit._set(fit._set(text, "launch_latency_s", 3.0e-06), "simple_step_overhead_s", 1.25e-06)
    before, after = yaml.safe_load(text), yaml.safe_load(edited)
    assert after["generations"]["ici"]["launch_latency_s"]["value"] == 3.0e-06
    assert after["generations"]["ici"]["simple_step_overhead_s"]["value"] == 1.25e-06
    # NCCL's own values and the other generations' are untouched
    assert after["launch_latency_s"] == before["launch_latency_s"]
    assert after["scale_up"] == before["scale_up"]
    assert after["generations"]["neuronlink"] == before["generations"]["neuronlink"]
    assert sum(a != b for a, b in zip(text.splitlines(), edited.splitlines())) == 2


def test_every_split_predicts_the_one_transfer_that_pins_the_sum_alike(tmp_path):
    """A ppermute (comm-x-033, the fit row) pays launch + one step, so every split on the grid predicts it
    alike, while a many-step collective (the 4-chip all-gather comm-sb-001) gets cheaper as the share per
    step falls."""
    from fabless.validate import comm
    from fabless.validate.core import load_rows

    rows = {r["id"]: r for r in load_rows() if r["id"] in ("comm-x-033", "comm-sb-001")}
    text = Path(C._PARAMS_PATH).read_text()
    total = fit._get(text, "launch_latency_s") + fit._get(text, "simple_step_overhead_s")
    pinned, many = [], []
    for i, share in enumerate(fit.STEP_SHARES):
        path = tmp_path / f"c{i}.yaml"
        edited = fit._set(fit._set(text, "launch_latency_s", (1 - share) * total), "simple_step_overhead_s", share * total)
        path.write_text(fit._set(edited, "ll_step_overhead_s", share * total))  # tied, as the script keeps it
        params = C.load_params(path)
        pinned.append(comm.predict(rows["comm-x-033"], params=params))
        many.append(comm.predict(rows["comm-sb-001"], params=params))
    assert max(pinned) - min(pinned) < 1e-3 * min(pinned)
    assert all(a < b for a, b in zip(many, many[1:]))
