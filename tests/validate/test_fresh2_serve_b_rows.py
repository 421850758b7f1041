"""The second unseen-data check's NVIDIA serving rows (published_fresh2_serve_b.csv, serve_scenarios_fresh2_b.yaml):
they load, each is cited with its repository, commit and date, none is a fit row, each maps to the run its source
describes or is skipped with a reason, and the published figures agree with the run parameters the rows state
(checked by hand arithmetic on the figures, not on the model)."""

from __future__ import annotations

import re

import pytest

from fabless.validate import serve, train
from fabless.validate.core import load_rows, parse_config
from fabless.validate.hardware_map import preset_for_hardware
from tests.conftest import assert_unseen_rows_held_out

FILE = "published_fresh2_serve_b.csv"
ROWS = [r for r in load_rows() if r["_file"] == FILE]
SOURCES = {"mlcommons/inference_results_v4.0": 8, "dstackai/benchmarks": 17}
SKIPPED = {f"infer-fresh2-{i}" for i in range(114, 120)}


def _source(row: dict) -> str:
    return next(s for s in SOURCES if f"github.com/{s}" in row["source"])


def test_the_file_loads_with_unique_ids_and_the_stated_sources():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) == 25
    for r in ROWS:
        assert re.fullmatch(r"infer-fresh2-1\d\d", r["id"]), r["id"]
        assert r["category"] == "infer" and float(r["value"]) > 0
    assert {s: sum(1 for r in ROWS if _source(r) == s) for s in SOURCES} == SOURCES


def test_every_row_is_cited_with_a_full_commit_and_a_date():
    for r in ROWS:
        assert re.search(r"commit [0-9a-f]{40}", r["source"]), r["id"]
        assert re.search(r"20\d\d-\d\d-\d\d", r["source"]), r["id"]


def test_every_row_is_held_out():
    assert_unseen_rows_held_out({r["id"] for r in ROWS}, "infer-fresh2-")


def test_every_row_maps_or_is_skipped_with_a_reason_and_leaves_the_static_batch_engine():
    m = serve.serve_map()
    for r in ROWS:
        e = m[r["id"]]
        assert "set" not in e
        assert "serve_scenarios_fresh2_b.yaml" in train.scenario_map()[r["id"]]["skip"], r["id"]
        if r["id"] in SKIPPED:
            assert len(e["skip"]) > 40 and "scenario" not in e
            continue
        scn, cfg = e["scenario"], parse_config(r["config"])
        chip = preset_for_hardware(r["hardware"])[0]
        assert chip in ("h100-sxm", "h200-sxm"), r["id"]
        if _source(r).startswith("mlcommons"):
            tp = int(cfg["tp"])
            assert scn["parallel"] == {"tp": tp} and scn["system"]["count"] == tp
            assert e["instances"] * tp == int(r["n_chips"])
            assert e["scheduler"]["max_num_seqs"] == int(cfg["gpu_batch"]) and e["scheduler"]["chunked_prefill"] is False
            assert e["lengths"]["output_mean_tokens"] == round(float(r["value"]) / float(re.match(r"([\d.]+)", r["notes"]).group(1)))
            if cfg["scenario"] == "Offline":
                assert e["load"] == {"kind": "offline", "samples": int(cfg["samples_per_query"])}
            else:
                assert e["load"] == {"kind": "server", "ttft_p99_ms": 2000, "tpot_p99_ms": 200}
        else:
            assert scn["model"] == "deepseek-v3" and scn["system"] == {"name": "dgx-h200", "count": 8}
            assert scn["parallel"] == {"tp": 8} and scn["inference"]["input_tokens"] == 3200
            assert scn["inference"]["output_tokens"] == 800
            if "max_concurrency" in r["config"]:
                c = int(re.search(r"max_concurrency=(\d+)", r["config"]).group(1))
                assert e["load"] == {"kind": "closed_loop", "concurrency": c}
            else:
                assert e["load"] == {"kind": "burst", "requests": int(cfg["num_prompts"])}
                assert e["convert"] == "total_tokens_per_s"


def test_skipped_rows_are_the_dp_attention_and_expert_parallel_launches():
    for r in ROWS:
        if r["id"] in SKIPPED:
            assert "--enable-dp-attention" in r["config"] or "--ep_size 4" in r["config"], r["id"]


def test_mlperf_values_copied_from_the_summaries():
    by_id = {r["id"]: r for r in ROWS}
    # mlperf_log_summary.txt "Tokens per second" / "Completed tokens per second", hand-copied
    assert float(by_id["infer-fresh2-101"]["value"]) == 21805.8
    assert float(by_id["infer-fresh2-106"]["value"]) == 26485.43
    assert float(by_id["infer-fresh2-107"]["value"]) == 3871.47
    # tokens/s over samples/s is the mean answer: 21805.8 / 74.699 = 291.9; 3616.88 / 12.34 = 293.1
    assert 21805.8 / 74.699 == pytest.approx(291.9, abs=0.05)
    assert float(by_id["infer-fresh2-108"]["value"]) / 12.34 == pytest.approx(293.1, abs=0.05)
    # an Offline run lasts samples / samples-per-second at least min_duration: 200640 / 74.699 = 2686 s >= 2400 s,
    # the summary's max latency (2685.98 s)
    assert 200640 / 74.699 == pytest.approx(2685.98, rel=1e-3)


def test_dstack_online_rate_is_every_answer_over_the_duration():
    # 500 requests of 800 tokens = 400000 output tokens; vLLM c 4: 400000 / 2692.13 s = 148.58 tokens/s
    for r in (r for r in ROWS if _source(r) == "dstackai/benchmarks" and r["metric"].startswith("output")):
        dur = float(re.search(r"duration ([\d.]+) s", r["notes"]).group(1))
        assert float(r["value"]) == pytest.approx(500 * 800 / dur, rel=1e-6), r["id"]
    first = next(r for r in ROWS if r["id"] == "infer-fresh2-109")
    assert float(first["value"]) == pytest.approx(400000 / 2692.129782, rel=1e-6)


def test_dstack_offline_tokens_per_second_count_prompt_and_answer():
    # benchmark_throughput: num_prompts x (3200 + 800) / elapsed; vLLM 32 prompts in 48.661 s = 2630.44 tokens/s
    for r in (r for r in ROWS if "offline_results" in r["source"]):
        el = float(re.search(r"elapsed ([\d.]+) s", r["notes"]).group(1))
        assert float(r["value"]) == pytest.approx(int(parse_config(r["config"])["num_prompts"]) * 4000 / el, rel=1e-6), r["id"]
    assert 32 * 4000 / 48.66099514 == pytest.approx(2630.443534, rel=1e-8)


def test_the_deepseek_rows_name_the_stack_of_the_engine_their_source_states():
    # vLLM 0.7.4 -> vllm-cuda-0.7, SGLang 0.4.3 -> sglang-cuda-0.4 (both run the Triton fused-MoE kernel)
    m = serve.serve_map()
    named = {r["id"]: m[r["id"]]["scenario"]["software"] for r in ROWS
             if "scenario" in m[r["id"]] and m[r["id"]]["scenario"]["model"] == "deepseek-v3"}
    assert len(named) == 11
    for i, stack in named.items():
        engine = next(r["config"] for r in ROWS if r["id"] == i).split(";")[0]
        assert stack == ("vllm-cuda-0.7" if "vLLM 0.7.4" in engine else "sglang-cuda-0.4" if "SGLang 0.4.3" in engine else None), i
