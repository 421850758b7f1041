"""The fourth unseen-data check's serving rows (published_fresh4_serve.csv, serve_scenarios_fresh4.yaml): they load,
each is cited with its SGLang cookbook page at a commit and a date, none is a fit row, each maps to the run its source
describes (chip, tp, closed loop of the run's concurrency, the run's mean lengths read back from the row's own config
text) or is skipped with a reason, and the figures hand-copied from the sources agree with one another by hand
arithmetic. Nothing here runs the simulator: the rows' scores are recorded once in serve_scenarios_fresh4.yaml's
header."""

from __future__ import annotations

import re

import pytest

from fabless.validate import serve, train
from fabless.validate.core import parse_config
from fabless.validate.hardware_map import preset_for_hardware
from tests.conftest import assert_unseen_rows_held_out, rows_of

FILE = "published_fresh4_serve.csv"
ROWS, BY_ID = rows_of(FILE)
COOKBOOK = "https://github.com/sgl-project/sgl-cookbook/blob/7b5bd9c05e3d86da5161ac2be9b91c19a34bf49d/docs/autoregressive/"
# source (cookbook page at the snapshot commit) -> its row ids
SOURCES = {
    COOKBOOK + "DeepSeek/DeepSeek-R1.md": set(range(1, 11)),
    COOKBOOK + "DeepSeek/DeepSeek-V3_1.md": set(range(11, 21)),
    COOKBOOK + "Qwen/Qwen3.md": set(range(21, 31)),
    COOKBOOK + "OpenAI/GPT-OSS.md": {31, 32, 33},
    COOKBOOK + "DeepSeek/DeepSeek-V3.md": {34, 35},
}
SKIPPED = {"infer-fresh4-034", "infer-fresh4-035"}
CHIP = {"b200": "hgx-b200", "mi300x": "mi300x-8"}
MODEL = {"DeepSeek": "deepseek-v3", "Qwen3-235B": "qwen3-235b-a22b", "gpt-oss-120b": "gpt-oss-120b"}


def _v(i: int) -> float:
    return float(BY_ID[f"infer-fresh4-{i:03d}"]["value"])


def test_the_file_loads_with_unique_ids_and_the_stated_sources():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) == 35
    for r in ROWS:
        assert re.fullmatch(r"infer-fresh4-0\d\d", r["id"]), r["id"]
        assert r["category"] == "infer" and float(r["value"]) > 0 and r["n_chips"] == "8"
    for url, nums in SOURCES.items():
        assert {r["id"] for r in ROWS if url + " " in r["source"] or url + "," in r["source"]} == {
            f"infer-fresh4-{i:03d}" for i in nums}, url


def test_every_row_is_cited_with_a_url_a_commit_and_a_date():
    for r in ROWS:
        assert re.search(r"https://github\.com/sgl-project/sgl-cookbook/blob/[0-9a-f]{40}/docs/\S+\.md", r["source"]), r["id"]
        assert re.search(r"20\d\d-\d\d-\d\d", r["source"]) and "section 5.1" in r["source"], r["id"]
        assert "Serving Benchmark Result" in r["notes"], r["id"]


def test_every_row_is_held_out():
    assert_unseen_rows_held_out(set(BY_ID), "-fresh4-")
    m = serve.serve_map()
    assert all("set" not in m[i] for i in BY_ID)


def test_every_row_maps_or_is_skipped_with_a_reason_and_leaves_the_static_batch_engine():
    m = serve.serve_map()
    for r in ROWS:
        e = m[r["id"]]
        assert "serve_scenarios_fresh4.yaml" in train.scenario_map()[r["id"]]["skip"], r["id"]
        if r["id"] in SKIPPED:
            assert len(e["skip"]) > 60 and "scenario" not in e, r["id"]
            assert "--enable-dp-attention" in r["config"]
            continue
        assert "--enable-dp-attention" not in r["config"] and "--ep" not in r["config"], r["id"]
        scn = e["scenario"]
        assert scn["system"] == {"name": CHIP[preset_for_hardware(r["hardware"])[0]], "count": 8}, r["id"]
        assert scn["parallel"] == {"tp": int(parse_config(r["config"])["tp"])} == {"tp": 8}, r["id"]
        assert scn["model"] == next(v for k, v in MODEL.items() if k in r["model_or_kernel"]), r["id"]
        assert "memory_fraction" not in e
        # SGLang on a >= 160 GB GPU: 16k-token prefill chunks, prefill and decode steps apart
        assert e["scheduler"] == {"max_num_seqs": 1024, "max_num_batched_tokens": 16384, "mixed_chunks": False}
        # SGLang 0.5 on B200 names sglang-cuda-0.5 where the experts run Triton's fused MoE (BF16 / block FP8),
        # re-mapped after the first scores (the file's header); gpt-oss-120b's MXFP4 experts keep the default
        want = ("sglang-rocm-0.5.9-mi30x" if "MI300X" in r["hardware"]
                else None if scn["model"] == "gpt-oss-120b" else "sglang-cuda-0.5")
        assert "SGLang 0.5" in r["config"] and scn.get("software") == want, r["id"]


def test_loads_lengths_and_conversions_follow_the_commands():
    m = serve.serve_map()
    for r in ROWS:
        if r["id"] in SKIPPED:
            continue
        e, cfg = m[r["id"]], parse_config(r["config"])
        n = int(cfg["successful_requests"])
        assert n == int(cfg["num_prompts"]) and f"--max-concurrency {cfg['max_concurrency']}" in cfg["bench"]
        assert e["load"] == {"kind": "closed_loop", "concurrency": int(cfg["max_concurrency"])}, r["id"]
        inf = e["scenario"]["inference"]
        assert inf["input_tokens"] == round(int(cfg["total_input_tokens"]) / n), r["id"]
        assert inf["output_tokens"] == round(int(cfg["total_generated_tokens"]) / n), r["id"]
        want = "tpot_ms" if r["metric"] == "median TPOT (ms)" else "output_tokens_per_s"
        assert r["metric"] in ("median TPOT (ms)", "output tokens/s (system total)") and e["convert"] == want
        if "FP8" in r["precision"]:
            assert e["scenario"]["precision"] == {"weights": "fp8", "activations": "fp8", "kv_cache": "bf16"}


def test_values_copied_from_the_sources():
    # hand-copied from the pages' 'Output token throughput (tok/s)' and 'Median TPOT (ms)' lines
    assert [_v(i) for i in range(1, 11)] == [105.24, 795.30, 2282.90, 108.07, 912.02, 2207.16, 103.56, 733.41, 1468.50, 41.98]
    assert [_v(i) for i in range(11, 21)] == [39.72, 378.84, 1216.79, 40.52, 410.70, 1056.05, 36.87, 256.70, 601.67, 76.35]
    assert [_v(i) for i in range(21, 31)] == [96.65, 832.04, 2738.78, 97.17, 935.49, 2387.34, 93.94, 820.69, 1790.43, 34.04]
    assert [_v(i) for i in range(31, 36)] == [405.93, 7773.26, 11.00, 34.26, 463.80]


def test_the_copied_figures_agree_by_hand_arithmetic():
    # output tokens/s = generated tokens / duration (the durations printed to 0.01 s)
    for r in ROWS:
        if r["metric"].startswith("output"):
            cfg = parse_config(r["config"])
            rate = int(cfg["total_generated_tokens"]) / float(cfg["duration_s"])
            assert float(r["value"]) == pytest.approx(rate, rel=5e-4), r["id"]
    # by hand: DeepSeek-R1 chat at concurrency 100: 252162 tokens / 110.46 s = 2282.8
    assert _v(3) == pytest.approx(252162 / 110.46, abs=0.1)
    # gpt-oss ShareGPT at concurrency 100: 192432 tokens / 24.76 s = 7771.9 (printed 7773.26 from the unrounded time)
    assert _v(32) == pytest.approx(192432 / 24.76, rel=5e-4)
    # the random dataset draws the same lengths on every page (same seed): 6101 input tokens over 10 prompts of 1000
    for i in (1, 11, 21):
        assert "total_input_tokens=6101;" in BY_ID[f"infer-fresh4-{i:03d}"]["config"]
    # at concurrency 1 a request's decode takes (output - 1) x TPOT: 4210 tokens at 9.15 ms plus 10 TTFTs of 153 ms
    # come to the printed 40.00 s within 1% (DeepSeek-R1, 1K/1K)
    assert (4210 - 10) * 9.15e-3 + 10 * 0.153 == pytest.approx(40.00, rel=0.01)
