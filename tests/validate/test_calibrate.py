"""`fabless calibrate`: parsers, the fit of a user's rows, and the chip/system file it writes."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from fabless.hardware.presets import load_chip, load_system
from fabless.perf.collectives import collective_time, load_params, params_for
from fabless.perf.gemm import gemm_time
from fabless.perf.params import ChipParams
from fabless.validate.measured.calibrate import calibrate_files
from tests.conftest import assert_one_line_error

FIXTURES = Path(__file__).resolve().parents[2] / "examples" / "measurements"
NCCL_FIXTURE = FIXTURES / "a3mega-2x8-h100-all_reduce.txt"
GEMM_FIXTURE = FIXTURES / "xla-sm90-bf16-gemm.csv"

#: Parameter values the synthetic measurements are generated with (none is a shipped value).
KERNEL_TRUTH = {"mma_efficiency": 0.72, "hbm_efficiency": 0.8, "launch_overhead_s": 5e-6, "mma_8bit_ratio": 0.8,
                "gemm_exposed_steps": 0.5}
COMM_TRUTH = {"launch_latency_s": 1.5e-5, "scale_up__bw_efficiency": 0.7, "nvls__bw_efficiency": 0.6,
              "scale_up__simple_step_overhead_s": 8e-6, "scale_up__ll_step_overhead_s": 2e-6,
              "scale_up__ll128_step_overhead_s": 4e-6,
              "nvls__latency_s": 1.2e-5}
SHAPES = [(s, s, s) for s in (256, 512, 1024, 2048, 4096, 8192)] + [
    (1, 8192, 8192), (16, 8192, 8192), (64, 4096, 4096), (8192, 8192, 1024), (128, 128, 128),
    (8192, 8192, 128), (4096, 8192, 256), (16384, 4096, 384)]  # short K: a few K steps, where part of one shows


def _gemm_sweep(path: Path) -> Path:
    truth = ChipParams.from_chip(load_chip("h100-sxm")).replace(**KERNEL_TRUTH)
    with open(path, "w") as fh:
        fh.write("M,N,K,dtype,time_us\n")
        for dtype in ("bf16", "fp8"):
            for m, n, k in SHAPES:
                fh.write(f"{m},{n},{k},{dtype},{gemm_time(m, n, k, truth, dtype).time_s[0] * 1e6:.9g}\n")
    return path


def _nccl_text(binary: str, kind: str, ranks: int, times_s, sizes, per_node: int = 0) -> str:
    """A table laid out as nccl-tests prints it (count: elements of 4-byte floats per rank), the ranks on one host
    or ``per_node`` to a host."""
    lines = [f"# Collective test starting: {binary}", "# Using devices"]
    per = per_node or ranks
    lines += [f"#  Rank {r:2d} Group  0 Pid {100 + r:6d} on      node{r // per} device {r % per:2d} [0x{r:02x}] NVIDIA H100 80GB HBM3"
              for r in range(ranks)]
    lines += ["#", "#                                                out-of-place                       in-place",
              "#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong"]
    per = ranks if kind in ("all_gather", "reduce_scatter") else 1
    for s, t in zip(sizes, times_s):
        redop = "sum" if kind in ("all_reduce", "reduce_scatter") else "none"
        algbw = s / t / 1e9
        lines.append(f"{int(s):12d} {int(s) // 4 // per:13d}     float {redop:>7s}      -1 {t * 1e6:10.6g} {algbw:7.2f} "
                     f"{algbw:7.2f}      0 {t * 1e6:10.6g} {algbw:7.2f} {algbw:7.2f}      0")
    return "\n".join(lines) + "\n# Avg bus bandwidth    : 1.0\n"


def _nccl_sweeps(tmp_path: Path, system_name: str = "dgx-h100", truth: dict | None = None,
                 ranks_each: tuple[int, ...] = (4, 8), per_node: int = 0) -> list[str]:
    """All-reduce and all-gather sweeps of 8 B-8 GiB on ``system_name``, one file per group size, generated with the
    system's parameters and ``truth`` (default COMM_TRUTH) on top."""
    system = load_system(system_name)
    params = params_for(system).replace(**(COMM_TRUTH if truth is None else truth))
    sizes = np.array([2.0**i for i in range(3, 34)])
    out = []
    for binary, kind in (("all_reduce_perf", "all_reduce"), ("all_gather_perf", "all_gather")):
        for ranks in ranks_each:
            t = collective_time(kind, sizes, ranks, system, params=params).time_s
            path = tmp_path / f"{kind}-{ranks}.txt"
            path.write_text(_nccl_text(binary, kind, ranks, t, sizes, per_node=per_node))
            out.append(str(path))
    return out


# ----------------------------------------------------------------------------- recovery


def test_gemm_sweep_recovers_the_parameters_it_was_generated_with(tmp_path):
    cal = calibrate_files([str(_gemm_sweep(tmp_path / "sweep.csv"))], chip="h100-sxm")
    assert set(cal.kernel.fitted) == set(KERNEL_TRUTH)
    for name, value in KERNEL_TRUTH.items():
        assert cal.kernel.after[name] == pytest.approx(value, rel=0.02), name


def test_nccl_sweeps_recover_the_collective_parameters(tmp_path):
    cal = calibrate_files(_nccl_sweeps(tmp_path), system="dgx-h100")
    assert set(cal.comm.fitted) == set(COMM_TRUTH)
    for name, value in COMM_TRUTH.items():
        assert cal.comm.after[name] == pytest.approx(value, rel=0.02), name


#: An EFA-like network's values for the multi-node sweeps (none is the p5 preset's own).
NETWORK_TRUTH = {"scale_out__bw_efficiency": 0.78, "scale_out__simple_step_overhead_s": 1e-5,
                 "scale_out__tree_chunk_bytes": 3 * 2**20}


def test_multi_node_sweeps_recover_the_network_and_its_tree_chunk(tmp_path):
    """All-reduce and all-gather sweeps (8 B-8 GiB) on 2 and 4 p5.48xlarge, generated with NETWORK_TRUTH on top of
    the preset: the network's efficiency, its Simple step and the chunk a tree level waits for come back within 2%.
    The chunk shows only in the tree's all-reduces between 1 MiB and a few hundred MiB, where a level's fill is
    neither negligible nor hidden behind the transfer."""
    files = _nccl_sweeps(tmp_path, "p5-48xlarge", NETWORK_TRUTH, ranks_each=(16, 32), per_node=8)
    cal = calibrate_files(files, system="p5-48xlarge")
    assert set(NETWORK_TRUTH) <= set(cal.comm.fitted)
    for name, value in NETWORK_TRUTH.items():
        assert cal.comm.after[name] == pytest.approx(value, rel=0.02), name


def test_one_group_size_pins_only_the_latency_sums(tmp_path):
    """With 8 ranks only, every all-gather is a ring of 7 steps and every all-reduce is NVLS
    (the truth has NVLS faster at every size), so the small-size times give four sums:
    launch + 7 x (hop + step cost) for each of Simple, LL and LL128, and
    launch + NVLS latency + 2 x (hop + Simple step cost). Five unknowns in four sums: the fit
    must reproduce the sums (hand-derived from COMM_TRUTH below), whatever split it lands on."""
    cal = calibrate_files(_nccl_sweeps(tmp_path)[1::2], system="dgx-h100")  # the 8-rank files
    t, a = COMM_TRUTH, cal.comm.after
    launch = "launch_latency_s"
    for proto in ("simple", "ll", "ll128"):
        step = f"scale_up__{proto}_step_overhead_s"
        # 15 us + 7 x 8 us = 71 us (Simple), 15 + 7 x 2 = 29 us (LL), 15 + 7 x 4 = 43 us (LL128)
        assert a[launch] + 7 * a[step] == pytest.approx(t[launch] + 7 * t[step], rel=0.02), proto
    # 15 + 12 + 2 x 8 = 43 us
    assert (a[launch] + a["nvls__latency_s"] + 2 * a["scale_up__simple_step_overhead_s"]
            == pytest.approx(15e-6 + 12e-6 + 2 * 8e-6, rel=0.02))


# ----------------------------------------------------------------------------- public logs


def _median_error(pred, meas) -> float:
    return float(np.median(np.abs(np.asarray(pred) / np.asarray(meas) - 1)))


def test_public_gemm_table_error_falls_and_the_written_chip_carries_the_fit(tmp_path):
    out = tmp_path / "my-h100.yaml"
    cal = calibrate_files([str(GEMM_FIXTURE)], chip="h100-sxm")
    from fabless.validate.measured.calibrate import write

    write(cal, out)
    # measured times from the CSV, read here with the csv module (TFLOP/s -> seconds)
    with open(GEMM_FIXTURE) as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    shapes = [(int(r["m"]), int(r["n"]), int(r["k"]), int(r["batch"])) for r in rows]
    meas = [2 * m * n * k * b / (float(r["tflops"]) * 1e12) for (m, n, k, b), r in zip(shapes, rows)]

    def times(chip):
        p = ChipParams.from_chip(chip)
        return [float(gemm_time(m, n, k, p, "bf16", batch=b).time_s[0]) for m, n, k, b in shapes]

    before = _median_error(times(load_chip("h100-sxm")), meas)
    after = _median_error(times(load_chip(str(out))), meas)
    assert len(rows) == 40
    assert after < before / 2, (before, after)
    assert cal.summary()["median_abs_error_after"] == pytest.approx(after, rel=1e-3)


def test_public_nccl_log_error_falls_on_the_written_system(tmp_path):
    out = tmp_path / "my-dgx.yaml"
    from fabless.validate.measured.calibrate import write

    cal = calibrate_files([str(NCCL_FIXTURE)])  # the chip is read from the log's device lines
    assert cal.chip.name == "h100-sxm" and cal.system.name == "dgx-h100"
    write(cal, out)
    # the table's sizes and out-of-place times, read here with a plain split
    sizes, meas = [], []
    for line in NCCL_FIXTURE.read_text().splitlines():
        f = line.split()
        if f and f[0].isdigit():
            sizes.append(float(f[0]))
            meas.append(float(f[5]) * 1e-6)
    sizes, meas = np.array(sizes), np.array(meas)
    before = _median_error(collective_time("all_reduce", sizes, 16, load_system("dgx-h100")).time_s, meas)
    after = _median_error(collective_time("all_reduce", sizes, 16, load_system(str(out))).time_s, meas)
    assert len(sizes) == 31
    assert after < before / 2, (before, after)


# ----------------------------------------------------------------------------- the files it writes


def test_written_chip_file_is_accepted_by_validate_op_and_estimate(cli, tmp_path):
    sweep = _gemm_sweep(tmp_path / "sweep.csv")
    out = tmp_path / "my-h100.yaml"
    res = cli("calibrate", str(sweep), "--chip", "h100-sxm", "--out", str(out), "--json")
    assert res.code == 0, res.err
    body = res.json()
    assert body["target"] == "chip" and body["out"] == str(out)
    assert body["summary"]["median_abs_error_after"] < 0.001 < body["summary"]["median_abs_error_before"]
    assert cli("chips", "validate", str(out)).code == 0
    # op gemm on the written chip: the time the sweep was generated with
    res = cli("op", "gemm", "--chip", str(out), "-m", "4096", "-n", "4096", "-k", "4096", "--json")
    truth = ChipParams.from_chip(load_chip("h100-sxm")).replace(**KERNEL_TRUTH)
    assert res.json()["time_s"] == pytest.approx(float(gemm_time(4096, 4096, 4096, truth).time_s[0]), rel=0.02)
    est = cli("estimate", "--model", "llama-3.1-8b", "--chip", str(out), "--precision", "bf16", "--parallel", "tp=1",
              "--batch", "8", "--input-tokens", "512", "--output-tokens", "32", "--json")
    assert est.code == 0, est.err
    doc = yaml.safe_load(out.read_text())
    src = doc["calibration"]["mma_efficiency"]
    assert src["confidence"] == "calibrated" and "sweep.csv" in src["source"] and "nvidia-hopper" in src["note"]


def test_written_system_file_is_accepted_by_systems_validate_and_op(cli, tmp_path):
    out = tmp_path / "my-dgx.yaml"
    res = cli("calibrate", *_nccl_sweeps(tmp_path), "--system", "dgx-h100", "--out", str(out))
    assert res.code == 0, res.err
    assert cli("systems", "validate", str(out)).code == 0
    res = cli("op", "allreduce", "--system", str(out), "--chips", "8", "--bytes", "1GiB", "--json")
    truth = load_params().replace(**COMM_TRUTH)
    want = collective_time("all_reduce", float(2**30), 8, load_system("dgx-h100"), params=truth).time_s
    assert res.json()["time_s"] == pytest.approx(want, rel=0.02)


def test_chip_calibration_section_overrides_the_family_value(tmp_path):
    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "src/fabless/data/chips/h100-sxm.yaml").read_text())
    raw["calibration"] = {"mma_efficiency": {"value": 0.5, "source": "my bench", "confidence": "calibrated"}}
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(raw))
    p = ChipParams.from_chip(load_chip(str(path)))
    assert float(p.mma_efficiency[0]) == 0.5
    assert float(p.hbm_efficiency[0]) == float(ChipParams.from_chip("h100-sxm").hbm_efficiency[0])
    assert p.sources[0]["mma_efficiency"]["source"] == "my bench"
    # half the efficiency: a large compute-bound GEMM's main loop takes twice as long (the family's time per
    # wave outside the main loop, which the efficiency does not scale, left out of both)
    a = gemm_time(8192, 8192, 8192, p.replace(tile_overhead_s=0.0)).compute_s[0]
    b = gemm_time(8192, 8192, 8192, ChipParams.from_chip("h100-sxm").replace(tile_overhead_s=0.0)).compute_s[0]
    assert a / b == pytest.approx(0.778 / 0.5, rel=1e-9)  # the nvidia-hopper family value over 0.5


def test_system_calibration_section_overrides_collectives_yaml(tmp_path):
    path = tmp_path / "sys.yaml"
    path.write_text(yaml.safe_dump({"name": "mine", "display_name": "mine", "chip": "h100-sxm", "chips": 8,
                                    "chips_per_node": 8,
                                    "scale_up": {"size": 8, "topology": "switch", "in_network_reduction": True,
                                                 "latency_us": 1.0},
                                    "calibration": {"collectives": {"launch_latency_s": 4e-5,
                                                                    "scale_up": {"bw_efficiency": 0.5}}}}))
    system = load_system(str(path))
    p = params_for(system)
    assert p.launch_latency_s == 4e-5 and p.scale_up.bw_efficiency == 0.5
    assert p.nvls_bw_efficiency == load_params().nvls_bw_efficiency
    # a 2-chip transfer of 1 GiB: launch + step + bytes / (0.5 x 450 GB/s), the simple protocol
    t = collective_time("send_recv", float(2**30), 2, system).time_s
    assert t == pytest.approx(4e-5 + (1e-6 + p.scale_up.simple_step_overhead_s) + 2**30 / (0.5 * 450e9), rel=1e-9)


# ----------------------------------------------------------------------------- bad input


def _no_file(tmp_path):
    return [p.name for p in tmp_path.iterdir() if p.suffix == ".yaml"] == []


@pytest.mark.parametrize("body, fragments", [
    ("m,n,k,dtype,time_us\n1024,1024,abc,bf16,10\n", ("bad.csv:2", "'k'", "whole number")),
    ("m,n,k,dtype,time_us\n1024,1024,1024,bf17,10\n", ("bad.csv:2", "dtype", "bf17")),
    ("m,n,k,dtype,time_us\n1024,1024,1024,bf16,-3\n", ("bad.csv:2", "time_us", "more than 0")),
    ("m,n,k,dtype,time_us\n1024,1024,1024,bf16\n", ("bad.csv:2", "4 fields", "5")),
    ("m,n,k,time_us\n1024,1024,1024,10\n", ("bad.csv:1", "dtype")),
    ("m,n,k,dtype,time_us,tflops\n1,1,1,bf16,1,1\n", ("bad.csv:1", "exactly one")),
    ("hello\nworld\n", ("bad.csv", "--format")),
])
def test_malformed_gemm_csv_is_one_line_and_writes_nothing(cli, tmp_path, body, fragments):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    res = cli("calibrate", str(path), "--chip", "h100-sxm", "--out", str(tmp_path / "out.yaml"))
    assert_one_line_error(res, *fragments)
    assert _no_file(tmp_path)


def test_malformed_nccl_line_names_file_and_line(cli, tmp_path):
    text = NCCL_FIXTURE.read_text().replace("   1059.9   31.66", "   1O59.9   31.66")
    path = tmp_path / "bad.txt"
    path.write_text(text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "1O59.9" in ln)
    res = cli("calibrate", str(path), "--out", str(tmp_path / "out.yaml"))
    assert_one_line_error(res, f"bad.txt:{line}", "out-of-place time", "1O59.9")
    assert _no_file(tmp_path)


def test_nccl_table_that_does_not_say_its_collective_asks_for_it(cli, tmp_path):
    text = _nccl_text("x", "all_gather", 8, [1e-5], [2**20]).replace("# Collective test starting: x\n", "")
    path = tmp_path / "ag.txt"
    path.write_text(text)
    assert_one_line_error(cli("calibrate", str(path), "--system", "dgx-h100"), "ag.txt", "--collective")
    res = cli("calibrate", str(path), "--system", "dgx-h100", "--collective", "all_gather", "--json")
    assert res.code == 0, res.err
    assert res.json()["rows"][0]["what"].startswith("all_gather 8 x 1 MiB")


def test_gemm_rows_need_a_chip(cli, tmp_path):
    assert_one_line_error(cli("calibrate", str(GEMM_FIXTURE)), "--chip")


def test_bad_calibration_section_in_a_chip_file(cli, tmp_path):
    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "src/fabless/data/chips/h100-sxm.yaml").read_text())
    raw["calibration"] = {"mma_eficiency": 0.5}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert_one_line_error(cli("chips", "validate", str(path)), "calibration.mma_eficiency", "mma_efficiency")
    raw["calibration"] = {"mma_efficiency": 1.5}
    path.write_text(yaml.safe_dump(raw))
    assert_one_line_error(cli("chips", "validate", str(path)), "calibration.mma_efficiency", "1")


def test_shipped_comm_fit_unchanged_by_the_shared_routine():
    """validate.comm.calibrate now runs on validate.fit.coordinate_descent: its result on the
    shipped rows is still the shipped collectives.yaml (to its printed digits)."""
    from fabless.validate import comm

    p, loss = comm.calibrate()
    shipped = load_params().flat()
    for name in comm.CALIBRATED:
        assert p.flat()[name] == pytest.approx(shipped[name], rel=0.01), name
    assert math.isfinite(loss)


def test_a_ring_only_run_is_predicted_without_nvls(tmp_path):
    system = load_system("dgx-h100")
    ring = system.model_copy(update={"scale_up": system.scale_up.model_copy(update={"in_network_reduction": False})})
    sizes = np.array([2.0**i for i in (20, 26, 30)])
    text = _nccl_text("all_reduce_perf", "all_reduce", 8, [1e-3] * 3, sizes)
    path = tmp_path / "ring.txt"
    path.write_text("$ NCCL_ALGO=Ring ./all_reduce_perf -b 1M -e 1G -f 64 -g 8\n" + text)
    cal = calibrate_files([str(path)], system="dgx-h100")
    want = collective_time("all_reduce", sizes, 8, ring).time_s
    assert np.allclose(cal.comm.before_s[::2], want, rtol=1e-12)
    nvls = collective_time("all_reduce", sizes, 8, system).time_s
    assert not np.allclose(want, nvls)  # the switch's reduction would have been faster


def test_hosts_that_do_not_fill_a_scale_up_domain_are_refused(cli, tmp_path):
    text = _nccl_text("all_reduce_perf", "all_reduce", 16, [1e-3], [2**30])
    # 16 ranks on 4 hosts of 4 GPUs: not dgx-h100's domains of 8
    lines = [ln.replace("on      node0", f"on      node{int(ln.split()[2]) // 4}") if ln.startswith("#  Rank") else ln
             for ln in text.splitlines()]
    path = tmp_path / "4x4.txt"
    path.write_text("\n".join(lines) + "\n")
    assert_one_line_error(cli("calibrate", str(path), "--system", "dgx-h100"), "16 ranks on 4 hosts", "--system")


# ----------------------------------------------------------------------------- training and serving logs

TRAIN_SCENARIO = """model: llama-3.1-8b
system: {name: dgx-h100, count: 8}
precision: bf16
parallel: {tp: 1, pp: 1}
training: {global_batch: 64, micro_batch: 1, seq_len: 4096, recompute: selective, zero: 1}
"""
SERVE_SCENARIO = """model: llama-3.1-8b
system: {name: dgx-h100, count: 1}
precision: bf16
parallel: {tp: 1}
inference: {batch: 16, input_tokens: 1024, output_tokens: 128}
"""


def _with_framework_efficiency(value: float):
    from fabless.hardware.schema import ChipCalibration

    return load_chip("h100-sxm").model_copy(update={"calibration": ChipCalibration(framework_kernel_efficiency=value)})


def test_training_log_recovers_the_framework_efficiency(tmp_path):
    from fabless.estimate import estimate, load_scenario

    (tmp_path / "train.yaml").write_text(TRAIN_SCENARIO)
    step_s = estimate(load_scenario(str(tmp_path / "train.yaml")), chip=_with_framework_efficiency(0.6)).metrics["step_time_s"]
    lines = [f" [2026-12-03 10:00:{i:02d}] iteration {i:8d}/    1000 | consumed samples: {64 * i:12d} | "
             f"elapsed time per iteration (ms): {step_s * 1e3 * (3.0 if i == 1 else 1.0):.4f} | global batch size:    64 |"
             for i in range(1, 8)]  # the first iteration (start-up) is three times slower and dropped
    (tmp_path / "megatron.log").write_text("\n".join(lines) + "\n")
    cal = calibrate_files([str(tmp_path / "megatron.log")], scenario=str(tmp_path / "train.yaml"))
    assert cal.framework.fitted == ("framework_kernel_efficiency",)
    from fabless.estimate.software import default_software

    stack = default_software(load_chip("h100-sxm"), "training")  # what the estimate used before
    assert cal.framework.before["framework_kernel_efficiency"] == stack.framework_kernel_efficiency
    assert cal.framework.after["framework_kernel_efficiency"] == pytest.approx(0.6, rel=0.02)


def test_serving_results_recover_the_framework_efficiency_and_estimate_uses_it(cli, tmp_path):
    from fabless.estimate import estimate, load_scenario

    (tmp_path / "serve.yaml").write_text(SERVE_SCENARIO)
    m = estimate(load_scenario(str(tmp_path / "serve.yaml")), chip=_with_framework_efficiency(0.55)).metrics
    (tmp_path / "serve.txt").write_text(
        "============ Serving Benchmark Result ============\n"
        f"Median TTFT (ms):                        {m['ttft_s'] * 1e3:.5f}\n"
        f"Median TPOT (ms):                        {m['tpot_s'] * 1e3:.5f}\n")
    out = tmp_path / "mine.yaml"
    res = cli("calibrate", str(tmp_path / "serve.txt"), "--scenario", str(tmp_path / "serve.yaml"), "--chip", "h100-sxm",
              "--out", str(out), "--json")
    assert res.code == 0, res.err
    (p,) = res.json()["parameters"]
    assert p["after"] == pytest.approx(0.55, rel=0.02)
    est = cli("estimate", str(tmp_path / "serve.yaml"), "--chip", str(out), "--json")
    assert est.code == 0, est.err
    assert est.json()["tpot_s"] == pytest.approx(m["tpot_s"], rel=0.02)


def test_chip_calibration_replaces_the_software_stacks_efficiency():
    from fabless.estimate.optime import framework_op_time
    from fabless.estimate.software import default_software, with_chip_calibration
    from fabless.workload.ops import Norm

    plain = load_chip("h100-sxm")
    stack = default_software(plain, "inference")
    assert with_chip_calibration(stack, plain, "inference") is stack  # no calibration: the stack as it is
    mine = with_chip_calibration(stack, _with_framework_efficiency(0.5), "inference")
    assert mine.framework_kernel_efficiency == 0.5 and mine.name == stack.name
    assert mine.overlap_grad_reduce == stack.overlap_grad_reduce
    # a chip no stack covers: the engine-wide behaviour with the chip's own efficiency
    alone = with_chip_calibration(None, _with_framework_efficiency(0.5), "training")
    assert alone.framework_kernel_efficiency == 0.5 and alone.overlap_grad_reduce and not alone.overlap_tp_comm
    op = Norm(name="n", rows=1, hidden=8)
    # the efficiency slows the math (the chip's matrix and vector efficiencies times 0.5: an
    # operator's compute takes twice as long), not memory streaming or the fixed overhead
    from fabless.estimate.optime import _op_time, framework_chip

    base = ChipParams.from_chip(plain)
    half = framework_chip(base, 0.5)
    assert half.mma_efficiency[0] == base.mma_efficiency[0] * 0.5
    assert half.vector_efficiency[0] == base.vector_efficiency[0] * 0.5
    assert half.hbm_efficiency[0] == base.hbm_efficiency[0] and half.launch_overhead_s[0] == base.launch_overhead_s[0]
    big = Norm(name="n", rows=1, hidden=8 * 2**20)  # memory-bound: the same time at any efficiency
    assert _op_time(big, base, 0.5) == pytest.approx(_op_time(big, base, 1.0), rel=1e-12)
    assert framework_op_time(op, 2.0, 1.0, 0.25, None, eff=0.5) == 0.25 + 2.0  # compute is already at the framework's rate
    assert framework_op_time(op, 0.2, 1.0, 0.25, None, eff=0.5) == 0.25 + 1.0  # memory is not scaled


def test_log_without_scenario_and_wrong_scenario_kind(cli, tmp_path):
    (tmp_path / "m.log").write_text("iteration 1 | elapsed time per iteration (ms): 1200.0 |\n")
    assert_one_line_error(cli("calibrate", str(tmp_path / "m.log"), "--chip", "h100-sxm"), "m.log", "--scenario")
    (tmp_path / "serve.yaml").write_text(SERVE_SCENARIO)
    assert_one_line_error(cli("calibrate", str(tmp_path / "m.log"), "--scenario", str(tmp_path / "serve.yaml")),
                          "training scenario", "step_time_s")


def test_malformed_training_line_names_file_and_line(cli, tmp_path):
    (tmp_path / "train.yaml").write_text(TRAIN_SCENARIO)
    (tmp_path / "m.log").write_text("iteration 1 | elapsed time per iteration (ms): 1200.0 |\n"
                                    "iteration 2 | elapsed time per iteration (ms): nan |\n")
    res = cli("calibrate", str(tmp_path / "m.log"), "--scenario", str(tmp_path / "train.yaml"),
              "--out", str(tmp_path / "o.yaml"))
    assert_one_line_error(res, "m.log:2", "elapsed time per iteration", "nan")
    assert not (tmp_path / "o.yaml").exists()


def test_rccl_log_on_mi300x_finds_its_chip_and_system(tmp_path):
    """rccl-tests prints the same table; an AMD device line picks the MI300X preset and the
    system built from it."""
    sizes = np.array([2.0**i for i in (10, 20, 30)])
    text = _nccl_text("all_reduce_perf", "all_reduce", 8, [1e-4, 2e-4, 5e-3], sizes)
    path = tmp_path / "rccl.txt"
    path.write_text(text.replace("NVIDIA H100 80GB HBM3", "AMD Instinct MI300X"))
    cal = calibrate_files([str(path)])
    assert cal.chip.name == "mi300x" and cal.system.chip.name == "mi300x"
    want = collective_time("all_reduce", sizes, 8, cal.system).time_s
    assert np.allclose(cal.comm.before_s[::2], want, rtol=1e-12)


def test_serving_concurrency_must_match_the_scenario_batch(cli, tmp_path):
    (tmp_path / "serve.yaml").write_text(SERVE_SCENARIO)  # batch 16
    (tmp_path / "r.json").write_text('{"max_concurrency": 32, "median_ttft_ms": 400.0, "median_tpot_ms": 9.0}')
    res = cli("calibrate", str(tmp_path / "r.json"), "--scenario", str(tmp_path / "serve.yaml"), "--chip", "h100-sxm")
    assert_one_line_error(res, "r.json", "concurrency of 32", "inference.batch: 32")


def test_rows_faster_than_the_chip_allows_stop_at_a_bound_and_say_so(cli, tmp_path):
    """An 8192^3 bf16 GEMM in 0.5 ms is 2.2 PFLOP/s, above the A100's 312 TFLOP/s dense
    peak: no efficiency up to 1 reaches it, so the fit ends on the bound and warns."""
    path = tmp_path / "fast.csv"
    path.write_text("m,n,k,dtype,time_us\n8192,8192,8192,bf16,500\n4096,4096,4096,bf16,70\n")
    res = cli("calibrate", str(path), "--chip", "a100-sxm", "--json")
    assert res.code == 0, res.err
    mma = next(p for p in res.json()["parameters"] if p["parameter"] == "mma_efficiency")
    assert mma["fitted"] and mma["at_bound"] == 1.0
    res = cli("calibrate", str(path), "--chip", "a100-sxm")
    assert "stopped at its bound 1" in res.out


def test_a_link_generation_with_its_own_values_is_fitted_through_them(tmp_path):
    """hgx-b200's NVLink 5 has its own ring efficiency, step cost and NVLS efficiency in
    collectives.yaml; a B200 sweep fits the system's own values, which replace those."""
    from fabless.perf.collectives import scale_up_params

    system = load_system("hgx-b200")
    tech = system.chip.links.scale_up.technology
    truth = {"scale_up__bw_efficiency": 0.65, "nvls__bw_efficiency": 0.55, "launch_latency_s": 1.4e-5}
    gen = load_params().generation(tech)
    assert gen is not None and gen.bw_efficiency is not None and gen.nvls_bw_efficiency is not None
    # the truth, written into the generation's own fields by hand
    p = load_params().replace(**{f"generations__{gen.key}__bw_efficiency": 0.65,
                                 f"generations__{gen.key}__nvls_bw_efficiency": 0.55, "launch_latency_s": 1.4e-5})
    assert scale_up_params(tech, p)[0].bw_efficiency == 0.65
    sizes = np.array([2.0**i for i in range(10, 34, 2)])
    files = []
    # with NVLS on, an all-reduce pays launch + NVLS latency at every size (NVLS wins even at 1 KiB), so the
    # two trade off; the all-reduce run again with NVLS off (its rings' steps) is what tells the launch apart
    no_nvls = system.model_copy(update={"scale_up": system.scale_up.model_copy(update={"in_network_reduction": False})})
    for binary, kind, sysm, name in (("all_reduce_perf", "all_reduce", system, "all_reduce"),
                                     ("all_reduce_perf", "all_reduce", no_nvls, "all_reduce_ring"),
                                     ("all_gather_perf", "all_gather", system, "all_gather")):
        t = collective_time(kind, sizes, 8, sysm, params=p).time_s
        files.append(tmp_path / f"{name}.txt")
        text = _nccl_text(binary, kind, 8, t, sizes).replace("NVIDIA H100 80GB HBM3", "NVIDIA B200")
        files[-1].write_text(text if sysm is system else "# NCCL_NVLS_ENABLE=0\n" + text)
    cal = calibrate_files([str(f) for f in files], system="hgx-b200")
    for name, value in truth.items():
        assert name in cal.comm.fitted
        assert cal.comm.after[name] == pytest.approx(value, rel=0.02), name
    # the written system file carries them, and its collectives use them
    from fabless.validate.measured.calibrate import write

    write(cal, tmp_path / "mine.yaml")
    fab, nvls, launch = scale_up_params(tech, params_for(load_system(str(tmp_path / "mine.yaml"))))
    assert (fab.bw_efficiency, nvls, launch) == pytest.approx((0.65, 0.55, 1.4e-5), rel=0.02)


def test_all_to_all_sweeps_recover_each_fabrics_own_all_to_all_fraction(tmp_path):
    """All-to-all sweeps (1 MiB-8 GiB) fit the fraction a direct all-to-all reaches on each fabric, which the rings'
    rows say nothing about: on hgx-b200 (NVLink 5, whose generation sets its own 0.68) generated at 0.6, and on two
    p5.48xlarge (EFA, the preset's own value) generated at 0.7 across the network; the ring all-reduce run alongside
    keeps the rings' fraction apart. The written system file carries the value and its all-to-alls use it."""
    from fabless.perf.collectives import scale_up_params
    from fabless.validate.measured.calibrate import write

    sizes = np.array([2.0**i for i in range(20, 34)])
    for name, ranks, per_node, key, value in (("hgx-b200", 8, 0, "scale_up__a2a_bw_efficiency", 0.6),
                                              ("p5-48xlarge", 16, 8, "scale_out__a2a_bw_efficiency", 0.7)):
        system = load_system(name)
        base = params_for(system)
        if key.startswith("scale_up"):
            gen = base.generation(system.chip.links.scale_up.technology)
            truth = base.replace(**{f"generations__{gen.key}__a2a_bw_efficiency": value})
            assert scale_up_params(system.chip.links.scale_up.technology, truth)[0].a2a_bw_efficiency == value
        else:
            truth = base.replace(**{key: value})
        files = []
        for binary, kind in (("alltoall_perf", "all_to_all"), ("all_reduce_perf", "all_reduce")):
            t = collective_time(kind, sizes, ranks, system, params=truth).time_s
            files.append(tmp_path / f"{name}-{kind}.txt")
            files[-1].write_text(_nccl_text(binary, kind, ranks, t, sizes, per_node=per_node))
        cal = calibrate_files([str(f) for f in files], system=name)
        assert key in cal.comm.fitted
        assert cal.comm.after[key] == pytest.approx(value, rel=0.02), name
        out = write(cal, tmp_path / f"{name}-mine.yaml")
        mine = load_system(str(out))
        t_mine = collective_time("all_to_all", 2.0**33, ranks, mine).time_s
        t_truth = collective_time("all_to_all", 2.0**33, ranks, system, params=truth).time_s
        assert float(t_mine) == pytest.approx(float(t_truth), rel=0.02), name


def test_small_all_to_alls_over_many_peers_recover_the_cost_per_peer_message(tmp_path):
    """All-to-alls of 1 KiB-8 GiB over 2 and 4 p5.48xlarge (15 and 31 peers each, 8 and 24 of them remote), generated
    with the network's all-to-all fraction at 0.7 and its proxy's cost per peer message at 4 us (the preset's: 0.82,
    7.5 us), with a two-instance all-reduce alongside: both come back within 2%. The cost per peer is what the small
    sizes tell apart from the one step every all-to-all pays: it grows with the peers, the step does not."""
    system = load_system("p5-48xlarge")
    truth = params_for(system).replace(scale_out__a2a_bw_efficiency=0.7, scale_out__peer_overhead_s=4e-6)
    sizes = np.array([2.0**i for i in range(10, 34)])
    files = []
    for binary, kind, ranks in (("alltoall_perf", "all_to_all", 16), ("alltoall_perf", "all_to_all", 32),
                                ("all_reduce_perf", "all_reduce", 16)):
        t = collective_time(kind, sizes, ranks, system, params=truth).time_s
        files.append(tmp_path / f"{kind}-{ranks}.txt")
        files[-1].write_text(_nccl_text(binary, kind, ranks, t, sizes, per_node=8))
    cal = calibrate_files([str(f) for f in files], system="p5-48xlarge")
    for name, value in (("scale_out__a2a_bw_efficiency", 0.7), ("scale_out__peer_overhead_s", 4e-6)):
        assert name in cal.comm.fitted
        assert cal.comm.before[name] != pytest.approx(value, rel=0.1), name  # the fit had somewhere to go
        assert cal.comm.after[name] == pytest.approx(value, rel=0.02), name
    # NVLink's share of these all-to-alls hides behind the network's in every row: a probe far from the start
    # (a quarter of the efficiency) shows it, the fitted values do not, so it keeps its start and is not reported
    assert "scale_up__bw_efficiency" not in cal.comm.fitted
    assert cal.comm.after["scale_up__bw_efficiency"] == cal.comm.before["scale_up__bw_efficiency"]


def test_calibrate_names_parameters_the_rows_pin_only_in_combination(tmp_path):
    """An NVLS-on all-reduce sweep on hgx-b200 where NVLS wins at every size (the truth's LL and LL128 steps cost 6
    and 5 us, so no ring protocol undercuts it) pays launch + NVLS latency on every row, and the all-gather's Simple
    steps pin launch + 7 steps: a lower launch with a higher NVLS latency and Simple step fits as well. calibrate
    says which values trade off; with the NVLS-off all-reduce sweep added they are pinned apart and it says nothing."""
    system = load_system("hgx-b200")
    gen = load_params().generation(system.chip.links.scale_up.technology)
    p = load_params().replace(**{f"generations__{gen.key}__bw_efficiency": 0.65,
                                 f"generations__{gen.key}__nvls_bw_efficiency": 0.55, "launch_latency_s": 1.4e-5,
                                 "scale_up__ll_step_overhead_s": 6e-6, "scale_up__ll128_step_overhead_s": 5e-6})
    sizes = np.array([2.0**i for i in range(10, 34, 2)])
    no_nvls = system.model_copy(update={"scale_up": system.scale_up.model_copy(update={"in_network_reduction": False})})

    def sweep(name: str, binary: str, kind: str, sysm) -> str:
        t = collective_time(kind, sizes, 8, sysm, params=p).time_s
        text = _nccl_text(binary, kind, 8, t, sizes).replace("NVIDIA H100 80GB HBM3", "NVIDIA B200")
        (tmp_path / name).write_text(text if sysm is system else "# NCCL_NVLS_ENABLE=0\n" + text)
        return str(tmp_path / name)

    on = [sweep("ar.txt", "all_reduce_perf", "all_reduce", system), sweep("ag.txt", "all_gather_perf", "all_gather", system)]
    cal = calibrate_files(on, system="hgx-b200")
    assert {"launch_latency_s", "nvls__latency_s"} <= set(cal.comm.trade_off)
    launch = next(q for q in cal.parameters() if q["parameter"] == "launch_latency_s")
    assert "nvls__latency_s" in launch["trades_off_with"]
    both = on + [sweep("ar-ring.txt", "all_reduce_perf", "all_reduce", no_nvls)]
    cal = calibrate_files(both, system="hgx-b200")
    assert cal.comm.trade_off == ()
    assert all(q["trades_off_with"] == [] for q in cal.parameters())

