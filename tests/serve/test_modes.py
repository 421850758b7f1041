"""The serving modes of `fabless serve` (fabless.serve.modes), checked on step models whose
answers can be worked out by hand."""

from __future__ import annotations

import pytest

from fabless.cli import main
from fabless.errors import FablessError
from fabless.serve import modes
from fabless.serve.scheduler import SchedulerConfig
from fabless.serve.stepcost import ConstantStepCost
from fabless.serve.workload import Fixed, Lengths

STEP_S = 0.01


def _model():
    return ConstantStepCost(STEP_S, kv_capacity_tokens=10**7)


def test_offline_steady_rate_is_a_full_batch_per_step():
    # Every step takes 10 ms whatever it holds; with 64 sequences allowed and 1-token prompts,
    # every running sequence makes one token per step: a full batch gives 64 / 0.01 = 6,400
    # output tokens/s, and 6,400 / 50 = 128 requests/s of 50-token answers.
    sched = SchedulerConfig(max_num_batched_tokens=64, max_num_seqs=64)
    out = modes.offline(_model(), sched, Lengths(Fixed(1), Fixed(50)), n=2000)
    assert out["output_tokens_per_s"] == pytest.approx(6400, rel=0.01)
    assert out["rate_per_s"] == pytest.approx(128, rel=0.01)
    # The whole run: 2000 x 50 tokens in at least 2000 x 50 / 64 steps.
    assert out["makespan_s"] >= 2000 * 50 / 64 * STEP_S


def test_mlperf_offline_counts_the_whole_run_by_hand():
    # 640 one-token prompts with 50-token answers, 64 at a time, 10 ms a step: the batch turns
    # over in 10 lockstep cohorts of 50 steps (the prompt's step makes the first token), so the
    # last completes at 10 x 50 x 0.01 = 5 s: 640 x 50 / 5 = 6,400 tokens/s, loadgen's
    # tokens over the time to the last completion.
    sched = SchedulerConfig(max_num_batched_tokens=64, max_num_seqs=64)
    out = modes.mlperf_offline(_model(), sched, Lengths(Fixed(1), Fixed(50)), samples=640)
    assert out["run_s"] == pytest.approx(5.0, rel=1e-9)
    assert out["run_output_tokens_per_s"] == pytest.approx(6400, rel=1e-9)


def test_mlperf_offline_adds_the_start_and_tail_to_a_long_run_by_hand():
    # 12,000 samples: more than the 6,000 simulated (20 batches of 64 are fewer). The 6,000 are
    # 93.75 cohorts: 94 cohorts of 0.5 s, 47 s, against 300,000 tokens at the steady 6,400/s
    # = 46.875 s: 0.125 s of start and tail (the last cohort's idle quarter). The 12,000:
    # 600,000 / 6,400 + 0.125 = 93.875 s. Simulated whole they take 187.5 -> 188 cohorts, 94 s.
    sched = SchedulerConfig(max_num_batched_tokens=64, max_num_seqs=64)
    assert modes.offline_requests(sched) == 6000
    out = modes.mlperf_offline(_model(), sched, Lengths(Fixed(1), Fixed(50)), samples=12000)
    assert out["start_tail_extra_s"] == pytest.approx(0.125, rel=1e-6)
    assert out["run_s"] == pytest.approx(93.875, rel=1e-6)
    assert out["run_output_tokens_per_s"] == pytest.approx(600_000 / 93.875, rel=1e-6)
    assert out["run_s"] == pytest.approx(94.0, rel=0.002)


def test_offline_default_holds_many_batches():
    # 6,000 requests are under two batches of 3,072 (NVIDIA's Mixtral Offline on H200): the
    # default is then 20 batches, 61,440 requests.
    assert modes.offline_requests(SchedulerConfig(max_num_batched_tokens=16384, max_num_seqs=3072)) == 61_440
    assert modes.offline_requests(SchedulerConfig(max_num_batched_tokens=256, max_num_seqs=256)) == 6000


def test_offline_with_too_few_requests_says_so():
    with pytest.raises(FablessError, match="give more requests"):
        modes.offline(_model(), SchedulerConfig(max_num_batched_tokens=64, max_num_seqs=64), Lengths(Fixed(1), Fixed(50)), n=10)


def test_closed_loop_of_one_client_is_one_request_at_a_time():
    # One client: a 1-token prompt and a 20-token answer take 20 steps (the prefill step makes the
    # first token), 0.2 s; the next request follows: 5 requests/s, 100 output tokens/s, within the
    # up-to-one-step wait for the next step boundary (5%).
    out = modes.closed_loop(_model(), SchedulerConfig(max_num_batched_tokens=64, max_num_seqs=64),
                            Lengths(Fixed(1), Fixed(20)), 1)
    assert out["rate_per_s"] == pytest.approx(5.0, rel=0.05)
    assert out["output_tokens_per_s"] == pytest.approx(100.0, rel=0.05)
    assert out["tpot_s"] == pytest.approx(STEP_S, rel=1e-6)


def test_closed_loop_below_the_batch_limit_scales_with_clients():
    # 16 clients, all fitting in one batch of 64: each still takes ~20 steps, so 16 x 5 = 80/s.
    out = modes.closed_loop(_model(), SchedulerConfig(max_num_batched_tokens=64, max_num_seqs=64),
                            Lengths(Fixed(1), Fixed(20)), 16)
    assert out["rate_per_s"] == pytest.approx(80.0, rel=0.06)


def test_closed_loop_beyond_the_batch_limit_runs_at_capacity_by_littles_law():
    # 640 clients, 64 sequences a step: the server is full and turns out 64 tokens per 10 ms
    # step, 6,400 tokens/s = 128 requests/s of 50 tokens, whatever the queue, and each request
    # waits out 640 / 128 = 5 s in all (Little's law), 0.5 s of it running (50 steps), so its
    # first token comes 4.5 s + one step after it is sent. (An open stream at the rate where
    # rate x E2E = 640 overstated this loop by 22%: its backlog grows through a finite run.)
    for c in (128, 640):
        out = modes.closed_loop(_model(), SchedulerConfig(max_num_batched_tokens=64, max_num_seqs=64),
                                Lengths(Fixed(1), Fixed(50)), c)
        assert out["loop"] == "closed"
        assert out["rate_per_s"] == pytest.approx(128.0, rel=1e-3)
        assert out["output_tokens_per_s"] == pytest.approx(6400.0, rel=1e-3)
        assert out["e2e_s"] == pytest.approx(c / 128, rel=1e-3)
        assert out["ttft_s"] == pytest.approx(c / 128 - 0.5 + STEP_S, rel=1e-3)
        assert out["tpot_s"] == pytest.approx(STEP_S, rel=1e-6)


def test_closed_loop_runs_each_rate_once(monkeypatch):
    # The search never simulates a rate twice (the reported run is one already made), and
    # converges in far fewer runs than bisection over the 1024x bracket to 0.5% (11).
    rates = []
    real = modes.simulate

    def counted(reqs, *a, **kw):
        if len(reqs) > 1:
            rates.append(float(reqs.arrival_s[1]))
        return real(reqs, *a, **kw)

    monkeypatch.setattr(modes, "simulate", counted)
    out = modes.closed_loop(_model(), SchedulerConfig(max_num_batched_tokens=64, max_num_seqs=64),
                            Lengths(Fixed(1), Fixed(50)), 48)
    assert out["loop"] == "open"
    assert len(rates) == len(set(rates))
    assert len(rates) <= 9
    # 48 clients all in the batch: each request takes 50 steps, 0.5 s, so 96 requests/s.
    assert out["rate_per_s"] == pytest.approx(96.0, rel=0.06)


def test_highest_stable_rate_is_the_replica_capacity():
    # Capacity: 64 tokens per 10 ms step = 6,400 tokens/s = 128 requests/s of 50 tokens; the
    # search's 2% bracket and the stability test put the answer a little below it.
    found = modes.highest_stable_rate(_model(), Lengths(Fixed(1), Fixed(50)),
                                      SchedulerConfig(max_num_batched_tokens=64, max_num_seqs=64), duration_s=120)
    assert 0.85 * 128 <= found.rate_per_s <= 128 * 1.01


def test_mlperf_limits_are_loadgens():
    # loadgen/mlperf.conf (mlcommons/inference @ 001712e9): llama2-70b-interactive TTFT 450 ms, TPOT 40 ms;
    # llama3_1-405b server TTFT 6000 ms, TPOT 175 ms.
    name, entry = modes.mlperf_benchmark("llama-2-70b", "interactive")
    assert name == "llama2-70b" and entry["dataset"] == "llama2-70b-99"
    assert modes.mlperf_slo(entry, "interactive").limits_s == {"ttft_p99": 0.45, "tpot_p99": 0.04}
    _, e405 = modes.mlperf_benchmark("llama-3.1-405b", "server")
    assert modes.mlperf_slo(e405, "server").limits_s == {"ttft_p99": 6.0, "tpot_p99": 0.175}
    with pytest.raises(FablessError, match="no interactive scenario"):
        modes.mlperf_benchmark("mixtral-8x7b", "interactive")
    with pytest.raises(FablessError, match="no MLPerf LLM benchmark runs qwen3-32b"):
        modes.mlperf_benchmark("qwen3-32b", "server")


def test_lengths_from_a_csv_of_measured_requests(tmp_path):
    import numpy as np

    p = tmp_path / "lens.csv"
    p.write_text("input_tokens,output_tokens\n" + "".join(f"{100 + 10 * i},{50 + i}\n" for i in range(101)))
    ln = modes.named_lengths(str(p), 1, 1)
    rng = np.random.default_rng(0)
    # inputs uniform on 100..1100 (mean 600), outputs 50..150 (mean 100): draws by inverse CDF keep the means
    assert ln.input.sample(20000, rng).mean() == pytest.approx(600, rel=0.02)
    assert ln.output.sample(20000, rng).mean() == pytest.approx(100, rel=0.02)
    bad = tmp_path / "bad.csv"
    bad.write_text("input_tokens,output_tokens\n100,abc\n")
    with pytest.raises(FablessError, match=r"bad.csv:2: input_tokens and output_tokens must be whole numbers"):
        modes.named_lengths(str(bad), 1, 1)
    with pytest.raises(FablessError, match="neither a named distribution"):
        modes.named_lengths("sharegpt", 1, 1)


def test_named_dataset_lengths_have_the_tables_means():
    import numpy as np

    # data/measurements/mlperf_llm_lengths.yaml: llama2-70b-99 prompt mean 222 tokens (rounded in the file's notes)
    ln = modes.named_lengths("llama2-70b-99", 1, 1)
    assert ln.input.sample(50000, np.random.default_rng(1)).mean() == pytest.approx(222, rel=0.03)


@pytest.mark.parametrize("args,msg", [
    (["--rate", "5/s", "--offline", "100"], "give exactly one load"),
    ([], "give exactly one load"),
    (["--concurrency", "0"], "--concurrency must be a whole number >= 1"),
    (["--mlperf", "server", "--slo", "ttft_p99=1s"], "sets its own limits"),
    (["--mlperf", "batch"], "not an MLPerf scenario"),
    (["--mlperf", "server", "--lengths", "nope.csv"], "nope.csv: no such file"),
])
def test_serve_cli_load_errors(args, msg, capsys, tmp_path):
    scn = tmp_path / "l2.yaml"
    scn.write_text("model: llama-2-70b\nsystem: {name: dgx-h100, count: 2}\nprecision: fp8\nparallel: {tp: 2}\n"
                   "inference: {batch: 1, input_tokens: 222, output_tokens: 290}\n")
    rc = main(["serve", str(scn), *args])
    err = capsys.readouterr().err
    assert rc == 2 and msg in err and "Traceback" not in err


def test_unmixed_steps_stall_the_decoders_for_a_prompt():
    # 10 ms per step, whatever it holds. A (1-token prompt, 100 tokens) runs from t = 0; B (4096-token
    # prompt, 1024-token steps) arrives at 0.5 s. Mixed (vLLM): A decodes in every step, so it ends
    # after 100 steps (1.00 s), and B's chunks share the budget with A's token: 4096 / 1023 -> 5
    # steps to B's first token (0.55 s). Unmixed (SGLang's default): B's prompt takes 4 steps of
    # its own (first token 0.54 s) and A waits them out: it ends 4 steps later, at 1.04 s.
    import numpy as np

    from fabless.serve.sim import simulate
    from fabless.serve.workload import Requests

    reqs = Requests(np.array([0.0, 0.5]), np.array([1, 4096]), np.array([100, 10]))
    out = {}
    for mixed in (True, False):
        df = simulate(reqs, _model(), SchedulerConfig(max_num_batched_tokens=1024, max_num_seqs=8, mixed_chunks=mixed)).requests
        out[mixed] = (float(df["finish_s"].iloc[0]), float(df["first_token_s"].iloc[1]))
    assert out[True] == pytest.approx((1.00, 0.55), abs=1e-9)
    assert out[False] == pytest.approx((1.04, 0.54), abs=1e-9)


def test_itl_counts_every_token_gap_and_the_stall():
    # The unmixed case above: A's 99 gaps are 10 ms except the one spanning B's 4 prompt steps
    # (50 ms); B's 9 gaps are 10 ms. Over all 108 gaps: median 10 ms, mean (107 x 10 + 50) / 108 ms.
    import numpy as np

    from fabless.serve.sim import simulate
    from fabless.serve.workload import Requests

    reqs = Requests(np.array([0.0, 0.5]), np.array([1, 4096]), np.array([100, 10]))
    s = simulate(reqs, _model(), SchedulerConfig(max_num_batched_tokens=1024, max_num_seqs=8, mixed_chunks=False)).summary
    assert s["itl_p50_s"] == pytest.approx(0.01, abs=1e-12)
    assert s["itl_mean_s"] == pytest.approx((107 * 0.01 + 0.05) / 108, rel=1e-9)
    m = simulate(reqs, _model(), SchedulerConfig(max_num_batched_tokens=1024, max_num_seqs=8)).summary
    assert m["itl_mean_s"] == pytest.approx(0.01, rel=1e-9)  # mixed: every gap is one step
