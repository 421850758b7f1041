"""Trainium2 serving rows (published_trn2.csv, serve_scenarios_trn2.yaml, scenarios_trn2.yaml): the rows
load with the other published files, each cites the AWS Neuron SDK repository at a commit, none is a fit
row, the mapped settings equal the values copied by hand from the tutorials, and the scored rows run."""

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
}
#: Trn2's default Logical NeuronCore Configuration (LNC 2): 8 physical NeuronCore-v3 per chip, 2 per logical core.
LOGICAL_CORES_PER_CHIP = 8 // 2


def test_rows_load_with_the_other_published_files():
    header = next(csv.reader(open(MEAS / "published_tpu_serve.csv", encoding="utf-8")))
    assert list(ROWS[0].keys()) == header
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) == 10
    shipped = rows_by_id()
    for r in ROWS:
        assert re.fullmatch(r"infer-trn2-\d{3}", r["id"]) and r["category"] == "infer"
        assert shipped[r["id"]]["value"] == r["value"]
        assert "trn2.48xlarge" in r["hardware"] and float(r["value"]) > 0 and r["notes"].strip()
    assert {r["id"] for r in serve.rows()} >= set(ids)


def test_every_row_cites_the_neuron_repository_at_a_commit_and_no_reserved_tutorial():
    for r in ROWS:
        src = r["source"]
        assert "github.com/aws-neuron/aws-neuron-sdk commit " in src, r["id"]
        assert re.search(r"\bcommit [0-9a-f]{40}\b", src), r["id"]
        assert re.search(r"\b20\d\d-\d\d-\d\d\b", src), r["id"]
        # RESERVED.md: the speculative-decoding tutorials for Llama 3.3 70B and Llama 3.1 405B on Trn2
        assert "trn2-llama3.3-70b-tutorial" not in src and "405b-speculative" not in src, r["id"]


def test_every_row_is_held_out():
    smap = serve.serve_map()
    for rid in BY_ID:
        assert rid not in serve.FIT_IDS and "set" not in smap[rid], rid
    # and no fitted parameter names one of them (the error bands list held-out residuals: not a fit)
    for path in (MEAS.parent / "estimate").glob("*.yaml"):
        if path.name == "error_bands.yaml":
            continue
        assert "infer-trn2-" not in path.read_text(encoding="utf-8"), path.name


def test_every_row_is_mapped_or_skipped_in_both_categories():
    smap, imap = serve.serve_map(), train.scenario_map()
    for rid in BY_ID:
        assert "skip" in imap[rid], rid  # the static-batch engine leaves serving rows to serve
        e = smap[rid]
        if rid in SCORED:
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
    assert scn["software"] == "neuron-inference"
    assert (scn["inference"]["input_tokens"], scn["inference"]["output_tokens"]) == (inp, out)
    assert e["load"] == {"kind": "closed_loop", "concurrency": conc} and e["convert"] == conv
    assert e["scheduler"]["max_num_seqs"] == conc  # the server's --max-num-seqs equals the client's concurrency
    cfg = parse_config(r["config"])
    if model == "llama-3.1-8b":
        assert (int(cfg["isl"]), int(cfg["osl"]), int(cfg["max_concurrency"])) == (inp, out, conc)
    else:
        assert (int(cfg["mean_input_tokens"]), int(cfg["mean_output_tokens"])) == (inp, out)
        assert int(cfg["num_concurrent_requests"]) == conc


def test_scored_rows_run_held_out():
    outs = {o.id: o for o in evaluate(["serve"], rows=[{**r, "category": "serve"} for r in ROWS])}
    for rid, o in outs.items():
        assert o.set == "held_out", rid
        assert (o.predicted is not None) == (rid in SCORED), (rid, o.skipped)
