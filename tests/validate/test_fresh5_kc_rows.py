"""The fifth unseen-data check's collective rows (published_fresh5_kc.csv): each with its URL and a date and
the repository commit of the file it was read from, every value hand-copied below from its source, busbw
re-derived by hand from the printed algbw and rank count, every row either mapped to a system preset or skipped
with its reason, and none a fit row. No kernel row was collected in this batch (see fresh5_kc_scores.md). The
simulator is not run here: the first scores are in fresh5_kc_scores.md."""

from __future__ import annotations

import re

import pytest

from fabless.validate import comm, kernel
from fabless.validate.core import parse_config
from tests.conftest import assert_cited_only_by, assert_unseen_rows_held_out, rows_of

FILE = "published_fresh5_kc.csv"
ROWS, BY_ID = rows_of(FILE)

GIB = 2**30

# Hand-copied out-of-place rows: id -> (kind, ranks, nodes, size in bytes, time us, algbw, busbw, system)
# oracle-quickstart/oci-gpu-quickstarts nvidia/GB200/README-GB200.md (all-reduce and all-to-all sections;
# the 128- and 192-rank runs are listed in fresh5_kc_scores.md, not in the CSV: the comm model raises for them)
GB200_GUIDE = {
    "comm-fresh5-001": ("all_reduce", 4, 1, 4 * GIB, 9801.3, 438.20, 657.31),
    "comm-fresh5-002": ("all_reduce", 4, 1, 8 * GIB, 19424, 442.22, 663.34),
    "comm-fresh5-003": ("all_reduce", 64, 16, 4 * GIB, 9878.8, 434.77, 855.95),
    "comm-fresh5-004": ("all_reduce", 64, 16, 8 * GIB, 18967, 452.90, 891.64),
    "comm-fresh5-005": ("all_to_all", 4, 1, 4 * GIB, 5267.6, 815.35, 611.52),
    "comm-fresh5-006": ("all_to_all", 4, 1, 8 * GIB, 10470, 820.40, 615.30),
    "comm-fresh5-007": ("all_to_all", 8, 2, 8 * GIB, 11426, 751.78, 657.81),
    "comm-fresh5-008": ("all_to_all", 8, 2, 16 * GIB, 22698, 756.88, 662.27),
    "comm-fresh5-009": ("all_to_all", 64, 16, 4 * GIB, 7465.7, 575.29, 566.30),
    "comm-fresh5-010": ("all_to_all", 64, 16, 8 * GIB, 13574, 632.81, 622.92),
}
# same repository, amd/MI300X/README-MI300X.md: 'Large-message reference point' lines (16 GiB; no time printed)
MI300X_GUIDE = {
    "comm-fresh5-011": ("all_reduce", 8, 1, 16 * GIB, None, 188.65, 330.13),
    "comm-fresh5-012": ("all_reduce", 16, 2, 16 * GIB, None, 200.11, 375.21),
}
# same repository, amd/MI355X/README-MI355X.md: single-node all_reduce_perf rows (no MI355X system: skipped)
MI355X_GUIDE = {
    "comm-fresh5-013": ("all_reduce", 8, 1, 8 * GIB, 36956, 232.43, 406.76),
    "comm-fresh5-014": ("all_reduce", 8, 1, 16 * GIB, 73913, 232.43, 406.76),
}
ALL = {**GB200_GUIDE, **MI300X_GUIDE, **MI355X_GUIDE}
#: rows whose metric is the printed time (latency-bound sizes), not busbw: none in this file
TIME_ROWS: set[str] = set()

#: Rows collected but not predicted, with the reason.
SKIPPED: dict[str, str] = {
    "comm-fresh5-013": "AMD Instinct MI355X 8-GPU node: fabless.validate.comm.HARDWARE_SYSTEMS maps no MI355X system (mi300x-8 only for AMD)",
    "comm-fresh5-014": "AMD Instinct MI355X 8-GPU node: fabless.validate.comm.HARDWARE_SYSTEMS maps no MI355X system (mi300x-8 only for AMD)",
}

QS = "oracle-quickstart/oci-gpu-quickstarts"
SOURCES = {  # name -> (URL text, commit the row cites, date)
    "gb200": (f"https://github.com/{QS}/blob/6a0abdc78b574b28eb10926387615c8414ed8c1d/nvidia/GB200/README-GB200.md",
              "6a0abdc78b574b28eb10926387615c8414ed8c1d", "2026-04-10"),
    "mi300x": (f"https://github.com/{QS}/blob/6a0abdc78b574b28eb10926387615c8414ed8c1d/amd/MI300X/README-MI300X.md",
               "6a0abdc78b574b28eb10926387615c8414ed8c1d", "2026-04-10"),
    "mi355x": (f"https://github.com/{QS}/blob/6a0abdc78b574b28eb10926387615c8414ed8c1d/amd/MI355X/README-MI355X.md",
               "6a0abdc78b574b28eb10926387615c8414ed8c1d", "2026-04-10"),
}


def _source_of(rid: str) -> str:
    if rid in GB200_GUIDE:
        return "gb200"
    if rid in MI300X_GUIDE:
        return "mi300x"
    assert rid in MI355X_GUIDE, rid
    return "mi355x"


def test_the_file_holds_the_collected_rows():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) == len(ALL) == 14
    assert sorted(ids) == sorted(ALL)
    for r in ROWS:
        assert r["category"] == r["id"].split("-")[0] == "comm", r["id"]


def test_every_row_cites_its_url_and_date():
    for r in ROWS:
        url, commit, date = SOURCES[_source_of(r["id"])]
        assert url in r["source"], (r["id"], url)
        assert date in r["source"] and f"commit {commit}" in r["source"], r["id"]
        assert re.search(r"20\d\d-\d\d-\d\d", r["source"]), (r["id"], "no date")
        assert r["notes"].strip() and "Held out" in r["notes"], r["id"]


def test_no_reserved_or_already_cited_source():
    bad = ("ml-engineering", "flash-attention", "deepep", "perf-overview", "tpu-recipes", "ai-benchmarking-guide",
           "accelerator-microbenchmarks", "mlcommons", "maxtext", "tiering", "gpu-tpu-pedia", "google/dranet",
           "hisohara", "learn-cuda", "dstack", "marin", "triton-distributed", "coreweave", "crickett-hpe", "rocm-blogs",
           "rocm.blogs", "tritonbench", "jetstream-pytorch", "serving-llama-3-1-405b", "blogs.oracle.com")
    for r in ROWS:
        s = r["source"].lower()
        for b in bad:
            assert b not in s, (r["id"], b)
    # no earlier measurement file cites these publications
    assert_cited_only_by(FILE, ("oci-gpu-quickstarts", "oci-hpc-oke", "oracle-quickstart"))


def test_every_row_is_held_out_but_three_all_to_alls():
    # scored unseen first (fresh5_kc_scores.md); since stop 49 every other all-to-all from the first fits NVLink 5's
    # all-to-all fraction (comm.FIT_IDS_A2A_NVLINK5: the only all-to-all measurements on NVLink 5)
    ids = {r["id"] for r in ROWS}
    assert ids & (kernel.FIT_IDS | comm.FIT_IDS) == comm.FIT_IDS_A2A_NVLINK5 == {
        "comm-fresh5-005", "comm-fresh5-007", "comm-fresh5-009"}
    assert_unseen_rows_held_out(ids, "-fresh5-")


@pytest.mark.parametrize("rid", sorted(ALL))
def test_row_matches_the_source(rid):
    kind, n, nodes, size, t, algbw, busbw = ALL[rid]
    r = BY_ID[rid]
    cfg = parse_config(r["config"])
    assert int(r["n_chips"]) == int(cfg["gpus"]) == n
    label = cfg["msg_size"]
    mult = {"GiB": GIB, "MiB": 2**20, "KiB": 2**10}.get(label[-3:])
    assert (int(label[:-3]) * mult if mult else int(label[:-1])) == size
    if nodes == 1:
        assert "single node" in r["config"]
    else:
        assert int(cfg["nodes"]) == nodes and int(cfg["per_node"]) * nodes == n
    assert kind in r["model_or_kernel"]
    assert f"size {size} B" in r["notes"] or (size == 16 * GIB and "17179869184 bytes" in r["notes"])
    if rid in TIME_ROWS:
        assert r["metric"] == "all-reduce time (us)" and float(r["value"]) == t
    else:
        assert r["metric"] == "busbw (GB/s)" and float(r["value"]) == busbw
    if t is not None:
        assert f"time {t:g} us" in r["notes"] or f"time {t} us" in r["notes"], rid


def test_busbw_and_algbw_by_hand():
    # nccl-tests / rccl-tests: all-reduce busbw = algbw x 2(n-1)/n, all-to-all busbw = algbw x (n-1)/n
    assert 2 * 3 / 4 == 1.5 and 2 * 63 / 64 == 1.96875 and 2 * 15 / 16 == 1.875 and 127 / 128 == 0.9921875
    for rid, (kind, n, _, size, t, algbw, busbw) in ALL.items():
        factor = 2 * (n - 1) / n if kind == "all_reduce" else (n - 1) / n
        assert algbw * factor == pytest.approx(busbw, abs=0.02), rid
        if t is not None and size >= 2**20:
            assert size / (t * 1e-6) / 1e9 == pytest.approx(algbw, rel=0.005, abs=0.01), rid
    # the GB200 guide's '2 Nodes on a Single Rack' block: busbw / algbw says 64 ranks, not the --np 8 of its script
    assert 855.95 / 434.77 == pytest.approx(2 * 63 / 64, abs=1e-3)
    assert 855.95 / 434.77 != pytest.approx(2 * 7 / 8, abs=0.05)


def test_every_row_maps_or_is_skipped_with_a_reason():
    for r in ROWS:
        rid = r["id"]
        if rid in SKIPPED:
            assert len(SKIPPED[rid]) > 60, rid
            assert "Not predicted" in r["notes"], rid
            assert comm.system_for_row(r) is None, rid
            continue
        assert "Not predicted" not in r["notes"], rid
        system = comm.system_for_row(r)
        assert system is not None, rid
        assert system.name == ("mi300x-8" if rid in MI300X_GUIDE else "gb200-nvl72"), rid
    assert set(SKIPPED) == set(MI355X_GUIDE)


def test_the_scores_file_lists_every_row_once():
    from pathlib import Path

    import fabless

    text = (Path(fabless.__file__).parent / "data" / "measurements" / "fresh5_kc_scores.md").read_text()
    assert "first scores at commit 642a05b" in text.lower()
    for rid in ALL:
        assert text.count(f"| {rid} |") == 1, rid
