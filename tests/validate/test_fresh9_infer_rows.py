"""The ninth unseen-data check, static-batch inference (published_fresh9_infer.csv, scenarios_fresh9.yaml): the 18 rows of
gaudi-perf's Llama 3.1 70B prefill table on Gaudi 2, each cited with the repository commit, URL and date, values
hand-copied below, every row mapped to a scenario that matches its source (model, card count, TP, lengths) with a first
score in the mapping header, and every row held out. The simulator is not run here."""

from __future__ import annotations

import re

from fabless.measurements import MEASUREMENTS_DIR
from fabless.validate import infer, serve, train
from fabless.validate.core import parse_config
from fabless.validate.hardware_map import preset_for_hardware
from tests.conftest import assert_unseen_rows_held_out, rows_of

FILE = "published_fresh9_infer.csv"
ROWS, BY_ID = rows_of(FILE)
COMMIT = "c088090a9ddb06f128fdb1e5c4a74ba9cd346447"
URL = "https://github.com/NAVER-INTEL-Co-Lab/gaudi-perf/blob/c088090a9ddb06f128fdb1e5c4a74ba9cd346447/prefill/README.md"
MAPPING = MEASUREMENTS_DIR / "scenarios_fresh9.yaml"

# NAVER-INTEL-Co-Lab/gaudi-perf prefill/README.md at c088090a, 'Results for Llama v3.1 70B (BF16)', batch 1:
# input length -> {TP degree: (Latency ms, Mean TFLOPS)}
TABLE = {
    1024: {2: (295, 557.2), 4: (170, 969.0), 8: (152, 1083.5)},
    2048: {2: (599, 558.0), 4: (308, 1084.8), 8: (173, 1936.1)},
    4096: {2: (1256, 549.5), 4: (653, 1057.4), 8: (350, 1973.2)},
    8192: {2: (2659, 552.3), 4: (1385, 1060.3), 8: (777, 1890.9)},
    16384: {2: (6080, 540.9), 4: (3143, 1046.6), 8: (1682, 1955.5)},
    32768: {2: (15999, 499.1), 4: (8065, 990.1), 8: (4367, 1828.4)},
}
IDS = {f"infer-fresh9-{1 + 3 * i + j:03d}": (L, tp) for i, L in enumerate(TABLE) for j, tp in enumerate((2, 4, 8))}


def test_the_file_loads_with_the_copied_values():
    assert set(BY_ID) == set(IDS) and len(ROWS) == 18
    for rid, (L, tp) in IDS.items():
        r = BY_ID[rid]
        cfg = parse_config(r["config"])
        lat, tflops = TABLE[L][tp]
        assert r["category"] == "infer" and float(r["value"]) == lat, rid
        assert int(cfg["tp"]) == tp == int(r["n_chips"]) and int(cfg["input_len"]) == L and int(cfg["batch"]) == 1, rid
        assert f"Mean TFLOPS {tflops}" in r["notes"] and "Synapse AI 1.17.0.495" in r["notes"], rid
        assert preset_for_hardware(r["hardware"])[0] == "gaudi2", rid


def test_the_table_is_consistent_by_hand():
    # Mean TFLOPS / TP = the README's 'Mean TFLOPS/HPU' column (e.g. 557.2 / 2 = 278.6), and the MFU is that over 432
    assert round(557.2 / 2, 1) == 278.6 and round(1083.5 / 8, 1) == 135.4
    assert round(278.6 / 432 * 100) == 64 and round(135.4 / 432 * 100) == 31
    # at a fixed length, more cards is faster, except nothing: latency falls with TP in every row of the table
    for by_tp in TABLE.values():
        assert by_tp[2][0] > by_tp[4][0] > by_tp[8][0]


def test_every_row_is_cited_with_commit_url_and_date():
    for r in ROWS:
        assert COMMIT in r["source"] and URL in r["source"] and "2024-12-25" in r["source"], r["id"]
        assert "aeb2bb64d28274ae214aeef27819684459b64d89" in r["source"], r["id"]
        assert "Held out" in r["notes"], r["id"]


def test_every_row_is_mapped_as_its_source_says_and_held_out():
    assert_unseen_rows_held_out(set(BY_ID), "-fresh9-")
    assert not set(BY_ID) & infer.FIT_IDS and not set(BY_ID) & set(serve.serve_map())
    m = train.scenario_map()
    for rid, (L, tp) in IDS.items():
        e = m[rid]
        assert "skip" not in e and "set" not in e, rid
        assert e["convert"] == "ttft_ms", rid
        s = e["scenario"]
        assert s["model"] == "llama-3.1-70b" and s["precision"] == "bf16", rid
        assert s["system"] == {"name": "gaudi2-8", "count": tp} and s["parallel"] == {"tp": tp}, rid
        assert s["inference"] == {"batch": 1, "input_tokens": L, "output_tokens": 1}, rid
    assert not any(rid in ids for ids in (train.software_by_row(),) for rid in BY_ID)


def test_first_scores_are_recorded_for_every_row():
    text = MAPPING.read_text()
    assert "First scores at commit c3c984e" in text
    for rid, (L, tp) in IDS.items():
        line = [ln for ln in text.splitlines() if ln.startswith(f"#   {rid} ")]
        assert len(line) == 1, rid
        assert f"tp {tp} " in line[0] and f"measured {float(TABLE[L][tp][0]):8.1f} ms" in line[0], rid
        assert re.search(r"[+-]\d+\.\d%$", line[0]), rid
