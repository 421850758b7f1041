"""The dated AMD serving stacks of the InferenceX rows (software.yaml sglang-rocm-* / atom-*;
serve_scenarios_amd2.yaml): each row names the stack of the container image it ran, the fit /
held-out split follows the rule written before the fit, and each fitted host step is the grid
minimum of scripts/fit_amd_stacks.py on the stack's fit rows."""

from __future__ import annotations

import importlib.util
from importlib import resources
from pathlib import Path

import pytest

from fabless.estimate.software import default_software, software_stacks
from fabless.hardware import load_chip
from fabless.loading import read_yaml
from fabless.validate import serve
from fabless.validate.core import load_rows
from fabless.validate.bands import in_unseen_batch

ROWS = [r for r in load_rows() if r["_file"] == "published_amd2.csv"]
# The image each row's config names -> the stack, written out by hand from the image tags: SGLang
# release and its per-generation build (-mi30x CDNA3, -mi35x CDNA4), ATOM release.
IMAGE_TO_STACK = {
    "lmsysorg/sglang:v0.5.9-rocm700-mi30x": "sglang-rocm-0.5.9-mi30x",
    "lmsysorg/sglang:v0.5.9-rocm700-mi35x": "sglang-rocm-0.5.9-mi35x",
    "lmsysorg/sglang:v0.5.12-rocm700-mi30x": "sglang-rocm-0.5.12-mi30x",
    "lmsysorg/sglang:v0.5.12-rocm700-mi35x": "sglang-rocm-0.5.12-mi35x",
    "rocm/atom:rocm7.1.1-ubuntu24.04-pytorch2.9-atom0.1.1-MI350x": "atom-0.1.1",
    "rocm/atom:rocm7.2.3_ubuntu24.04_py3.12_pytorch_release_2.10.0_atom20260511": "atom-20260511",
}
RAW = read_yaml(resources.files("fabless") / "data" / "estimate" / "software.yaml")


def _cfg(row: dict) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in row["config"].split(";"))


def _script(name: str = "fit_amd_stacks"):
    """The fit script scripts/<name>.py, imported."""
    path = Path(__file__).resolve().parents[2] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_each_row_names_the_stack_of_its_image():
    assert len(ROWS) == 110
    for r in ROWS:
        image = _cfg(r)["image"]
        name = serve.serve_map()[r["id"]]["scenario"]["software"]
        assert name == IMAGE_TO_STACK[image], r["id"]
        # the stack cites that image, and the row's framework is the stack's engine
        stack = software_stacks()[name]
        assert any(image in s for s in stack.sources), name
        assert name.startswith(_cfg(r)["framework"]), r["id"]


def test_the_stacks_are_dated_amd_serving_stacks_that_only_rows_select():
    for name in IMAGE_TO_STACK.values():
        s = software_stacks()[name]
        assert s.phase == "inference" and s.vendors == ("AMD",) and s.named_only, name
        assert s.date.startswith("2026-"), name
    # the first run of each image among the rows is the stack's date (the rows' dates by hand)
    assert software_stacks()["sglang-rocm-0.5.9-mi30x"].date == "2026-02-27"
    assert software_stacks()["sglang-rocm-0.5.12-mi30x"].date == "2026-05-18"
    assert software_stacks()["atom-0.1.1"].date == "2026-01-14"
    # an AMD scenario that names no stack keeps the default one
    assert default_software(load_chip("mi300x"), "inference").name == "vllm-rocm"


def test_the_split_is_every_third_id():
    # software.yaml's rule: infer-amd2-NNN is a fit row when NNN is a multiple of 3 (003, 006, ..., 108)
    fit = sorted(r["id"] for r in ROWS if serve.serve_map()[r["id"]].get("set") == "fit")
    assert fit == [f"infer-amd2-{n:03d}" for n in range(3, 111, 3)]
    assert len(fit) == 36 and len(ROWS) - len(fit) == 74
    # each stack's fit_rows are its own fit rows, no others
    for name in IMAGE_TO_STACK.values():
        own = sorted(i for i in fit if serve.serve_map()[i]["scenario"]["software"] == name)
        assert sorted(software_stacks()[name].fit_rows) == own, name


def test_stacks_with_too_few_fit_rows_stay_unfitted():
    script = _script()
    for name in IMAGE_TO_STACK.values():
        n = len(software_stacks()[name].fit_rows)
        if n < script.AMD_MIN_FIT_ROWS:
            assert "host_step_overhead_s" not in RAW[name] and "framework_kernel_efficiency" not in RAW[name], name
            assert software_stacks()[name].host_step_overhead_s == 0.0
    # by the rule, with the history rows 052-110: nine fit rows of SGLang 0.5.9 on MI355X (018, 072, ...),
    # eight of ATOM 0.1.1 (003, 012, 054, ...); ATOM's May build has one more run (071), so two (006, 009)
    assert [len(software_stacks()[n].fit_rows) for n in ("sglang-rocm-0.5.9-mi35x", "atom-0.1.1", "atom-20260511")] == [9, 8, 2]
    assert "host_step_overhead_s" not in RAW["atom-20260511"]


FITTED = [n for n in IMAGE_TO_STACK.values() if "host_step_overhead_s" in RAW[n]]


def test_each_fitted_value_names_its_fit_rows_and_lies_on_the_scripts_grid():
    script = _script()
    assert len(FITTED) >= 2
    for name in FITTED:
        entry = RAW[name]["host_step_overhead_s"]
        assert entry["confidence"] == "fitted"
        assert sorted(entry["fitted_on"]) == sorted(software_stacks()[name].fit_rows) == script.fit_rows(name), name
        assert len(entry["fitted_on"]) >= script.AMD_MIN_FIT_ROWS
        assert entry["value"] in script.HOST_GRID_S, name


def test_the_mi30x_host_step_is_the_grid_minimum_on_its_fit_rows():
    # re-simulate the fit rows of SGLang 0.5.12 on CDNA3 (the cheapest stack to simulate: 4 runs of
    # 8-64 clients) at the recorded value and its grid neighbours; the recorded value must score best
    # (the scores fall then rise over the grid, scripts/fit_amd_stacks.py's printout)
    script = _script()
    name = "sglang-rocm-0.5.12-mi30x"
    v = software_stacks()[name].host_step_overhead_s
    i = script.HOST_GRID_S.index(v)
    grid = script.HOST_GRID_S[max(0, i - 1): i + 2]
    assert len(grid) == 3
    by_id = {r["id"]: r for r in ROWS}
    scores = {host: err for err, host in serve.stack_grid_scores(name, "host_step_overhead_s", grid,
                                                                 [by_id[i] for i in software_stacks()[name].fit_rows])}
    assert min(scores, key=scores.get) == pytest.approx(v)


# ---- vllm-rocm, the default AMD stack: its host time per sequence, fitted on its own rows --------------
# The rows that run on it, written out by hand from serve_scenarios*.yaml (scenarios on MI300X naming no
# stack): MLPerf v4.1 (126, 127, 133, 134), the ROCm performance page (229, 230, 233, 234, 237), the Azure
# guide and the page's other containers (infer-amd-001 ... -034); not the unseen-data check's fresh rows.
VLLM_ROCM_ROWS = (["infer-126", "infer-127", "infer-133", "infer-134", "infer-229", "infer-230", "infer-233",
                   "infer-234", "infer-237"] + [f"infer-amd-{n:03d}" for n in range(1, 35)])


def _rocm_script():
    return _script("fit_vllm_rocm")


def test_vllm_rocm_rows_split_every_third_id():
    script = _rocm_script()
    assert script.stack_rows() == sorted(VLLM_ROCM_ROWS)
    fit = sorted(i for i in VLLM_ROCM_ROWS if int(i.rsplit("-", 1)[1]) % 3 == 0)
    assert len(fit) == 14 and len(VLLM_ROCM_ROWS) - len(fit) == 29
    assert sorted(i for i in VLLM_ROCM_ROWS if i in serve.FIT_IDS) == fit
    assert sorted(software_stacks()["vllm-rocm"].fit_rows) == fit
    assert not any(in_unseen_batch(i) for i in serve.FIT_IDS)


def test_vllm_rocm_step_adds_its_host_time_per_sequence():
    from fabless.estimate.scenario import scenario_from_dict
    from fabless.estimate.stepcost import EngineStepCost

    sw = software_stacks()["vllm-rocm"]
    assert (sw.host_step_overhead_s, sw.host_per_seq_s) == (0.0, pytest.approx(15e-6))
    for field in ("host_step_overhead_s", "host_per_seq_s"):
        entry = RAW["vllm-rocm"][field]
        assert entry["confidence"] == "fitted" and sorted(entry["fitted_on"]) == sorted(sw.fit_rows)
    script = _rocm_script()
    assert sw.host_step_overhead_s in script.HOST_STEP_S and sw.host_per_seq_s in script.HOST_PER_SEQ_S
    scn = scenario_from_dict({"model": "llama-3.1-8b", "system": {"name": "mi300x-8", "count": 1}, "precision": "fp8",
                              "parallel": {"tp": 1}, "inference": {"batch": 1000, "input_tokens": 128, "output_tokens": 1024}},
                             "test")
    m = EngineStepCost.from_scenario(scn)
    # a decode step of 1000 sequences waits 1000 x 15 us = 15 ms of host time; one sequence 15 us
    assert m.step_time_s(0, 0, 1000, 600_000) - m._pass_s(0, 0, 1000, 600_000) == pytest.approx(15e-3, rel=1e-9)
    assert m.step_time_s(0, 0, 1, 600) - m._pass_s(0, 0, 1, 600) == pytest.approx(15e-6, rel=1e-9)


def test_vllm_rocm_host_time_is_the_grid_minimum_on_its_fit_rows():
    # re-simulate the 14 fit rows (a few seconds a point) at the recorded point and its neighbours along
    # the per-sequence axis and the host-step axis: the recorded point scores best, and clearly better
    # than no host time at all
    script = _rocm_script()
    sw = software_stacks()["vllm-rocm"]
    best = (sw.host_step_overhead_s, sw.host_per_seq_s)
    i = script.HOST_PER_SEQ_S.index(best[1])
    grid = [best, (0.0, 0.0), (best[0], script.HOST_PER_SEQ_S[i - 1]), (best[0], script.HOST_PER_SEQ_S[i + 1]),
            (script.HOST_STEP_S[1], best[1])]
    by_id = {r["id"]: {**r, "category": "serve"} for r in load_rows()}
    scores = {k: err for err, k in serve.stack_grid_scores("vllm-rocm", ("host_step_overhead_s", "host_per_seq_s"), grid,
                                                          [by_id[i] for i in sw.fit_rows])}
    assert min(scores, key=scores.get) == pytest.approx(best)
    assert scores[best] < 0.7 * scores[(0.0, 0.0)]
