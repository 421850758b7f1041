"""Trainium2 serving rows (published_trn2.csv, serve_scenarios_trn2.yaml, scenarios_trn2.yaml): the rows
load with the other published files, each cites the AWS Neuron SDK or the optimum-neuron repository at a
commit, the fit rows are the ones the split rule names, the mapped settings equal the values copied by hand
from the sources, and the scored rows run."""

from __future__ import annotations

import csv
import re
from importlib import resources
from pathlib import Path

import pytest

from fabless.measurements import rows_by_id
from fabless.validate import serve, train
from fabless.validate.core import evaluate, parse_config

MEAS = Path(str(resources.files("fabless") / "data" / "measurements"))
ROWS = list(csv.DictReader(open(MEAS / "published_trn2.csv", encoding="utf-8")))
BY_ID = {r["id"]: r for r in ROWS}

# Copied by hand from the AWS Neuron SDK docs at commit 81ce03ae (id -> model, tp in logical NeuronCores,
# input tokens, output tokens, concurrency, value): the EAGLE3 tutorials' baseline columns.
SCORED = {
    "infer-trn2-001": ("llama-3.1-8b", 8, 512, 128, 2, 184.44, "output_tokens_per_s"),
    "infer-trn2-002": ("llama-3.1-8b", 8, 512, 128, 2, 10.52, "tpot_ms"),
    "infer-trn2-003": ("llama-3.1-8b", 8, 512, 128, 2, 51.07, "ttft_ms"),
    # the gpt-oss tutorial's baseline column (tp 16 logical cores, max_concurrency 1)
    "infer-trn2-004": ("gpt-oss-120b", 16, 512, 128, 1, 112.13, "output_tokens_per_s"),
    "infer-trn2-005": ("gpt-oss-120b", 16, 512, 128, 1, 7.00, "tpot_ms"),
    "infer-trn2-006": ("gpt-oss-120b", 16, 512, 128, 1, 252.33, "ttft_ms"),
}
# Copied by hand from huggingface/optimum-neuron at commit 213224e6 (benchmark/vllm/single-instance/
# {llama-3.1-8b,qwen3-32B}-trn2/vllm-results.csv, row 'synchronous', and .env): id -> model, tp in logical
# NeuronCores, compiled batch_size, value, conversion; guidellm's emulated 1500-token prompts, one request at a time.
OPTIMUM = {
    "infer-trn2-020": ("llama-3.1-8b", 4, 32, 197.24611802534622, "ttft_ms"),
    "infer-trn2-021": ("llama-3.1-8b", 4, 32, 22.13561523381564, "tpot_ms"),
    "infer-trn2-022": ("llama-3.1-8b", 4, 32, 43.531779070711835, "output_tokens_per_s"),
    "infer-trn2-023": ("llama-3.1-8b", 4, 32, 5.434610323472456, "e2e_s"),
    "infer-trn2-024": ("qwen3-32b", 4, 2, 770.858672948984, "ttft_ms"),
    "infer-trn2-025": ("qwen3-32b", 4, 2, 32.083890591448515, "tpot_ms"),
    "infer-trn2-026": ("qwen3-32b", 4, 2, 28.442631099213582, "output_tokens_per_s"),
    "infer-trn2-027": ("qwen3-32b", 4, 2, 8.821782772357647, "e2e_s"),
}
#: the split rule (serve_scenarios_trn2.yaml header): of the optimum-neuron rows, even ids are fit rows
FIT = {rid for rid in OPTIMUM if int(rid[-3:]) % 2 == 0}
#: Trn2's default Logical NeuronCore Configuration (LNC 2): 8 physical NeuronCore-v3 per chip, 2 per logical core.
LOGICAL_CORES_PER_CHIP = 8 // 2


def test_rows_load_with_the_other_published_files():
    header = next(csv.reader(open(MEAS / "published_tpu_serve.csv", encoding="utf-8")))
    assert list(ROWS[0].keys()) == header
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) == 18
    shipped = rows_by_id()
    for r in ROWS:
        assert re.fullmatch(r"infer-trn2-\d{3}", r["id"]) and r["category"] == "infer"
        assert shipped[r["id"]]["value"] == r["value"]
        assert "Trainium2" in r["hardware"] and float(r["value"]) > 0 and r["notes"].strip()
    assert {r["id"] for r in serve.rows()} >= set(ids)


def test_every_row_cites_a_repository_at_a_commit_and_no_reserved_tutorial():
    for r in ROWS:
        src = r["source"]
        assert ("github.com/aws-neuron/aws-neuron-sdk commit " in src
                or "github.com/huggingface/optimum-neuron commit " in src), r["id"]
        assert re.search(r"\bcommit [0-9a-f]{40}\b", src), r["id"]
        assert re.search(r"\b20\d\d-\d\d-\d\d\b", src), r["id"]
        # RESERVED.md: the speculative-decoding tutorials for Llama 3.3 70B and Llama 3.1 405B on Trn2
        assert "trn2-llama3.3-70b-tutorial" not in src and "405b-speculative" not in src, r["id"]
        if r["id"] in OPTIMUM:
            assert "speculative" not in src, r["id"]


def test_the_fit_rows_are_the_ones_the_rule_names():
    smap = serve.serve_map()
    assert FIT == {"infer-trn2-020", "infer-trn2-022", "infer-trn2-024", "infer-trn2-026"}
    for rid in BY_ID:
        assert (rid in serve.FIT_IDS) == (rid in FIT) == (smap[rid].get("set") == "fit"), rid
    # a fitted parameter names only fit rows (the error bands list held-out residuals: not a fit)
    for path in (MEAS.parent / "estimate").glob("*.yaml"):
        if path.name == "error_bands.yaml":
            continue
        named = set(re.findall(r"infer-trn2-\d{3}", path.read_text(encoding="utf-8")))
        assert named <= FIT, (path.name, named - FIT)


def test_every_row_is_mapped_or_skipped_in_both_categories():
    smap, imap = serve.serve_map(), train.scenario_map()
    for rid in BY_ID:
        assert "skip" in imap[rid], rid  # the static-batch engine leaves serving rows to serve
        e = smap[rid]
        if rid in SCORED or rid in OPTIMUM:
            assert e["note"] and e["scenario"] and e["load"] and e["convert"], rid
        else:
            assert len(e["skip"]) > 40, rid


@pytest.mark.parametrize("rid", sorted(SCORED))
def test_scored_rows_match_the_tutorials(rid):
    model, tp_cores, inp, out, conc, value, conv = SCORED[rid]
    r, e = BY_ID[rid], serve.serve_map()[rid]
    assert float(r["value"]) == value
    chips = tp_cores // LOGICAL_CORES_PER_CHIP  # 8 cores -> 2 chips, 64 -> 16 (the whole trn2.48xlarge)
    assert int(r["n_chips"]) == chips and f"tp={tp_cores} logical NeuronCores" in r["config"]
    scn = e["scenario"]
    assert scn["model"] == model and scn["parallel"]["tp"] == chips == scn["system"]["count"]
    assert scn["system"]["name"] == "trn2-server" and scn["precision"] == "bf16"
    # vLLM schedules asynchronously where the server samples on the device (vllm-neuron),
    # synchronously where it samples on the CPU (the default: vllm-neuron-cpu-sampling, whose host step
    # is added and carries the logits' round trip)
    cfg = parse_config(r["config"])
    on_device = cfg.get("on_device_sampling", "off").split(" ")[0] != "off"
    assert scn["software"] == ("vllm-neuron" if on_device else "vllm-neuron-cpu-sampling")
    assert (scn["inference"]["input_tokens"], scn["inference"]["output_tokens"]) == (inp, out)
    assert e["load"] == {"kind": "closed_loop", "concurrency": conc} and e["convert"] == conv
    assert e["scheduler"]["max_num_seqs"] == conc  # the server's --max-num-seqs equals the client's concurrency
    if model in ("llama-3.1-8b", "gpt-oss-120b"):
        assert (int(cfg["isl"]), int(cfg["osl"]), int(cfg["max_concurrency"])) == (inp, out, conc)
    else:
        assert (int(cfg["mean_input_tokens"]), int(cfg["mean_output_tokens"])) == (inp, out)
        assert int(cfg["num_concurrent_requests"]) == conc


@pytest.mark.parametrize("rid", sorted(OPTIMUM))
def test_optimum_neuron_rows_match_the_benchmark_files(rid):
    model, tp_cores, batch, value, conv = OPTIMUM[rid]
    r, e = BY_ID[rid], serve.serve_map()[rid]
    assert float(r["value"]) == pytest.approx(value, rel=1e-5)
    chips = tp_cores // LOGICAL_CORES_PER_CHIP  # tp 4 logical cores at LNC 2: one chip
    assert int(r["n_chips"]) == chips == 1 and f"tp={tp_cores} logical NeuronCores" in r["config"]
    cfg = parse_config(r["config"])
    assert cfg["batch_size"].startswith(f"{batch} ") and cfg["sequence_length"].startswith("4096")
    scn = e["scenario"]
    assert scn["model"] == model and scn["parallel"]["tp"] == chips == scn["system"]["count"]
    assert scn["software"] == "optimum-neuron-2025" and scn["inference"]["input_tokens"] == 1500
    # the answers' mean length: output tokens/s over requests/s of the same row
    assert scn["inference"]["output_tokens"] == round(float(cfg["mean_output_tokens"].split()[0]))
    assert e["load"] == {"kind": "closed_loop", "concurrency": 1} and e["convert"] == conv
    assert e["scheduler"]["max_num_seqs"] == batch and e["scheduler"]["max_model_len"] == 4096


def test_scored_rows_run():
    outs = {o.id: o for o in evaluate(["serve"], rows=[{**r, "category": "serve"} for r in ROWS])}
    for rid, o in outs.items():
        assert o.set == ("fit" if rid in FIT else "held_out"), rid
        assert (o.predicted is not None) == (rid in SCORED or rid in OPTIMUM), (rid, o.skipped)
