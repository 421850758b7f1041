"""Category ``serve``: published serving rows against the serving simulator."""

from __future__ import annotations

import pytest

from fabless.serve.scheduler import SchedulerConfig
from fabless.serve.stepcost import ConstantStepCost
from fabless.serve.workload import Fixed, Lengths
from fabless.validate import serve
from fabless.validate.core import load_rows, summarise
from tests.conftest import SHARED_VALIDATION, validation_outcomes


def _published() -> dict[str, dict]:
    # every measurements CSV (published.csv and the per-family published_*.csv files)
    return {r["id"]: r for r in load_rows()}


def test_every_entry_is_a_published_row_mapped_or_skipped_with_a_reason():
    pub = _published()
    for rid, e in serve.serve_map().items():
        assert rid in pub, rid
        if "skip" in e:
            assert len(e["skip"]) > 20, rid
            continue
        assert e["note"] and e["convert"] in ("output_tokens_per_s", "output_tokens_per_s_per_chip", "total_tokens_per_s", "tpot_ms",
                                              "ttft_ms", "e2e_s"), rid
        assert e["load"]["kind"] in ("closed_loop", "burst", "single", "offline", "server"), rid
        inf = e["scenario"]["inference"]
        assert inf["input_tokens"] >= 1 and inf["output_tokens"] >= 1
        if e["load"]["kind"] in ("offline", "server"):
            assert e["instances"] >= 1 and e["lengths"]["output_mean_tokens"] >= 1, rid
            assert serve.lengths_of(e) is not None, rid


def test_mlperf_rows_use_the_rows_own_mean_answer():
    # The row's notes give samples/s and "=> mean N output tok/sample" (tokens/s / samples/s);
    # N is the mean answer the entry must use, and it agrees with the row's own division.
    import re
    pub = _published()
    for rid, e in serve.serve_map().items():
        if e.get("load", {}).get("kind") not in ("offline", "server"):
            continue
        r = pub[rid]
        stated = int(re.search(r"mean (\d+) output tok/sample", r["notes"]).group(1))
        per_sample = float(r["value"]) / float(re.search(r"([\d.]+) samples/s", r["notes"]).group(1))
        assert e["lengths"]["output_mean_tokens"] == stated, rid
        assert stated == pytest.approx(per_sample, rel=0.006), rid
        assert f"scenario={e['load']['kind'].capitalize()}" in r["config"], rid


def test_fit_rows_are_at_most_half_of_the_mapped_rows():
    mapped = {k for k, e in serve.serve_map().items() if "skip" not in e}
    assert serve.FIT_IDS <= mapped
    assert len(serve.FIT_IDS) <= len(mapped) / 2


def test_rows_are_category_serve_copies():
    rs = serve.rows()
    assert rs and all(r["category"] == "serve" for r in rs)
    assert {r["id"] for r in rs} == set(serve.serve_map())


def test_closed_loop_of_one_by_hand():
    # A constant 10 ms step; a 100-token prompt fits one step and gives the first token, then
    # 49 decode steps: E2E = 50 x 10 ms = 0.5 s; one client in a loop sends 2 requests/s.
    m = ConstantStepCost(0.01, 1_000_000)
    got = serve.closed_loop(m, SchedulerConfig(), 100, 50, 1)
    assert got["e2e_s"] == pytest.approx(0.5, rel=1e-9)
    assert got["rate_per_s"] == pytest.approx(2.0, rel=0.006)
    assert got["tpot_s"] == pytest.approx(0.01)


def test_closed_loop_obeys_littles_law():
    m = ConstantStepCost(0.01, 1_000_000)
    for c in (4, 16):
        got = serve.closed_loop(m, SchedulerConfig(), 100, 50, c)
        assert got["rate_per_s"] * got["e2e_s"] == pytest.approx(c, rel=0.02)


def test_burst_by_hand():
    # 10 prompts of 100 tokens fit one 8192-token step; then 49 decode steps for all ten:
    # makespan 0.5 s; (100 + 50) x 10 tokens / 0.5 s = 3000 tokens/s, 1000 of them output.
    m = ConstantStepCost(0.01, 1_000_000)
    got = serve.burst(m, SchedulerConfig(), 100, 50, 10)
    assert got["makespan_s"] == pytest.approx(0.5)
    assert got["total_tokens_per_s"] == pytest.approx(3000)
    assert got["output_tokens_per_s"] == pytest.approx(1000)


def test_offline_steady_state_by_hand():
    # 10 sequences at a time, a constant 10 ms step: a request takes 50 steps (its prompt gives
    # the first token, then 49 decodes), so the batch turns over in cohorts of 10 every 0.5 s:
    # 10 x 50 tokens / 0.5 s = 1000 output tokens/s, 20 requests/s.
    m = ConstantStepCost(0.01, 1_000_000)
    got = serve.offline(m, SchedulerConfig(max_num_seqs=10), Lengths(Fixed(100), Fixed(50)), 100)
    assert got["output_tokens_per_s"] == pytest.approx(1000, rel=1e-9)
    assert got["rate_per_s"] == pytest.approx(20, rel=1e-9)


def test_mlperf_offline_rows_run_their_logged_samples():
    # Every MLPerf Offline row names the run's sample count (its summary's samples_per_query),
    # at least the rules' min_query_count (mlperf.conf v4.1: 24,576 for llama2-70b, 15,000 for
    # mixtral-8x7b), and each instance is simulated with its even share.
    least = {"llama2-70b-99": 24_576, "mixtral-8x7b": 15_000}
    seen = 0
    for rid, e in serve.serve_map().items():
        if not isinstance(e, dict) or "skip" in e or (e.get("load") or {}).get("kind") != "offline":
            continue
        ds = (e.get("lengths") or {}).get("dataset")
        if ds not in least:
            continue
        samples = e["load"].get("samples")
        assert samples is not None and samples >= least[ds], rid
        seen += 1
    assert seen >= 35
    e = serve.serve_map()["infer-123"]  # 200,640 samples over 4 instances of tp 2
    m = ConstantStepCost(0.01, 1_000_000)
    got = serve.offline(m, SchedulerConfig(max_num_seqs=10), Lengths(Fixed(100), Fixed(50)), samples=200)
    assert e["load"]["samples"] == 200_640 and e["instances"] == 4
    # 200 requests, 10 at a time, 50 steps of 10 ms each cohort: 20 x 0.5 s = 10 s, 1,000 tokens/s.
    assert got["run_s"] == pytest.approx(10.0) and got["run_output_tokens_per_s"] == pytest.approx(1000)


def test_server_search_stays_below_capacity_by_hand():
    # Same replica: 20 requests/s is its capacity. p99 TTFT <= 2 s (TPOT is always 10 ms) is met
    # below it, and the search must end within the last 25 % below it.
    m = ConstantStepCost(0.01, 1_000_000)
    got = serve.server(m, SchedulerConfig(max_num_seqs=10), Lengths(Fixed(100), Fixed(50)), 2.0, 0.2,
                       duration_s=120.0, warmup_s=30.0)
    assert 15.0 <= got["rate_per_s"] <= 20.0 * 1.02
    assert got["ttft_p99_s"] <= 2.0 and got["tpot_p99_s"] == pytest.approx(0.01)


def test_skipped_row_says_why():
    row = next(r for r in serve.rows() if "skip" in serve.serve_map()[r["id"]])
    with pytest.raises(serve.Skip, match=r"\w"):
        serve.predict(row)


@SHARED_VALIDATION
def test_held_out_error():
    outcomes = [o for o in validation_outcomes() if o.category == "serve"]
    assert all(o.predicted is not None or o.skipped for o in outcomes)
    # The goal was set on the GPU serving rows; the TPU rows (published_tpu_serve.csv, added later) miss
    # it (held-out median 40% over 28 rows when added, reasons in their notes) and are kept out of this
    # check rather than hidden: tests/validate/test_tpu_serve_rows.py scores them.
    gpu = [o for o in outcomes if not o.chip.startswith("tpu-")]
    held = next(s for s in summarise(gpu) if s["chip"] == "all" and s["set"] == "held_out")
    assert held["n"] >= 25  # 11 vLLM/NIM rows and 17 MLPerf v4.1 LLM rows (Gaudi2 and 4 vLLM rows skipped)
    # The goal: median |error| <= 15% on rows not used for fitting.
    assert held["median_abs_err_pct"] <= 15.0
