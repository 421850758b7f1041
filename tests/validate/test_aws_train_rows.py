"""The AWS Trainium training rows (published_aws_train.csv, scenarios_aws_train.yaml): sourced with
a commit and date, every row mapped with the settings its table and job script state (hand-copied
below), fit / held-out fixed by id, and the seq/s conversion checked by hand."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from fabless.validate import train
from fabless.validate.core import load_rows
from fabless.validate.hardware_map import preset_for_hardware

ROWS = [r for r in load_rows() if r["_file"] == "published_aws_train.csv"]
BY_ID = {r["id"]: r for r in ROWS}

# Hand-copied from the AWS Neuron training tables (aws-neuron-sdk general/benchmarks/trn1/*.csv at the
# row's commit): id -> (nodes, TP NeuronCores, PP, seq len, global batch, seq/s, Neuron version).
# The 2023-09-26 revision (a39020525f47) has no sequence-length column: 2048 is the job scripts' SEQ_LENGTH.
TABLE = {
    "train-awst-001": (32, 8, 4, 2048, 1024, 103, "2.14.0"),
    "train-awst-002": (32, 8, 8, 2048, 1024, 45.9, "2.14.0"),
    "train-awst-003": (32, 32, 8, 2048, 1024, 12.7, "2.13.0"),
    "train-awst-004": (32, 8, 4, 2048, 1024, 102, "2.16.0"),
    "train-awst-005": (32, 8, 8, 2048, 1024, 47, "2.16.0"),
    "train-awst-006": (32, 32, 8, 2048, 1024, 13.3, "2.15.2"),
    "train-awst-007": (16, 8, 1, 4096, 1024, 93.3, "2.16.0"),
    "train-awst-008": (32, 8, 4, 4096, 1024, 85.65, "2.16.0"),
    "train-awst-009": (32, 32, 4, 4096, 1024, 15.34, "2.16.0"),
    "train-awst-010": (32, 8, 4, 2048, 1024, 102.5, "2.17.0"),
    "train-awst-011": (32, 8, 8, 2048, 1024, 47.4, "2.17.0"),
    "train-awst-012": (16, 8, 1, 4096, 1024, 94.7, "2.17.0"),
    "train-awst-013": (32, 8, 4, 4096, 1024, 81.8, "2.17.0"),
    "train-awst-014": (32, 32, 4, 4096, 1024, 15.6, "2.17.0"),
    "train-awst-015": (32, 8, 4, 2048, 1024, 107.18, "2.18.0"),
    "train-awst-016": (32, 8, 8, 2048, 1024, 48.24, "2.18.0"),
    "train-awst-017": (32, 32, 8, 2048, 1024, 14.60, "2.18.0"),
    "train-awst-018": (16, 8, 1, 4096, 1024, 92.93, "2.18.0"),
    "train-awst-019": (32, 8, 4, 4096, 1024, 87.44, "2.18.0"),
    "train-awst-020": (32, 32, 4, 4096, 1024, 17.86, "2.18.0"),
    "train-awst-021": (16, 8, 1, 4096, 1024, 101.3, "2.20.0"),
    "train-awst-022": (32, 8, 8, 4096, 1024, 84.0, "2.20.0"),
    "train-awst-023": (32, 32, 8, 4096, 1024, 14.2, "2.20.0"),
    "train-awst-024": (32, 32, 1, 8192, 1024, 49.47, "2.20.0"),
    "train-awst-025": (32, 32, 8, 8192, 1024, 7.59, "2.20.0"),
    "train-awst-026": (16, 8, 1, 4096, 1024, 95.14, "2.21.0"),
    "train-awst-027": (32, 8, 8, 4096, 1024, 80.33, "2.21.0"),
    "train-awst-028": (32, 32, 8, 4096, 1024, 14.44, "2.21.0"),
    "train-awst-029": (32, 32, 1, 8192, 1024, 53.51, "2.21.0"),
    "train-awst-030": (32, 32, 8, 8192, 1024, 7.97, "2.21.0"),
    "train-awst-031": (32, 32, 1, 8192, 1024, 41.99, "2.21.0"),
    "train-awst-032": (32, 32, 8, 8192, 1024, 7.51, "2.22.0"),
}
# Hand-copied from the job scripts (gpt_23b.sh / gpt_46b.sh / gpt_175b.sh + train_setup.sh of
# neuronx-nemo-megatron; the neuronx-distributed llama scripts): recompute granularity and ZeRO stage.
SCRIPT = {"GPT3-23B": ("selective", 0), "GPT3-46B": ("full", 0), "GPT3-175B": ("selective", 0),
          "Llama2-7B": ("selective", 1), "Llama2-13B": ("selective", 1), "Llama2-70B": ("selective", 1),
          "Llama-3.1-8B": ("selective", 1), "Llama-3.1-70B": ("selective", 1)}


def test_the_file_holds_the_table_rows_on_trainium1():
    assert [r["id"] for r in ROWS] == sorted(TABLE)
    for r in ROWS:
        assert r["category"] == "train" and r["metric"] == "sequences/s (system)"
        assert preset_for_hardware(r["hardware"])[0] == "trainium1", r["id"]


def test_every_row_names_the_repository_a_commit_and_a_date():
    for r in ROWS:
        src = r["source"]
        assert "github.com/aws-neuron/aws-neuron-sdk" in src, r["id"]
        assert re.search(r"commit [0-9a-f]{12}, 20\d\d-\d\d-\d\d\)", src), (r["id"], src)
        assert r["notes"].strip(), r["id"]


@pytest.mark.parametrize("rid", sorted(TABLE))
def test_row_and_scenario_match_the_table_and_script(rid):
    nodes, tp_cores, pp, seq, gbs, value, version = TABLE[rid]
    r = BY_ID[rid]
    assert float(r["value"]) == value and int(r["n_chips"]) == nodes * 16
    assert f"nodes={nodes};" in r["config"] and f"TP={tp_cores} " in r["config"] and f"Neuron {version}" in r["config"]
    entry = train.scenario_map()[rid]
    assert "skip" not in entry and entry["convert"] == "sequences_per_s"
    s = entry["scenario"]
    assert s["system"] == {"name": "trn1-server", "count": nodes * 16}
    assert s["parallel"] == {"tp": tp_cores // 2, "pp": pp}  # 2 NeuronCores per Trainium1 chip
    rc, zero = SCRIPT[r["model_or_kernel"].replace(" pre-training", "")]
    assert s["training"] == {"global_batch": gbs, "micro_batch": 1, "seq_len": seq, "recompute": rc, "zero": zero}


def test_fit_rows_are_exactly_the_ids_one_mod_four():
    smap = train.scenario_map()
    fit = {i for i in TABLE if smap[i].get("set") == "fit"}
    assert fit == {i for i in TABLE if int(i[-3:]) % 4 == 1}
    assert fit <= train.FIT_IDS


def test_neuronx_distributed_rows_name_their_stack_and_nemo_rows_none():
    sw = train.software_by_row()
    for r in ROWS:
        nxd = "NeuronX Distributed" in r["config"]
        assert (sw.get(r["id"]) == "neuronx-distributed") == nxd, r["id"]


def test_gpt_configs_are_the_job_scripts_shapes():
    # gpt_23b.sh: HS 8192, 28 layers, 64 heads; gpt_46b.sh: 56 layers; FFN_HS = 4 x HS (test.sh).
    for rid, layers in (("train-awst-001", 28), ("train-awst-002", 56)):
        cfg = train.scenario_map()[rid]["model_config"]
        assert (cfg["n_layer"], cfg["n_embd"], cfg["n_head"], cfg["n_inner"]) == (layers, 8192, 64, 4 * 8192)
        assert cfg["n_head"] * cfg["head_dim"] == cfg["n_embd"]


def test_sequences_per_s_conversion_by_hand():
    # 1024 sequences in a 10 s step = 102.4 seq/s for the cluster, whatever the chip count.
    entry = train.scenario_map()["train-awst-007"]
    scn = SimpleNamespace(training=SimpleNamespace(global_batch=1024))
    est = SimpleNamespace(metrics={"step_time_s": 10.0}, chips=256)
    assert train.convert({"id": "train-awst-007"}, entry, scn, est) == pytest.approx(102.4, rel=1e-12)
