"""AWS p5.48xlarge collectives over EFA (published_aws_p5_comm.csv) and the p5-48xlarge preset fitted on them:
values hand-copied from the source's CSVs, every row cited with its commit, URL and date, the fit / held-out split
by the stated rule, and the preset's network checked by hand (3200 Gb/s / 8 GPUs; a large all-to-all across two
instances runs at its achievable EFA bandwidth)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fabless.errors import FablessError
from fabless.estimate.engine import resolve_system
from fabless.estimate.scenario import scenario_from_dict
from fabless.hardware.presets import load_system
from fabless.perf.collectives import load_params
from fabless.validate import comm
from fabless.validate.core import parse_config
from tests.conftest import load_script, rows_of

FILE = "published_aws_p5_comm.csv"
ROWS, BY_ID = rows_of(FILE)
SMALL, _ = rows_of("published_aws_p5_small_comm.csv")
MERGE = "e8c3ef8477617e5236e47747ed2b1273d4d50ff9"
COMMIT = "a77f70db668034b75db9a430b3cd718f59a6c232"

# crazyguitar/aws-gpu-communication-benchmark data/*.csv at a77f70db, column 'out busbw(GB/s)':
# (collective, nodes, size in MiB) -> busbw
COPIED = {
    ("all_reduce", 2, 32): 147.32,
    ("all_reduce", 32, 8192): 321.10,
    ("all_gather", 16, 2048): 265.15,
    ("all_gather", 32, 32): 12.38,
    ("all_to_all", 2, 2048): 79.25,
    ("all_to_all", 32, 32): 19.72,
}


def _key(r: dict) -> tuple[str, int, int]:
    cfg = parse_config(r["config"])
    return r["model_or_kernel"].split()[1], int(cfg["nodes"]), int(cfg["msg_size"].removesuffix("MiB"))


def test_the_file_holds_every_row_of_the_three_tables():
    # all-reduce 32 MiB-8 GiB (9 sizes), all-gather and all-to-all 32 MiB-2 GiB (7), each on 2, 4, 8, 16, 32 nodes
    assert len(ROWS) == 5 * (9 + 7 + 7) == 115
    assert [r["id"] for r in ROWS] == [f"comm-p5-{i:03d}" for i in range(1, 116)]
    keys = [_key(r) for r in ROWS]
    assert len(set(keys)) == len(keys)
    for r in ROWS:
        cfg = parse_config(r["config"])
        assert r["category"] == "comm" and r["metric"] == "busbw (GB/s)"
        assert int(cfg["nodes"]) * 8 == int(cfg["gpus"]) == int(r["n_chips"]) and cfg["per_node"] == "8"
        assert "p5.48xlarge" in r["hardware"] and float(r["value"]) > 0
    by_key = dict(zip(keys, ROWS))
    for key, value in COPIED.items():
        assert float(by_key[key]["value"]) == value, key


def test_every_row_cites_the_file_at_its_commit_with_a_date():
    for r in ROWS:
        src = r["source"]
        assert f"commit {COMMIT}, 2025-10-14" in src, r["id"]
        assert re.search(rf"https://github\.com/crazyguitar/aws-gpu-communication-benchmark/blob/{COMMIT}/data/nccl_\w+\.csv", src)
        assert "EFA" in r["hardware"] and "FI_PROVIDER=efa" in r["notes"]


def test_fit_rows_are_every_other_row_and_only_the_preset_is_fitted_on_them():
    fit = {r["id"] for r in ROWS[0::2]} | {r["id"] for r in SMALL}
    assert comm.FIT_IDS_SYSTEMS == fit and fit <= comm.FIT_IDS
    assert not fit & comm.FIT_IDS_SHIPPED  # data/perf/collectives.yaml's fit (comm.calibrate) never reads them
    raw = load_system("p5-48xlarge").provenance
    fitted_on = next(s.fitted_on for k, s in raw.items() if k.endswith("bw_efficiency"))
    assert set(fitted_on) == fit


def test_the_preset_is_an_hgx_h100_node_on_3200_gbps_of_efa():
    p5, dgx = load_system("p5-48xlarge"), load_system("dgx-h100")
    assert p5.chip.name == dgx.chip.name == "h100-sxm" and p5.chips_per_node == 8
    assert p5.scale_out_bytes_per_s == pytest.approx(3200e9 / 8 / 8)  # 3200 Gb/s per instance, 8 GPUs, bits -> bytes
    assert p5.scale_up == dgx.scale_up


def test_a_large_all_to_all_across_two_instances_runs_at_the_fitted_efa_bandwidth():
    # 2 GiB all-to-all on 16 GPUs in 2 instances: each GPU sends 8/16 of its buffer over its 50 GB/s of EFA, at the
    # all-to-all's fitted 82%, while the other 7/16 goes over NVLink at once (faster); the fixed costs (launch, one
    # 8.7 us step, 8 remote peers at 7.5 us) are under 0.5% of the ~26 ms. busbw = algbw x 15/16
    # = S / (0.5 S / (0.82 x 50 GB/s)) x 15/16 = 76.9 GB/s.
    row = next(r for r in ROWS if _key(r) == ("all_to_all", 2, 2048))
    assert comm.predict(row) == pytest.approx(0.82 * 50 / 0.5 * 15 / 16, rel=0.01)
    # on the InfiniBand preset the same row runs at the shipped scale-out efficiency instead
    ib = dict(row, hardware="NVIDIA H100 80GB SXM (2 nodes x 8)")
    assert comm.predict(ib) == pytest.approx(load_params().scale_out.bw_efficiency * 50 / 0.5 * 15 / 16, rel=0.01)


def test_a_small_all_to_all_pays_a_message_per_remote_peer():
    # 32 MiB all-to-all on 16 GPUs in 2 instances (comm-p5-081, a fit row): 8 remote peers at 7.5 us each = 60 us on
    # top of one network step (2.7 us wire + 6 us), against 8/16 x 32 MiB / (0.82 x 50 GB/s) = 409 us of EFA transfer
    # (NVLink's 7/16 goes at once and is faster). busbw = S / t x 15/16.
    row = next(r for r in ROWS if _key(r) == ("all_to_all", 2, 32))
    g, S = 16, 32 * 2**20
    launch = load_params().launch_latency_s
    t = launch + 8.7e-6 + 8 * 7.5e-6 + (g - 8) / g * S / (0.82 * 50e9)
    assert comm.predict(row) == pytest.approx(S / t * (g - 1) / g / 1e9, rel=1e-4)
    # the cost grows with the peers: at 32 instances (248 remote peers) it is 1.86 ms, more than twice the transfer
    big = next(r for r in ROWS if _key(r) == ("all_to_all", 32, 32))
    g = 256
    t_big = launch + 8.7e-6 + 248 * 7.5e-6 + (g - 8) / g * S / (0.82 * 50e9)
    assert comm.predict(big) == pytest.approx(S / t_big * (g - 1) / g / 1e9, rel=1e-4)


def test_the_shipped_network_is_the_fit_scripts_grid_minimum():
    fit = load_script("fit_p5_efa")
    so = load_system("p5-48xlarge").calibration.collectives.scale_out
    shipped = (so.bw_efficiency, so.simple_step_overhead_s, so.tree_chunk_bytes, so.a2a_bw_efficiency, so.peer_overhead_s)
    assert shipped == (0.83, 6.0e-6, 5 * 2**20, 0.82, 7.5e-6) and so.simple_only
    rows = fit.fit_rows()
    assert len(rows) == 58 + 4
    at = fit.loss(shipped, rows)
    assert all(at <= fit.loss(q, rows) for q in fit.neighbours(shipped))  # a minimum on the script's grid
    assert at < 0.4 * fit.loss(None, rows)  # and far better than the InfiniBand values (0.106 against 0.299)


def test_a_chip_alone_still_gets_the_dgx_preset():
    # p5-48xlarge is built from h100-sxm too; a scenario naming only the chip keeps DGX H100's InfiniBand network
    scn = scenario_from_dict({"model": "llama-3.1-8b", "system": {"chip": "h100-sxm", "count": 16},
                              "precision": "bf16", "parallel": {"tp": 8}, "training": {"global_batch": 32, "seq_len": 2048}})
    assert resolve_system(scn).name == "dgx-h100"


# ----------------------------------------------------------------------------- small messages (a second source)


def test_the_small_message_rows_are_the_printed_ones_with_their_software():
    # aws/aws-k8s-tester pull request #585, 'Results' on two p5.48xlarge: out-of-place time (us) of 16, 32, 64, 128 B
    # (the 8 B row is left out: its out-of-place time, 136.3 us, is twice its in-place one and every later row's)
    assert [(parse_config(r["config"])["msg_size"], float(r["value"])) for r in SMALL] == [
        ("16B", 69.29), ("32B", 69.08), ("64B", 69.10), ("128B", 68.37)]
    for r in SMALL:
        assert r["id"].startswith("comm-p5s-") and r["metric"] == "all-reduce time (us)" and r["n_chips"] == "16"
        assert "https://github.com/aws/aws-k8s-tester/pull/585" in r["source"] and MERGE in r["source"]
        assert "2025-02-19" in r["source"] and "NCCL_PROTO simple" in r["notes"] and "NCCL 2.22.3" in r["notes"]


def test_a_two_instance_small_all_reduce_by_hand():
    """16 B all-reduce on 2 p5.48xlarge, Simple end to end (the runs set NCCL_PROTO=simple; over EFA no other
    protocol runs): NCCL's NVLS-tree, the tree between the two instances one exchange each way, 2 network steps of
    2.7 us wire + 6 us; inside each instance the NVSwitch's reduce and multicast, NVLS's own latency and 2 NVLink
    Simple steps of 0.47 us wire + the shipped Simple step cost; plus the launch. Nothing of the size shows: 89.7 us by
    hand, against the 69.29 us measured (comm-p5s-001, a fit row of the preset): 29% slow. The NVLink Simple step
    (16 us) is fitted on one-node rows of 1 MiB and up, where it stands for the pipeline's fill as much as a hop;
    a one-node small all-reduce never runs Simple, so no single-node row sets what a Simple hop costs alone."""
    p = load_params()
    by_hand_s = (p.launch_latency_s + 2 * (2.7e-6 + 6e-6) + p.nvls_latency_s
                 + 2 * (0.47e-6 + p.scale_up.simple_step_overhead_s))
    assert by_hand_s == pytest.approx(89.7e-6, rel=0.002)
    row = SMALL[0]
    assert comm.predict(row) == pytest.approx(by_hand_s * 1e6, rel=1e-3)
    assert comm.predict(row) == pytest.approx(float(row["value"]), rel=0.30)


def test_p6_b200_takes_p5s_efa_network_and_its_rows():
    # systems/p6-b200.yaml: the same EFA software path as p5.48xlarge, so the same network calibration, read from that
    # preset (calibration_from), not copied; the dstack rows on two p6-b200 map to it, held out
    p5 = load_system("p5-48xlarge").calibration.collectives
    p6 = load_system("p6-b200")
    assert p6.calibration.collectives == p5
    assert p6.chip.name == "b200" and p6.scale_out.bandwidth_gbit_s_per_chip == 400
    for rid in ("comm-x-027", "comm-x-028"):
        row = next(r for r in comm.comm_rows() if r["id"] == rid)
        assert comm.system_for_row(row).name == "p6-b200" and rid not in comm.FIT_IDS


def test_a_system_gives_its_calibration_or_a_donor_not_both(tmp_path):
    text = (Path(__file__).resolve().parents[2] / "src" / "fabless" / "data" / "systems" / "p6-b200.yaml").read_text()
    bad = tmp_path / "both.yaml"
    bad.write_text(text + "calibration: {collectives: {launch_latency_s: 1.0e-5}}\n")
    with pytest.raises(FablessError, match="not both"):
        load_system(str(bad))
