"""The tenth unseen-data check (published_fresh10_serve.csv, serve_scenarios_fresh10.yaml, scenarios_fresh10.yaml):
optimum-neuron's guidellm `synchronous` runs of Qwen3-235B-A22B on Trainium2 and Llama-3.1-8B on Inferentia2 and
Trainium1 (plus Llama 4 rows collected and skipped). The values are hand-copied below from the source files at the
cited commit; every row is cited with its repository, commit and dates, maps to the run its source describes, and is
held out, with a first score recorded for every scored row. The simulator is not run here."""

from __future__ import annotations

import re

import pytest

from fabless.measurements import MEASUREMENTS_DIR
from fabless.validate import infer, serve, train
from fabless.validate.core import parse_config
from fabless.validate.hardware_map import preset_for_hardware
from tests.conftest import assert_unseen_rows_held_out, rows_of

FILE = "published_fresh10_serve.csv"
ROWS, BY_ID = rows_of(FILE)
COMMIT = "213224e6aae42e570b88b3a5e6f2716112823469"
SCORES = MEASUREMENTS_DIR / "fresh10_serve_scores.md"

# Hand-copied from huggingface/optimum-neuron at 213224e6, each file's `synchronous` row(s):
# (Requests per Second, Request Latency (s), Time-to-first-token (ms), Inter Token Latency (ms), Output Token Throughput (t/s))
RUNS = {
    "qwen3-235B-A22B-trn2": (0.08680537874116302, 11.51964030265808, 4587.152791023254, 32.1826790250949, 18.697878580846513),
    "dp3 2025-09-16": (0.14437592982674508, 6.925908158807194, 475.0536329606, 26.588146713290314, 34.98143852684488),
    "dp4 2025-09-22 07:53": (0.15134643883957585, 6.606927156448364, 477.6602586110433, 26.072938623887865, 35.57482126279141),
    "dp4 2025-09-22 08:51": (0.1572846967378049, 6.3574992418289185, 242.49992105695935, 26.57249451377343, 36.192956327110444),
    "dp4 2025-09-22 10:19": (0.15429269957345304, 6.480733381377326, 241.84584617614746, 26.648029642405117, 36.121635333473954),
    "llama4-Maverick-trn2": (0.17384422877293448, 5.751895534992218, 1713.8232111930847, 16.94053329867967, 41.435771928028934),
    "llama4-Scout-trn2": (0.14624567302790123, 6.837393353967106, 575.0301304985495, 32.764181199640326, 27.950128921626536),
    "llama4-Scout": (0.15871279079818684, 6.300351017399838, 1137.3831221931857, 28.36419891985255, 28.885727925270004),
}
# id -> run; metric order of the scored runs: TTFT, ITL, output tokens/s, request latency; the Llama 4 runs: TTFT, ITL
ORDER = [(2, "mean TTFT (ms)"), (3, "mean ITL (ms)"), (4, "output tokens/s (system total)"), (1, "mean request latency (s)")]
IDS: dict[str, tuple[str, int, str]] = {}
n = 0
for run in list(RUNS)[:5]:
    for col, metric in ORDER:
        n += 1
        IDS[f"infer-fresh10-{n:03d}"] = (run, col, metric)
for run in list(RUNS)[5:]:
    for col, metric in ORDER[:2]:
        n += 1
        IDS[f"infer-fresh10-{n:03d}"] = (run, col, metric)
SKIPPED = {f"infer-fresh10-{i:03d}" for i in range(21, 27)}
CHIPS = {"qwen3-235B-A22B-trn2": ("trainium2", "trn2-server", 16), "dp3 2025-09-16": ("inferentia2", "inf2-server", 4)}
CHIPS.update({r: ("trainium1", "trn1-server", 4) for r in RUNS if r.startswith("dp4")})


def test_the_file_loads_with_the_copied_values():
    assert set(BY_ID) == set(IDS) and len(ROWS) == 26
    for rid, (run, col, metric) in IDS.items():
        r = BY_ID[rid]
        assert r["category"] == "infer" and r["metric"] == metric, rid
        assert float(r["value"]) == pytest.approx(RUNS[run][col], abs=5e-5), rid
        mean_out = RUNS[run][4] / RUNS[run][0]
        assert float(parse_config(r["config"])["mean_output_tokens"].split()[0]) == round(mean_out, 1), rid


def test_a_synchronous_run_is_consistent_by_hand():
    # one request at a time: latency = TTFT + (answer - 1) x ITL, and requests/s = 1 / latency, within the spread of
    # guidellm's answer lengths (a few %). Qwen3-235B: 4.587 + 214.4 x 0.03218 = 11.49 s against 11.52 s printed.
    for run, (rps, lat, ttft, itl, out) in RUNS.items():
        answer = out / rps
        assert ttft / 1e3 + (answer - 1) * itl / 1e3 == pytest.approx(lat, rel=0.03), run
        assert 1 / lat == pytest.approx(rps, rel=0.01), run
    assert 4.587 + 214.4 * 0.03218 == pytest.approx(11.49, abs=0.01)


def test_every_row_is_cited_with_commit_url_and_dates():
    for r in ROWS:
        assert f"commit {COMMIT}, 2026-08-19" in r["source"], r["id"]
        assert f"https://github.com/huggingface/optimum-neuron/blob/{COMMIT}/benchmark/vllm/" in r["source"], r["id"]
        assert re.search(r"results added in [0-9a-f]{40}.{0,40}2025-(09|10)-\d\d", r["source"]), r["id"]
        assert "guidellm 0.1.0, emulated prompts of 1500 +- 150 tokens" in r["source"], r["id"]
        assert "Held out" in r["notes"], r["id"]
    dp4 = [r for r in ROWS if "vllm-results-dp4.csv" in r["source"]]
    assert len(dp4) == 12 and all("pull request #970" in r["source"] and "trn1.32xlarge" in r["source"] for r in dp4)
    assert all("inf2.48xlarge" in r["source"] for r in ROWS if "vllm-results-dp3.csv" in r["source"])


def test_every_row_maps_to_its_run_and_is_held_out():
    assert_unseen_rows_held_out(set(BY_ID), "-fresh10-")
    assert not set(BY_ID) & serve.FIT_IDS and not set(BY_ID) & infer.FIT_IDS
    m, t = serve.serve_map(), train.scenario_map()
    convert = {"mean TTFT (ms)": "ttft_ms", "mean ITL (ms)": "tpot_ms", "output tokens/s (system total)": "output_tokens_per_s",
               "mean request latency (s)": "e2e_s"}
    for rid, (run, _col, metric) in IDS.items():
        r = BY_ID[rid]
        assert "serve_scenarios_fresh10.yaml" in t[rid]["skip"], rid  # out of the static-batch engine
        e = m[rid]
        assert "set" not in e, rid
        if rid in SKIPPED:
            assert "Llama 4" in e["skip"] and "Llama-4" in r["model_or_kernel"], rid
            continue
        assert "skip" not in e and e["convert"] == convert[metric], rid
        chip, system, count = CHIPS[run]
        assert preset_for_hardware(r["hardware"])[0] == chip and int(r["n_chips"]) == count, rid
        s = e["scenario"]
        assert s["system"] == {"name": system, "count": count} and s["parallel"] == {"tp": count}, rid
        assert s["software"] == "optimum-neuron-2025" and s["precision"] == "bf16", rid
        assert s["model"] == ("qwen3-235b-a22b" if run.startswith("qwen3") else "llama-3.1-8b"), rid
        cfg = parse_config(r["config"])
        assert s["inference"]["input_tokens"] == 1500 and int(cfg["prompt_tokens"].split()[0]) == 1500, rid
        assert s["inference"]["output_tokens"] == round(RUNS[run][4] / RUNS[run][0]), rid
        assert s["inference"]["batch"] == e["scheduler"]["max_num_seqs"] == int(cfg["batch_size"].split()[0]), rid
        assert e["scheduler"]["max_model_len"] == int(cfg["sequence_length"].split()[0]) == 4096, rid
        assert e["load"] == {"kind": "closed_loop", "concurrency": 1}, rid
    # cores to chips: 64 logical Trainium2 cores at LNC 2 are 16 chips; 8 Inferentia2 / Trainium1 cores are 4 chips
    assert 64 // 4 == CHIPS["qwen3-235B-A22B-trn2"][2] and 8 // 2 == CHIPS["dp3 2025-09-16"][2]


def test_first_scores_are_recorded_for_every_scored_row():
    text = SCORES.read_text()
    assert "First scores (before any change)" in text and "26 rows collected, 20 scored, 6 skipped" in text
    for rid, (run, col, metric) in IDS.items():
        lines = [ln for ln in text.splitlines() if ln.startswith(f"| {rid} |")]
        if rid in SKIPPED:
            assert not lines, rid
            continue
        assert len(lines) == 1 and f"| {metric} |" in lines[0], rid
        assert re.search(r"\| [+-]\d+\.\d%( \|)?$", lines[0]), rid
