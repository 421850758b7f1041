"""Hostile inputs through every command: each ends in one `error:` line with exit 2, or exit 0
with finite, positive figures; never a traceback, a hang past 10 s or an inf/NaN/negative/null.

The generated cases (tests/fuzz/cases.py) mutate valid chips, systems, scenarios, design spaces
and flag values. CI runs a fixed, derandomized sample of them (a minute or two on two cores);
``pytest tests/fuzz --long`` runs 10,000, and ``scripts/fuzz.py --cases N`` prints the counts.
The named cases below are the ones issue #14 reported, kept as regressions.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
import cases as fz  # noqa: E402

SHORT_EXAMPLES = 600
LONG_EXAMPLES = 10_000


def _check(case: fz.Case, tmp: Path) -> fz.Outcome:
    res = fz.run_case(case, tmp)
    assert res.kind in ("exit2", "ok"), f"{res.kind}: {res.detail}"
    return res


@pytest.fixture(scope="module")
def examples(request) -> int:
    return LONG_EXAMPLES if request.config.getoption("--long") else SHORT_EXAMPLES


def test_generated_cases(examples, tmp_path_factory):
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.integers(min_value=0, max_value=2**32 - 1))
    def run(seed: int) -> None:
        case = fz.make_case(random.Random(seed))
        _check(case, tmp_path_factory.mktemp("case"))

    run()


def test_every_valid_base_command_gives_finite_positive_figures(tmp_path):
    # The starting points must themselves pass, or every mutation of them tests nothing.
    for i, cmd in enumerate(fz.COMMANDS):
        case = fz.Case(list(cmd.argv), {n: fz._dump(fz.BASES[k], k) for n, k in cmd.files}, "valid")
        assert fz.run_case(case, tmp_path / str(i)).kind == "ok", cmd.argv


ROOT = Path(__file__).resolve().parents[2]
SERVE = str(ROOT / "examples/scenarios/llama-70b-serving-dgx-h100.yaml")
AUTO = str(ROOT / "examples/scenarios/llama-405b-training-auto.yaml")

# (argv, a word the one-line error must contain): each of these was a traceback, a silent
# exit 0, or a hang in issue #14.
REFUSED = [
    (["op", "gemm", "--chip", "h100-sxm", "-m", "abc", "-n", "1", "-k", "1"], "-m"),
    (["op", "allreduce", "--system", "dgx-h100", "--chips", "100000000"], "--chips"),
    (["op", "allreduce", "--system", "dgx-h100", "--chips", "0"], "--chips"),
    (["op", "attention", "--chip", "h100-sxm", "--heads", "8", "--seq", str(2**63 - 1)], "--seq"),
    (["op", "memcpy", "--chip", "h100-sxm", "--bytes", "1e300GiB"], "--bytes"),
    (["tco", SERVE, "--compare", "h100-sxm,h900"], "h900"),
    (["fleet", SERVE, "--demand", "10/s", "--slo", "ttft_p99=2s", "--chips", "h100-sxm,h900"], "h900"),
    (["estimate", AUTO, "--chips", "0"], "--chips"),
    (["estimate", AUTO, "--chips", "1000000000"], "--chips"),
    (["estimate", AUTO, "--chips", "4194304"], "parallel: auto"),
    (["cost", "h100-sxm", "--physical-cores", "1000000000"], "--physical-cores"),
    (["cost", "h100-sxm", "--dtype", "bf17"], "--dtype"),
    (["cost", "h100-sxm", "--utilisation", "nan"], "--utilisation"),
    (["serve", SERVE, "--rate", "1e9/s"], "requests"),
    (["serve", SERVE, "--rate", "2/s", "--duration", "100000h"], "requests"),
    (["serve", SERVE, "--rate", "2/s", "--length-cv", "inf"], "--length-cv"),
    (["serve", SERVE, "--rate", "0.001/s", "--duration", "1s"], "no request"),  # all figures were null
    (["breakeven", SERVE, "--custom", "h100-sxm", "--years", "nan"], "--years"),
    (["explore", "x.yaml", "--samples", "100000000000"], "--samples"),
    (["models", "graph", "llama-3.1-8b", "--seq", "0"], "--seq"),
]


@pytest.mark.parametrize("argv,word", REFUSED, ids=[" ".join([a[0], *a[-2:]]) for a, _ in REFUSED])
def test_reported_bad_flags_are_one_line_exit_2(argv, word, tmp_path):
    res = fz.run_case(fz.Case(argv), tmp_path)
    assert res.kind == "exit2", res.detail
    assert word in res.detail, res.detail


def _chip_with(path: tuple, value) -> bytes:
    import copy

    doc = copy.deepcopy(fz.BASES["chip"])
    fz._set(doc, path, value)
    return fz._dump(doc)


@pytest.mark.parametrize("path,value,word", [
    (("memory", "hbm", "bandwidth_gb_s"), float("inf"), "bandwidth_gb_s"),
    (("clock", "boost_mhz"), float("inf"), "boost_mhz"),
    (("clock", "boost_mhz"), 1e6, "boost_mhz"),   # 1 THz: beyond the 10 GHz bound
    (("clock", "boost_mhz"), 50, "boost_mhz"),    # 50 MHz: below the 0.1 GHz bound
    (("memory", "hbm", "capacity_gb"), float("nan"), "capacity_gb"),
    (("compute", "peak_tflops", "bf16"), 1e308, "bf16"),
])
def test_unphysical_chip_is_refused_naming_the_field(path, value, word, tmp_path):
    res = fz.run_case(fz.Case(["op", "gemm", "--chip", "{chip}", "-m", "64", "-n", "64", "-k", "64", "--json"],
                              {"chip": _chip_with(path, value)}), tmp_path)
    assert res.kind == "exit2" and word in res.detail, res.detail


def test_nan_in_a_design_space_is_refused(tmp_path):
    import copy

    for where, value in ((("constraints", "tdp_w", "max"), float("nan")),
                         (("parameters", "clock_mhz", "max"), float("inf")),
                         (("parameters", "links"), [8, float("nan")])):
        space = copy.deepcopy(fz.BASES["space"])
        fz._set(space, where, value)
        res = fz.run_case(fz.Case(["explore", "{space}", "--out", "{out}", "--no-plot", "--no-progress", "--json"],
                                  {"space": fz._dump(space), "system.yaml": fz._dump(fz.BASES["xpu_system"])}),
                          tmp_path / where[-1])
        assert res.kind == "exit2", res.detail


@pytest.mark.parametrize("text,word", [
    ('{"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32, "num_hidden_layers": 2, '
     '"num_key_value_heads": [1, 2], "vocab_size": 1000, "intermediate_size": 8, "max_position_embeddings": 64}',
     "num_key_value_heads"),
    ('{"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32, "num_hidden_layers": 2, '
     '"num_key_value_heads": -1e308, "vocab_size": 1000, "intermediate_size": 8, "max_position_embeddings": 64}',
     "num_key_value_heads"),
    ('{"model_type": "llama", "hidden_size": NaN}', "NaN"),
    ("[" * 10000 + "]" * 10000, "nested deeper"),
])
def test_malformed_config_json_is_one_line(text, word, tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(text)
    res = fz.run_case(fz.Case(["models", "graph", str(cfg), "--json"]), tmp_path)
    assert res.kind == "exit2" and word in res.detail, res.detail


def test_a_bad_flag_inside_a_scenario_field_names_the_field_not_its_type(tmp_path):
    res = fz.run_case(fz.Case(["estimate", "--model", "llama-3.1-8b", "--chip", "h100-sxm", "--chips", "8",
                               "--parallel", "tp=0", "--batch", "8", "--input-tokens", "8", "--output-tokens", "8"]),
                      tmp_path)
    assert res.kind == "exit2" and "'parallel.tp'" in res.detail, res.detail


@pytest.mark.parametrize("key", ["Name", "int", "ParallelSpec"])
def test_an_unknown_key_that_looks_like_a_type_name_is_still_named(key, tmp_path):
    scen = {**fz.BASES["serve"], key: 1}
    res = fz.run_case(fz.Case(["estimate", "{scen}"], {"scen": fz._dump(scen)}), tmp_path)
    assert res.kind == "exit2" and f"unknown field '{key}'" in res.detail, res.detail
