"""The second unseen-data check's non-NVIDIA serving rows (published_fresh2_serve_a.csv,
serve_scenarios_fresh2_a.yaml): they load, each is cited with its source (repository and commit, or pull
request URL) and a date, none is a fit row, each maps to the run its source describes or is skipped with a
reason, and a few figures hand-copied from the sources agree with one another by hand arithmetic."""

from __future__ import annotations

import re

import pytest

from fabless.validate import serve, train
from fabless.validate.core import parse_config
from fabless.validate.hardware_map import preset_for_hardware
from tests.conftest import assert_unseen_rows_held_out, rows_of

FILE = "published_fresh2_serve_a.csv"
ROWS, BY_ID = rows_of(FILE)
SKIPPED = {"infer-fresh2-013", "infer-fresh2-014", "infer-fresh2-015"}


def test_the_file_loads_with_unique_ids():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) == 15
    for r in ROWS:
        assert re.fullmatch(r"infer-fresh2-0\d\d", r["id"]), r["id"]
        assert r["category"] == "infer" and float(r["value"]) > 0


def test_every_row_is_cited_with_a_commit_or_url_and_a_date():
    for r in ROWS:
        assert re.search(r"commit [0-9a-f]{40}", r["source"]) or re.search(r"https://github\.com/\S+/pull/\d+", r["source"]), r["id"]
        assert re.search(r"20\d\d-\d\d-\d\d", r["source"]), r["id"]


def test_every_row_is_held_out():
    ids = set(BY_ID)
    assert_unseen_rows_held_out(ids, "infer-fresh2-0")
    assert all("set" not in serve.serve_map()[i] for i in ids)


def test_every_row_maps_or_is_skipped_and_leaves_the_static_batch_engine():
    m = serve.serve_map()
    for r in ROWS:
        e = m[r["id"]]
        assert "serve_scenarios_fresh2_a.yaml" in train.scenario_map()[r["id"]]["skip"], r["id"]
        if r["id"] in SKIPPED:
            assert len(e["skip"]) > 40, r["id"]
            continue
        cfg, scn = parse_config(r["config"]), e["scenario"]
        assert preset_for_hardware(r["hardware"])[0] == "inferentia2"
        # TGI on optimum-neuron (June 2025) runs one context-encoding graph at the compiled length
        # (optimum-neuron-2025); the vLLM run of 2026-08 came after chunked prefill: neuron-inference
        tgi = "TGI" in r["config"] or "tgi" in r["source"].lower()
        assert scn["software"] == ("optimum-neuron-2025" if tgi else "neuron-inference") and scn["precision"] == "bf16"
        # NeuronCores -> chips: two NeuronCores per Inferentia2 chip
        cores = int(cfg["hf_num_cores"].split()[0]) if "hf_num_cores" in cfg else int(cfg["tp"].split()[0])
        assert scn["system"] == {"name": "inf2-server", "count": cores // 2} and scn["parallel"] == {"tp": cores // 2}
        assert int(r["n_chips"]) == cores // 2
        batch = int((cfg.get("max_batch_size") or cfg["batch_size"]).split()[0])
        assert e["scheduler"]["max_num_seqs"] == batch and e["scheduler"]["max_model_len"] == 4096
        assert e["load"] == {"kind": "closed_loop", "concurrency": 1}
        assert scn["inference"]["input_tokens"] == 1500
        assert scn["inference"]["output_tokens"] == round(float(cfg["mean_output_tokens"].split()[0]))
        conv = {"mean TTFT (ms)": "ttft_ms", "mean ITL (ms)": "tpot_ms", "output tokens/s (system total)": "output_tokens_per_s",
                "mean request latency (s)": "e2e_s"}[r["metric"]]
        assert e["convert"] == conv, r["id"]


def test_hand_copied_values():
    # optimum-neuron TGI llama3.1-8b, first synchronous row (2025-06-03-16-40-34)
    assert float(BY_ID["infer-fresh2-001"]["value"]) == pytest.approx(315.7895, abs=1e-3)
    assert float(BY_ID["infer-fresh2-002"]["value"]) == pytest.approx(26.7869, abs=1e-3)
    # DeepSeek-R1-Distill-Llama-70B on inf2.48xlarge: 20.4996 output tokens/s, 12.1186 s a request
    assert float(BY_ID["infer-fresh2-007"]["value"]) == pytest.approx(20.4996, abs=1e-3)
    assert float(BY_ID["infer-fresh2-008"]["value"]) == pytest.approx(12.1186, abs=1e-3)
    # vLLM Llama-3.1-8B on one Inferentia2 chip: TTFT 1057.71 ms
    assert float(BY_ID["infer-fresh2-009"]["value"]) == pytest.approx(1057.709, abs=1e-2)
    # pytorch/xla #9376: 1000 x (1799 + 121.341) tokens in 126.75 s = 15150.8 tokens/s, the printed 15150.76
    assert (1799000 + 121341) / 126.75 == pytest.approx(float(BY_ID["infer-fresh2-015"]["value"]), rel=1e-4)


def test_mean_answer_is_output_rate_over_request_rate():
    # 34.9622 tokens/s / 0.200581 requests/s = 174.3 tokens an answer (TGI 8B); 20.4996 / 0.0825120 = 248.4 (70B);
    # 18.1749 / 0.0746401 = 243.5 (vLLM on one chip)
    for first, mean in (("infer-fresh2-001", 174.3), ("infer-fresh2-005", 248.4), ("infer-fresh2-009", 243.5)):
        num = int(first[-3:])
        rate = BY_ID[f"infer-fresh2-{num + 2:03d}"]
        rps = float(parse_config(rate["config"])["requests_per_s"])
        assert float(rate["value"]) / rps == pytest.approx(mean, abs=0.06)
        assert float(parse_config(rate["config"])["mean_output_tokens"].split()[0]) == mean


def test_rows_of_one_run_agree_with_one_another():
    # One request at a time: latency = TTFT + (answer - 1) x ITL and rate = answer / latency, within a
    # percent or so (guidellm's answers vary +-20 tokens around the mean).
    for first in ("infer-fresh2-001", "infer-fresh2-005", "infer-fresh2-009"):
        n = int(first[-3:])
        ttft, itl, rate, lat = (float(BY_ID[f"infer-fresh2-{n + k:03d}"]["value"]) for k in range(4))
        out = float(parse_config(BY_ID[first]["config"])["mean_output_tokens"].split()[0])
        assert ttft / 1e3 + (out - 1) * itl / 1e3 == pytest.approx(lat, rel=0.01), first
        assert out / lat == pytest.approx(rate, rel=0.01), first
