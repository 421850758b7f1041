"""The third unseen-data check's serving rows (published_fresh3_serve.csv, serve_scenarios_fresh3.yaml): they load,
each is cited with its pull request or issue URL and a date, none is a fit row, each maps to the run its source
describes (chip, tp, load, lengths, memory share read back from the row's own config text) or is skipped with a
reason, and the figures hand-copied from the sources agree with one another by hand arithmetic. Nothing here runs the
simulator: the rows' scores are recorded once in serve_scenarios_fresh3.yaml's header."""

from __future__ import annotations

import re

import pytest

from fabless.validate import serve, train
from fabless.validate.core import parse_config
from fabless.validate.hardware_map import preset_for_hardware
from tests.conftest import assert_unseen_rows_held_out, rows_of

FILE = "published_fresh3_serve.csv"
ROWS, BY_ID = rows_of(FILE)
# source (pull request / issue URL) -> its row ids
SOURCES = {
    "https://github.com/vllm-project/tpu-inference/pull/730": {1, 2},
    "https://github.com/sgl-project/sglang-jax/issues/307": {3},
    "https://github.com/vllm-project/tpu-inference/pull/1820": {4, 5},
    "https://github.com/vllm-project/vllm/pull/17530": set(range(6, 12)),
    "https://github.com/vllm-project/recipes/pull/431": {12, 13, 14},
    "https://github.com/vllm-project/vllm/pull/25135": {15, 16, 17},
    "https://github.com/vllm-project/vllm/pull/43232": {18, 19},
    "https://github.com/vllm-project/vllm/pull/23696": {20, 21, 22},
}
SKIPPED = {f"infer-fresh3-{i:03d}" for i in (4, 5, 12, 13, 14, 15, 16, 17)}
CHIP = {"tpu-v7": "tpu-v7-2x2x1", "tpu-v6e": "tpu-v6e-256", "mi300x": "mi300x-8", "b200": "hgx-b200"}


def _num(row: dict, pattern: str) -> int:
    m = re.search(pattern, row["config"])
    assert m, (row["id"], pattern)
    return int(m.group(1))


def test_the_file_loads_with_unique_ids_and_the_stated_sources():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) == 22
    for r in ROWS:
        assert re.fullmatch(r"infer-fresh3-0\d\d", r["id"]), r["id"]
        assert r["category"] == "infer" and float(r["value"]) > 0
    for url, nums in SOURCES.items():
        assert {r["id"] for r in ROWS if url in r["source"]} == {f"infer-fresh3-{i:03d}" for i in nums}, url


def test_every_row_is_cited_with_a_pull_request_or_issue_url_and_a_date():
    for r in ROWS:
        assert re.search(r"https://github\.com/[\w.-]+/[\w.-]+/(pull|issues)/\d+", r["source"]), r["id"]
        assert re.search(r"20\d\d-\d\d-\d\d", r["source"]), r["id"]


def test_every_row_is_held_out():
    assert_unseen_rows_held_out(set(BY_ID), "-fresh3-")
    m = serve.serve_map()
    assert all("set" not in m[i] for i in BY_ID)


def test_every_row_maps_or_is_skipped_with_a_reason_and_leaves_the_static_batch_engine():
    m = serve.serve_map()
    for r in ROWS:
        e = m[r["id"]]
        assert "serve_scenarios_fresh3.yaml" in train.scenario_map()[r["id"]]["skip"], r["id"]
        if r["id"] in SKIPPED:
            assert len(e["skip"]) > 60 and "scenario" not in e, r["id"]
            continue
        scn = e["scenario"]
        chip = preset_for_hardware(r["hardware"])[0]
        assert scn["system"]["name"] == CHIP[chip], r["id"]
        tp = _num(r, r"(?:^|;)tp=(\d+)")
        assert scn["parallel"]["tp"] == tp, r["id"]
        # tp counts JAX devices on TPU7x (2 chiplets a chip) and chips everywhere else
        assert scn["system"]["count"] == tp and int(r["n_chips"]) == (tp // 2 if chip == "tpu-v7" else tp), r["id"]
        mem = re.search(r"(?:gpu_memory_utilization|mem_fraction_static)=([\d.]+)", r["config"])
        assert e.get("memory_fraction") == (float(mem.group(1)) if mem else None), r["id"]


def test_loads_and_lengths_follow_the_commands():
    m = serve.serve_map()
    for r in ROWS:
        if r["id"] in SKIPPED:
            continue
        e, cfg = m[r["id"]], parse_config(r["config"])
        inf = e["scenario"]["inference"]
        if "max_concurrency" in cfg or "--max-concurrency" in r["config"]:
            # a closed loop of c clients over k x c identical prompts: one wave of c
            c = _num(r, r"max[_-]concurrency[ =](\d+)")
            n = _num(r, r"num[_-]prompts[ =](\d+)")
            assert n % c == 0 and e["load"] == {"kind": "burst", "requests": c}, r["id"]
            assert inf["input_tokens"] == _num(r, r"random[_-]input[_-]len[ =](\d+)")
            assert inf["output_tokens"] == _num(r, r"random[_-]output[_-]len[ =](\d+)")
        elif "total_input_tokens" in cfg:  # ShareGPT: every request at the run's mean lengths
            n = int(cfg["successful_requests"])
            assert e["load"] == {"kind": "burst", "requests": n}
            assert inf["input_tokens"] == round(int(cfg["total_input_tokens"]) / n)
            assert inf["output_tokens"] == round(int(cfg["total_generated_tokens"]) / n)
        else:  # all prompts at once: benchmark_throughput, or a client at request rate inf
            assert e["load"] == {"kind": "burst", "requests": _num(r, r"num[_-]prompts[ =](\d+)")}, r["id"]
            if "--input-len" in r["config"]:
                assert inf["input_tokens"] == _num(r, r"--input-len (\d+)")
                assert inf["output_tokens"] == _num(r, r"--output-len (\d+)")
        if "max_num_seqs" in cfg:
            assert e["scheduler"]["max_num_seqs"] == int(cfg["max_num_seqs"]), r["id"]
            assert e["scheduler"]["max_num_batched_tokens"] == int(cfg["max_num_batched_tokens"]), r["id"]
        if "kv_cache_dtype=fp8" in r["config"]:
            assert e["scenario"]["precision"]["kv_cache"] == "fp8", r["id"]


def test_skipped_rows_lack_the_chip_or_the_server_command():
    for i in SKIPPED:
        r = BY_ID[i]
        assert "not stated" in r["hardware"] or "server command not given" in r["config"], i


def test_values_copied_from_the_sources():
    v = {i: float(r["value"]) for i, r in BY_ID.items()}
    # hand-copied from each source's text
    assert (v["infer-fresh3-001"], v["infer-fresh3-002"]) == (2889.15, 2929.06)
    assert v["infer-fresh3-003"] == 25824.45
    assert (v["infer-fresh3-004"], v["infer-fresh3-005"]) == (12.89, 14.64)
    assert [v[f"infer-fresh3-{i:03d}"] for i in range(6, 12)] == [1769.80, 1924.98, 3762.75, 4336.96, 642.43, 678.94]
    assert (v["infer-fresh3-018"], v["infer-fresh3-019"]) == (847.07, 15725.91)
    assert (v["infer-fresh3-020"], v["infer-fresh3-021"], v["infer-fresh3-022"]) == (7404.72, 3449.17, 57.07)
    assert (v["infer-fresh3-012"], v["infer-fresh3-015"]) == (2701.39, 793.27)


def test_the_copied_figures_agree_by_hand_arithmetic():
    v = {i: float(r["value"]) for i, r in BY_ID.items()}
    # output tokens/s = generated tokens / duration (the rounded durations the outputs print)
    assert v["infer-fresh3-018"] == pytest.approx(128 * 1000 / 151.11, rel=2e-4)
    assert v["infer-fresh3-020"] == pytest.approx(197144 / 26.62, rel=5e-4)
    assert v["infer-fresh3-012"] == pytest.approx(102400 / 37.91, rel=2e-4)
    assert v["infer-fresh3-015"] == pytest.approx(327680 / 413.07, rel=2e-4)
    # PR #1820: 1000 requests in 77.56 s before the change
    assert v["infer-fresh3-004"] == pytest.approx(1000 / 77.56, abs=0.005)
    # PR #17530: requests/s x answer length = output tokens/s (req/s printed to 2 decimals)
    for i, out in zip(range(6, 12), (1000, 1000, 2000, 2000, 500, 500)):
        r = BY_ID[f"infer-fresh3-{i:03d}"]
        rps = float(re.search(r"gives ([\d.]+) requests/s", r["notes"]).group(1))
        assert v[r["id"]] == pytest.approx(rps * out, rel=0.005), r["id"]


def test_the_tpu7x_vllm_rows_name_the_jax_backend_stack_which_fits_nothing():
    # the rows ran vLLM's JAX backend (tpu-inference), not the torch_xla runner vllm-tpu was fitted on
    from fabless.estimate.software import software_stacks

    m = serve.serve_map()
    for i in ("infer-fresh3-001", "infer-fresh3-002"):
        assert "tpu-inference JAX backend" in BY_ID[i]["config"] and m[i]["scenario"]["software"] == "tpu-inference", i
    s = software_stacks()["tpu-inference"]
    assert s.named_only and not s.fit_rows and not s.calibrated
    assert (s.host_step_overhead_s, s.host_per_seq_s, s.decode_score_cost_s) == (0.0, 0.0, 0.0)
    assert software_stacks()["vllm-tpu"].decode_score_cost_s > 0
