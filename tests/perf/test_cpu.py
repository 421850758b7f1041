"""The CPU model (fabless/perf/cpu.py): hand-checked GEMM and decode bounds, the chip and system
files, the CLI paths that run it, and the one-line errors where an accelerator-only path is
given a CPU."""

from __future__ import annotations

import statistics

import pytest

from fabless.errors import InvalidInput
from fabless.estimate import estimate, load_scenario
from fabless.estimate.scenario import scenario_from_dict
from fabless.hardware.presets import load_chip, load_system
from fabless.perf.cpu import CpuParams, decode_step, gemm_time, prefill, weight_bytes, weight_format
from fabless.perf.params import ChipParams
from fabless.workload import load_model

G4_PEAK_BW = 536.7e9  # AnandTech's figure for 12 DDR5-5600 channels (12 x 5600e6 x 8 = 537.6e9)


def _g4(**params):
    return CpuParams.from_chip(load_chip("graviton4"), **params)


def test_llama_cpp_block_sizes():
    # ggml-common.h: block_q4_0 = {ggml_half d; uint8_t qs[QK4_0 / 2]}, QK4_0 = 32 -> 2 + 16 bytes;
    # block_q8_0 = {ggml_half d; int8_t qs[32]} -> 34 bytes; block_q6_K: 256 weights in 210 bytes.
    assert weight_format("q4_0").bytes_per_weight == 18 / 32
    assert weight_format("q8_0").bytes_per_weight == 34 / 32
    assert weight_format("q6_k").bytes_per_weight == 210 / 256


def test_gemm_compute_bound_by_hand():
    # Graviton4: 96 cores x 4 128-bit pipes x 16 bf16 MACs (BFMMLA) = 64 MACs/cycle/core at 2.8 GHz:
    # 96 x 64 x 2 FLOP x 2.8e9 = 34.41 TFLOPS; at gemm_efficiency 0.5 an 8192^3 GEMM takes
    # 2 x 8192^3 / (34.41e12 x 0.5) = 63.9 ms, and its DRAM traffic is far below that.
    cpu = _g4(gemm_efficiency=0.5)
    r = gemm_time(8192, 8192, 8192, cpu, "bf16")
    peak = 96 * 64 * 2 * 2.8e9
    assert r.bound == "compute"
    assert r.time_s == pytest.approx(2 * 8192**3 / (peak * 0.5), rel=1e-9)
    assert r.time_s == pytest.approx(63.9e-3, rel=2e-3)


def test_gemv_dram_bound_by_hand():
    # m = 1, 4096 x 4096 bf16 weight: 33.55 MB read from DRAM (A, B and C fit the 36 MB LLC: read
    # once), at 536.7 GB/s x 0.7 = 375.7 GB/s -> 89.3 us; the 33.5 MFLOP are nothing beside it.
    cpu = _g4(dram_efficiency=0.7, gemm_efficiency=0.5)
    r = gemm_time(1, 4096, 4096, cpu, "bf16")
    nbytes = 4096 * 2 + 4096 * 4096 * 2 + 4096 * 2
    assert r.bound == "memory"
    assert r.dram_bytes == nbytes
    assert r.time_s == pytest.approx(nbytes / (G4_PEAK_BW * 0.7), rel=1e-9)


def test_decode_dram_bound_by_hand():
    # Llama-3.1-8B in Q4_0: per layer q, o 4096x4096, k, v 4096x1024, gate/up/down 3 x 4096x14336
    # = 218,103,808 weights, x 32 layers = 6,979,321,856 at 18/32 byte; the 128256 x 4096 output
    # projection in Q6_K (210/256 byte). KV cache at 1 token: 2 x 32 x 8 x 128 x 2 bytes.
    layers = 32 * (2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336)
    assert layers == 6_979_321_856
    head = 128256 * 4096
    weights = layers * 18 / 32 + head * 210 / 256
    assert weights == pytest.approx(4_356_808_704)
    kv = 2 * 32 * 8 * 128 * 2
    # The dot products come after the stream (no overlap): 6,979,321,856 + 525,336,576 weights
    # plus 2 x 32 x 32 x 128 attention MACs (one query, one key) on 96 cores x 128 int8 MACs a
    # cycle x 2.8 GHz at gemv_efficiency 1.0; with no barrier cost the step takes every core.
    cfg = load_model("llama-3.1-8b")
    cpu = _g4(dram_efficiency=0.7, gemv_efficiency=1.0, barrier_s_per_core=0.0)
    step = decode_step(cfg, cpu, weight_format("q4_0"), batch=1, context=1, kv_bytes=2.0)
    macs = layers + head + 2 * 32 * 32 * 128
    compute = macs / (96 * 128 * 2.8e9)
    assert step.bound == "memory" and step.threads == 96
    assert step.dram_bytes == pytest.approx(weights + kv)
    assert step.memory_s == pytest.approx((weights + kv) / (G4_PEAK_BW * 0.7), rel=1e-9)
    assert step.compute_s == pytest.approx(compute, rel=1e-9)
    assert step.time_s == pytest.approx((weights + kv) / (G4_PEAK_BW * 0.7) + compute, rel=1e-9)
    assert step.time_s == pytest.approx(11.60e-3 + 0.2180e-3, rel=2e-3)
    assert weight_bytes(cfg, weight_format("q4_0")) == pytest.approx(weights)


def test_decode_stream_and_dot_products_add_by_hand():
    # Graviton4 Q4_0 8B at gemv_efficiency 0.1, dram_efficiency 0.9, no barrier: on 16 of the
    # 96 cores the dot products take 7,504,658,432 MACs / (16 x 128 x 2.8e9 x 0.1) = 13.09 ms
    # after the 4.357 GB stream's 4.357e9 / (536.7e9 x 0.9) = 9.02 ms; on 32 cores 6.54 ms:
    # 22.1 -> 15.6 ms, not the max() roofline's 13.1 -> 9.0 ms
    cfg, fmt = load_model("llama-3.1-8b"), weight_format("q4_0")
    macs = 32 * (2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336) + 128256 * 4096
    stream = 4_356_808_704 / (G4_PEAK_BW * 0.9)
    for cores, want_ms in ((16, 22.11), (32, 15.56)):
        cpu = CpuParams.from_chip(load_chip("graviton4"), cores=cores, dram_efficiency=0.9, gemv_efficiency=0.1,
                                  barrier_s_per_core=0.0)
        step = decode_step(cfg, cpu, fmt, batch=1, context=1, kv_bytes=0.0)
        dots = (macs + 2 * 32 * 32 * 128) / (cores * 128 * 2.8e9 * 0.1)
        assert step.time_s == pytest.approx(stream + dots, rel=1e-9)
        assert step.time_s == pytest.approx(want_ms * 1e-3, rel=2e-3)


def test_barrier_cost_by_hand():
    # 32 layers x 22 barriers x 96 cores x 45 ns = 2.92 ms a decode step, on top of the streaming
    cfg = load_model("llama-3.1-8b")
    cpu = _g4(barrier_s_per_core=45e-9)
    step = decode_step(cfg, cpu, weight_format("q4_0"), threads=96)
    assert step.sync_s == pytest.approx(32 * 22 * 96 * 45e-9)
    assert step.time_s == pytest.approx(step.compute_s + step.memory_s + step.sync_s)
    # left to choose, it takes fewer threads when the DRAM is the limit: never slower
    free = decode_step(cfg, cpu, weight_format("q4_0"))
    assert free.threads <= 96 and free.time_s <= step.time_s


def test_thread_count_is_the_square_root_of_work_over_barrier_by_hand():
    # Llama-3.1-8B Q4_0 on 96 Graviton4 cores, gemv_efficiency 0.1, 45 ns a core a barrier: one
    # core's dot products take (7,504,658,432 + 262,144 attention) MACs / (128 x 2.8e9 x 0.1) =
    # 0.20940 s, each thread adds 32 x 22 x 45 ns = 31.68 us of barriers; stream + work / n +
    # n x barrier is least at n = sqrt(0.20940 / 31.68e-6) = 81.3: 81 threads, not 96
    cfg = load_model("llama-3.1-8b")
    cpu = _g4(gemv_efficiency=0.1, barrier_s_per_core=45e-9)
    step = decode_step(cfg, cpu, weight_format("q4_0"), batch=1, context=1)
    work = (7_504_658_432 + 2 * 32 * 32 * 128) / (128 * 2.8e9 * 0.1)
    assert work == pytest.approx(0.20940, rel=1e-4)
    assert step.threads == 81
    assert step.compute_s == pytest.approx(work / 81, rel=1e-9)
    assert step.sync_s == pytest.approx(81 * 32 * 22 * 45e-9, rel=1e-9)


def test_prompt_gemms_stream_and_barriers_add_by_hand():
    # Llama-3.1-8B Q8_0, 128-token prompt on 4 of Graviton3's 64 cores (2 x 256-bit SVE pipes x
    # 64 int8 MACs = 128 MACs/cycle/core at 2.6 GHz), gemm_efficiency 0.2, dram_efficiency 0.8,
    # 45 ns barriers: GEMMs 128 x 6,979,321,856 + 525,336,576 (the output projection, last token
    # only) MACs / (4 x 128 x 2.6e9 x 0.2) = 3.3574 s; causal attention 2 x 32 x 32 x 128 x 128 x
    # 64.5 MACs at the fp32 rate (4 x 16 x 2.6e9 x 0.2) = 0.0650 s; the Q8_0 weights (34/32 byte,
    # the output projection too) once at 307.2e9 x 0.8 plus the f16 KV of 128 tokens = 0.0325 s;
    # barriers 32 x 22 x 4 x 45 ns -> 128 / 3.4551 s = 37.05 tokens/s
    cfg = load_model("llama-3.1-8b")
    cpu = CpuParams.from_chip(load_chip("graviton3"), gemm_efficiency=0.2, dram_efficiency=0.8, barrier_s_per_core=45e-9)
    step = prefill(cfg, cpu, weight_format("q8_0"), batch=1, tokens=128, kv_bytes=2.0, threads=4)
    gemm = (128 * 6_979_321_856 + 525_336_576) / (4 * 128 * 2.6e9 * 0.2)
    attn = 2 * 32 * 32 * 128 * 128 * 64.5 / (4 * 16 * 2.6e9 * 0.2)
    stream = ((6_979_321_856 + 525_336_576) * 34 / 32 + 128 * 2 * 32 * 8 * 128 * 2) / (307.2e9 * 0.8)
    sync = 32 * 22 * 4 * 45e-9
    assert step.time_s == pytest.approx(gemm + attn + stream + sync, rel=1e-9)
    assert 128 / step.time_s == pytest.approx(37.05, rel=2e-3)


def test_partial_socket_instance_has_its_cores():
    s = load_system("r8g-4xlarge")
    assert s.cpu_cores == 16 and s.chip.compute.cores == 96
    full, part = _g4(), CpuParams.from_chip(s.chip, cores=16)
    assert part.peak_macs_per_s("int8") == pytest.approx(full.peak_macs_per_s("int8") * 16 / 96)
    assert part.dram_bytes_per_s == full.dram_bytes_per_s  # the socket's channels, shared


def test_cpu_model_refuses_an_accelerator_and_the_accelerator_model_a_cpu():
    with pytest.raises(InvalidInput, match="not a CPU"):
        CpuParams.from_chip(load_chip("h100-sxm"))
    with pytest.raises(InvalidInput, match="graviton4 is a CPU"):
        ChipParams.from_chip("graviton4")


@pytest.mark.parametrize("name", ["graviton3", "graviton4", "xeon-8488c"])
def test_cpu_chip_files_validate(cli, name):
    r = cli("chips", "validate", f"src/fabless/data/chips/{name}.yaml")
    assert r.code == 0, r.err
    c = load_chip(name)
    assert c.kind == "cpu" and c.compute.matrix_units.kind == "cpu_simd"


@pytest.mark.parametrize("name", ["c7g-8xlarge", "c7g-16xlarge", "r7g-16xlarge", "hpc7g-16xlarge", "r8g-4xlarge", "r8g-8xlarge",
                                  "r8g-16xlarge", "c8g-24xlarge", "c8g-48xlarge", "c7i-48xlarge"])
def test_cpu_system_files_validate(cli, name):
    r = cli("systems", "validate", f"src/fabless/data/systems/{name}.yaml")
    assert r.code == 0, r.err


def test_estimate_from_scenario_is_under_the_dram_roofline():
    # one socket of c8g.24xlarge: tokens/s can never beat weight bytes / peak DRAM bandwidth
    est = estimate(load_scenario("examples/scenarios/llama-8b-graviton4-llamacpp.yaml"))
    assert est.chip == "graviton4" and est.plan.tp == 1 and est.fits
    assert est.metrics["decode_tokens_per_s_per_replica"] < G4_PEAK_BW / 4_356_808_704
    assert not any("comm" in k for k in est.breakdown_s)  # no collective on a CPU


def test_two_sockets_are_two_model_copies():
    one = estimate(scenario_from_dict({"model": "llama-3.2-1b", "system": {"name": "c8g-24xlarge"}, "precision": "q8_0",
                    "parallel": "auto", "inference": {"batch": 1, "input_tokens": 64, "output_tokens": 64}}))
    two = estimate(scenario_from_dict({"model": "llama-3.2-1b", "system": {"name": "c8g-48xlarge"}, "precision": "q8_0",
                    "parallel": "auto", "inference": {"batch": 1, "input_tokens": 64, "output_tokens": 64}}))
    assert two.plan.dp == 2
    assert two.metrics["output_tokens_per_s"] == pytest.approx(2 * one.metrics["output_tokens_per_s"])


@pytest.mark.parametrize("args, says", [
    (["op", "attention", "--chip", "graviton4", "--heads", "8", "--seq", "128"], "graviton4 is a CPU"),
    (["op", "gemm", "--chip", "graviton4", "--chip", "h100-sxm", "-m", "8", "-n", "8", "-k", "8"], "separate calls"),
    (["serve", "examples/scenarios/llama-8b-graviton4-llamacpp.yaml", "--rate", "1/s"], "graviton4 is a CPU"),
    (["estimate", "--model", "llama-3.1-8b", "--system", "c8g-24xlarge", "--parallel", "tp=1", "--global-batch", "8",
      "--seq-len", "512"], "training:"),
    (["estimate", "--model", "llama-3.1-8b", "--system", "c8g-48xlarge", "--parallel", "tp=2", "--batch", "1",
      "--input-tokens", "8", "--output-tokens", "8"], "each socket runs its own copy"),
    (["estimate", "--model", "llama-3.1-8b", "--system", "dgx-h100", "--chips", "1", "--precision", "q4_0",
      "--parallel", "tp=1", "--batch", "1", "--input-tokens", "8", "--output-tokens", "8"], "llama.cpp weight format"),
    (["estimate", "--model", "llama-3.1-8b", "--system", "c8g-24xlarge", "--precision", "fp8", "--parallel", "tp=1",
      "--batch", "1", "--input-tokens", "8", "--output-tokens", "8"], "no CPU kernels"),
])
def test_accelerator_only_paths_say_so_in_one_line(cli, args, says):
    r = cli(*args)
    assert r.code == 2, (r.out, r.err)
    assert says in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_op_gemm_on_a_cpu_runs_the_cpu_model(cli):
    r = cli("op", "gemm", "--chip", "graviton4", "-m", "8192", "-n", "8192", "-k", "8192", "--json")
    assert r.code == 0, r.err
    d = r.json()
    assert d["model"] == "cpu" and d["bound"] == "compute"
    # at most the cores' BFMMLA ceiling, 34.4 TFLOPS
    assert 0 < d["tflops"] <= 96 * 64 * 2 * 2.8e9 / 1e12


def test_tco_prices_a_graviton4_socket(cli):
    r = cli("tco", "examples/scenarios/llama-8b-graviton4-llamacpp.yaml", "--json")
    assert r.code == 0, r.err
    rows = r.json()
    row = rows[0] if isinstance(rows, list) else rows
    text = str(row)
    assert "graviton4" in text and "3.8285" in text


def test_cpu_validation_rows_and_their_error():
    # >= 8 published rows, at most a third of them fit, and the held-out median within 15%
    from fabless.validate.core import evaluate, summarise
    from fabless.validate.cpu import FIT_IDS, cpu_rows

    out = evaluate(["cpu"])
    assert len(out) >= 8 and not any(o.skipped for o in out)
    assert len(FIT_IDS) <= len(out) / 3
    held = [abs(o.error) for o in out if o.set == "held_out"]
    assert statistics.median(held) <= 0.12
    # both kinds of row are scored: decode rates (1 / TPOT) and prompt rates (tokens / TTFT)
    metrics = {r["metric"] for r in cpu_rows()}
    assert metrics == {"decode tokens/s", "prompt tokens/s"}
    fams = {s["chip"] for s in summarise(out, by="family")}
    assert "cpu" in fams


def test_user_guide_cpu_example_is_current():
    # the worked example's table is written by scripts/docs_cpu.py, never by hand
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "scripts" / "docs_cpu.py"
    spec = importlib.util.spec_from_file_location("docs_cpu", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text = mod.DOC.read_text()
    assert mod.regenerate(text) == text, "docs/user-guide.md's CPU example is out of date: run python scripts/docs_cpu.py"


@pytest.mark.parametrize("model, fmt", [("llama-3.2-1b", "q4_0"), ("llama-3.1-8b", "q4_0"), ("llama-3.1-8b", "bf16")])
def test_more_cores_never_slow_a_cpu_estimate(model, fmt):
    # 16, 32, 64 and 96 Graviton4 cores: the thread count is chosen (as -t is tuned), so a core
    # more is never a barrier more than it pays for
    tpot = []
    for system in ("r8g-4xlarge", "r8g-8xlarge", "r8g-16xlarge", "c8g-24xlarge"):
        est = estimate(scenario_from_dict({"model": model, "system": {"name": system}, "precision": fmt,
                                           "parallel": {"tp": 1},
                                           "inference": {"batch": 1, "input_tokens": 128, "output_tokens": 64}}))
        tpot.append(est.metrics["tpot_s"])
    assert all(b <= a * (1 + 1e-12) for a, b in zip(tpot, tpot[1:])), tpot


def test_more_dram_bandwidth_or_clock_never_slows_decode():
    import dataclasses

    cfg, fmt = load_model("llama-3.1-8b"), weight_format("q4_0")
    base = _g4()
    t0 = decode_step(cfg, base, fmt, batch=4, context=512).time_s
    for change in ({"dram_bytes_per_s": base.dram_bytes_per_s * 1.5}, {"clock_hz": base.clock_hz * 1.3}):
        assert decode_step(cfg, dataclasses.replace(base, **change), fmt, batch=4, context=512).time_s <= t0


def test_pinned_threads_are_the_runs_and_bounded_by_the_cores(cli):
    cfg, fmt = load_model("llama-3.1-8b"), weight_format("q4_0")
    cpu = CpuParams.from_chip(load_chip("graviton4"), cores=64)
    assert decode_step(cfg, cpu, fmt, threads=64).threads == 64
    with pytest.raises(InvalidInput, match="threads"):
        decode_step(cfg, cpu, fmt, threads=65)
    r = cli("estimate", "--model", "llama-3.1-8b", "--system", "dgx-h100", "--chips", "1", "--parallel", "tp=1",
            "--batch", "1", "--input-tokens", "8", "--output-tokens", "8")
    assert r.code == 0, r.err  # no threads: the accelerator path as before


def test_fleet_names_the_cpu_instead_of_sizing_it(cli):
    r = cli("fleet", "examples/scenarios/llama-8b-graviton4-llamacpp.yaml", "--demand", "100/min", "--slo", "ttft_p99=2s",
            "--json")
    assert "graviton4 is a CPU" in r.out + r.err and "Traceback" not in r.err


def test_gemm_cache_bound_by_hand():
    # A 4096 x 4096 bf16 A streams from L2 once per NR = 8 columns of B: for n = 64 that is
    # 4096 x 4096 x 2 bytes x 8 = 268 MB; at an L2 of 1 TB/s (a design with a slow L2) 268 us,
    # against 31 us of math at the full 34.4 TFLOPS and 34.6 MB / (536.7 GB/s x 0.7) = 92 us of DRAM.
    import dataclasses

    cpu = dataclasses.replace(_g4(gemm_efficiency=1.0, dram_efficiency=0.7), l2_bytes_per_s=1e12)
    r = gemm_time(4096, 64, 4096, cpu, "bf16")
    assert r.bound == "cache"
    assert r.time_s == pytest.approx(4096 * 4096 * 2 * 8 / 1e12, rel=1e-9)
    assert r.compute_s == pytest.approx(2 * 4096 * 64 * 4096 / (96 * 64 * 2 * 2.8e9), rel=1e-9)
