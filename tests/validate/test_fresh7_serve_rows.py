"""The seventh unseen-data check's serving rows (published_fresh7_serve.csv, serve_scenarios_fresh7.yaml): they load,
each is cited with its source's URL and a date, none is a fit row, each maps to the run its source describes (an
InferenceX launch script's engine flags and a closed loop of the run's clients, or a tt-inference-server sweep row at
concurrency 1) or is skipped with its reason, and the figures hand-copied from the sources agree with one another by
hand arithmetic. Nothing here runs the simulator: the rows' scores are recorded once in serve_scenarios_fresh7.yaml's
header."""

from __future__ import annotations

import re

import pytest

from fabless.validate import serve, train
from fabless.validate.core import parse_config
from fabless.validate.hardware_map import preset_for_hardware
from tests.conftest import assert_unseen_rows_held_out, rows_of

FILE = "published_fresh7_serve.csv"
ROWS, BY_ID = rows_of(FILE)
IX = "https://github.com/SemiAnalysisAI/InferenceX"
TT = "https://github.com/tenstorrent/tt-inference-server"
# source URL -> its row ids
SOURCES = {
    f"{IX}/pull/3318": set(range(1, 11)),
    f"{IX}/pull/3289": set(range(11, 16)),
    f"{TT}/issues/356": set(range(16, 23)),
    f"{TT}/issues/340": set(range(23, 30)),
}
MIRROR = "843c6254ff69b567f772f6a5fd97675af3d04431"
MAPPED = set(range(1, 11))
SKIPPED = set(range(11, 30))
CONVERT = {"output tokens/s per GPU": "output_tokens_per_s_per_chip", "mean TPOT (ms)": "tpot_ms"}
CHIP = {**{i: "mi325x" for i in range(1, 11)}, **{i: "h200-sxm" for i in range(11, 16)},
        **{i: "h100-sxm" for i in range(16, 23)}, **{i: "a100-sxm" for i in range(23, 30)}}


def _id(i: int) -> str:
    return f"infer-fresh7-{i:03d}"


def _v(i: int) -> float:
    return float(BY_ID[_id(i)]["value"])


def test_the_file_loads_with_unique_ids_and_the_stated_sources():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) == 29
    for r in ROWS:
        assert re.fullmatch(r"infer-fresh7-0\d\d", r["id"]), r["id"]
        assert r["category"] == "infer" and float(r["value"]) > 0
    for url, nums in SOURCES.items():
        assert {r["id"] for r in ROWS if url in r["source"]} == {_id(i) for i in nums}, url


def test_every_row_is_cited_with_a_url_and_a_date():
    for r in ROWS:
        assert re.search(r"https://\S+", r["source"]) and re.search(r"20\d\d-\d\d-\d\d", r["source"]), r["id"]
        assert r["notes"] and "copied as printed" in r["notes"], r["id"]
    # the InferenceX rows name the repository commit their launch flags were read at
    assert {r["id"] for r in ROWS if MIRROR in r["source"]} == {_id(i) for i in range(1, 16)}


def test_every_row_is_held_out():
    assert_unseen_rows_held_out(set(BY_ID), "-fresh7-")
    m = serve.serve_map()
    assert all("set" not in m[i] for i in BY_ID)


def test_every_row_maps_or_is_skipped_with_a_reason_and_leaves_the_static_batch_engine():
    m = serve.serve_map()
    for i in range(1, 30):
        r, e = BY_ID[_id(i)], m[_id(i)]
        assert "serve_scenarios_fresh7.yaml" in train.scenario_map()[r["id"]]["skip"], r["id"]
        assert preset_for_hardware(r["hardware"])[0] == CHIP[i], r["id"]
        if i in SKIPPED:
            assert "scenario" not in e and len(e["skip"]) > 60, r["id"]
        else:
            assert i in MAPPED and "skip" not in e and len(e["note"]) > 40, r["id"]
            assert e["convert"] == CONVERT[r["metric"]], r["id"]
    # the skip reasons say why: speculative decoding (H200 MTP), and an A100 run that states neither count nor engine
    assert all("speculative" in m[_id(i)]["skip"] for i in range(11, 16))
    assert all("spec_decoding=mtp" in BY_ID[_id(i)]["config"] for i in range(11, 16))
    assert all("A100" in m[_id(i)]["skip"] and "not stated" in BY_ID[_id(i)]["config"] for i in range(23, 30))


def test_the_mi325x_rows_follow_the_inferencex_launch_and_client():
    m = serve.serve_map()
    for i in range(1, 11):
        r, e = BY_ID[_id(i)], m[_id(i)]
        cfg, scn = parse_config(r["config"]), m[_id(i)]["scenario"]
        c = int(cfg["max_concurrency"])
        assert scn["system"] == {"name": "mi325x-8", "count": 8} and int(r["n_chips"]) == 8
        assert scn["parallel"] == {"tp": 8} and int(cfg["tp"]) == 8
        assert scn["software"] == "sglang-rocm-0.5.12-mi30x" and "v0.5.19-rocm700-mi30x" in cfg["engine"]
        assert scn["model"] == "deepseek-v3"
        assert scn["precision"] == {"weights": "fp8", "activations": "fp8", "kv_cache": "fp8"}
        assert "--kv-cache-dtype fp8_e4m3" in cfg["server"]
        assert (scn["inference"]["input_tokens"], scn["inference"]["output_tokens"]) == (int(cfg["isl"]), int(cfg["osl"])) == (8192, 1024)
        assert e["load"] == {"kind": "closed_loop", "concurrency": c}
        assert int(cfg["num_prompts"]) == 10 * c and f"--max-concurrency {c}" in cfg["bench"] and "--ignore-eos" in cfg["bench"]
        assert e["length_range_ratio"] == float(cfg["random_range_ratio"]) == 0.8
        s = e["scheduler"]
        assert f"--chunked-prefill-size={s['max_num_batched_tokens']}" in cfg["server"]
        assert f"--mem-fraction-static={e['memory_fraction']}" in cfg["server"]
        assert s["max_num_seqs"] == 1024 and "--max-running-requests" not in cfg["server"] and s["mixed_chunks"] is False
    assert [int(parse_config(BY_ID[_id(i)]["config"])["max_concurrency"]) for i in range(1, 11)] == [4, 8, 16, 32, 64] * 2


def test_the_h100_rows_are_collected_and_skipped_as_a_cross_node_tensor_parallel_group():
    # mapped first as one SGLang engine of tp 16 over two dgx-h100 (anchors _ds100 / _ss100 keep it); the first predict
    # raised the plan rule tp-in-domain (no value), so the rows are skipped with that reason (the file's header says so)
    m = serve.serve_map()
    lens = [(128, 128), (128, 1024), (1024, 128), (2048, 128), (3072, 128), (4096, 128), (8192, 128)]
    for i, (a, b) in zip(range(16, 23), lens, strict=True):
        r, e = BY_ID[_id(i)], m[_id(i)]
        cfg = parse_config(r["config"])
        assert (int(cfg["isl"]), int(cfg["osl"])) == (a, b) and int(cfg["max_concurrency"]) == 1, r["id"]
        assert int(r["n_chips"]) == 16 and int(cfg["tp"]) == 16 and "assumed" in cfg["tp_note"], r["id"]
        assert "release not stated" in cfg["engine"], r["id"]
        assert "tp-in-domain" in e["skip"] and "scale-up domain" in e["skip"], r["id"]


def test_values_copied_from_the_sources():
    # InferenceX PR #3318 baseline (MI325X, 8k/1k): 'Output tok/s/GPU' and 'TPOT ms' at 4-64 clients
    assert [_v(i) for i in range(1, 6)] == [24.91, 43.38, 69.39, 95.57, 114.89]
    assert [_v(i) for i in range(6, 11)] == [18.53, 21.56, 26.75, 39.45, 66.55]
    # PR #3289 baseline (H200 MTP): 'Output tok/s/GPU'
    assert [_v(i) for i in range(11, 16)] == [63.61, 88.91, 119.84, 156.75, 186.02]
    # tt-inference-server #356 (16 H100) and #340 (A100 Qwen3-30B-A3B): 'TPOT (ms)' at concurrency 1
    assert [_v(i) for i in range(16, 23)] == [23.1, 23.2, 23.2, 23.3, 23.6, 23.7, 24.0]
    assert [_v(i) for i in range(23, 30)] == [9.6, 9.7, 9.8, 9.9, 10.1, 10.3, 10.6]


def test_the_copied_figures_agree_by_hand_arithmetic():
    # PR #3318: total tok/s/GPU = (input + output) / duration; with both lengths drawn on [0.8 L, L] the mean input is
    # 8 x the mean output, so total = 9 x output: 9 x 24.91 = 224.2 against 223.94 printed, 9 x 114.89 = 1034.0 against
    # 1,035.63 printed
    assert 9 * _v(1) == pytest.approx(223.94, rel=0.005)
    assert 9 * _v(5) == pytest.approx(1035.63, rel=0.005)
    # and Little's law at 4 clients: each request takes about TTFT + (0.9 x 1024 - 1) x TPOT = 1.025 + 920.6 x 0.01853 =
    # 18.08 s, so 4 clients give 4 x 921.6 / 18.08 = 203.9 output tok/s over 8 GPUs = 25.5 per GPU: the printed 24.91
    # within 3%
    e2e = 1.02549 + (0.9 * 1024 - 1) * _v(6) / 1e3
    assert 4 * 0.9 * 1024 / e2e / 8 == pytest.approx(_v(1), rel=0.03)
    # PR #3289 (H200 MTP): total 571.87 = 9 x 63.61 = 572.5
    assert 9 * _v(11) == pytest.approx(571.87, rel=0.005)
    # tt-inference-server #356: 'Tput User (TPS)' = 1000 / TPOT: 1000 / 23.1 = 43.29 (43.25 printed); E2EL = TTFT +
    # (OSL - 1) x TPOT: 179.7 + 127 x 23.1 = 3113.4 ms against 3116.4 printed
    assert 1000 / _v(16) == pytest.approx(43.25, rel=0.002)
    assert 179.7 + 127 * _v(16) == pytest.approx(3116.4, rel=0.002)
    # #340 (A100): 1000 / 9.6 = 104.2 (103.92 printed); 35.7 + 127 x 9.6 = 1254.9 ms against 1257.8 printed
    assert 1000 / _v(23) == pytest.approx(103.92, rel=0.005)
    assert 35.7 + 127 * _v(23) == pytest.approx(1257.8, rel=0.005)
