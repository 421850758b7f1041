"""DeepEP-style MoE all-to-all rows run by others than DeepEP's authors (published_moe_a2a.csv): the values are what
their sources print, the one-sided put fit reads these rows by its rule and no DeepEP table shared/RESERVED.md keeps,
and the rows whose RDMA writes a CPU thread posts are outside the put model. Figures hand-copied from
deepseek-ai/DeepEP issue #493 and pplx-garden's README table."""

from __future__ import annotations

import pytest

from fabless.perf.collectives import load_params
from fabless.validate import comm
from fabless.validate.core import parse_config
from tests.conftest import rows_of

ROWS, BY_ID = rows_of("published_moe_a2a.csv")

#: pplx-garden README, 'Decode (128 tokens) Dispatch and Combine', DeepEP-CX7 column: ep -> (dispatch, combine) us
PPLX_DEEPEP_CX7 = {16: (123.9, 203.0), 32: (159.1, 285.0), 64: (177.9, 325.0)}


def test_values_are_the_sources_figures():
    # issue #493's line: 'Best dispatch (FP8): SMs 24, NVL chunk 28, RDMA chunk 24: 38.19 GB/s (RDMA), 124.92 GB/s (NVL)'
    r = BY_ID["moe-a2a-001"]
    assert float(r["value"]) == 38.19 and r["metric"] == "bottleneck bandwidth (GB/s, RDMA)"
    assert "github.com/deepseek-ai/DeepEP/issues/493" in r["source"] and "2025-11-13" in r["source"]
    assert parse_config(r["config"])["ep"] == "16"
    for i, (ep, (dispatch, combine)) in zip((20, 22, 24), PPLX_DEEPEP_CX7.items()):
        d, c = BY_ID[f"moe-a2a-{i:03d}"], BY_ID[f"moe-a2a-{i + 1:03d}"]
        assert (float(d["value"]), float(c["value"])) == (dispatch, combine)
        assert (d["metric"], c["metric"]) == ("dispatch latency (us)", "combine latency (us)")
        assert parse_config(d["config"])["ep"] == str(ep) and "pplx-garden" in d["source"]
    for r in ROWS:
        assert r["category"] == "comm" and ("commit" in r["source"] or "20" in r["source"])


def test_the_put_fit_is_the_rule_s_rows_and_reads_no_deepep_table():
    # one for one: ep 16 normal FP8 dispatch for comm-328; ep 16 and 64 low-latency dispatch for comm-332 and -334
    fit = {i for i in comm.FIT_IDS if i.startswith("moe-a2a-")}
    assert fit == {"moe-a2a-001", "moe-a2a-020", "moe-a2a-024"}
    for i in ("comm-328", "comm-330", "comm-332", "comm-334"):
        assert i not in comm.FIT_IDS
    for r in ROWS:  # DeepEP's own tables: its docs/legacy.md and its README's performance section
        assert "DeepEP docs/legacy.md" not in r["source"] and "DeepEP README" not in r["source"], r["id"]
        assert "legacy.md" not in r["source"], r["id"]


def test_cpu_proxy_transports_are_out_of_scope():
    # UCCL-EP's proxy threads and NVSHMEM's IBRC post each RDMA write from the CPU: not the put model's GPU-initiated writes
    for r in ROWS:
        transport = parse_config(r["config"]).get("transport", "")
        if "cpu_proxy" in transport or "IBRC" in transport:
            assert comm.predict(r) is None, r["id"]


def test_the_low_latency_dispatch_by_hand():
    # ep 32 (held out): 128 tokens x 8 copies of (7168 B + 224 B of scales + a 16 B header) = 7.585 MB per GPU; 24 of
    # 32 peers are across the network: 7.585 MB x 24/32 over the 400 Gb/s NIC at put.bw_efficiency, plus the
    # network hop and put.latency_s
    p = load_params().flat()
    size = 128 * 8 * (7168 + 7168 / 128 * 4 + 16)
    by_hand = (p["put__latency_s"] + size * 24 / 32 / (p["put__bw_efficiency"] * 50e9)) * 1e6
    got = comm.predict(BY_ID["moe-a2a-022"])
    assert "moe-a2a-022" not in comm.FIT_IDS
    assert got == pytest.approx(by_hand, rel=0.05)  # the hop (a few us) and the NVLink leg are left out by hand
    assert got == pytest.approx(159.1, rel=0.15)
