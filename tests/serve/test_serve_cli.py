"""`fabless serve` end to end: the engine's step times inside the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from fabless.estimate import load_scenario
from fabless.estimate.stepcost import EngineStepCost
from tests.conftest import assert_one_line_error

SCENARIO = str(Path(__file__).resolve().parents[2] / "examples/scenarios/llama-70b-serving-dgx-h100.yaml")


def test_serve_at_a_rate(cli):
    res = cli("serve", SCENARIO, "--rate", "5/s", "--duration", "120s", "--slo", "ttft_p99=2s,tpot_p99=50ms", "--json")
    assert res.code == 0, res.err
    s = res.json()
    # Poisson arrivals at 5/s for 120 s: 600 requests expected, sd sqrt(600) = 24.5; 4 sd either way.
    assert 600 - 98 <= s["requests"] <= 600 + 98
    # Output tokens/s = requests/s x 256 tokens (fixed lengths), over the same span.
    assert s["output_tokens_per_s"] == pytest.approx(s["throughput_req_per_s"] * 256, rel=1e-9)
    assert s["replica_chips"] == 8


def test_light_load_tpot_is_the_engine_step_time():
    # At one request in flight, each decode step is one sequence: TPOT equals the engine's
    # step time for decode_seqs = 1 at that context (within the context it grows through).
    model = EngineStepCost.from_scenario(load_scenario(SCENARIO))
    lo = model.step_time_s(0, 0, 1, 2049)
    hi = model.step_time_s(0, 0, 1, 2048 + 256)
    from fabless.serve.scheduler import SchedulerConfig
    from fabless.serve.sim import run
    from fabless.serve.workload import Fixed, Lengths, Poisson

    res = run(model, Poisson("0.02/s"), Lengths(Fixed(2048), Fixed(256)), SchedulerConfig(), 0, duration_s=600)
    tpot = res.requests["tpot_s"].median()
    assert lo * 0.999 <= tpot <= hi * 1.001


def test_serve_needs_exactly_one_load(cli):
    assert_one_line_error(cli("serve", SCENARIO), "--rate", "--trace")


def test_max_throughput_is_one_load_among_the_others(cli):
    # without --slo it is the highest stable rate (tests/serve/test_modes.py); with --rate it is two loads
    assert_one_line_error(cli("serve", SCENARIO, "--max-throughput", "--rate", "1/s"), "give exactly one load")


def test_bad_slo_key(cli):
    res = cli("serve", SCENARIO, "--rate", "1/s", "--slo", "ttfb_p99=2s")
    assert_one_line_error(res, "ttfb_p99")


def test_one_request_at_a_time_ttft_is_the_prefill_estimate():
    # One request in the system at a time (0.02 requests/s, each done in ~6 s): its first
    # token comes after one prefill step of the whole 2048-token prompt, so TTFT equals the
    # engine's prefill step, and agrees with `fabless estimate`'s batch-1 TTFT.
    from fabless.estimate import estimate
    from fabless.serve.scheduler import SchedulerConfig
    from fabless.serve.sim import run
    from fabless.serve.workload import Fixed, Lengths, Poisson

    scn = load_scenario(SCENARIO)
    model = EngineStepCost.from_scenario(scn)
    prefill_step = model.step_time_s(2048, 2048, 0, 0)
    res = run(model, Poisson("0.02/s"), Lengths(Fixed(2048), Fixed(256)), SchedulerConfig(), 0, duration_s=600)
    assert res.requests["ttft_s"].median() == pytest.approx(prefill_step, rel=0.02)
    one = scn.model_copy(update={"inference": scn.inference.model_copy(update={"batch": 1})})
    assert estimate(one).metrics["ttft_s"] == pytest.approx(prefill_step, rel=0.25)


def test_rate_above_capacity_is_unstable_not_a_number(cli):
    # The replica completes roughly 10 requests/s of this shape (see --max-throughput);
    # 40/s cannot be served: the backlog grows and no latency is reported.
    res = cli("serve", SCENARIO, "--rate", "40/s", "--duration", "120s", "--json")
    assert res.code == 0, res.err
    s = res.json()
    assert s["stable"] is False and s["backlog_growth"] > 0
    assert s["ttft_p99_s"] is None and s["tpot_p50_s"] is None
    low = cli("serve", SCENARIO, "--rate", "2/s", "--duration", "120s", "--json").json()
    assert low["stable"] is True and low["ttft_p99_s"] > 0


@pytest.mark.parametrize("command", [("serve", "--rate", "5/s"), ("fleet", "--demand", "100/min", "--slo", "ttft_p99=2s")])
def test_serving_commands_refuse_a_training_scenario_in_one_line(cli, command):
    # A training scenario has no inference lengths to serve; tco prices it, serve and fleet cannot.
    train = str(Path(SCENARIO).parent / "gpt3-175b-training-512-h100.yaml")
    assert_one_line_error(cli(command[0], train, *command[1:]), "inference", "needs an inference section")
