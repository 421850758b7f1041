"""The parameter loader (fabless.params, issue #18 item 3): every shipped file of fitted or assumed
numbers loads through it, and it refuses a value without a source, an unknown confidence, a fitted
value that does not say what it was fitted on, and an assumption without its reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from fabless.errors import FablessError
from fabless.hardware.presets import chip_names, load_chip
from fabless.params import CONFIDENCES, load_generated_file, load_param_file, params_from_tree, unit_of
from fabless.perf.params import ChipParams, families, family_of

DATA = Path(__file__).resolve().parents[1] / "src" / "fabless" / "data"
#: Data files that are not parameter files, and why.
NOT_PARAMETERS = {
    "economics/prices.yaml": "dated price records, each sourced as a record (fabless.hardware.prices checks them)",
}
#: Data files written whole by a script, read through load_generated_file.
GENERATED_FILES = {"estimate/error_bands.yaml": "scripts/error_bands.py"}
PARAMETER_FILES = sorted(
    p for d in ("perf", "estimate", "economics", "serve") for p in (DATA / d).glob("*.yaml")
    if str(p.relative_to(DATA)) not in NOT_PARAMETERS and str(p.relative_to(DATA)) not in GENERATED_FILES
)


def test_the_shipped_parameter_files_are_all_found():
    names = {str(p.relative_to(DATA)) for p in PARAMETER_FILES}
    assert {"perf/families.yaml", "perf/collectives.yaml", "estimate/engine.yaml", "estimate/software.yaml",
            "economics/silicon.yaml", "economics/power.yaml", "serve/mlperf.yaml"} <= names


@pytest.mark.parametrize("path", PARAMETER_FILES, ids=lambda p: str(p.relative_to(DATA)))
def test_every_shipped_parameter_is_sourced(path):
    pf = load_param_file(path)
    assert pf.params, f"{path} holds no sourced value"
    for name, p in pf.params.items():
        assert p.source.strip(), name
        assert p.confidence in CONFIDENCES, name
        if p.confidence in ("fitted", "calibrated"):
            assert p.fitted_on, name
        if p.confidence == "assumed":
            assert p.note, name


def test_fitted_confidence_is_allowed_and_names_its_rows():
    pf = load_param_file(DATA / "estimate" / "engine.yaml")
    p = pf.params["custom_allreduce_latency_s"]
    assert p.confidence == "fitted" and p.fitted_on == ("infer-255", "infer-201") and p.unit == "s"


@pytest.mark.parametrize("tree, message", [
    ({"a_s": 1.0}, "a_s is a bare number"),
    ({"x": {"y_bytes": [1, {"value": 2, "source": "s"}]}}, "x.y_bytes[0] is a bare number"),
    ({"a_s": {"value": 1.0}}, "needs a source"),
    ({"a_s": {"value": 1.0, "source": "  "}}, "needs a source"),
    ({"a_s": {"value": 1.0, "source": "s", "confidence": "guessed"}}, "unknown confidence 'guessed'"),
    ({"a_s": {"value": 1.0, "source": "s", "confidence": "fitted"}}, "needs fitted_on"),
    ({"a_s": {"value": 1.0, "source": "s", "confidence": "calibrated", "fitted_on": []}}, "fitted_on must be"),
    ({"a_s": {"value": 1.0, "source": "s", "confidence": "assumed"}}, "needs a note"),
])
def test_the_loader_refuses(tree, message):
    with pytest.raises(FablessError, match=message.replace("[", r"\[").replace("]", r"\]")):
        params_from_tree(tree, "t.yaml")


def test_the_loader_keeps_values_and_provenance():
    pf = params_from_tree({"_s": {"a": "anchor"}, "stack": {"date": "2024-01-01", "eff": {
        "value": 0.5, "source": "fit.py", "confidence": "fitted", "fitted_on": ["r1", "r2"]}},
        "bw_bytes_per_s": {"value": 10, "source": "sheet", "unit": "B/s"}}, "t.yaml")
    assert pf.plain == {"stack": {"date": "2024-01-01", "eff": 0.5}, "bw_bytes_per_s": 10}
    assert pf.params["stack.eff"].fitted_on == ("r1", "r2")
    assert pf.params["bw_bytes_per_s"].confidence == "verified"  # the default tag, as in chip files
    assert pf.sources("stack") == {"eff": {"source": "fit.py", "confidence": "fitted", "fitted_on": ["r1", "r2"]}}
    with pytest.raises(TypeError):
        pf.params["x"] = None  # read-only


def test_a_users_file_may_write_bare_numbers():
    pf = params_from_tree({"a_s": 2.0, "b": {"value": 1, "confidence": "assumed"}}, "mine.yaml", require_sources=False)
    assert pf.plain == {"a_s": 2.0, "b": 1} and pf.params["b"].source == "user-set"
    with pytest.raises(FablessError, match="unknown confidence"):
        params_from_tree({"b": {"value": 1, "confidence": "hunch"}}, "mine.yaml", require_sources=False)


def test_units_come_from_names():
    assert [unit_of(n) for n in ("launch_overhead_s", "hbm_bytes_per_s", "a.wafer_price_usd", "mma_efficiency")] == \
        ["s", "B/s", "USD", None]


def test_a_chip_family_is_the_field_of_its_file_never_its_name():
    fams = families()
    for name in chip_names():
        chip = load_chip(name)
        fam = family_of(chip).name
        if chip.perf_family:
            assert fam == chip.perf_family and fam in fams
        else:
            assert fam.startswith("default-"), name
    h100 = load_chip("h100-sxm")
    assert family_of(h100).name == "nvidia-hopper"
    # the same chip under another name keeps its family; an H100-named chip without the field does not get it
    assert family_of(h100.model_copy(update={"name": "my-accelerator"})).name == "nvidia-hopper"
    assert family_of(h100.model_copy(update={"name": "h100-copy", "perf_family": None})).name == "default-gpu"


def test_an_unknown_family_is_one_line():
    chip = load_chip("h100-sxm").model_copy(update={"perf_family": "nvidia-hoper"})
    with pytest.raises(FablessError, match="unknown perf_family 'nvidia-hoper'.*nvidia-hopper"):
        ChipParams.from_chip(chip)


def test_chip_params_cite_what_each_value_was_fitted_on():
    src = ChipParams.from_chip("h100-sxm").sources[0]
    assert src["mma_efficiency"]["fitted_on"] == [f"kernel-aic-{i:03d}" for i in range(55, 109)]
    assert src["tile_overhead_s"]["fitted_on"] == [f"kernel-aic-{i:03d}" for i in range(145, 181, 2)]
    assert src["attention_block"]["confidence"] == "recalled"


def test_chips_show_cites_each_performance_parameter(cli):
    r = cli("chips", "show", "mi300x", "--json")
    assert r.code == 0
    perf = r.json()["performance"]
    assert perf["family"] == "amd-cdna3"
    assert perf["parameters"]["mma_efficiency"]["fitted_on"] == [f"kernel-cdna3-{i:03d}" for i in range(21, 27)]
    assert all(p.get("source") for p in perf["parameters"].values())


@pytest.mark.parametrize("name", sorted(GENERATED_FILES))
def test_a_generated_file_gives_every_number_its_scripts_provenance(name):
    pf = load_generated_file(DATA / name)
    assert pf.params
    for p in pf.params.values():
        assert p.fitted_on == (GENERATED_FILES[name],) and p.confidence in ("fitted", "measured", "derived")
    assert (DATA / name).read_text().startswith(f"# Generated by {GENERATED_FILES[name]}")


def test_a_generated_file_without_its_provenance_is_refused(tmp_path):
    good = "generated: {source: 'scripts/x.py at abc', confidence: fitted, fitted_on: [scripts/x.py], note: n}\n"
    f = tmp_path / "g.yaml"
    f.write_text(good + "regimes: {a: {lo: -0.1, hi: 0.2, residuals: {r-1: 0.05}}}\n")
    pf = load_generated_file(f)
    assert pf.plain == {"regimes": {"a": {"lo": -0.1, "hi": 0.2, "residuals": {"r-1": 0.05}}}}
    assert pf.params["regimes.a.residuals.r-1"].value == 0.05
    assert pf.params["regimes.a.hi"].source == "scripts/x.py at abc"
    for text, says in (("regimes: {a: {lo: -0.1}}\n", "needs a top-level 'generated:'"),
                       (good.replace("fitted,", "assumed,") + "x: 1\n", "generated.confidence must be one of"),
                       (good.replace(" fitted_on: [scripts/x.py],", "") + "x: 1\n", "fitted_on must name the script"),
                       (good + "x: {value: 1, source: s}\n", "x carries its own source")):
        f.write_text(text)
        with pytest.raises(FablessError, match=says):
            load_generated_file(f)


def test_an_exponent_without_its_sign_is_refused():
    # PyYAML reads 1.0e9 as the text '1.0e9' (YAML 1.1 wants 1.0e+9): a value must be a number.
    raw = {"x_s": {"value": "1.0e9", "source": "s", "confidence": "verified"}}
    with pytest.raises(FablessError, match=r"x_s: value '1.0e9' reads as text.*1.0e\+9"):
        params_from_tree(raw, "t.yaml")
    raw["x_s"]["value"] = 1.0e9
    assert params_from_tree(raw, "t.yaml").params["x_s"].value == 1.0e9
