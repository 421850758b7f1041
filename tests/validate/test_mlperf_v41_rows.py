"""MLPerf Inference v4.1 serving rows of every submitter (published_mlperf_v41.csv) and the
TensorRT-LLM harness stack they ran (software.yaml ``trt-llm-mlperf-v4.1``)."""

from __future__ import annotations

import re

from fabless.estimate.software import default_software, software_stacks
from fabless.hardware.presets import load_chip
from fabless.validate import serve
from fabless.validate.core import load_rows

STACK = "trt-llm-mlperf-v4.1"


def _rows() -> dict[str, dict]:
    return {r["id"]: r for r in load_rows() if r["id"].startswith("infer-mlp41-")}


def _system(row: dict) -> tuple[str, str]:
    m = re.search(r"submitter (\S+), system (\S+) ", row["source"])
    return m.group(1), m.group(2)


def test_the_split_alternates_whole_systems_in_sorted_order():
    # the rule in serve_scenarios_mlperf_v41.yaml's header, re-derived from the CSV's sources:
    # systems sorted by (submitter, name), the 1st, 3rd, ... fit, every row of a system on one side
    rows = _rows()
    systems = sorted({_system(r) for r in rows.values()})
    fit_systems = set(systems[0::2])
    assert len(rows) == 53 and len(systems) == 16
    for rid, r in rows.items():
        assert (rid in serve.FIT_IDS) == (_system(r) in fit_systems), rid
    assert sorted(software_stacks()[STACK].fit_rows) == sorted(i for i in rows if i in serve.FIT_IDS)


def test_engine_settings_follow_the_rows_config():
    # gpu_batch -> max_num_seqs, max_num_tokens -> tokens per step, no context chunking (v4.1 harness)
    for rid, r in _rows().items():
        cfg = dict(kv.split("=", 1) for kv in r["config"].split(";"))
        e = serve.serve_map()[rid]
        sched = serve._sched(e)
        assert sched.max_num_seqs == int(cfg["gpu_batch"]) and sched.max_num_batched_tokens == int(cfg["max_num_tokens"])
        assert not sched.chunked_prefill
        assert e["instances"] * int(cfg["tp"]) == int(r["n_chips"]) and e["scenario"]["parallel"]["tp"] == int(cfg["tp"])
        assert e["scenario"]["software"] == STACK


def test_the_harness_stack_is_only_named_never_nvidias_default():
    s = software_stacks()[STACK]
    assert s.named_only and s.phase == "inference"
    assert default_software(load_chip("h100-sxm"), "inference").name != STACK
