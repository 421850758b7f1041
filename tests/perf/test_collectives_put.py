"""The one-sided put all-to-all (DeepEP's kernels, perf.collectives.put_all_to_all_time) by hand,
and the DeepEP rows of validate/comm.py that it predicts."""

from __future__ import annotations

import pytest

from fabless.perf import collectives as C
from fabless.validate import comm
from tests.perf.test_collectives import IDEAL, make_system

#: 30 us fixed cost, 80% of the scale-up links, 90% of the NIC for the kernel's RDMA writes: numbers easy to follow by hand.
P = IDEAL.replace(put__latency_s=30e-6, scale_up__bw_efficiency=0.8, put__bw_efficiency=0.9)
US = 1e-6


@pytest.fixture
def nodes(tmp_path):
    """8-chip switch domains, 900 GB/s both ways (450 each way), a 400 Gbit/s (50 GB/s) NIC;
    hop latency 1 us inside a domain, 5 us over the network; 64 chips."""
    return make_system(tmp_path, bidir_gb_s=900, size=8, chips=64, nic_gbit_s=400, up_latency_us=1.0, out_latency_us=5.0)


def test_put_all_to_all_in_one_domain_by_hand(nodes):
    # 8 chips: each sends 7/8 of its 16 MB buffer to its 7 peers at once over its 450 GB/s of
    # links at 80%, then one count; 30 us fixed + 1 us hop + 7/8 x 16e6 / 360e9 = 38.89 us.
    S = 16e6
    r = C.put_all_to_all_time(S, 8, nodes, params=P)
    assert r.time_s == pytest.approx(30 * US + 1 * US + 7 / 8 * S / 360e9, rel=1e-12)
    assert r.time_s == pytest.approx(69.889 * US, rel=1e-4)
    assert (r.algorithm, r.span, r.bound) == ("put", "scale_up", "bandwidth")


def test_put_all_to_all_no_protocol_no_launch(nodes):
    # No NCCL launch, no protocol step costs, no LL128: changing them leaves the time alone.
    S = 16e6
    base = C.put_all_to_all_time(S, 16, nodes, params=P).time_s
    other = P.replace(launch_latency_s=1e-3, scale_up__simple_step_overhead_s=1e-3, scale_out__simple_step_overhead_s=1e-3,
                      scale_up__ll128_step_overhead_s=1e-3, scale_up__ll128_bw_fraction=1.0)
    assert C.put_all_to_all_time(S, 16, nodes, params=other).time_s == base


def test_put_all_to_all_across_domains_by_hand(nodes):
    # 16 chips in 2 domains: 7/16 of S over NVLink (1 us + 7e6 / 360e9 = 20.4 us) and 8/16 over
    # the NIC (5 us + 8e6 / 45e9 = 182.8 us) at once; the network sets the time: 212.8 us.
    S = 16e6
    r = C.put_all_to_all_time(S, 16, nodes, params=P)
    assert r.time_s == pytest.approx(30 * US + 5 * US + 8 / 16 * S / 45e9, rel=1e-12)
    assert r.time_s == pytest.approx(212.78 * US, rel=1e-4)
    assert r.span == "both"
    # 64 chips: 56/64 of S over the NIC
    r64 = C.put_all_to_all_time(S, 64, nodes, params=P)
    assert r64.time_s - r.time_s == pytest.approx((56 / 64 - 8 / 16) * S / 45e9, rel=1e-12)


def test_put_all_to_all_array_and_edges(nodes):
    sizes = [0.0, 16e6]
    r = C.put_all_to_all_time(sizes, 8, nodes, params=P)
    assert r.time_s[0] == pytest.approx(31 * US) and list(r.bound) == ["latency", "bandwidth"]
    assert C.put_all_to_all_time(16e6, 1, nodes, params=P).time_s == 0.0
    with pytest.raises(C.FablessError, match="bytes"):
        C.put_all_to_all_time(-1.0, 8, nodes, params=P)


def _row(row_id: str) -> dict:
    return next(r for r in comm.comm_rows() if r["id"] == row_id)


def test_deepep_low_latency_row_by_hand():
    # comm-331: DeepEP V1 low-latency dispatch, ep 8 on one H800 node, 128 tokens x top-8, each
    # message a 7168-channel FP8 token + 56 fp32 scales + a 16-byte header = 7408 bytes. The
    # 98 GB/s its note gives is twice the 50 GB/s NIC, so the intranode peers went over NVLink
    # (400 GB/s both ways: 200 GB/s each way): the model sends 7/8 of the 7,585,792 bytes there.
    row = _row("comm-331")
    p = C.load_params()
    S = 128 * 8 * (7168 + 7168 / 128 * 4 + 16)
    assert S == 7_585_792
    by_hand = p.put_latency_s + 0.47e-6 + 7 / 8 * S / (p.scale_up.bw_efficiency * 200e9)
    assert comm.predict(row) == pytest.approx(by_hand * 1e6, rel=1e-9)


def test_deepep_low_latency_rows_slope_is_the_nic():
    # ep 16 -> 64 (2 -> 8 nodes): the network carries 8/16 then 56/64 of the same buffer, so the
    # difference is 3/8 x 7,585,792 B at the kernel's achievable fraction of the 50 GB/s NIC; the fixed cost cancels.
    # Measured: 177.9 - 123.9 = 54.0 us (pplx-garden's DeepEP-CX7 rows moe-a2a-024, -020; DeepEP's own tables: 55 us).
    # A known miss, written down: put.bw_efficiency (0.79) is shared with the normal kernel's RDMA rate
    # (moe-a2a-001, 38 GB/s), while the low-latency slope alone reads as the NIC's full rate, so the model's
    # slope is 25-40% steeper than measured.
    p = C.load_params()
    slope_s = (56 / 64 - 8 / 16) * 7_585_792 / (p.put_bw_efficiency * 50e9)
    diff_us = comm.predict(_row("moe-a2a-024")) - comm.predict(_row("moe-a2a-020"))
    assert diff_us == pytest.approx(slope_s * 1e6, rel=1e-9)
    assert 1.25 < diff_us / (177.9 - 123.9) < 1.4


@pytest.mark.parametrize("row_id, tolerance", [
    # DeepEP's own low-latency rows (shared/RESERVED.md keeps their tables for independent checks: never fitted on
    # since stop 46). The fit on others' runs of DeepEP puts them within 15%: ep 8 on one node (NVLink) 77 us comes
    # out 14.5% fast; ep 32, 128 and 256 (155, 192, 194 us) 8-11% slow
    ("comm-331", 0.15),
    ("comm-333", 0.15),
    ("comm-335", 0.15),
    ("comm-336", 0.15),
])
def test_deepep_low_latency_held_out_rows(row_id, tolerance):
    assert row_id not in comm.FIT_IDS
    row = _row(row_id)
    assert comm.predict(row) == pytest.approx(float(row["value"]), rel=tolerance)
