"""System estimates: hand-checked formulas, physical invariants and bad scenarios."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabless.estimate.engine import Plan, estimate, params_per_chip
from fabless.estimate.parallel import (
    activation_bytes_per_layer,
    pipeline_bubble_fraction,
    stage_layers,
    training_state_bytes,
)
from fabless.estimate.scenario import scenario_from_dict
from fabless.hardware import load_chip
from fabless.workload import load_model
from tests.conftest import assert_one_line_error

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "scenarios"


def _inference(model="llama-3.1-8b", system="dgx-h100", count=1, tp=1, batch=1, inp=128, out=64, precision="bf16"):
    return scenario_from_dict({
        "model": model, "system": {"name": system, "count": count}, "precision": precision,
        "parallel": {"tp": tp}, "inference": {"batch": batch, "input_tokens": inp, "output_tokens": out},
    })


def _training(model="gpt3-1.3b", count=8, tp=1, pp=1, gb=64, mb=1, seq=2048, recompute="selective", zero=1):
    return scenario_from_dict({
        "model": model, "system": {"name": "dgx-h100", "count": count}, "precision": "bf16",
        "parallel": {"tp": tp, "pp": pp},
        "training": {"global_batch": gb, "micro_batch": mb, "seq_len": seq, "recompute": recompute, "zero": zero},
    })


# --- hand-checked formulas -------------------------------------------------------


def test_1f1b_bubble_by_hand():
    # Narayanan et al. 2021: bubble = (p-1)/(m+p-1); p=4, m=12 -> 3/15.
    assert pipeline_bubble_fraction(4, 12) == pytest.approx(3 / 15)
    # interleaving with v=2 virtual stages: (p-1)/(v m + p - 1) = 3/27
    assert pipeline_bubble_fraction(4, 12, interleave=2) == pytest.approx(3 / 27)
    assert pipeline_bubble_fraction(1, 12) == 0.0


def test_zero_stages_by_hand():
    # 1e9 parameters on one chip, bf16 weights and grads, Adam 12 B/param, dp = 8.
    s0 = training_state_bytes(1e9, 2.0, dp=8, zero=0)
    assert (s0.weights_bytes, s0.grads_bytes, s0.optimizer_bytes) == (2e9, 2e9, 12e9)
    s1 = training_state_bytes(1e9, 2.0, dp=8, zero=1)
    assert s1.optimizer_bytes == pytest.approx(1.5e9) and s1.grads_bytes == 2e9
    s3 = training_state_bytes(1e9, 2.0, dp=8, zero=3)
    assert s3.total_bytes == pytest.approx(16e9 / 8)


def test_activation_memory_gpt3_layer_by_hand():
    # GPT-3 layer, h = 12288, 96 heads of 128, 4h MLP, bf16, no recompute, flash attention:
    # stored per token: 3h (norms, residual) + h (QKV input) + 3h (Q,K,V) + h (attention out)
    # + 2 x 4h (fc1 output, GELU output) = 16h elements = 32h bytes.
    h, s, b = 12288, 2048, 1
    got = activation_bytes_per_layer(seq=s, micro_batch=b, hidden=h, ffn=4 * h, heads=96, kv_heads=96,
                                     head_dim=128, act_bytes=2, tp=1, recompute="none", glu=False)
    assert got == pytest.approx(32 * s * b * h)
    # full recompute keeps only the layer input: 2 s b h bytes
    full = activation_bytes_per_layer(seq=s, micro_batch=b, hidden=h, ffn=4 * h, heads=96, kv_heads=96,
                                      head_dim=128, act_bytes=2, tp=1, recompute="full", glu=False)
    assert full == pytest.approx(2 * s * b * h)


def test_uneven_stages():
    assert stage_layers(126, 16) == 8  # Llama-3.1-405B on 16 stages: 8 layers on the busiest
    assert stage_layers(96, 8) == 12


def test_decode_of_a_memory_bound_model_is_bytes_over_bandwidth():
    # Llama-3.1-8B, batch 1, one H100: each decode step streams all weights once.
    # Hand value: 8.03e9 params x 2 B / 3.35e12 B/s = 4.8 ms. The model adds the achievable
    # fraction of HBM bandwidth and kernel launches, so it must land between 1x and 1.5x.
    cfg = load_model("llama-3.1-8b")
    est = estimate(_inference(batch=1, inp=128, out=64))
    floor_s = cfg.params_total * 2 / 3.35e12
    assert floor_s <= est.metrics["tpot_s"] <= 1.5 * floor_s


def test_training_never_beats_peak():
    est = estimate(_training())
    chip = load_chip("h100-sxm")
    assert est.metrics["model_flops_per_step"] / (8 * chip.peak_flops("bf16")) < est.metrics["step_time_s"]
    assert 0 < est.metrics["mfu"] < 1 and est.metrics["hfu"] >= est.metrics["mfu"]


def test_full_recompute_costs_time_and_saves_memory():
    sel = estimate(_training(recompute="selective"))
    full = estimate(_training(recompute="full"))
    assert full.metrics["step_time_s"] > sel.metrics["step_time_s"]
    assert full.memory_bytes["activations"] < sel.memory_bytes["activations"]
    assert full.metrics["hfu"] > full.metrics["mfu"]


# --- invariants --------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(tp=st.sampled_from([1, 2, 4, 8]), pp=st.sampled_from([1, 2, 4]))
def test_more_model_parallel_chips_never_more_weights_per_chip(tp, pp):
    cfg = load_model("llama-3.1-70b")
    base = params_per_chip(cfg, Plan(tp, pp, 1))
    assert params_per_chip(cfg, Plan(tp * 2, pp, 1)) <= base
    assert params_per_chip(cfg, Plan(tp, pp * 2, 1)) <= base


@settings(max_examples=10, deadline=None)
@given(batch=st.sampled_from([1, 4, 16, 64]))
def test_more_sequences_never_shorter_step(batch):
    small = estimate(_inference(batch=batch)).metrics
    big = estimate(_inference(batch=batch * 2)).metrics
    assert big["tpot_s"] >= small["tpot_s"]
    assert big["ttft_s"] >= small["ttft_s"]


def test_plan_that_does_not_fit_says_so():
    # Llama-3.1-405B in bf16 is 811 GB of weights: it cannot fit on 8 x 80 GB.
    est = estimate(_inference(model="llama-3.1-405b", count=8, tp=8, batch=1))
    assert est.fits is False
    assert "does not fit" in est.notes[0]


def test_auto_finds_a_plan_that_fits():
    scn = scenario_from_dict({
        "model": "llama-3.1-70b", "system": {"name": "dgx-h100", "count": 64}, "parallel": "auto",
        "training": {"global_batch": 256, "micro_batch": 1, "seq_len": 4096},
    })
    est = estimate(scn)
    assert est.fits
    assert est.plan.tp * est.plan.pp * est.plan.dp == 64
    assert all(alt["step_time_s"] >= est.metrics["step_time_s"] for alt in est.alternatives)


# --- CLI and bad scenarios ---------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_scenarios_run(cli, path):
    res = cli("estimate", str(path), "--json")
    assert res.code == 0, res.err
    d = res.json()
    assert d["fits"] is True
    if "samples_per_s" in d:  # a recommendation model (DLRM): samples/s = batch / latency
        assert d["latency_s"] > 0 and d["memory_per_chip_bytes"] > 0
        assert d["samples_per_s"] == pytest.approx(d["batch"] / d["latency_s"])
    elif "training" in path.name:
        for key in ("step_time_s", "tokens_per_s", "mfu", "hfu", "memory_per_chip_bytes"):
            assert d[key] > 0
    else:
        for key in ("ttft_s", "tpot_s", "e2e_latency_s", "output_tokens_per_s", "memory_per_chip_bytes"):
            assert d[key] > 0
        # e2e = TTFT + (output - 1) x TPOT
        import yaml

        out = yaml.safe_load(path.read_text())["inference"]["output_tokens"]
        assert d["e2e_latency_s"] == pytest.approx(d["ttft_s"] + (out - 1) * d["tpot_s"])


def test_unknown_model(cli):
    res = cli("estimate", "--model", "llama-9", "--system", "dgx-h100", "--batch", "1", "--input-tokens", "8", "--output-tokens", "8")
    assert_one_line_error(res, "llama-9")


def test_tp_not_dividing_heads(cli):
    # Llama-3.1-70B has 64 heads and 8 KV heads: tp = 3 divides neither.
    res = cli("estimate", "--model", "llama-3.1-70b", "--system", "dgx-h100", "--chips", "6", "--parallel", "tp=3,pp=1,dp=2",
              "--batch", "1", "--input-tokens", "8", "--output-tokens", "8")
    assert res.code == 2 and "tp" in res.err and len(res.err.strip().splitlines()) == 1


def test_batch_that_does_not_fit(cli):
    res = cli("estimate", "--model", "llama-3.1-70b", "--system", "dgx-h100", "--parallel", "tp=8",
              "--batch", "4096", "--input-tokens", "8192", "--output-tokens", "1024")
    assert_one_line_error(res, "does not fit", "GB")


def test_bad_field_in_scenario(cli, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("model: llama-3.1-8b\nsystem: dgx-h100\ninference: {batch: 1, input_tokens: 8, output_tokns: 8}\n")
    res = cli("estimate", str(path))
    assert_one_line_error(res, "s.yaml", "inference.output_tokns", "output_tokens")


def test_both_phases_is_an_error(cli, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("model: llama-3.1-8b\nsystem: dgx-h100\ninference: {batch: 1, input_tokens: 8, output_tokens: 8}\n"
                    "training: {global_batch: 8, seq_len: 128}\n")
    assert_one_line_error(cli("estimate", str(path)), "exactly one of inference or training")
