"""Vectorised evaluation: agrees with the scalar engine on the base chip, marks infeasible
designs with their reason, and finds a best point known by hand."""

import copy

import numpy as np
import pytest

from fabless.estimate.engine import estimate
from fabless.estimate.scenario import scenario_from_dict
from fabless.explore import Evaluator, front, pareto_mask, run_search, space_from_dict

from .conftest import SMALL


def _space(**changes):
    raw = copy.deepcopy(SMALL)
    raw.update(changes)
    return space_from_dict(raw)


@pytest.mark.parametrize("chip, system, model, tp, batch, precision", [
    ("tpu-v6e", "tpu-v6e-256", "llama-3.1-70b", 8, 32, "bf16"),   # systolic arrays, torus
    ("h100-sxm", "dgx-h100", "llama-3.1-70b", 8, 16, "bf16"),     # tensor cores, NVSwitch (one-shot all-reduce)
    ("h100-sxm", "dgx-h100", "llama-3.1-8b", 1, 4, "bf16"),
    ("h100-sxm", "dgx-h100", "llama-3.1-70b", 8, 64, "fp8"),      # FP8 GEMMs, the rest in bf16
    ("h100-sxm", "dgx-h100", "llama-3.1-8b", 1, 8, "int4"),       # weight-only int4
])
def test_base_design_matches_the_engine(chip, system, model, tp, batch, precision):
    """The base chip, unchanged, gives the engine's TTFT and TPOT (the design's peak is
    units x MACs x 2 x clock, which differs from a datasheet's rounded figure by < 0.1%)."""
    inf = {"batch": batch, "input_tokens": 1024, "output_tokens": 128}
    sp = space_from_dict({"base": {"chip": chip, "system": system}, "parameters": {"cores": [1]},
                          "workload": [{"name": "s", "model": model, "precision": precision, "parallel": {"tp": tp},
                                        "inference": inf}],
                          "objectives": [{"minimize": "tpot_s"}]})
    ev = Evaluator(sp)
    r = ev.evaluate({})  # nothing varied: the base chip
    e = estimate(scenario_from_dict({"model": model, "system": {"name": system, "count": tp}, "precision": precision,
                                     "parallel": {"tp": tp}, "inference": inf}))
    assert r["ttft_s"][0] == pytest.approx(e.metrics["ttft_s"], rel=2e-3)
    assert r["tpot_s"][0] == pytest.approx(e.metrics["tpot_s"], rel=2e-3)
    assert r["tokens_per_s_per_chip"][0] == pytest.approx(e.metrics["output_tokens_per_s_per_chip"], rel=2e-3)


@pytest.mark.parametrize("chip, system, model, par, tr, chips", [
    ("h100-sxm", "dgx-h100", "llama-3.1-8b", {"tp": 2, "dp": 4}, {"global_batch": 16, "micro_batch": 1, "seq_len": 2048}, 8),
    # every plan axis explore could not time before: pipeline + interleave, ZeRO-3 (FSDP), context parallel
    ("h100-sxm", "dgx-h100", "llama-3.1-70b", {"tp": 8, "pp": 4, "interleave": 2, "dp": 2},
     {"global_batch": 64, "micro_batch": 1, "seq_len": 4096, "recompute": "full"}, 64),
    ("h100-sxm", "dgx-h100", "llama-3.1-70b", {"tp": 1, "dp": 64},
     {"global_batch": 64, "micro_batch": 1, "seq_len": 4096, "recompute": "full", "zero": 3}, 64),
    ("h100-sxm", "dgx-h100", "llama-3.1-8b", {"tp": 2, "cp": 2, "dp": 4}, {"global_batch": 16, "micro_batch": 1, "seq_len": 8192}, 16),
    ("tpu-v6e", "tpu-v6e-256", "llama-3.1-8b", {"tp": 4, "dp": 16},
     {"global_batch": 64, "micro_batch": 1, "seq_len": 4096, "zero": 3}, 64),
])
def test_training_is_the_engine_step_model(chip, system, model, par, tr, chips):
    # explore times training with the estimate's own step model (estimate/step.py: the same operator
    # lists and the same step_terms); the base design differs from the preset only in how explore
    # derives a design's figures (per-core rates re-multiplied), a few parts in 1e5
    sp = space_from_dict({"base": {"chip": chip, "system": system}, "parameters": {"cores": [1]},
                          "workload": [{"name": "t", "model": model, "parallel": par, "training": tr}],
                          "objectives": [{"maximize": "tokens_per_s_per_chip"}]})
    r = Evaluator(sp).evaluate({})
    e = estimate(scenario_from_dict({"model": model, "system": {"name": system, "count": chips},
                                     "parallel": par, "training": tr}))
    assert r["t.step_time_s"][0] == pytest.approx(e.metrics["step_time_s"], rel=1e-3)


def test_known_best_cheapest_design_that_fits(tmp_path):
    """Llama-3.1-8B in bf16 is 16.06 GB of weights. A TPU v6e-like chip with one 16 GB HBM3
    stack has 0.9 x 16 = 14.4 GB usable: it cannot hold the model. Each further stack adds
    HBM dollars, packaging and PHY area, so the cheapest design that fits is 2 stacks."""
    store = run_search(_space(), tmp_path / "r", progress=False)
    df = store.frame()
    one = df[df["hbm_stacks"] == 1].iloc[0]
    assert not one["feasible"] and "does not fit" in one["reason"]
    assert df.loc[df["hbm_stacks"] > 1, "feasible"].all()
    assert np.all(np.diff(df["unit_cost_usd"].to_numpy()) > 0)
    fr = front(df, _space().objective_list)
    assert len(fr) == 1 and fr.iloc[0]["hbm_stacks"] == 2


def test_known_front_cost_against_speed(tmp_path):
    """Batch-1 decode is bound by HBM bandwidth: every added stack is faster and dearer,
    so every design that fits (2..6 stacks) is on the front of (cost, tokens/s)."""
    sp = _space(objectives=[{"minimize": "unit_cost_usd"}, {"maximize": "tokens_per_s_per_chip"}])
    df = run_search(sp, tmp_path / "r", progress=False).frame()
    fr = front(df, sp.objective_list)
    assert sorted(fr["hbm_stacks"]) == [2, 3, 4, 5, 6]
    assert np.all(np.diff(df.loc[df["feasible"], "tokens_per_s_per_chip"].to_numpy()) > 0)


def test_infeasible_designs_are_marked_never_ranked(tmp_path):
    sp = _space(parameters={"matrix_units": [4, 64]}, constraints={"tdp_w": {"max": 2000}},
                objectives=[{"maximize": "tokens_per_s_per_chip"}])
    df = run_search(sp, tmp_path / "r", progress=False).frame()
    big = df[df["matrix_units"] == 64].iloc[0]
    assert not big["feasible"] and "reticle" in big["reason"]  # 64 arrays of 256x256 do not fit on one die
    fr = front(df, sp.objective_list)
    assert list(fr["matrix_units"]) == [4]


def test_power_constraint_marks_infeasible(tmp_path):
    sp = _space(parameters={"clock_mhz": [1000, 3000]}, constraints={"tdp_w": {"max": 700}})
    df = run_search(sp, tmp_path / "r", progress=False).frame()
    fast = df[df["clock_mhz"] == 3000].iloc[0]
    assert fast["tdp_w"] > 700 and not fast["feasible"] and fast["reason"] == "tdp_w > 700"


def test_slo_picks_the_largest_batch_that_meets_it():
    """With batch auto, each design serves at the batch with most tokens/s that fits and
    meets the TPOT SLO; a tighter SLO can only lower the batch."""
    loose = _space(workload=[{**SMALL["workload"][0], "inference": {"batch": "auto", "input_tokens": 512, "output_tokens": 128}}],
                   parameters={"hbm_stacks": [4]})
    tight = _space(workload=[{**loose.workload[0].model_dump(), "slo": {"tpot_ms": 10}}], parameters={"hbm_stacks": [4]})
    a, b = Evaluator(loose).evaluate({"hbm_stacks": np.array([4.0])}), Evaluator(tight).evaluate({"hbm_stacks": np.array([4.0])})
    assert b["serve.batch"][0] < a["serve.batch"][0]
    assert b["tpot_s"][0] <= 0.010


def test_pareto_mask_by_hand():
    # minimise both: (1,5) (2,2) (5,1) are the front; (3,3) is dominated by (2,2); (2,2) twice: one kept
    F = np.array([[3, 3], [1, 5], [2, 2], [5, 1], [2, 2], [6, 6]])
    assert list(np.flatnonzero(pareto_mask(F))) == [1, 2, 3]


def test_chiplet_budget_constraint(tmp_path):
    """A die over the reticle can be split: with 8 arrays of 256x256 (a TPU v6e has 4 on a
    ~600 mm2 die) one die is over 858 mm2 and two are not; a chiplet budget of 1 die leaves
    only the small design."""
    sp = _space(parameters={"matrix_units": [4, 8], "dies": [1, 2]}, constraints={"dies": {"max": 1}},
                objectives=[{"maximize": "tokens_per_s_per_chip"}])
    df = run_search(sp, tmp_path / "r", progress=False).frame()
    one = df[(df["matrix_units"] == 8) & (df["dies"] == 1)].iloc[0]
    two = df[(df["matrix_units"] == 8) & (df["dies"] == 2)].iloc[0]
    assert "reticle" in one["reason"]
    assert two["die_area_per_die_mm2"] < 858 < two["die_area_mm2"]
    assert two["reason"] == "dies > 1"
    assert list(front(df, sp.objective_list)["matrix_units"]) == [4]


@pytest.mark.parametrize("par", [{"tp": 8, "ep": 8}, {"tp": 8, "ep": 8, "attn_dp": True}])
def test_moe_inference_plans_are_the_engines(par):
    # expert parallelism and attention data parallelism in explore run the engine's own request
    # graphs (engine.request_graphs) and request formula (step.request_terms)
    inf = {"batch": 64, "input_tokens": 1024, "output_tokens": 128}
    sp = space_from_dict({"base": {"chip": "h200-sxm", "system": "dgx-h200"}, "parameters": {"cores": [1]},
                          "workload": [{"name": "t", "model": "deepseek-v3", "precision": "fp8", "parallel": par,
                                        "inference": inf}],
                          "objectives": [{"maximize": "tokens_per_s_per_chip"}]})
    r = Evaluator(sp).evaluate({})
    e = estimate(scenario_from_dict({"model": "deepseek-v3", "system": {"name": "dgx-h200", "count": 8}, "precision": "fp8",
                                     "parallel": par, "inference": inf}))
    assert r["t.tpot_s"][0] == pytest.approx(e.metrics["tpot_s"], rel=1e-3)
    assert r["t.ttft_s"][0] == pytest.approx(e.metrics["ttft_s"], rel=1e-3)
