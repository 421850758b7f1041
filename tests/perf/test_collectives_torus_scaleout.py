"""Hand checks of the torus collectives, the scale-out step cost and the link-generation
parameters of fabless.perf.collectives, and published figures with a stated tolerance."""

from __future__ import annotations

import pytest

from fabless.errors import FablessError
from fabless.hardware.presets import load_system
from fabless.perf import collectives as C
from fabless.validate import comm
from tests.perf.test_collectives import IDEAL, make_system

# ---------------------------------------------------------------------------- torus


@pytest.fixture
def torus16(tmp_path):
    """A 16x16 torus (TPU v6e pod shape): 800 GB/s per chip both ways over 4 links,
    so one link carries 100 GB/s each way; 1 us per hop."""
    return make_system(tmp_path, bidir_gb_s=800, topology="torus", size=256, dims=[16, 16],
                       nic_gbit_s=None, up_latency_us=1.0)


def test_2d_torus_allreduce_whole_slice_by_hand(torus16):
    # 256 chips close both dimensions: each dimension is a bidirectional ring at 2 x 100 GB/s.
    # The buffer is cut in 2 shares; share 0 reduce-scatters over dim 0 (15/16 of S/2) then
    # dim 1 (15/16 of S/32), share 1 the other way round, both at once:
    #   reduce-scatter = 15/16 x (1/2 + 1/32) x S / 200 GB/s, all-reduce twice that.
    S = 1e9
    r = C.collective_time("all_reduce", S, 256, torus16, params=IDEAL.replace(scale_up__simple_step_overhead_s=0))
    by_hand = 2 * (15 / 16) * (1 / 2 + 1 / 32) * S / 200e9
    # minus the 60 steps x 1 us of hop latency, the bandwidth time is the hand value
    assert r.time_s - 60 * 1e-6 == pytest.approx(by_hand, rel=1e-9)
    # ... which is the floor: each chip sends 2 x 255/256 x S over its 400 GB/s of links
    assert by_hand == pytest.approx(2 * 255 / 256 * S / 400e9)
    # steps: reduce-scatter and all-gather each take (16-1) + (16-1) ring steps
    tiny = C.collective_time("all_reduce", 1.0, 256, torus16, params=IDEAL)
    assert tiny.time_s == pytest.approx(2 * (15 + 15) * 1e-6, rel=1e-6)


def test_2d_torus_group_of_8_spans_two_axes(torus16):
    # 8 chips of a 16x16 pod sit as a 4x2 block (lines, no wrap-around): one link each way.
    # Share 0: 3/4 x S/2 over the 4-line, then 1/2 x S/8 over the 2-line; share 1: 1/2 x S/2,
    # then 3/4 x S/4: both 0.4375 S / 100 GB/s; all-reduce twice that = 8.75 ms for 1 GB.
    S = 1e9
    r = C.collective_time("all_reduce", S, 8, torus16, params=IDEAL.replace(scale_up__simple_step_overhead_s=0))
    steps = 2 * ((4 - 1) + (2 - 1))
    assert r.time_s - steps * 1e-6 == pytest.approx(2 * 0.4375 * S / 100e9, rel=1e-9)
    # the same 8 chips as a line along one axis use half the links: 2 x 7/8 x S / 100 GB/s
    line = C.collective_time("all_reduce", S, 8, torus16, params=IDEAL.replace(scale_up__simple_step_overhead_s=0),
                             group_shape=(8, 1))
    assert line.time_s - 2 * 7 * 1e-6 == pytest.approx(2 * 7 / 8 * S / 100e9, rel=1e-9)
    # the plan helper takes the same shape; its default is the compact block
    assert C.group_collective_time_s("all_reduce", S, 8, torus16, params=IDEAL, group_shape=(8, 1)) > \
        C.group_collective_time_s("all_reduce", S, 8, torus16, params=IDEAL)


def test_group_shape_errors(torus16, tmp_path):
    with pytest.raises(FablessError, match="does not fit"):
        C.collective_time("all_reduce", 1e6, 8, torus16, group_shape=(3, 1))
    with pytest.raises(FablessError, match="does not fit"):
        C.collective_time("all_reduce", 1e6, 8, torus16, group_shape=(4, 4))
    switch = make_system(tmp_path, bidir_gb_s=200)
    with pytest.raises(FablessError, match="torus"):
        C.collective_time("all_reduce", 1e6, 8, switch, group_shape=(8,))


def test_whole_dimensions_keep_wraparound(torus16):
    # 32 chips: one whole dimension (a ring, 2 links) x 2 along the other (a line, 1 link)
    dims = C._torus_dims(32, [16, 16])
    assert [(d.size, d.wrap) for d in dims] == [(16, True), (2, False)]
    assert [(d.size, d.wrap) for d in C._torus_dims(8, [4, 4, 4])] == [(4, True), (2, False)]
    assert [(d.size, d.wrap) for d in C._torus_dims(4, [16, 16, 16])] == [(2, False), (2, False)]
    assert [(d.size, d.wrap) for d in C._torus_dims(16, [4, 4])] == [(4, True), (4, True)]


# ---------------------------------------------------------------------------- scale-out steps


def test_internode_small_allreduce_is_steps_times_hop_plus_proxy_plus_launch(tmp_path):
    # one chip in each of 2 domains: a ring of 2 (or NCCL's tree on two domains, the same one
    # exchange each way) = 2 network steps, each the network's hop latency (5 us) plus the LL
    # step's proxy/RDMA cost (2 us); plus the 10 us launch.
    sys8 = make_system(tmp_path, bidir_gb_s=200, out_latency_us=5.0)
    p = IDEAL.replace(launch_latency_s=10e-6, scale_out__ll_step_overhead_s=2e-6,
                      scale_out__simple_step_overhead_s=30e-6, scale_out__bw_efficiency=1.0)
    r = C.collective_time("all_reduce", 8, 2, sys8, placement="spread", params=p)
    assert r.time_s == pytest.approx(10e-6 + 2 * (5e-6 + 2e-6), rel=1e-3)
    assert r.algorithm in ("ring/ll", "tree/ll") and r.bound == "latency"
    # the proxy cost is per network step: 4 domains -> a ring takes 6 steps, the double
    # binary tree 2 x log2(4) = 4 (it wins): 10 + 4 x 7 = 38 us
    r4 = C.collective_time("all_reduce", 8, 4, make_system(tmp_path, bidir_gb_s=200, size=8, chips=32, out_latency_us=5.0),
                           placement="spread", params=p)
    assert r4.time_s == pytest.approx(10e-6 + 4 * 7e-6, rel=1e-3)
    assert r4.algorithm == "tree/ll"


# ---------------------------------------------------------------------------- link generations


def test_link_generation_overrides_only_their_technology():
    p = C.load_params()
    fab5, nvls5, launch5 = C.scale_up_params("NVLink 5", p)
    fab4, nvls4, launch4 = C.scale_up_params("NVLink 4", p)
    gen5 = p.generation("NVLink 5")
    assert gen5 is not None and fab5.bw_efficiency == gen5.bw_efficiency and nvls5 == gen5.nvls_bw_efficiency
    assert fab4 == p.scale_up and nvls4 == p.nvls_bw_efficiency and launch4 == p.launch_latency_s
    ici, _, launch_ici = C.scale_up_params("ICI (2D torus, 16x16 pod)", p)
    assert launch_ici == 0.0 and ici.ll_step_overhead_s == ici.simple_step_overhead_s
    assert p.generation(None) is None
    # Infinity Fabric switches LL128 off (RCCL) and takes AMD's usable xGMI fraction (48 of 64 GB/s);
    # NVLink 4 keeps LL128 at NCCL's 0.92 and the fitted default efficiency
    xgmi, _, launch_x = C.scale_up_params("Infinity Fabric (xGMI)", p)
    assert xgmi.ll128_bw_fraction == 0.0 and fab4.ll128_bw_fraction == 0.92
    assert xgmi.bw_efficiency == pytest.approx(48 / 64) and fab4.bw_efficiency == p.scale_up.bw_efficiency
    assert xgmi.simple_step_overhead_s == p.scale_up.simple_step_overhead_s and launch_x == p.launch_latency_s


def test_generation_fields_round_trip_through_replace():
    p = C.load_params()
    q = p.replace(generations__nvlink5__bw_efficiency=0.5)
    assert q.generation("NVLink 5").bw_efficiency == 0.5
    assert q.generation("NVLink 5").nvls_bw_efficiency == p.generation("NVLink 5").nvls_bw_efficiency
    with pytest.raises(FablessError, match="unknown collective parameter"):
        p.replace(generations__nvlink4__bw_efficiency=0.5)


def test_generations_need_a_match(tmp_path):
    text = C._PARAMS_PATH.read_text().replace('match: "ICI"', "matches: ICI")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(FablessError, match="match"):
        C.load_params(bad)


# ---------------------------------------------------------------------------- published figures (held out)


def _row(row_id: str) -> dict:
    return next(r for r in comm.comm_rows() if r["id"] == row_id)


@pytest.mark.parametrize("row_id, tolerance", [
    # B200 2 nodes x 8 over EFA, 8 B all-reduce: 50.58 us; the p6-b200 preset takes p5-48xlarge's EFA network, Simple
    # end to end, and gives 64 us (the NVLink Simple steps, see test_aws_p5_comm_rows.py); a newer aws-ofi-nccl may
    # let NCCL run LL over EFA (its pull request #280), which the preset does not assume
    ("comm-x-027", 0.30),
    ("comm-x-026", 0.10),  # A100 2 nodes x 1 over HDR IB, 64 B all-reduce: 19.36 us
    # (comm-x-029, B200 2 nodes x 8 over IB at 8 GiB, is a fit row since stop 46: scale_out.bw_efficiency)
    ("comm-x-006", 0.10),  # GB200 4 GPUs, ring, 1 GiB: 646.87 GB/s busbw
    ("comm-x-034", 0.05),  # TPU v6e ppermute 64 MiB: 776.34 us
    ("comm-x-031", 0.05),  # TPU v5p ppermute 1 MiB: 16.94 us
    ("comm-x-024", 0.15),  # MI300X 2 nodes x 8, 16 GiB: 360.98 GB/s busbw
])
def test_held_out_published_figures(row_id, tolerance):
    assert row_id not in comm.FIT_IDS
    row = _row(row_id)
    assert comm.predict(row) == pytest.approx(float(row["value"]), rel=tolerance)


def test_v6e_tp8_allreduce_uses_both_axes():
    # TP=8 on a v6e pod: the 4x2 block moves each byte over two axes' links, so the bandwidth
    # term is half that of a line of 8 (same bytes, twice the links).
    v6e = load_system("tpu-v6e-256")
    S = 64 * 2**20
    block = C.collective_time("all_reduce", S, 8, v6e)
    line = C.collective_time("all_reduce", S, 8, v6e, group_shape=(8, 1))
    assert block.time_s < 0.6 * line.time_s


def test_torus_bandwidth_per_dimension_trn2_ultraserver():
    # Trn2 UltraServer 4x4x4: 512 GB/s per chip (both ways, 2 links) along each in-instance
    # dimension -> 128 GB/s per link each way, a ring of 256; 256 GB/s between instances ->
    # 64 per link, a ring of 128. Three shares of S/3; the slowest starts on the slow dimension:
    #   3/4 x S/3 / 128 + 3/4 x S/12 / 256 + 3/4 x S/48 / 256 GB/s per reduce-scatter.
    s = load_system("trn2-ultraserver")
    S = 1e9
    r = C.collective_time("all_reduce", S, 64, s, params=IDEAL.replace(scale_up__simple_step_overhead_s=0,
                                                                       generations__neuronlink__simple_step_overhead_s=0,
                                                                       generations__neuronlink__launch_latency_s=0))
    hops = 2 * 3 * (4 - 1) * s.scale_up.latency_us * 1e-6
    by_hand = 2 * 0.75 * (S / 3 / 128e9 + S / 12 / 256e9 + S / 48 / 256e9)
    assert r.time_s - hops == pytest.approx(by_hand, rel=1e-9)


def test_torus_dim_bandwidths_need_one_per_dimension(tmp_path):
    from pydantic import ValidationError

    from fabless.hardware.schema import ScaleUpDomain

    ScaleUpDomain(size=16, topology="torus", torus_dims=[4, 4], torus_dim_bidir_gb_s=[512, 512], latency_us=1)
    with pytest.raises(ValidationError, match="one bandwidth per entry"):
        ScaleUpDomain(size=16, topology="torus", torus_dims=[4, 4], torus_dim_bidir_gb_s=[512], latency_us=1)


def test_generation_match_is_a_whole_word():
    p = C.load_params()
    assert p.generation("NVLink5").key == "nvlink5" and p.generation("nvlink 3").key == "nvlink3"
    assert p.generation("ICI (3D torus)").key == "ici"
    assert p.generation("an efficient custom fabric") is None  # 'ici' inside a word
    assert p.generation("NVLink 50") is None
