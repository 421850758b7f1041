"""The sixth unseen-data check's serving rows (published_fresh6_serve.csv, serve_scenarios_fresh6.yaml): they load,
each is cited with its source's URL, a date and the InferenceX commit its launch flags were read at, none is a fit
row, each maps to the run its source describes (the InferenceX launch script's engine flags, a closed loop of the
run's clients, lengths drawn on [0.8 len, len]), and the figures hand-copied from the sources agree with one another
by hand arithmetic. Nothing here runs the simulator: the rows' scores are recorded once in serve_scenarios_fresh6.yaml's
header."""

from __future__ import annotations

import re

import pytest

from fabless.validate import serve, train
from fabless.validate.core import parse_config
from fabless.validate.hardware_map import preset_for_hardware
from tests.conftest import assert_unseen_rows_held_out, rows_of

FILE = "published_fresh6_serve.csv"
ROWS, BY_ID = rows_of(FILE)
IX = "https://github.com/SemiAnalysisAI/InferenceX"
# source URL -> its row ids
SOURCES = {
    f"{IX}/pull/1061": set(range(1, 9)),
    f"{IX}/issues/870": set(range(9, 22)),
    f"{IX}/issues/890": set(range(22, 26)),
    f"{IX}/issues/828": set(range(26, 30)),
}
# the InferenceX commit each source's launch flags were read at
COMMITS = {
    "509c9b6bca929aab8de7af29611acded00a778d9": set(range(1, 9)),
    "c67b4e33edb167db804f6949cf39342f54c6265a": set(range(9, 17)),
    "db42e28ab0ae51ffc89ffce88e9a5c30256da903": set(range(17, 22)),
    "149eb972ed20c74255f62491f3a0107dd61a70df": set(range(22, 26)),
    "6913cc829f2603b310440cf37b9ca7910ae012ca": set(range(26, 30)),
}
# row -> (system preset, chip preset, count, parallel, software or None, precision)
FP8 = {"weights": "fp8", "activations": "fp8"}
EXPECT = {
    **{i: ("mi300x-8", "mi300x", 1, {"tp": 1}, "vllm-rocm", {"weights": "fp4", "activations": "bf16", "kv_cache": "bf16"})
       for i in range(1, 9)},
    **{i: ("dgx-h200", "h200-sxm", 8, {"tp": 8}, "sglang-cuda-0.5", {**FP8, "kv_cache": "bf16"}) for i in range(9, 17)},
    # B200's FP4 experts run FlashInfer's TRT-LLM MoE kernel, not the Triton kernel sglang-cuda-0.5 describes: the
    # NVIDIA default (re-mapped by the rule of serve_scenarios_fresh4.yaml's header, before the scores were read)
    **{i: ("hgx-b200", "b200", 8, {"tp": 8, "ep": 8}, None, {"weights": "fp4", "activations": "fp4",
                                                                          "kv_cache": "fp8"}) for i in range(17, 22)},
    **{i: ("mi325x-8", "mi325x", 8, {"tp": 8}, "sglang-rocm-0.5.9-mi30x", {**FP8, "kv_cache": "fp8"}) for i in range(22, 26)},
    26: ("dgx-h100", "h100-sxm", 2, {"tp": 2}, None, {"weights": "fp4", "activations": "bf16", "kv_cache": "bf16"}),
    27: ("dgx-h100", "h100-sxm", 4, {"tp": 4}, None, {"weights": "fp4", "activations": "bf16", "kv_cache": "bf16"}),
    28: ("dgx-h100", "h100-sxm", 8, {"tp": 8}, None, {"weights": "fp4", "activations": "bf16", "kv_cache": "bf16"}),
    29: ("dgx-h100", "h100-sxm", 8, {"tp": 8}, None, {"weights": "fp4", "activations": "bf16", "kv_cache": "bf16"}),
}
CONVERT = {"output tokens/s (system total)": "output_tokens_per_s", "output tokens/s per GPU": "output_tokens_per_s_per_chip",
           "median TPOT (ms)": "tpot_ms", "mean TPOT (ms)": "tpot_ms"}


def _id(i: int) -> str:
    return f"infer-fresh6-{i:03d}"


def _v(i: int) -> float:
    return float(BY_ID[_id(i)]["value"])


def test_the_file_loads_with_unique_ids_and_the_stated_sources():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) == 29
    for r in ROWS:
        assert re.fullmatch(r"infer-fresh6-0\d\d", r["id"]), r["id"]
        assert r["category"] == "infer" and float(r["value"]) > 0
    for url, nums in SOURCES.items():
        assert {r["id"] for r in ROWS if url in r["source"]} == {_id(i) for i in nums}, url


def test_every_row_is_cited_with_a_url_a_date_and_a_commit():
    for r in ROWS:
        assert re.search(r"https://\S+", r["source"]) and re.search(r"20\d\d-\d\d-\d\d", r["source"]), r["id"]
        assert r["notes"] and "copied as printed" in r["notes"], r["id"]
    for commit, nums in COMMITS.items():
        assert {r["id"] for r in ROWS if commit in r["source"]} == {_id(i) for i in nums}, commit


def test_every_row_is_held_out():
    assert_unseen_rows_held_out(set(BY_ID), "-fresh6-")
    m = serve.serve_map()
    assert all("set" not in m[i] for i in BY_ID)


def test_every_row_maps_to_its_system_and_leaves_the_static_batch_engine():
    m = serve.serve_map()
    for i, (system, chip, count, parallel, software, precision) in EXPECT.items():
        r, e = BY_ID[_id(i)], m[_id(i)]
        assert "serve_scenarios_fresh6.yaml" in train.scenario_map()[r["id"]]["skip"], r["id"]
        assert "skip" not in e and len(e["note"]) > 40, r["id"]
        scn, cfg = e["scenario"], parse_config(r["config"])
        assert preset_for_hardware(r["hardware"])[0] == chip, r["id"]
        assert scn["system"] == {"name": system, "count": count} and int(r["n_chips"]) == count, r["id"]
        assert scn["parallel"] == parallel and int(cfg["tp"]) == parallel["tp"] == count, r["id"]
        assert parallel.get("ep", 1) == int(cfg.get("ep", 1)), r["id"]
        assert scn.get("software") == software, r["id"]
        assert scn["precision"] == precision, r["id"]
        assert scn["model"] == ("gpt-oss-120b" if "gpt-oss" in r["model_or_kernel"] else "deepseek-v3"), r["id"]
        # KV cache fp8 exactly where the launch passes --kv-cache-dtype fp8_e4m3
        assert (precision["kv_cache"] == "fp8") == ("--kv-cache-dtype fp8_e4m3" in r["config"]), r["id"]


def test_loads_lengths_schedulers_and_conversions_follow_the_commands():
    m = serve.serve_map()
    for r in ROWS:
        e, cfg = m[r["id"]], parse_config(r["config"])
        c = int(cfg["max_concurrency"])
        assert int(cfg["num_prompts"]) == 10 * c and f"--max-concurrency {c}" in cfg["bench"], r["id"]
        assert "--ignore-eos" in cfg["bench"] and "--request-rate inf" in cfg["bench"], r["id"]
        assert e["load"] == {"kind": "closed_loop", "concurrency": c}, r["id"]
        inf = e["scenario"]["inference"]
        assert (inf["input_tokens"], inf["output_tokens"]) == (int(cfg["isl"]), int(cfg["osl"])) == (1024, 1024), r["id"]
        assert e["length_range_ratio"] == float(cfg["random_range_ratio"]) == 0.8, r["id"]
        assert e["convert"] == CONVERT[r["metric"]], r["id"]
        s, server = e["scheduler"], cfg["server"]
        if "SGLang" in cfg["engine"]:
            assert s["mixed_chunks"] is False, r["id"]
            assert f"chunked-prefill-size{'=' if '=131072' in server else ' '}{s['max_num_batched_tokens']}" in server, r["id"]
            assert f"mem-fraction-static{'=' if '=0.8 ' in server else ' '}{e['memory_fraction']}" in server, r["id"]
            if "--max-running-requests" in server:
                assert f"--max-running-requests {s['max_num_seqs']}" in server, r["id"]
            else:
                assert s["max_num_seqs"] == 1024, r["id"]
        else:
            assert "vLLM" in cfg["engine"] and s["mixed_chunks"] is True and s["max_num_batched_tokens"] == 8192, r["id"]
            assert f"--gpu-memory-utilization{'=' if '=0.9 ' in server else ' '}{e['memory_fraction']}" in server, r["id"]
            if "--max-num-seqs" in server:
                assert f"--max-num-seqs={c}" in server and s["max_num_seqs"] == c, r["id"]
            else:
                assert s["max_num_seqs"] == 1024 and s["block_size_tokens"] == 64 and "--block-size=64" in server, r["id"]


def test_values_copied_from_the_sources():
    # InferenceX PR #1061: 'Output TPS' and 'Median TPOT' at 64, 96, 128, 256 clients
    assert [_v(i) for i in range(1, 5)] == [2008, 2561, 2990, 4271]
    assert [_v(i) for i in range(5, 9)] == [31.4, 36.6, 41.3, 58.3]
    # issue #870 H200: 'Output tput/GPU' and 'Mean TPOT' at 8-64 clients; B200: 'Output tput/GPU' at 4-64 clients
    assert [_v(i) for i in range(9, 13)] == [74.6, 111.9, 151.1, 223.6]
    assert [_v(i) for i in range(13, 17)] == [12.8, 17.2, 25.6, 34.6]
    assert [_v(i) for i in range(17, 22)] == [59.7, 104.8, 169.3, 282.4, 312.5]
    # issue #890 MI325X: 'Output tput/gpu' and 'TPOT mean' at 4 and 8 clients
    assert [_v(i) for i in range(22, 26)] == [19.91, 36.76, 24.03, 26.17]
    # issue #828 H100: 'Out tok/GPU' of tp 2 / 4 at 64 clients, tp 8 at 4 and 8 clients
    assert [_v(i) for i in range(26, 30)] == [2061.5, 1571.8, 129.6, 238.4]
    assert [parse_config(BY_ID[_id(i)]["config"])["max_concurrency"] for i in range(26, 30)] == ["64", "64", "4", "8"]


def test_the_copied_figures_agree_by_hand_arithmetic():
    # PR #1061: 'Total TPS' = input + output tokens / duration, about twice 'Output TPS' at 1024 / 1024 (4,016 = 2 x 2,008),
    # and its 'vs Baseline' column is the output rate over the 64-client one: 2,561 / 2,008 = 1.275 (+27%), 2,990 /
    # 2,008 = 1.489 (+49%), 4,271 / 2,008 = 2.127 (+113%)
    assert 2 * _v(1) == 4016
    assert [round(100 * (_v(i) / _v(1) - 1)) for i in (2, 3, 4)] == [28, 49, 113]  # +27.5% printed as +27%
    # issue #870 H200: total tput/GPU = input + output: 74.0 + 74.6 = 148.6, 113.1 + 111.9 = 225.0 (225.1 printed)
    assert 74.0 + _v(9) == pytest.approx(148.6)
    assert 113.1 + _v(10) == pytest.approx(225.1, abs=0.15)
    # and Little's law at 8 clients: each request takes the printed mean E2E 12.22 s for 0.9 x 1024 output tokens
    # on average, so 8 clients make 8 x 921.6 / 12.22 = 603 tok/s over 8 GPUs = 75.4 per GPU: the printed 74.6 within 2%
    assert 8 * 0.9 * 1024 / 12.22 / 8 == pytest.approx(_v(9), rel=0.02)
    # the mean E2E is about TTFT + (mean output - 1) x TPOT: 0.3306 + 920.6 x 0.0128 = 12.11 s against 12.22 printed
    assert 0.3306 + (0.9 * 1024 - 1) * _v(13) / 1e3 == pytest.approx(12.22, rel=0.01)
    # issue #870 B200: total tput/GPU 120.0 = 59.7 output + 60.3 input
    assert _v(17) + 60.3 == pytest.approx(120.0)
    # issue #890 MI325X: total 40.02 = 19.91 + 20.11; Little's law at 4 clients: 4 x 921.6 / 22.33 s / 8 = 20.6 per GPU
    assert _v(22) + 20.11 == pytest.approx(40.02)
    assert 4 * 0.9 * 1024 / 22.33 / 8 == pytest.approx(_v(22), rel=0.04)
    # issue #828 H100: J/out_tok = W/GPU / out tok/GPU: 397 / 2,061.5 = 0.1926 (0.192 printed); 159 / 129.6 = 1.227
    # (1.230 printed); out_tok/W its inverse: 2,061.5 / 397 = 5.19 (5.20 printed)
    assert 397 / _v(26) == pytest.approx(0.192, abs=0.001)
    assert 159 / _v(28) == pytest.approx(1.230, abs=0.005)
    assert _v(26) / 397 == pytest.approx(5.20, abs=0.015)
