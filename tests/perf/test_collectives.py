"""Collectives: hand-computed volumes and times, algorithm choice, errors, CLI,
parameter provenance, and the error on the held-out comm measurements."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

import numpy as np
import pytest
import typer
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from fabless.errors import FablessError
from fabless.hardware.presets import load_system
from fabless.perf import collectives as C
from fabless.perf.collectives_cli import collectives_app
from fabless.validate import comm
from tests.conftest import assert_one_line_error

# --------------------------------------------------------------------------- fixtures

CHIP = {
    "name": "test-chip", "display_name": "Test chip", "vendor": "Test", "kind": "gpu",
    "compute": {"cores": 1, "core_kind": "SM", "peak_tflops": {"bf16": 100}},
    "clock": {"boost_mhz": 1000},
    "memory": {"hbm": {"generation": "HBM3", "capacity_gb": 80, "bandwidth_gb_s": 3000}},
    "physical": {"process_node": "N5"},
}


def make_system(tmp_path: Path, *, bidir_gb_s: float, topology: str = "switch", size: int = 8,
                dims=None, nvls: bool = False, nic_gbit_s: float | None = 400, chips: int | None = None,
                up_latency_us: float = 1.0, out_latency_us: float = 5.0):
    chip = {**CHIP, "links": {"scale_up": {"technology": "test", "bidir_gb_s": bidir_gb_s}}}
    if nic_gbit_s:
        chip["links"]["scale_out"] = {"technology": "test NIC", "bandwidth_gbit_s": nic_gbit_s}
    su = {"size": size, "topology": topology, "in_network_reduction": nvls, "latency_us": up_latency_us}
    if dims:
        su["torus_dims"] = dims
    raw = {"name": f"t-{topology}-{size}", "display_name": "test", "chip": chip,
           "chips": chips or size, "chips_per_node": min(size, 8) if topology == "switch" else size, "scale_up": su}
    if nic_gbit_s:
        raw["scale_out"] = {"topology": "fat_tree", "latency_us": out_latency_us}
    path = tmp_path / f"{raw['name']}-{bidir_gb_s}-{nvls}-{nic_gbit_s}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_system(str(path))


#: Efficiency 1 and no latency anywhere: times are pure volume / bandwidth.
IDEAL = C.load_params().replace(
    launch_latency_s=0, scale_up__bw_efficiency=1, scale_up__simple_step_overhead_s=0, scale_up__ll_step_overhead_s=0,
    scale_out__bw_efficiency=1, scale_out__simple_step_overhead_s=0, scale_out__ll_step_overhead_s=0,
    nvls__bw_efficiency=1, nvls__latency_s=0, nvls__tree_bw_efficiency=1,
)
GB = 1e9


@pytest.fixture
def switch8(tmp_path):
    """8 chips on a switch, 100 GB/s each way per chip; NIC 400 Gbit/s = 50 GB/s."""
    return make_system(tmp_path, bidir_gb_s=200, up_latency_us=1e-9, out_latency_us=1e-9)


# --------------------------------------------------------------------------- hand-checked volumes


def test_bus_factors():
    assert C.bus_factor("all_reduce", 8) == pytest.approx(2 * 7 / 8)
    assert C.bus_factor("allgather", 4) == pytest.approx(3 / 4)
    assert C.bus_factor("reduce_scatter", 2) == pytest.approx(1 / 2)
    assert C.bus_factor("alltoall", 16) == pytest.approx(15 / 16)
    assert C.bus_factor("p2p", 2) == 1.0


def test_ring_allreduce_moves_2_n_minus_1_over_n(switch8):
    # 1 GB over 8 chips at 100 GB/s: 2 x 7/8 x 1e9 / 1e11 = 17.5 ms; busbw = link bandwidth
    r = C.collective_time("all_reduce", 1e9, 8, switch8, params=IDEAL)
    assert r.time_s == pytest.approx(0.0175)
    assert r.algorithm == "ring/simple"
    assert r.algbw_bytes_per_s == pytest.approx(1e9 / 0.0175)
    assert r.busbw_bytes_per_s == pytest.approx(100 * GB)


def test_allgather_and_reducescatter_move_n_minus_1_over_n(switch8):
    for kind in ("all_gather", "reduce_scatter"):
        r = C.collective_time(kind, 1e9, 4, switch8, params=IDEAL)
        assert r.time_s == pytest.approx(3 / 4 * 1e9 / (100 * GB))  # 7.5 ms
        assert r.busbw_bytes_per_s == pytest.approx(100 * GB)


def test_nvls_moves_one_plus_one_over_n(tmp_path):
    s = make_system(tmp_path, bidir_gb_s=200, nvls=True, up_latency_us=1e-9)
    r = C.collective_time("all_reduce", 1e9, 8, s, params=IDEAL)
    # (1 + 1/8) x 1e9 / 1e11 = 11.25 ms, faster than the ring's 17.5 ms
    assert r.algorithm == "nvls"
    assert r.time_s == pytest.approx(0.01125)
    assert r.busbw_bytes_per_s == pytest.approx(1.75 / 1.125 * 100 * GB)  # 155.6 GB/s: above the link rate
    # not for all-gather, and not on a switch that does not reduce
    assert C.collective_time("all_gather", 1e9, 8, s, params=IDEAL).algorithm == "ring/simple"


def test_efficiency_scales_bandwidth_term(switch8):
    half = IDEAL.replace(scale_up__bw_efficiency=0.5)
    assert C.collective_time("all_reduce", 1e9, 8, switch8, params=half).time_s == pytest.approx(0.035)


def test_latency_term_counts_ring_steps(tmp_path):
    s = make_system(tmp_path, bidir_gb_s=200, up_latency_us=2.0)
    p = IDEAL.replace(launch_latency_s=10e-6, scale_up__ll_step_overhead_s=1e-6, scale_up__simple_step_overhead_s=5e-6)
    r = C.collective_time("all_reduce", 0, 8, s, params=p)
    # empty message: launch + 2(n-1) LL steps of (hop 2 us + 1 us) = 10 + 14 x 3 = 52 us
    assert r.time_s == pytest.approx(52e-6)
    assert r.algorithm == "ring/ll" and r.bound == "latency"
    r = C.collective_time("all_gather", 0, 8, s, params=p)
    assert r.time_s == pytest.approx(10e-6 + 7 * 3e-6)


def test_p2p_and_alltoall_on_switch(switch8):
    assert C.collective_time("send_recv", 1e9, 2, switch8, params=IDEAL).time_s == pytest.approx(0.01)
    # all-to-all: 7/8 of the buffer leaves each chip: 8.75 ms
    assert C.collective_time("all_to_all", 1e9, 8, switch8, params=IDEAL).time_s == pytest.approx(0.00875)


def test_torus_rings_use_every_dimension(tmp_path):
    # 4x4 torus, chip 400 GB/s each way over 4 links: 100 GB/s per link per direction
    s = make_system(tmp_path, bidir_gb_s=800, topology="torus", size=16, dims=[4, 4], nic_gbit_s=None, up_latency_us=1e-9)
    r = C.collective_time("all_reduce", 1e9, 16, s, params=IDEAL)
    # reduce-scatter at the chip's full 400 GB/s: 15/16 x 1e9 / 4e11; all-reduce twice that
    assert r.time_s == pytest.approx(2 * 15 / 16 * 1e9 / 400e9)
    assert r.algorithm == "torus-rings/simple"
    # a group of 4 fills one dimension: a bidirectional ring at 2 x 100 GB/s
    r4 = C.collective_time("all_reduce", 1e9, 4, s, params=IDEAL)
    assert r4.time_s == pytest.approx(2 * 3 / 4 * 1e9 / 200e9)
    # a group of 2 is part of a dimension: a line, one link's rate
    r2 = C.collective_time("all_gather", 1e9, 2, s, params=IDEAL)
    assert r2.time_s == pytest.approx(1 / 2 * 1e9 / 100e9)


def test_torus_alltoall_pays_hop_distance(tmp_path):
    # ring of 8 (1-D torus): mean distance (0+1+2+3+4+3+2+1)/8 = 2 hops over 2 links of 100 GB/s
    s = make_system(tmp_path, bidir_gb_s=400, topology="ring", size=8, nic_gbit_s=None, up_latency_us=1e-9)
    r = C.collective_time("all_to_all", 1e9, 8, s, params=IDEAL)
    assert r.time_s == pytest.approx(1e9 * 2 / (2 * 100e9))


def test_fully_connected_direct(tmp_path):
    # 8 chips, 7 links each of 50 GB/s per direction (chip: 350 GB/s each way)
    s = make_system(tmp_path, bidir_gb_s=700, topology="fully_connected", size=8, nic_gbit_s=None, up_latency_us=1e-9)
    r = C.collective_time("all_reduce", 1e9, 8, s, params=IDEAL)
    assert r.time_s == pytest.approx(2 * (1e9 / 8) / 50e9)  # = 2 x 7/8 x 1e9 / 350e9
    # a group of 4 uses 3 of the 7 links
    r4 = C.collective_time("all_gather", 1e9, 4, s, params=IDEAL)
    assert r4.time_s == pytest.approx((1e9 / 4) / 50e9)
    assert C.collective_time("p2p", 1e9, 2, s, params=IDEAL).time_s == pytest.approx(1e9 / 50e9)


def test_groups_across_domains(switch8):
    # 2 domains of 8. Flat ring: 2 x 15/16 x 1e9 / min(100, 8 x 50) GB/s = 18.75 ms.
    # Hierarchical: 8.75 (RS in) + 2 x 1/2 x 1e9/8 / 50e9 = 2.5 (AR across) + 8.75 (AG in) = 20 ms.
    # Pipelined (tree-style streaming): the slowest phase, max(8.75 + 8.75, 2.5) = 17.5 ms.
    r = C.collective_time("all_reduce", 1e9, 16, switch8, params=IDEAL)
    assert r.time_s == pytest.approx(0.0175)
    assert r.algorithm.startswith("pipelined(") and r.span == "both"
    # all-gather cannot stream a reduction: the flat ring, 15/16 x 1e9 / 100 GB/s = 9.375 ms
    # (hierarchical: 7/8 x 1e9 / 100 GB/s in + 1/2 x 1e9/8 / 50 GB/s across = 10 ms)
    rg = C.collective_time("all_gather", 1e9, 16, switch8, params=IDEAL)
    assert rg.time_s == pytest.approx(0.009375) and rg.algorithm == "ring/simple"
    # one chip per domain: ring over the NICs, 2 x 15/16 x 1e9 / 50e9 = 37.5 ms (tree: 40 ms)
    rs = C.collective_time("all_reduce", 1e9, 16, switch8, placement="spread", params=IDEAL)
    assert rs.time_s == pytest.approx(0.0375) and rs.span == "scale_out"
    # all-to-all over 16: 8/16 of the buffer crosses the network at 50 GB/s = 10 ms (NVLink part 4.4 ms)
    ra = C.collective_time("all_to_all", 1e9, 16, switch8, params=IDEAL)
    assert ra.time_s == pytest.approx(0.01)
    # p2p across domains at the NIC rate
    assert C.collective_time("p2p", 1e9, 2, switch8, placement="spread", params=IDEAL).time_s == pytest.approx(0.02)


def test_plan_helper(switch8):
    inside = C.group_collective_time_s("all_reduce", 1e9, 8, switch8, within_domain=True, params=IDEAL)
    across = C.group_collective_time_s("all_reduce", 1e9, 8, switch8, within_domain=False, params=IDEAL)
    assert inside == pytest.approx(0.0175)
    assert across == pytest.approx(2 * 7 / 8 * 1e9 / 50e9)
    assert C.group_collective_time_s("all_reduce", 1e9, 1, switch8) == 0.0


# --------------------------------------------------------------------------- properties


def test_vectorised_equals_scalar(switch8):
    sizes = np.array([1e3, 1e5, 1e7, 1e9])
    vec = C.collective_time("all_reduce", sizes, 16, switch8)
    for i, s in enumerate(sizes):
        one = C.collective_time("all_reduce", float(s), 16, switch8)
        assert vec.time_s[i] == pytest.approx(one.time_s)
        assert vec.algorithm[i] == one.algorithm


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(C.KINDS), n=st.sampled_from([2, 4, 8, 16, 32]),
       a=st.floats(0, 1e10), b=st.floats(0, 1e10))
def test_time_grows_with_size_and_busbw_is_bounded(tmp_path_factory, kind, n, a, b):
    s = make_system(tmp_path_factory.mktemp("s"), bidir_gb_s=900, nvls=True)
    lo, hi = sorted((a, b))
    t_lo = C.collective_time(kind, lo, n, s).time_s
    t_hi = C.collective_time(kind, hi, n, s).time_s
    assert t_hi >= t_lo > 0
    if hi > 0 and kind != "all_reduce":  # only NVLS can beat the link rate, and only for all-reduce
        assert C.collective_time(kind, hi, n, s).busbw_bytes_per_s <= 450e9 * (1 + 1e-9)


# --------------------------------------------------------------------------- errors


def test_bad_inputs(tmp_path, switch8):
    torus = make_system(tmp_path, bidir_gb_s=800, topology="torus", size=16, dims=[4, 4], nic_gbit_s=None)
    with pytest.raises(FablessError, match="does not tile"):
        C.collective_time("all_reduce", 1e6, 6, torus)
    with pytest.raises(FablessError, match="no scale-out network"):
        C.collective_time("all_reduce", 1e6, 32, torus)
    with pytest.raises(FablessError, match="multiple of 8"):
        C.collective_time("all_reduce", 1e6, 12, switch8)
    with pytest.raises(FablessError, match="unknown collective 'allsum'"):
        C.collective_time("allsum", 1e6, 8, switch8)
    with pytest.raises(FablessError, match="bytes"):
        C.collective_time("all_reduce", -1, 8, switch8)
    with pytest.raises(FablessError, match="unknown placement"):
        C.collective_time("all_reduce", 1, 8, switch8, placement="random")


def test_bad_params_file(tmp_path):
    bad = tmp_path / "p.yaml"
    raw = yaml.safe_load(C._PARAMS_PATH.read_text())
    raw["scale_up"]["bw_efficiency"]["value"] = 1.5
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(FablessError, match=r"scale_up.bw_efficiency.*\(0, 1\]"):
        C.load_params(bad)


# --------------------------------------------------------------------------- parameters and data


def test_every_parameter_has_provenance():
    raw = yaml.safe_load(C._PARAMS_PATH.read_text())
    leaves = []

    def walk(node, path):
        if isinstance(node, dict) and "value" in node:
            leaves.append((path, node))
        elif isinstance(node, dict):
            for k, v in node.items():
                if not str(k).startswith("_"):
                    walk(v, f"{path}.{k}" if path else k)

    walk(raw, "")
    assert len(leaves) == len(C.load_params().flat())
    for path, node in leaves:
        assert node.get("source") and node.get("note"), path
        assert node.get("confidence") in {"verified", "derived", "estimate", "assumed", "calibrated"}, path
        if node["confidence"] == "calibrated":
            assert path.replace(".", "__") in comm.CALIBRATED or path.replace(".", "__") in comm.CALIBRATED_ELSEWHERE, path


def test_fit_rows_are_at_most_half_of_comm_rows():
    rows = comm.comm_rows()
    ids = {r["id"] for r in rows}
    assert comm.FIT_IDS <= ids
    assert len(comm.FIT_IDS) <= len(rows) / 2


def test_predict_scope():
    assert comm.predict({"id": "x", "category": "train", "hardware": "NVIDIA H100"}) is None
    assert comm.predict({"id": "x", "category": "comm", "hardware": "Some TPU", "metric": "busbw (GB/s)"}) is None


def _presets_present() -> bool:
    from fabless.hardware.presets import system_names

    return {"dgx-a100", "dgx-h100", "dgx-h200"} <= set(system_names())


needs_presets = pytest.mark.skipif(not _presets_present(), reason="dgx-a100/h100/h200 presets not shipped yet")


@needs_presets
def test_held_out_busbw_median_error_within_10_percent():
    # the InfiniBand / NVLink / ICI / RCCL rows; AWS EFA's rows (comm-p5-*, and the twelfth unseen batch's p5 rows,
    # fresh12_comm_scores.md) have their own bound below and their own scores file
    efa = {r["id"] for r in comm.comm_rows() if "p5.48xlarge" in r["hardware"]}
    table = [t for t in comm.error_table() if t["id"] not in efa]
    held = [abs(t["error"]) for t in table if t["set"] == "held_out" and t["metric"].startswith("busbw") and t["error"] is not None]
    assert len(held) >= 10
    assert statistics.median(held) <= 0.10, sorted(held)
    every = [abs(t["error"]) for t in table if t["set"] == "held_out" and t["error"] is not None]
    assert statistics.median(every) <= 0.10


@needs_presets
def test_held_out_efa_rows_within_12_percent():
    """nccl-tests over EFA on 2-32 AWS p5.48xlarge: the p5-48xlarge preset's fitted network gets the held-out rows'
    median within 12% (7.7% when fitted; 28% with the InfiniBand values, scripts/fit_p5_efa.py). A bound, not the
    goal: mid-size all-reduces over many instances stay 25-60% off (systems/p5-48xlarge.yaml)."""
    held = [abs(t["error"]) for t in comm.error_table() if t["id"].startswith("comm-p5-") and t["set"] == "held_out"]
    assert len(held) == 57 and statistics.median(held) <= 0.12


@needs_presets
def test_shipped_parameters_are_the_fit():
    """A refit from the shipped values does not find a materially better fit: the
    calibrated numbers in collectives.yaml are what calibrate() gives."""
    rows = comm.comm_rows()
    shipped = C.load_params()
    shipped_loss = sum(abs(e) for e in comm._log_errors([r for r in rows if r["id"] in comm.FIT_IDS_SHIPPED], shipped, None))
    _, refit_loss = comm.calibrate(rows, sweeps=4)
    assert refit_loss >= shipped_loss - 0.05


@needs_presets
def test_dgx_h200_allreduce_1gib_matches_measurement_scale():
    # comm-304 (held out): 463.58 GB/s busbw at 1 GiB on 8 H200
    r = C.collective_time("all_reduce", 2**30, 8, load_system("dgx-h200"))
    assert r.busbw_bytes_per_s / 1e9 == pytest.approx(463.58, rel=0.10)


@needs_presets
def test_mi300x_allreduce_plateau_is_amds_usable_xgmi_bandwidth():
    # AMD (ROCm blog, 2025-03-02): an xGMI link carries 64 GB/s per direction, about 48 GB/s usable.
    # A direct all-reduce on the 8-GPU mesh sends (S/8) to each of 7 peers twice, over 7 links at
    # once: time 2 (S/8) / 48 GB/s, bus factor 2 * 7/8, so busbw = 7 * 48 = 336 GB/s, less the
    # step and launch costs (under 1% at 8 GiB).
    r = C.collective_time("all_reduce", 8 * 2**30, 8, load_system("mi300x-8"))
    assert r.busbw_bytes_per_s / 1e9 == pytest.approx(7 * 48, rel=0.01)
    # and the measured plateau (comm-fresh-015, Azure ND MI300X v5: 316.8 GB/s) is within 7%
    assert r.busbw_bytes_per_s / 1e9 == pytest.approx(316.8, rel=0.07)


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def op_cli(cli, monkeypatch):
    """The `cli` fixture with `fabless op` mounted, whether or not fabless.cli has it yet."""
    import fabless.cli as fcli

    app = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
    app.add_typer(collectives_app, name="op")
    monkeypatch.setattr(fcli, "app", app)
    return cli


def test_cli_json(op_cli, switch8, tmp_path):
    path = tmp_path / "sys.yaml"
    path.write_text(yaml.safe_dump({**{k: v for k, v in switch8.model_dump().items() if k not in {"provenance", "chip"}},
                                    "chip": {k: v for k, v in switch8.chip.model_dump().items() if k != "provenance"}}))
    res = op_cli("op", "allreduce", "--system", str(path), "--chips", "8", "--bytes", "1GiB", "--json")
    assert res.code == 0, res.err
    data = res.json()
    assert {"time_s", "busbw_gbps", "algbw_gbps", "algorithm"} <= set(data)
    assert data["busbw_gbps"] == pytest.approx(data["algbw_gbps"] * 1.75)
    assert data["busbw_gbps"] == pytest.approx(C.collective_time("all_reduce", 2**30, 8, switch8).busbw_bytes_per_s / 1e9)
    sweep = op_cli("op", "alltoall", "--system", str(path), "--chips", "16", "--sweep", "--json").json()
    assert [r["bytes"] for r in sweep["sizes"]][0] == 1024 and sweep["sizes"][-1]["bytes"] == 16 * 2**30
    table = op_cli("op", "p2p", "--system", str(path), "--bytes", "1MiB")
    assert table.code == 0 and "p2p" in table.out


def test_cli_errors(op_cli, tmp_path):
    assert_one_line_error(op_cli("op", "allreduce", "--system", "no-such-system"), "unknown system")
    path = tmp_path / "s.yaml"
    make_system(tmp_path, bidir_gb_s=200)  # for its chip dict shape only
    path.write_text(yaml.safe_dump({"name": "s", "display_name": "s", "chip": {**CHIP, "links": {"scale_up": {"technology": "t", "bidir_gb_s": 200}}},
                                    "chips": 8, "chips_per_node": 8, "scale_up": {"size": 8, "topology": "switch", "latency_us": 1}}))
    assert_one_line_error(op_cli("op", "allreduce", "--system", str(path), "--bytes", "1XB"), "--bytes")
    assert_one_line_error(op_cli("op", "allreduce", "--system", str(path), "--chips", "16"), "no scale-out network")
    assert_one_line_error(op_cli("op", "p2p", "--system", str(path), "--chips", "4"), "two chips")


def test_cli_torus_shape(op_cli):
    # --shape is the group's extent per torus dimension: the same 8 v6e chips as a line of 8
    # take longer than the default 4x2 block, and match collective_time with that shape
    v6e = load_system("tpu-v6e-256")
    line = op_cli("op", "allreduce", "--system", "tpu-v6e-256", "--chips", "8", "--bytes", "16MiB", "--shape", "8x1", "--json")
    block = op_cli("op", "allreduce", "--system", "tpu-v6e-256", "--chips", "8", "--bytes", "16MiB", "--json")
    assert line.code == 0 and block.code == 0, line.err + block.err
    assert line.json()["time_s"] == pytest.approx(C.collective_time("all_reduce", 16 * 2**20, 8, v6e, group_shape=(8, 1)).time_s)
    assert line.json()["time_s"] > block.json()["time_s"]
    assert_one_line_error(op_cli("op", "allreduce", "--system", "tpu-v6e-256", "--chips", "8", "--shape", "4xa"), "--shape")
    assert_one_line_error(op_cli("op", "allreduce", "--system", "tpu-v6e-256", "--chips", "8", "--shape", "3x1"), "does not fit")


def test_help_has_examples():
    for cmd in collectives_app.registered_commands:
        assert "Example: fabless op" in (cmd.callback.__doc__ or ""), cmd.name


def test_published_csv_has_the_comm_rows_we_model():
    path = Path(C.__file__).parents[1] / "data" / "measurements" / "published.csv"
    with open(path, newline="") as fh:
        metrics = {r["metric"] for r in csv.DictReader(fh) if r["category"] == "comm"}
    assert "busbw (GB/s)" in metrics


# --------------------------------------------------------------------------- LL128, flat-ring latency


def test_ll128_protocol_by_hand(tmp_path):
    """NCCL's LL128: 120 of 128 bytes are data (0.92 of Simple's bandwidth) at a step cost between
    LL and Simple. 8 chips, 100 GB/s each way, hop 1 us, no launch: LL128 steps 1 us, LL 3 us,
    Simple 5 us on top of the hop."""
    s = make_system(tmp_path, bidir_gb_s=200, up_latency_us=1.0)
    p = IDEAL.replace(scale_up__ll_step_overhead_s=3e-6, scale_up__ll128_step_overhead_s=1e-6,
                      scale_up__simple_step_overhead_s=5e-6, scale_up__ll128_bw_fraction=0.92)
    # empty message: 14 ring steps x (1 + 1) us = 28 us (LL: 14 x 4 = 56 us, Simple 14 x 6 = 84 us)
    r = C.collective_time("all_reduce", 0, 8, s, params=p)
    assert r.time_s == pytest.approx(28e-6) and r.algorithm == "ring/ll128"
    # 1 MiB: 28 us + 2 x 7/8 x 1 MiB / (0.92 x 100 GB/s) = 28 + 19.95 us
    # (Simple: 84 + 18.35 us; LL: 56 + 55.05 us)
    r = C.collective_time("all_reduce", 2**20, 8, s, params=p)
    assert r.time_s == pytest.approx(28e-6 + 1.75 * 2**20 / 92e9) and r.algorithm == "ring/ll128"
    # a fabric whose library has no LL128 (fraction 0) falls back to LL / Simple
    r = C.collective_time("all_reduce", 0, 8, s, params=p.replace(scale_up__ll128_bw_fraction=0))
    assert r.time_s == pytest.approx(56e-6) and r.algorithm == "ring/ll"


def test_ll128_is_off_where_the_library_has_none():
    p = C.load_params()
    for tech in ("ICI (2D torus)", "NeuronLink v2", "Infinity Fabric (xGMI)"):
        fab, _, _ = C.scale_up_params(tech, p)
        assert fab.ll128_bw_fraction == 0.0, tech
    assert C.scale_up_params("NVLink 4", p)[0].ll128_bw_fraction == pytest.approx(0.92)


def test_flat_ring_latency_counts_network_hops_once_per_domain_and_pass(tmp_path):
    """A flat all-reduce ring over 2 domains of 8: 2(16-1) = 30 steps, of which the worst chunk
    crosses each of the 2 domain boundaries once per pass (2 x 2 = 4) at the network's step cost,
    the other 26 at the scale-up step cost (NCCL's tuner counts them the same way)."""
    s = make_system(tmp_path, bidir_gb_s=200, size=8, chips=16, up_latency_us=1.0, out_latency_us=5.0)
    p = IDEAL.replace(scale_up__ll_step_overhead_s=1e-6, scale_out__ll_step_overhead_s=2e-6)
    up = C._scale_up_fabric(s, 8, p)
    out = C._scale_out_fabric(s, 2, p)
    cands = {name: lat for name, lat, _ in C._spanning("all_reduce", np.array([0.0]), up, out, p)}
    assert cands["ring/ll"] == pytest.approx(26 * (1e-6 + 1e-6) + 4 * (5e-6 + 2e-6))
    # an all-gather ring: 15 steps, 2 of them across the network
    cands = {name: lat for name, lat, _ in C._spanning("all_gather", np.array([0.0]), up, out, p)}
    assert cands["ring/ll"] == pytest.approx(13 * 2e-6 + 2 * 7e-6)


def test_a_flat_simple_ring_advances_at_its_slower_fabrics_step(tmp_path):
    """Simple protocol, flat all-gather ring over 2 domains of 8 (15 steps, 2 across the network). Where NVLink is
    the ring's slower link, its 13 scale-up hops pay the scale-up step (1 us wire + 3 us); where the network is,
    every hop waits for the network's pace and pays a network step (5 us wire + 20 us). NIC: 400 Gbit/s = 50 GB/s
    per chip, 8 per domain = 400 GB/s per domain."""
    p = IDEAL.replace(scale_up__simple_step_overhead_s=3e-6, scale_out__simple_step_overhead_s=20e-6)
    for bidir_gb_s, intra_step_s in ((200, 1e-6 + 3e-6),  # 100 GB/s each way per chip < 400: scale-up paces
                                     (2000, 5e-6 + 20e-6)):  # 1000 GB/s each way > 400: the network paces
        s = make_system(tmp_path, bidir_gb_s=bidir_gb_s, size=8, chips=16, up_latency_us=1.0, out_latency_us=5.0)
        up, out = C._scale_up_fabric(s, 8, p), C._scale_out_fabric(s, 2, p)
        cands = {name: lat for name, lat, _ in C._spanning("all_gather", np.array([0.0]), up, out, p)}
        assert cands["ring/simple"] == pytest.approx(13 * intra_step_s + 2 * (5e-6 + 20e-6)), bidir_gb_s
        # NCCL has no hierarchical all-gather across NVSwitch nodes: the flat rings are the only candidates
        assert cands and all(n.startswith("ring/") for n in cands), sorted(cands)


def test_a_network_paced_ll_ring_hop_costs_the_slower_step(tmp_path):
    """LL protocol, the same flat all-gather ring over 2 domains of 8, the network the slower link (8 x 50 GB/s
    against 1000 GB/s). A scale-up hop costs the slower of its own LL step (1 us wire + 3 us) and the network's
    (1 us wire + 0.5 us): 4 us. With a network LL step of 20 us it costs 21 us, every hop at the network's pace."""
    s = make_system(tmp_path, bidir_gb_s=2000, size=8, chips=16, up_latency_us=1.0, out_latency_us=1.0)
    for out_ll_s, intra_step_s in ((0.5e-6, 1e-6 + 3e-6), (20e-6, 1e-6 + 20e-6)):
        p = IDEAL.replace(scale_up__ll_step_overhead_s=3e-6, scale_out__ll_step_overhead_s=out_ll_s)
        up, out = C._scale_up_fabric(s, 8, p), C._scale_out_fabric(s, 2, p)
        cands = {name: lat for name, lat, _ in C._spanning("all_gather", np.array([0.0]), up, out, p)}
        assert cands["ring/ll"] == pytest.approx(13 * intra_step_s + 2 * (1e-6 + out_ll_s)), out_ll_s


def test_a_tree_level_adds_the_fill_of_one_chunk(tmp_path):
    """An all-reduce across 4 domains of 8 on a network with a 2 MiB tree chunk: each of the tree's 2 log2(4) = 4
    levels adds min(S/8, 2 MiB) / (efficiency x 50 GB/s) to the path. At S = 8 MiB (1 MiB per chip) that is
    4 x 1 MiB / 50 GB/s = 84 us more than with no chunk; at S = 64 MiB (8 MiB per chip) the chunk caps it at
    4 x 2 MiB / 50 GB/s = 168 us."""
    s = make_system(tmp_path, bidir_gb_s=2000, size=8, chips=32, up_latency_us=1.0, out_latency_us=5.0)
    sizes = np.array([8.0, 64.0]) * 2**20
    with_chunk = IDEAL.replace(scale_out__tree_chunk_bytes=2 * 2**20)
    up, out = C._scale_up_fabric(s, 8, IDEAL), C._scale_out_fabric(s, 4, IDEAL)
    plain = {n: np.broadcast_to(lat, sizes.shape) for n, lat, _ in C._tree_inter("all_reduce", sizes / 8, out, IDEAL)}
    out_c = C._scale_out_fabric(s, 4, with_chunk)
    filled = {n: lat for n, lat, _ in C._tree_inter("all_reduce", sizes / 8, out_c, with_chunk)}
    added = filled["tree/simple"] - plain["tree/simple"]
    assert added == pytest.approx([4 * 2**20 / 50e9, 4 * 2 * 2**20 / 50e9])
    assert up.topology == "switch"


@needs_presets
def test_a_256_gpu_p5_all_gather_ring_by_hand():
    """2 GiB all-gather over 32 p5.48xlarge (256 H100s): EFA at 8 x 0.83 x 50 GB/s per instance is the ring's
    slower link (NVLink: 0.83 x 450 GB/s), so each of the flat ring's 255 steps takes a network step (2.7 us wire +
    the fitted 6 us), plus 255/256 of the buffer at the ring's rate: 8.67 ms by hand. The source measured 8.14 ms
    (busbw 262.77 GB/s, comm-p5-080, a held-out row): 6% less."""
    p5 = load_system("p5-48xlarge")
    p = C.params_for(p5)
    assert (p.scale_out.bw_efficiency, p.scale_out.simple_step_overhead_s) == (0.83, 6.0e-6)
    t = C.collective_time("all_gather", 2**31, 256, p5)
    by_hand = p.launch_latency_s + 255 * (2.7e-6 + 6e-6) + 255 / 256 * 2**31 / (8 * 0.83 * 50e9)
    assert t.algorithm == "ring/simple" and t.time_s == pytest.approx(by_hand, rel=1e-6)
    assert by_hand == pytest.approx(8.67e-3, rel=0.002)
    measured_s = 2**31 / 262.77e9 * 255 / 256
    assert t.time_s == pytest.approx(measured_s, rel=0.1)


@needs_presets
def test_a_job_on_part_of_a_tpu_pod_runs_on_a_compact_slice():
    """Cloud TPU slices are compact blocks (v4-32 = 16 chips: 2x2x4; v6e-16: 4x4); v4 and v5p slices from one 4x4x4
    cube on wrap around every dimension, smaller ones are meshes (Google Cloud TPU docs 'TPU v5p', 'TPU types and
    topologies'); on a 2D v6e pod only a dimension spanned whole wraps."""
    def sized(name: str, n: int):
        return load_system(name).resized(n)

    dims, wraps = C.slice_dims(sized("tpu-v4-pod", 16))
    assert sorted(dims) == [2, 2, 4]
    assert not any(wraps)
    dims, wraps = C.slice_dims(sized("tpu-v4-pod", 128))
    assert sorted(dims) == [4, 4, 8] and all(wraps)
    dims, wraps = C.slice_dims(sized("tpu-v6e-256", 16))
    assert dims == [4, 4] and wraps == [False, False]
    assert C.slice_dims(sized("tpu-v6e-256", 256)) is None  # the whole pod
    assert C.slice_dims(sized("trn1-server", 4)) is None  # NeuronLink: no slices, the group keeps the server's torus
    # a zero-byte all-reduce over all 16 chips costs its steps alone (ICI: no launch): on the 2x2x4 slice
    # 2 x (3 + 1 + 1) = 10 steps; packed as before into one whole 16-chip ring of the 16x16x16 pod it was 2 x 15 = 30
    v4 = sized("tpu-v4-pod", 16)
    step_s = v4.scale_up.latency_us * 1e-6 + C.params_for(v4).generation("ICI").simple_step_overhead_s
    assert C.collective_time("all_reduce", 0, 16, v4).time_s == pytest.approx(10 * step_s)
    assert C.collective_time("all_reduce", 0, 16, load_system("tpu-v4-pod")).time_s == pytest.approx(30 * step_s)


def test_neuronlink_collectives_pay_one_launch_and_a_step_per_hop():
    # trn1.32xlarge: a 4x4 NeuronLink torus, 2 us per hop. An 8-byte all-reduce over the 16 chips is
    # bidirectional rings along both dimensions: reduce-scatter + all-gather = 2 x (3 + 3) = 12 steps,
    # each the hop plus NeuronLink's step cost, and one fixed cost per collective (launch_latency_s).
    # inf2.48xlarge: a ring of 12, 2 x 11 = 22 steps, the same fixed cost.
    p = C.load_params().flat()
    step, launch = p["generations__neuronlink__simple_step_overhead_s"], p["generations__neuronlink__launch_latency_s"]
    assert 0 < launch < 1e-4  # a fitted per-collective cost of tens of microseconds (collectives.yaml)
    r = C.collective_time("all_reduce", 8, 16, load_system("trn1-server"))
    assert r.time_s == pytest.approx(launch + 12 * (2e-6 + step), rel=1e-4)
    r = C.collective_time("all_reduce", 8, 12, load_system("inf2-server"))
    assert r.time_s == pytest.approx(launch + 22 * (2e-6 + step), rel=1e-4)


@pytest.mark.parametrize("topology, dims", [("switch", None), ("fully_connected", None), ("torus", [2, 4])])
def test_a_fabrics_all_to_all_values_hold_on_every_topology(tmp_path, topology, dims):
    """A fabric's all-to-all values (``a2a_bw_efficiency``, ``peer_overhead_s``) apply to the direct all-to-all of
    whatever topology carries it: on 8 chips at 100 GB/s each way, 5 us per peer adds 7 x 5 us to an all-to-all, and
    an all-to-all fraction of 0.5 doubles its bandwidth time, while an all-gather's time is unchanged."""
    s = make_system(tmp_path, bidir_gb_s=200, topology=topology, dims=dims, up_latency_us=1e-9, nic_gbit_s=None)
    S = 64 * 2**20
    base = C.collective_time("all_to_all", S, 8, s, params=IDEAL).time_s
    peer = C.collective_time("all_to_all", S, 8, s, params=IDEAL.replace(scale_up__peer_overhead_s=5e-6)).time_s
    half = C.collective_time("all_to_all", S, 8, s, params=IDEAL.replace(scale_up__a2a_bw_efficiency=0.5)).time_s
    assert peer - base == pytest.approx(7 * 5e-6, rel=1e-6)
    assert half == pytest.approx(2 * base, rel=1e-3)
    ag = C.collective_time("all_gather", S, 8, s, params=IDEAL).time_s
    assert C.collective_time("all_gather", S, 8, s, params=IDEAL.replace(scale_up__a2a_bw_efficiency=0.5,
                                                                         scale_up__peer_overhead_s=5e-6)).time_s == ag


@needs_presets
def test_an_nvlink5_all_to_all_runs_at_its_own_fraction_of_the_links_by_hand():
    """NVLink 5 sets its all-to-all's own fraction (collectives.yaml generations.nvlink5.a2a_bw_efficiency): 4 GB200
    of one NVL72 tray at 8 GiB send (n-1)/n of the buffer over 900 GB/s each way per GPU, so the bus bandwidth is
    that fraction x 900 GB/s, less the launch and one step (about 12 us of the 10.5 ms); the ring all-reduce keeps the
    rings' fraction (x 900 GB/s), and Hopper's NVLink 4, which sets none, runs its all-to-all at the rings' fraction
    of 450 GB/s."""
    p = C.load_params().flat()
    a2a, ring = p["generations__nvlink5__a2a_bw_efficiency"], p["generations__nvlink5__bw_efficiency"]
    assert 0.6 < a2a < ring  # fitted on the NVL72 all-to-alls (566-662 GB/s against 679 at the rings' fraction)
    gb200 = load_system("gb200-nvl72")
    r = C.collective_time("all_to_all", 8 * 2**30, 4, gb200)
    assert r.busbw_bytes_per_s / 1e9 == pytest.approx(a2a * 900, rel=2e-3)
    r = C.collective_time("all_reduce", 8 * 2**30, 4, gb200)
    assert r.busbw_bytes_per_s / 1e9 == pytest.approx(ring * 900, rel=2e-3)
    h100 = C.collective_time("all_to_all", 8 * 2**30, 8, load_system("dgx-h100"))
    assert h100.busbw_bytes_per_s / 1e9 == pytest.approx(p["scale_up__bw_efficiency"] * 450, rel=2e-3)


@needs_presets
def test_a_two_p5_all_reduce_at_8_gib_runs_nvls_tree_by_hand():
    """8 GiB all-reduce on 2 p5.48xlarge (16 H100s). NCCL's NVLS-tree: inside each instance the NVSwitch reduces
    and multicasts, (1 + 1/8) x 8 GiB each way per GPU at NVLS-tree's NVLS efficiency 0.616 of NVLink 4's 450 GB/s
    (nvls.tree_bw_efficiency; one host alone reaches 0.68): 34.86 ms; between the instances each GPU exchanges its
    1/8 with its peer over its own 400 Gbit/s of EFA at the preset's 0.83: 25.87 ms. The phases stream chunks, so the
    slower one sets the time; the latencies are the launch (8.44 us), the two network steps (2 x (2.7 + 6) us) with
    the fill of one 5 MiB tree chunk each (2 x 5 MiB / (0.83 x 50 GB/s) = 253 us) and NVLS's own (30.55 us + 2
    NVLink steps of 0.47 + 16.18 us): 35.20 ms by hand. Before the NVLS-tree the intra-instance phases ran as rings
    (2 x 7/8 x 8 GiB at 0.83 x 450 GB/s = 40.3 ms). The source measured 33.72 ms (busbw 477.7 GB/s, fit row
    comm-p5-009, one of the two rows the NVLS-tree efficiency is fitted on: +4.4% here, comm-x-030 over InfiniBand
    -4.3% in time)."""
    p5 = load_system("p5-48xlarge")
    p = C.params_for(p5)
    so = p.scale_out
    assert (p.nvls_bw_efficiency, p.nvls_tree_bw_efficiency) == (0.68, 0.616)
    assert (so.bw_efficiency, so.simple_step_overhead_s, so.tree_chunk_bytes) == (0.83, 6.0e-6, 5 * 2**20)
    S = 2**33
    nvls_s = (1 + 1 / 8) * S / (0.616 * 450e9)
    network_s = S / 8 / (0.83 * 50e9)
    fill_s = 2 * 5 * 2**20 / (0.83 * 50e9)
    latency_s = (p.launch_latency_s + 2 * (2.7e-6 + 6e-6) + fill_s + p.nvls_latency_s
                 + 2 * (0.47e-6 + p.scale_up.simple_step_overhead_s))
    t = C.collective_time("all_reduce", S, 16, p5)
    assert t.algorithm.startswith("nvls-tree") and t.time_s == pytest.approx(latency_s + max(nvls_s, network_s), rel=1e-6)
    assert t.time_s == pytest.approx(35.20e-3, rel=0.001)
    measured_s = S * 2 * 15 / 16 / 477.7e9
    assert t.time_s == pytest.approx(measured_s, rel=0.07)
    # with NVLS off (algo=ring rows) the intra-instance phases are rings again and the pipelined tree is slower
    no_nvls = p5.model_copy(update={"scale_up": p5.scale_up.model_copy(update={"in_network_reduction": False})})
    t_ring = C.collective_time("all_reduce", S, 16, no_nvls)
    assert not t_ring.algorithm.startswith("nvls") and t_ring.time_s > 1.15 * t.time_s  # 41.0 ms against 35.2


def test_a_generation_value_editor_names_what_it_cannot_find():
    """The fit scripts rewrite one generation's value in a copy of collectives.yaml; a value the file does not
    hold (a generation without a launch latency of its own) is an error naming it, not a silent no-op."""
    text = Path(C._PARAMS_PATH).read_text()
    assert C.generation_value_in_text(text, "neuronlink", "launch_latency_s") == yaml.safe_load(text)["generations"]["neuronlink"]["launch_latency_s"]["value"]
    with pytest.raises(FablessError, match="generations.nvlink3.launch_latency_s"):
        C.with_generation_value_in_text(text, "nvlink3", "launch_latency_s", 1e-6)
