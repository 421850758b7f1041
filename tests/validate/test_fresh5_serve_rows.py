"""The fifth unseen-data check's serving rows (published_fresh5_serve.csv, serve_scenarios_fresh5.yaml): they load,
each is cited with its source's URL and a date (and, for the ATOM pull request, the merge commit), none is a fit row,
each maps to the run its source describes (MI355X node, tp 8, closed loop of the run's clients, lengths drawn on
[0.8 len, len]) or is skipped with a reason, and the figures hand-copied from the sources agree with one another by
hand arithmetic. Nothing here runs the simulator: the rows' scores are recorded once in serve_scenarios_fresh5.yaml's
header."""

from __future__ import annotations

import re

import pytest

from fabless.validate import serve, train
from fabless.validate.core import parse_config
from fabless.validate.hardware_map import preset_for_hardware
from tests.conftest import assert_unseen_rows_held_out, rows_of

FILE = "published_fresh5_serve.csv"
ROWS, BY_ID = rows_of(FILE)
# source URL -> its row ids
SOURCES = {
    "https://github.com/ROCm/ATOM/pull/409": set(range(1, 23)),
    "https://github.com/vllm-project/tpu-inference/pull/470": set(range(23, 29)),
    "https://github.com/vllm-project/tpu-inference/pull/1006": {29},
    "https://docs.vultr.com/inference-cookbook/rocm/model-guides/llama-3-1-405b": set(range(30, 35)),
}
MAPPED = {f"infer-fresh5-{i:03d}" for i in range(1, 12)}


def _v(i: int) -> float:
    return float(BY_ID[f"infer-fresh5-{i:03d}"]["value"])


def test_the_file_loads_with_unique_ids_and_the_stated_sources():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) == 34
    for r in ROWS:
        assert re.fullmatch(r"infer-fresh5-0\d\d", r["id"]), r["id"]
        assert r["category"] == "infer" and float(r["value"]) > 0
    for url, nums in SOURCES.items():
        assert {r["id"] for r in ROWS if url in r["source"]} == {f"infer-fresh5-{i:03d}" for i in nums}, url


def test_every_row_is_cited_with_a_url_and_a_date():
    for r in ROWS:
        assert re.search(r"https://\S+", r["source"]) and re.search(r"20\d\d-\d\d-\d\d", r["source"]), r["id"]
        assert r["notes"] and "copied as printed" in r["notes"], r["id"]
    for i in range(1, 23):
        assert "0079204e23922ddca3b28a438610d29a82ea20bb" in BY_ID[f"infer-fresh5-{i:03d}"]["source"]


def test_every_row_is_held_out():
    assert_unseen_rows_held_out(set(BY_ID), "-fresh5-")
    m = serve.serve_map()
    assert all("set" not in m[i] for i in BY_ID)


def test_every_row_maps_or_is_skipped_with_a_reason_and_leaves_the_static_batch_engine():
    m = serve.serve_map()
    for r in ROWS:
        e = m[r["id"]]
        assert "serve_scenarios_fresh5.yaml" in train.scenario_map()[r["id"]]["skip"], r["id"]
        if r["id"] not in MAPPED:
            assert len(e["skip"]) > 60 and "scenario" not in e, r["id"]
            continue
        scn = e["scenario"]
        assert preset_for_hardware(r["hardware"])[0] == "mi355x"
        assert scn["system"] == {"name": "mi355x-8", "count": 8} and scn["model"] == "deepseek-v3"
        assert scn["parallel"] == {"tp": int(parse_config(r["config"])["tp"])} == {"tp": 8}, r["id"]
        assert scn["precision"] == {"weights": "fp8", "activations": "fp8", "kv_cache": "fp8"}
        assert "--kv-cache-dtype fp8" in r["config"] and "--max-num-batched-tokens 16384" in r["config"]
        assert e["scheduler"] == {"max_num_seqs": 1024, "max_num_batched_tokens": 16384, "mixed_chunks": True}
        assert e["memory_fraction"] == 0.9 and "--gpu-memory-utilization 0.9" in r["config"]
        # vLLM with the ATOM plugin runs ATOM's kernels: the ATOM image's stack nearest the run's date (2026-03-29),
        # re-mapped after the first scores (the file's header)
        assert "ATOM" in r["config"] or "ATOM" in r["source"], r["id"]
        assert scn["software"] == "atom-20260511", r["id"]


def test_loads_lengths_and_conversions_follow_the_commands():
    m = serve.serve_map()
    for r in ROWS:
        if r["id"] not in MAPPED:
            continue
        e, cfg = m[r["id"]], parse_config(r["config"])
        c = int(cfg["max_concurrency"])
        assert int(cfg["num_prompts"]) == 10 * c and f"--max-concurrency={c}" in cfg["bench"]
        assert e["load"] == {"kind": "closed_loop", "concurrency": c}, r["id"]
        inf = e["scenario"]["inference"]
        assert (inf["input_tokens"], inf["output_tokens"]) == (int(cfg["isl"]), int(cfg["osl"])), r["id"]
        assert e["length_range_ratio"] == float(cfg["random_range_ratio"]) == 0.8
        assert r["metric"] == "mean TPOT (ms)" and e["convert"] == "tpot_ms"
    # the total-throughput twins of the mapped runs are skipped, one per run, same settings
    for i in range(12, 23):
        assert BY_ID[f"infer-fresh5-{i:03d}"]["config"] == BY_ID[f"infer-fresh5-{i - 11:03d}"]["config"]
        assert BY_ID[f"infer-fresh5-{i:03d}"]["metric"] == "total tokens/s (system total)"


def test_values_copied_from_the_sources():
    # ATOM #409 'Mean TPOT (ms)' and 'Total Tput (tok/s)' columns, in the table's order
    assert [_v(i) for i in range(1, 12)] == [11.20, 11.98, 13.48, 17.80, 21.27, 11.22, 11.86, 13.48, 17.32, 20.52, 12.42]
    assert [_v(i) for i in range(12, 23)] == [686.24, 1288.02, 2310.45, 3467.16, 5785.95, 394.81, 737.23, 1298.19,
                                             2024.58, 3398.16, 2750.14]
    # tpu-inference #470 'Improvements' table (req/s), #1006 'before:' block, Vultr's scaling table
    assert [_v(i) for i in range(23, 29)] == [9.87, 11.60, 11.15, 15.77, 7.54, 7.65]
    assert _v(29) == 1415.14
    assert [_v(i) for i in range(30, 35)] == [1090, 4381, 6802, 6674, 6804]


def test_the_copied_figures_agree_by_hand_arithmetic():
    # ATOM #409: 'Total Tput / GPU' x 8 GPUs = 'Total Tput': 85.78 x 8 = 686.24, 723.24 x 8 = 5785.92 (5785.95 printed)
    assert 85.78 * 8 == pytest.approx(_v(12), abs=0.05)
    assert 723.24 * 8 == pytest.approx(_v(16), abs=0.05)
    assert 343.77 * 8 == pytest.approx(_v(22), abs=0.05)
    # 1024/1024 at 4 clients: a request takes about TTFT + (out - 1) x TPOT = 0.133 + 920 x 0.0112 = 10.4 s for
    # 0.9 x 2048 tokens on average, so 4 clients move 4 x 1843 / 10.4 = 709 tok/s: the printed 686.24 within 4%
    e2e = 0.13253 + (0.9 * 1024 - 1) * 11.20e-3
    assert 4 * 0.9 * 2048 / e2e == pytest.approx(_v(12), rel=0.04)
    # tpu-inference #1006: output tok/s = generated tokens / duration = 123107 / 86.99 = 1415.2
    cfg = parse_config(BY_ID["infer-fresh5-029"]["config"])
    assert int(cfg["total_generated_tokens"]) / float(cfg["duration_s"]) == pytest.approx(_v(29), rel=5e-4)
    # and 1199000 input tokens over 1000 requests: 1199 each
    assert int(cfg["total_input_tokens"]) / int(cfg["successful_requests"]) == 1199
    # tpu-inference #470's 'Improvement' column: 11.60 / 9.87 = 1.18x, 15.77 / 11.15 = 1.41x, 7.65 / 7.54 = 1.01x
    assert [round(_v(b) / _v(a), 2) for a, b in ((23, 24), (25, 26), (27, 28))] == [1.18, 1.41, 1.01]
