"""The vLLM-on-CUDA software stacks (data/estimate/software.yaml) and the ML.ENERGY rows scored
through the serving engine (fabless.validate.energy)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from fabless.estimate.scenario import scenario_from_dict
from fabless.estimate.software import software_stacks
from fabless.estimate.stepcost import EngineStepCost
from fabless.measurements import load_rows, rows_by_id
from fabless.validate import energy

ROOT = Path(__file__).resolve().parents[2]


def _h100_8b(stack: str, batch: int = 64):
    return scenario_from_dict({"model": "llama-3.1-8b", "system": {"chip": "h100-sxm", "count": 1}, "precision": "bf16",
                               "parallel": {"tp": 1}, "software": stack,
                               "inference": {"batch": batch, "input_tokens": 512, "output_tokens": 717}}, "test")


def test_vllm_011_step_adds_its_host_time_per_step_and_per_sequence():
    sw = software_stacks()["vllm-cuda-0.11"]
    assert (sw.host_step_overhead_s, sw.host_per_seq_s) == (pytest.approx(1.5e-3), pytest.approx(15e-6))
    m = EngineStepCost.from_scenario(_h100_8b("vllm-cuda-0.11"), 0.9)
    ctx = 64 * 870
    # a decode step of 64 sequences: 1.5 ms + 64 x 15 us = 2.46 ms on top of the device's pass
    assert m.step_time_s(0, 0, 64, ctx) - m._pass_s(0, 0, 64, ctx) == pytest.approx(2.46e-3, rel=1e-9)
    # a mixed step of one 512-token prompt and 10 decodes: 11 sequences, 1.5 ms + 11 x 15 us = 1.665 ms
    assert m.step_time_s(512, 512, 10, 8700) - m._pass_s(512, 512, 10, 8700) == pytest.approx(1.665e-3, rel=1e-9)
    # the other stacks are untouched: no host time per sequence but vLLM's (on ROCm: its own fit)
    assert all(s.host_per_seq_s == 0 for n, s in software_stacks().items() if not n.startswith("vllm-"))


def test_vllm_stacks_are_named_only_and_not_the_nvidia_default():
    from fabless.estimate.software import default_software
    from fabless.hardware.presets import load_chip

    stacks = software_stacks()
    assert stacks["vllm-cuda-0.5"].named_only and stacks["vllm-cuda-0.11"].named_only
    assert default_software(load_chip("h100-sxm"), "inference").name not in ("vllm-cuda-0.5", "vllm-cuda-0.11")


def test_kv_pool_caps_the_running_batch_as_vllm_queues_the_rest():
    # H100 80 GB (85.9e9 bytes) x 0.9 (vLLM's default --gpu-memory-utilization) less the 8B model's bf16
    # weights (8.03e9 x 2 bytes), at 2 (K, V) x 32 layers x 8 KV heads x 128 x 2 bytes = 131,072
    # bytes a token: about 467,000 tokens (the engine also keeps activations: within 1%)
    r = rows_by_id()["energy-011"]  # batch 768, 512 + 717 tokens
    scn, _ = energy.scenario_of(r)
    m = energy.engine_of(scn)
    hand = (0.9 * 85.9e9 - 2 * 8.03e9) / 131072
    assert m.kv_capacity_tokens == pytest.approx(hand, rel=0.01)
    st = energy.steady_state(scn, "vllm-cuda-0.11")
    # a running sequence holds 512 + 717 / 2 tokens on average: the pool runs ~533 of the 768
    assert st["running"] == int(m.kv_capacity_tokens // 870.5) and 520 <= st["running"] < 768
    # below the pool, the whole batch runs
    assert energy.steady_state(energy.scenario_of(rows_by_id()["energy-006"])[0], "vllm-cuda-0.11")["running"] == 128


@pytest.mark.parametrize("rid", ["energy-004", "energy-006"])
def test_steady_state_matches_the_simulated_closed_loop(rid):
    # the closed form (evenly spread phases) against the serving simulator's closed loop of the same
    # clients, request by request (fabless.serve.modes.closed_loop): within 3%
    scn, _ = energy.scenario_of(rows_by_id()[rid])
    closed = energy.steady_state(scn, "vllm-cuda-0.11")["output_tokens_per_s"]
    simulated = energy.served(scn, "vllm-cuda-0.11")["output_tokens_per_s"]
    assert closed == pytest.approx(simulated, rel=0.03)


def test_vllm_05_runs_prompts_in_steps_of_their_own():
    # V0 (no chunked prefill): a prompt is a step alone, so at equal host times a batch of decodes
    # plus its share of prompts takes longer than V1's mixed steps, where the prompt shares the
    # weight reads of the decodes
    scn5, scn11 = _h100_8b("vllm-cuda-0.5"), _h100_8b("vllm-cuda-0.11")
    m5 = EngineStepCost.from_scenario(scn5, 0.9)
    assert m5.host_step_s == 0 and m5.host_seq_s == 0  # nothing fitted on V0 (one row)
    alone = m5.step_time_s(0, 0, 64, 64 * 870) + m5.step_time_s(512, 512, 0, 0)
    mixed = m5.step_time_s(512, 512, 64, 64 * 870 + 512)
    assert alone > mixed
    v0 = energy.steady_state(scn5, "vllm-cuda-0.5")
    assert v0["output_tokens_per_s"] == pytest.approx(64 / (m5.step_time_s(0, 0, 64, round(64 * 870.5))
                                                            + 64 / 717 * m5.step_time_s(512, 512, 0, 0)), rel=1e-9)
    assert energy.steady_state(scn11, "vllm-cuda-0.11")["running"] == v0["running"] == 64


def test_stack_values_are_what_the_fit_script_gives():
    spec = importlib.util.spec_from_file_location("fit_vllm_cuda", ROOT / "scripts" / "fit_vllm_cuda.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    scores = mod.grid_scores()
    best = min(scores, key=scores.get)
    sw = software_stacks()["vllm-cuda-0.11"]
    assert best == pytest.approx((sw.framework_kernel_efficiency, sw.host_step_overhead_s, sw.host_per_seq_s))
    assert tuple(sorted(energy.STACK_FIT_IDS)) == tuple(sorted(sw.fit_rows))
    # a clear gain over the engine-wide parameters with no host time
    assert scores[best] < 0.8 * scores[(0.8, 0.0, 0.0)]


def test_held_out_h100_throughput_against_the_published_figures():
    # the H100 rows' notes quote ML.ENERGY's measured output throughput (tokens/s, all GPUs): the
    # serving engine under vllm-cuda-0.11 is within 15% on the held-out 8B and 70B rows and a median
    # within 8% on all of them (the static-batch estimate was 10-25% fast on the 8B rows; the 405B-FP8
    # rows at batch 192-256 stay 25-30% fast). One exception, within 20%: the 70B tp 4 row at batch 1024
    # (energy-022), -11.8% until Hopper's mma_efficiency moved from its max-achievable row to the GEMM
    # tables (0.846 -> 0.767), -16.0% since: the model's KV pool holds its running batch to 584, so its
    # step is longer in compute than the measured run's
    import re
    import statistics

    errs = {}
    for r in load_rows():
        m = re.search(r"output throughput (\d+) tokens/s", r["notes"]) if r["category"] == "energy" else None
        if m is None or r["id"] in energy.FIT_IDS or r["metric"] != energy.METRIC:
            continue
        errs[r["id"]] = energy.tokens_per_s_per_chip(r)[0] * int(r["n_chips"]) / float(m.group(1)) - 1
    assert len(errs) >= 15
    assert statistics.median(abs(e) for e in errs.values()) <= 0.08
    small = {k: v for k, v in errs.items() if "llama-3.1-405b" not in rows_by_id()[k]["config"]}
    assert abs(small.pop("energy-022")) <= 0.20
    assert all(abs(e) <= 0.15 for e in small.values()), small
