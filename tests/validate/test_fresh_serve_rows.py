"""The unseen serving rows (published_fresh_serve.csv, serve_scenarios_fresh.yaml): they load, each is
cited with its repository, commit and date, none is a fit row, each maps to the run its source describes,
and the published figures agree with the run parameters the rows state (checked by hand arithmetic on
the figures, not on the model). The burst load's mean TTFT, which the TPU rows use, is worked by hand."""

from __future__ import annotations

import re

import pytest

from fabless.serve.modes import burst
from fabless.serve.scheduler import SchedulerConfig
from fabless.serve.stepcost import ConstantStepCost
from fabless.validate import infer, serve, train
from fabless.validate.core import load_rows, parse_config
from fabless.validate.hardware_map import preset_for_hardware
from tests.conftest import assert_unseen_rows_held_out

FILE = "published_fresh_serve.csv"
ROWS = [r for r in load_rows() if r["_file"] == FILE]
SOURCES = {"dstackai/benchmarks": 36, "sgl-project/sglang-jax": 3, "huggingface/optimum-neuron": 8}


def _source(row: dict) -> str:
    return next(s for s in SOURCES if f"github.com/{s}" in row["source"])


def test_the_file_loads_with_unique_ids_and_the_stated_sources():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) >= 30
    for r in ROWS:
        assert re.fullmatch(r"infer-fresh-\d{3}", r["id"]), r["id"]
        assert r["category"] == "infer" and float(r["value"]) > 0
    counts = {s: sum(1 for r in ROWS if _source(r) == s) for s in SOURCES}
    assert counts == SOURCES


def test_every_row_is_cited_with_a_full_commit_and_a_date():
    for r in ROWS:
        assert re.search(r"commit [0-9a-f]{40}", r["source"]), r["id"]
        assert re.search(r"20\d\d-\d\d-\d\d", r["source"]), r["id"]


def test_every_row_is_held_out():
    assert_unseen_rows_held_out({r["id"] for r in ROWS}, "infer-fresh-")


#: Rows that repeat a measurement already held elsewhere (collected first): skipped here, scored there.
DUPLICATES = {"infer-fresh-037": "infer-nc-005", "infer-fresh-039": "infer-nc-004"}


def test_a_measurement_held_before_is_skipped_not_scored_twice():
    by_id = {r["id"]: r for r in load_rows()}
    for rid, earlier in DUPLICATES.items():
        assert by_id[rid]["value"] == by_id[earlier]["value"] and by_id[rid]["metric"].split(" (")[0] == by_id[earlier]["metric"].split(" (")[0]
        assert "sglang-jax commit cddbf6f1" in by_id[rid]["source"] and "sglang-jax commit cddbf6f1" in by_id[earlier]["source"]
        assert earlier in serve.serve_map()[rid]["skip"] and "scenario" in serve.serve_map()[earlier]


def test_every_row_maps_to_its_run_and_leaves_the_static_batch_engine():
    m = serve.serve_map()
    for r in (r for r in ROWS if r["id"] not in DUPLICATES):
        e = m[r["id"]]
        cfg = parse_config(r["config"])
        scn = e["scenario"]
        devices_per_chip = 2 if _source(r) == "sgl-project/sglang-jax" else 1  # a TPU v7 chip is two chiplet devices
        assert scn["system"]["count"] == devices_per_chip * int(r["n_chips"]), r["id"]
        assert "serve_scenarios_fresh.yaml" in train.scenario_map()[r["id"]]["skip"], r["id"]
        chip = preset_for_hardware(r["hardware"])[0]
        if _source(r) == "dstackai/benchmarks":
            assert chip in ("h100-sxm", "mi300x") and scn["parallel"] == {"tp": int(cfg["tp"])} == {"tp": 8}
            assert scn["inference"]["input_tokens"] == int(cfg["input_len"])
            assert scn["inference"]["output_tokens"] == int(cfg["output_len"]) == 2048
            assert e["load"] == {"kind": "burst", "requests": int(cfg["num_prompts"])}
            assert e["convert"] == "total_tokens_per_s"
            assert scn["precision"]["kv_cache"] == "bf16"
        elif _source(r) == "sgl-project/sglang-jax":
            assert chip == "tpu-v7" and scn["software"] == "sglang-jax"
            # 8 JAX devices = 4 chips of two TensorCore chiplets, mapped device by device as
            # serve_scenarios_newchips.yaml maps the same cookbook: the tpu-v7-2x2x1 slice of 8 chiplets
            assert scn["system"] == {"name": "tpu-v7-2x2x1", "count": 8}
            assert int(cfg["tp"].split()[0]) == scn["parallel"]["tp"] == 8 and int(cfg["ep"]) == scn["parallel"]["ep"] == 8
            assert e["load"] == {"kind": "burst", "requests": int(cfg["max_concurrency"])}
        else:
            # optimum-neuron's server of September / October 2025: one context-encoding graph at the
            # compiled sequence length, before chunked prefill (software.yaml optimum-neuron-2025)
            assert chip in ("trainium1", "trainium2") and scn["software"] == "optimum-neuron-2025"
            assert re.search(r"results added in \w+, 2025-(09|10)-\d\d", r["source"]), r["id"]
            assert e["load"] == {"kind": "closed_loop", "concurrency": 1}
            assert e["scheduler"]["max_num_seqs"] == int(cfg["batch_size"].split()[0])
            assert scn["inference"]["output_tokens"] == round(float(cfg["mean_output_tokens"].split()[0]))


def test_dstack_tokens_per_second_count_prompt_and_answer():
    # benchmark_throughput: tokens/s = num_prompts x (input + output) / elapsed; the note carries elapsed.
    # 8x H100, 4 prompts of 128 / 2048 in 71.27 s: 4 x 2176 / 71.27 = 122.1 tokens/s (the row's value).
    for r in (r for r in ROWS if _source(r) == "dstackai/benchmarks"):
        cfg = parse_config(r["config"])
        elapsed = float(re.search(r"elapsed ([\d.]+) s", r["notes"]).group(1))
        tokens = int(cfg["num_prompts"]) * (int(cfg["input_len"]) + int(cfg["output_len"]))
        assert float(r["value"]) == pytest.approx(tokens / elapsed, rel=1e-3), r["id"]
    first = next(r for r in ROWS if r["id"] == "infer-fresh-001")
    assert float(first["value"]) == pytest.approx(4 * 2176 / 71.27, rel=1e-3)


def test_tpu_output_rate_times_duration_is_every_answer():
    # 384 answers of 1024 tokens in 63.63 s: 384 x 1024 / 63.63 = 6180 tokens/s, the table's 6179.45.
    out = next(r for r in ROWS if _source(r) == "sgl-project/sglang-jax" and r["metric"].startswith("output"))
    cfg = parse_config(out["config"])
    assert float(out["value"]) == pytest.approx(int(cfg["num_prompts"]) * int(cfg["random_output_len"]) / 63.63, rel=2e-3)


def test_neuron_rows_of_a_run_agree_with_one_another():
    # One request at a time: latency = TTFT + (answer - 1) x ITL, and rate = 1 / latency, within the
    # spread of guidellm's varying answer lengths (+-20 tokens of 250: a few %).
    runs: dict[str, dict[str, float]] = {}
    for r in (r for r in ROWS if _source(r) == "huggingface/optimum-neuron"):
        runs.setdefault(r["hardware"], {"out": float(parse_config(r["config"])["mean_output_tokens"].split()[0])})[r["metric"]] = float(r["value"])
    assert len(runs) == 2
    for hw, m in runs.items():
        lat = m["mean TTFT (ms)"] / 1e3 + (m["out"] - 1) * m["mean ITL (ms)"] / 1e3
        assert lat == pytest.approx(m["mean request latency (s)"], rel=0.03), hw
        assert m["output tokens/s (system total)"] == pytest.approx(m["out"] / m["mean request latency (s)"], rel=0.01), hw


def test_burst_mean_ttft_by_hand():
    # A constant 10 ms step, 4 requests of 1 prompt token and 3 answer tokens, at most 2 running: the
    # first two get their first token at the end of step 1 (10 ms) and finish at 30 ms; the other two
    # start in step 4 (first token at 40 ms) and finish at 60 ms. Mean TTFT (10 + 10 + 40 + 40) / 4 = 25 ms.
    model = ConstantStepCost(0.01, kv_capacity_tokens=10**7)
    out = burst(model, SchedulerConfig(max_num_batched_tokens=64, max_num_seqs=2), 1, 3, 4)
    assert out["ttft_s"] == pytest.approx(0.025)
    assert out["makespan_s"] == pytest.approx(0.06)
