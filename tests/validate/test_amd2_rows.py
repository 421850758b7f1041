"""The InferenceX AMD serving rows (published_amd2.csv, serve_scenarios_amd2.yaml): they load, each
is cited, each is mapped to a closed-loop serving run, only the split rule's rows fit, and the published
figures agree with the request lengths the rows state; and the two mapping features they use
(uniform request lengths, per-chip output rate) give hand-worked answers."""

from __future__ import annotations

import re

import pytest

from fabless.estimate.software import software_stacks
from fabless.serve import scheduler as serve_scheduler
from fabless.serve.request import Request
from fabless.serve.scheduler import SchedulerConfig
from fabless.serve.stepcost import ConstantStepCost
from fabless.validate import infer, serve, train
from fabless.validate.core import load_rows
from fabless.validate.hardware_map import preset_for_hardware, Unmapped

FILE = "published_amd2.csv"
ROWS = [r for r in load_rows() if r["_file"] == FILE]


def _cfg(row: dict) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in row["config"].split(";"))


def test_the_file_loads_with_unique_ids():
    assert len(ROWS) >= 40
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids))
    for r in ROWS:
        assert re.fullmatch(r"infer-amd2-\d{3}", r["id"]), r["id"]
        assert r["category"] == "infer"
        assert float(r["value"]) > 0


def test_every_row_is_cited_with_repository_commit_and_run():
    for r in ROWS:
        src = r["source"]
        # the data snapshot: repository, path and full commit (the dashboard's latest runs,
        # benchmarks.json, or every run of a configuration, benchmarks-history.json)
        assert "github.com/vngcloud/InferenceX-app" in src, r["id"]
        assert re.search(r"fixtures/api/benchmarks(-history)?\.json at commit", src), r["id"]
        if "benchmarks-history.json" in src:
            # a history row names where its run's container image was read (the config in effect)
            assert re.search(r"amd-master\.yaml at commit [0-9a-f]{9}", src), r["id"]
        assert re.search(r"\b[0-9a-f]{40}\b", src), r["id"]
        # the run the figure came from, and the launch script the config was read from
        assert re.search(r"actions/runs/\d+", src), r["id"]
        assert re.search(r"benchmarks/\S+\.sh at commit [0-9a-f]{9}", src), r["id"]
        assert re.search(r"date=20\d\d-\d\d-\d\d", src), r["id"]


def test_only_the_split_rules_rows_are_fit_rows():
    # the static-batch engine never fits on them; in the serve category the rows whose id number is a
    # multiple of 3 fit the AMD serving stacks (software.yaml; tests/validate/test_amd_stacks.py)
    ids = {r["id"] for r in ROWS}
    assert not ids & infer.FIT_IDS
    fit = {i for i in ids if int(i.rsplit("-", 1)[1]) % 3 == 0}
    assert ids & serve.FIT_IDS == fit
    for stack in software_stacks().values():
        assert set(stack.fit_rows) & ids <= fit, stack.name


def test_every_row_maps_to_a_closed_loop_run_on_its_chip():
    by_chip: dict[str, int] = {}
    for r in ROWS:
        e = serve.serve_map()[r["id"]]
        cfg = _cfg(r)
        scn = e["scenario"]
        chip = preset_for_hardware(r["hardware"])[0]
        by_chip[chip] = by_chip.get(chip, 0) + 1
        assert scn["system"] == {"name": f"{chip}-8", "count": int(cfg["tp"])}, r["id"]
        assert scn["parallel"] == {"tp": int(cfg["tp"])} and int(r["n_chips"]) == int(cfg["tp"]), r["id"]
        assert scn["inference"]["input_tokens"] == int(cfg["isl"]), r["id"]
        assert scn["inference"]["output_tokens"] == int(cfg["osl"]), r["id"]
        assert e["load"] == {"kind": "closed_loop", "concurrency": int(cfg["concurrency"])}, r["id"]
        assert e["length_range_ratio"] == float(cfg["random_range_ratio"]) == 0.8, r["id"]
        assert e["convert"] == "output_tokens_per_s_per_chip", r["id"]
        # the KV cache the launch flags give: fp8 with ATOM's --kv_cache_dtype fp8 or SGLang's
        # --kv-cache-dtype fp8_e4m3; SGLang without the flag (before PR #865) keeps the checkpoint's bf16
        fp8_flag = "--kv_cache_dtype fp8" in r["notes"] or "--kv-cache-dtype fp8_e4m3" in r["notes"]
        assert scn["precision"]["kv_cache"] == ("fp8" if fp8_flag else "bf16"), r["id"]
        assert f"{scn['precision']['kv_cache'].upper()} KV cache" in r["precision"], r["id"]
        # the static-batch engine (category infer) leaves it to the serve category, saying so
        assert "serve_scenarios_amd2.yaml" in train.scenario_map()[r["id"]]["skip"], r["id"]
    # MI355X rows were the point of the file (issue 13); MI325X and MI300X come with them.
    assert by_chip.get("mi355x", 0) >= 15 and by_chip.get("mi325x", 0) >= 5 and by_chip.get("mi300x", 0) >= 5


def _run_key(r: dict) -> tuple:
    m = re.search(r"row hardware=(\S+) framework=(\S+) model=\S+ precision=(\S+) isl=(\d+) osl=(\d+) conc=(\d+) "
                  r"date=(\S+) ", r["source"])
    return (m[1], m[2], m[3], int(m[4]), int(m[5]), int(_cfg(r)["tp"]), int(m[6]), m[7])


def test_ids_run_on_and_no_run_is_entered_twice():
    # ids continue one sequence (the split rule reads their numbers), and each published run
    # (chip, engine, precision, lengths, tp, clients, date) is one row, whichever file it came from
    assert [int(r["id"].rsplit("-", 1)[1]) for r in ROWS] == list(range(1, len(ROWS) + 1))
    keys = [_run_key(r) for r in ROWS]
    assert len(keys) == len(set(keys))


def test_history_rows_are_numbered_by_the_stated_order_not_by_choice():
    # The rows added from benchmarks-history.json (infer-amd2-052 on) took their ids in the order
    # fixed before any prediction (serve_scenarios_amd2.yaml header): engine, precision, run date,
    # input / output length, tp, clients. Every third id of that order fits its stack.
    hist = [r for r in ROWS if "benchmarks-history.json" in r["source"]]
    assert len(hist) == 59 and hist[0]["id"] == "infer-amd2-052"
    order = [(k[1], k[2], k[7], k[3], k[4], k[5], k[6]) for k in map(_run_key, hist)]
    assert order == sorted(order)
    # the history rows are MI355X runs without speculative decoding on one node (the notes' engine flags)
    assert all(k[0] == "mi355x" for k in map(_run_key, hist))


def test_the_held_back_mi355x_kernel_row_stays_unmapped():
    # kernel-269 ("AMD MI355X") is from a reserved source: only "Instinct MI355X" maps.
    with pytest.raises(Unmapped):
        preset_for_hardware("AMD MI355X")
    assert preset_for_hardware("AMD Instinct MI355X (8-GPU node)")[0] == "mi355x"


def test_output_share_of_the_total_matches_the_stated_lengths():
    # Both lengths are drawn uniform on [0.8 L, L], so output / (input + output) tokens is
    # osl / (isl + osl) whatever the ratio: 1/2 at 1k/1k, 8/9 at 1k/8k, 1/9 at 8k/1k. The notes
    # carry the row's total tokens/s per GPU; the value is the output part of it.
    for r in ROWS:
        cfg = _cfg(r)
        total = float(re.search(r"total tput_per_gpu ([\d.]+)", r["notes"]).group(1))
        share = float(r["value"]) / total
        expected = int(cfg["osl"]) / (int(cfg["isl"]) + int(cfg["osl"]))
        assert share == pytest.approx(expected, abs=0.03), (r["id"], share, expected)


STEP_S = 0.01


def test_uniform_lengths_in_a_closed_loop_of_one_client():
    # A constant 10 ms step, one client, 1-token prompts and answers uniform on [10, 20] (ratio 0.5
    # of 20). One sequence makes at most one token per step: 1 / 0.01 = 100 output tokens/s is a
    # ceiling, and the loop (arrivals evenly spaced, so with unequal requests the client sometimes
    # idles) stays within 10% of it. Output tokens per request = output rate / request rate is the
    # mean answer: 15 for the distribution, the mean of ~20 draws within 2 of it (sd 2.9 / sqrt(20)
    # = 0.65), where fixed 20-token answers give exactly 20 (5 requests/s).
    model = ConstantStepCost(STEP_S, kv_capacity_tokens=10**7)
    sched = SchedulerConfig(max_num_batched_tokens=64, max_num_seqs=64)
    out = serve.closed_loop(model, sched, 1, 20, 1, range_ratio=0.5)
    assert 90.0 <= out["output_tokens_per_s"] <= 100.0 * 1.005
    assert out["output_tokens_per_s"] / out["rate_per_s"] == pytest.approx(15.0, abs=2.0)
    fixed = serve.closed_loop(model, sched, 1, 20, 1)
    assert fixed["rate_per_s"] == pytest.approx(5.0, rel=0.05)
    assert fixed["output_tokens_per_s"] / fixed["rate_per_s"] == pytest.approx(20.0)


def test_per_chip_output_rate_divides_by_the_engine_chips(monkeypatch):
    # 800 simulated output tokens/s on an engine of 8 chips is 100 per chip.
    entry = {"scenario": {"system": {"name": "mi355x-8", "count": 8}, "inference": {"input_tokens": 1, "output_tokens": 1}},
             "load": {"kind": "closed_loop", "concurrency": 1}, "convert": "output_tokens_per_s_per_chip"}
    monkeypatch.setattr(serve, "serve_map", lambda: {"x": entry})
    monkeypatch.setattr(serve, "simulate_entry", lambda e: {"output_tokens_per_s": 800.0, "rate_per_s": 1.0})
    assert serve.predict({"id": "x"}) == pytest.approx(100.0)


#: ATOM's engine defaults (github.com/ROCm/ATOM atom/model_engine/arg_utils.py at fd0c7352f and c615b35ba):
#: the InferenceX ATOM launch scripts pass no batching flag, so these hold for every ATOM row.
ATOM_MAX_NUM_BATCHED_TOKENS = 16384
ATOM_MAX_NUM_SEQS = 512


def test_each_engine_runs_its_own_step_policy():
    # SGLang: prefill and decode steps apart (enable_mixed_chunk off by default, never passed), the
    # prompt budget the --chunked-prefill-size of the row's launch; ATOM: its defaults, whole prompts,
    # prefill-only steps (serve_scenarios_amd2.yaml, "Engine scheduling").
    for r in ROWS:
        e = serve.serve_map()[r["id"]]
        s = e["scheduler"]
        assert "--enable-mixed-chunk" not in r["notes"], r["id"]
        assert s["mixed_chunks"] is False, r["id"]
        if _cfg(r)["framework"] == "sglang":
            size = int(re.search(r"--chunked-prefill-size (\d+)", r["notes"]).group(1))
            assert s == {"max_num_batched_tokens": size, "mixed_chunks": False}, r["id"]
        else:
            assert _cfg(r)["framework"] == "atom", r["id"]
            assert not re.search(r"--max[-_]num[-_](batched|seqs)", r["notes"]), r["id"]
            assert s == {"max_num_batched_tokens": ATOM_MAX_NUM_BATCHED_TOKENS, "max_num_seqs": ATOM_MAX_NUM_SEQS,
                         "chunked_prefill": False, "mixed_chunks": False}, r["id"]


def test_atom_step_takes_whole_prompts_up_to_its_budget_and_no_decodes():
    # ATOM's policy by hand: one request decoding, three 8000-token prompts arrive. The first step
    # admits prompts whole while they fit 16384 tokens: 8000 + 8000 = 16000 fits, a third would make
    # 24000, so it waits; the step is prompts only (the decoder waits). The next step takes the third
    # prompt alone (8000 tokens), the one after decodes all four requests (one token each).
    cfg = SchedulerConfig(max_num_batched_tokens=ATOM_MAX_NUM_BATCHED_TOKENS, max_num_seqs=ATOM_MAX_NUM_SEQS,
                          chunked_prefill=False, mixed_chunks=False)
    s = serve_scheduler.Scheduler(cfg, kv_capacity_tokens=10**6)
    s.add(Request(0, 0.0, 100, 50))
    assert s.schedule(0.0) == (100, 100, 0, 0)
    s.complete(0.1)
    for i in (1, 2, 3):
        s.add(Request(i, 0.1, 8000, 50))
    pf, _, dec, _ = s.schedule(0.1)
    assert (pf, s.prefill_seqs, dec) == (16000, 2, 0)
    s.complete(0.2)
    pf, _, dec, _ = s.schedule(0.2)
    assert (pf, s.prefill_seqs, dec) == (8000, 1, 0)
    s.complete(0.3)
    pf, _, dec, _ = s.schedule(0.3)
    assert (pf, dec) == (0, 4)
