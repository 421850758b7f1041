"""Predictions of published energy-per-token and power-under-load measurements (category ``energy``).

A row's config names the model, tensor parallelism, the batch (a serving engine's maximum
concurrent sequences), the request lengths and the framework. Three metrics:

    GPU energy per output token (J)              = watts per chip / output tokens/s per chip
    average GPU power, all GPUs (W)              = watts per chip x chips
    output tokens/s per GPU watt (tokens/s/W)    = output tokens/s per chip / watts per chip

The rows (ML.ENERGY) ran a vLLM server with ``max_num_seqs`` = the batch and a client that keeps
that many requests in flight, and measured the steady state. Rows whose framework is a vLLM
release on NVIDIA GPUs (:data:`FRAMEWORK_STACKS`) are therefore scored through the serving
simulator (:mod:`fabless.serve`, step times from :class:`fabless.estimate.stepcost.EngineStepCost`
with the release's software stack of data/estimate/software.yaml): a closed loop of ``batch``
clients (:func:`fabless.serve.modes.closed_loop`), the engine's scheduler settings of
:data:`VLLM_SCHEDULER` and the HBM share :data:`VLLM_MEMORY_FRACTION`. The running batch is what
the KV-cache pool holds: a batch larger than the pool runs at the pool's size, the rest of the
requests queued, as vLLM admits them. Other rows use the static-batch inference estimate
(:func:`fabless.estimate.estimate`). The watts are economics/power.py's chip power at the matrix
utilisation the throughput implies (economics/tco.py :func:`serving_power_w`), capped at the TDP.
The power rows test the power model with the throughput; the energy rows test both.

Fit / held-out rule (fixed before any fitting): the power rows whose batch is 32, 128 or 512
are the fit rows of ``power.active_rel_to_matrix`` (scripts/fit_active_power.py). The
energy-per-token and tokens/s-per-watt rows whose id number is a multiple of 3 (energy-003,
-006, ...) and that ran vLLM 0.11 are the fit rows of the vllm-cuda-0.11 stack
(:data:`STACK_FIT_IDS`, scripts/fit_vllm_cuda.py); every other row is held out.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources
from pathlib import Path

from fabless.economics.params import default_params
from fabless.economics.tco import serving_power_w
from fabless.errors import FablessError
from fabless.estimate import estimate
from fabless.estimate.scenario import scenario_from_dict
from fabless.estimate.stepcost import EngineStepCost
from fabless.serve.modes import closed_loop
from fabless.serve.scheduler import SchedulerConfig
from fabless.serve.workload import Fixed, Lengths
from fabless.validate.core import Skip, parse_config
from fabless.validate.hardware_map import chip_for_hardware

ROWS_PATH = Path(str(resources.files("fabless") / "data" / "measurements" / "published_energy.csv"))

#: The power rows ``power.active_rel_to_matrix`` is fitted on (batch 32, 128 or 512; module docstring).
FIT_IDS_POWER: frozenset[str] = frozenset({"energy-031", "energy-034", "energy-038", "energy-041", "energy-044",
                                           "energy-048", "energy-052", "energy-055"})

#: The software stack (data/estimate/software.yaml) of each framework a row names. The ML.ENERGY
#: Leaderboard v2.0 ran vLLM 0.5.4 and the Benchmark v3.0 vLLM 0.11.1 (ML.ENERGY blog 'LLM Inference
#: Energy: A Longitudinal Analysis', 2026-02-09: rows energy-001 / -002); the v3.0 rows on B200 name
#: only the benchmark.
FRAMEWORK_STACKS: dict[str, str] = {"vLLM 0.5.4": "vllm-cuda-0.5", "vLLM 0.11.1": "vllm-cuda-0.11",
                                    "vLLM (ML.ENERGY v3.0)": "vllm-cuda-0.11"}

#: vLLM's share of each GPU's HBM (``--gpu-memory-utilization``): its default, 0.9
#: (github.com/vllm-project/vllm vllm/config/cache.py CacheConfig.gpu_memory_utilization, v0.11.1;
#: vllm/engine/arg_utils.py EngineArgs.gpu_memory_utilization = 0.90 in v0.5.4); the rows do not
#: say that ML.ENERGY changed it.
VLLM_MEMORY_FRACTION = 0.9

#: The scheduler of each stack, ``max_num_seqs`` aside (the row's batch). vLLM 0.11 (V1 engine):
#: chunked prefill always on, prompt chunks and decodes in one step, a token budget of 8192 per
#: step (vllm/engine/arg_utils.py, v0.11.1: 8192 for the OpenAI server on a GPU of at least 70 GiB
#: other than A100). vLLM 0.5.4 (V0 engine): chunked prefill off by default
#: for an 8B model's context, so a step runs prompts only or decodes only, prompts first
#: (vllm/core/scheduler.py Scheduler._schedule_default), with a token budget of the model length;
#: 8192 is taken (the 512-token prompts never meet it before ``max_num_seqs`` does).
VLLM_SCHEDULER: dict[str, dict] = {
    "vllm-cuda-0.11": {"max_num_batched_tokens": 8192, "chunked_prefill": True, "mixed_chunks": True},
    "vllm-cuda-0.5": {"max_num_batched_tokens": 8192, "chunked_prefill": False, "mixed_chunks": False},
}

METRIC = "GPU energy per output token (J)"
POWER_METRIC = "average GPU power, all GPUs (W)"
PER_WATT_METRIC = "output tokens/s per GPU watt (tokens/s/W)"
METRICS = (METRIC, POWER_METRIC, PER_WATT_METRIC)


@lru_cache(maxsize=1)
def _stack_fit_ids() -> frozenset[str]:
    with ROWS_PATH.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return frozenset(r["id"] for r in rows if r["metric"] in (METRIC, PER_WATT_METRIC)
                     and int(r["id"].rsplit("-", 1)[1]) % 3 == 0
                     and FRAMEWORK_STACKS.get(parse_config(r["config"]).get("framework", "")) == "vllm-cuda-0.11")


#: The throughput rows the vllm-cuda-0.11 stack is fitted on (id number a multiple of 3; module docstring).
STACK_FIT_IDS: frozenset[str] = _stack_fit_ids()
#: Every fit row of the category.
FIT_IDS: frozenset[str] = FIT_IDS_POWER | STACK_FIT_IDS


def stack_of(row: dict) -> str | None:
    """The software stack of the row's framework, or None (the static-batch estimate)."""
    return FRAMEWORK_STACKS.get(parse_config(row["config"]).get("framework", ""))


def scenario_of(row: dict, with_stack: bool = True):
    """The inference scenario a row describes (one replica of tp chips, the row's stack if any and
    ``with_stack``; scripts/fit_active_power.py fits on the engine-wide static estimate)."""
    cfg = parse_config(row["config"])
    chip = chip_for_hardware(row["hardware"])
    tp = int(cfg.get("tp", 1))
    raw = {"model": cfg["model"], "system": {"chip": chip.name, "count": tp}, "precision": row["precision"].lower(),
           "parallel": {"tp": tp},
           "inference": {"batch": int(cfg["batch"]), "input_tokens": int(cfg["input"]), "output_tokens": int(cfg["output"])}}
    stack = stack_of(row)
    if stack is not None and with_stack:
        raw["software"] = stack
    return scenario_from_dict(raw, f"energy row {row['id']}"), chip


def engine_of(scn) -> EngineStepCost:
    """The serving engine's step cost of one replica of the row's scenario, vLLM's HBM share."""
    try:
        return EngineStepCost.from_scenario(scn, VLLM_MEMORY_FRACTION)
    except FablessError as exc:
        raise Skip(str(exc)) from None


def scheduler_of(stack: str, batch: int) -> SchedulerConfig:
    """The stack's vLLM scheduler with ``max_num_seqs`` = the row's batch."""
    cfg = VLLM_SCHEDULER[stack]
    return SchedulerConfig(max_num_seqs=batch, **{**cfg, "max_num_batched_tokens": max(cfg["max_num_batched_tokens"], batch)})


def served(scn, stack: str) -> dict:
    """The serving simulator's closed loop of ``batch`` clients on one replica under ``stack``
    (:func:`fabless.serve.modes.closed_loop`, every request of the row's lengths). Seconds to
    minutes a row at the largest batches: the reference :func:`steady_state` is checked against
    (tests/economics/test_vllm_cuda.py), not what :func:`predict` runs."""
    inf = scn.inference
    b = int(inf.batch)
    return closed_loop(engine_of(scn), scheduler_of(stack, b),
                       Lengths(Fixed(int(inf.input_tokens)), Fixed(int(inf.output_tokens))), b)


def steady_state(scn, stack: str, model: EngineStepCost | None = None) -> dict:
    """The steady state of ``batch`` clients of fixed-length requests on one replica, from the
    serving engine's step cost (:class:`fabless.estimate.stepcost.EngineStepCost`), in closed form.

    The clients' requests settle into evenly spread phases, so each step runs the same batch:
    ``running`` sequences, the row's batch or, when their KV cache does not fit, what the KV pool
    holds at a mean of ``input + output / 2`` cached tokens a sequence (vLLM admits requests while
    blocks are free and queues the rest). Each step every running sequence decodes one token, and
    ``running / output`` new prompts come in a step on average. A vLLM 0.11 step carries its prompt
    chunks with the decodes (chunked prefill, mixed steps): a prompt adds what one prompt adds to a
    step of ``running`` decodes. vLLM 0.5 runs prompts in steps of their own: a prompt adds a
    prompt-only step. Output tokens/s = running / (mean step time). ``model``: the step cost to use
    (default :func:`engine_of` the scenario; the fit script passes one with trial parameters)."""
    inf = scn.inference
    b, inp, out = int(inf.batch), int(inf.input_tokens), int(inf.output_tokens)
    model = model or engine_of(scn)
    per_seq = inp + out / 2.0
    running = min(b, int(model.kv_capacity_tokens // per_seq))
    if running < 1:
        raise Skip(f"not one {inp} + {out}-token request fits the KV pool of {model.kv_capacity_tokens} tokens")
    ctx = round(running * per_seq)
    decode = model.step_time_s(0, 0, running, ctx)
    if VLLM_SCHEDULER[stack]["mixed_chunks"]:
        prompt = model.step_time_s(inp, inp, running, ctx) - decode
    else:
        prompt = model.step_time_s(inp, inp, 0, 0)
    step = decode + running / out * prompt
    return {"running": running, "step_s": step, "output_tokens_per_s": running / step,
            "kv_capacity_tokens": model.kv_capacity_tokens}


def tokens_per_s_per_chip(row: dict) -> tuple[float, object, object]:
    """(output tokens/s per chip, scenario, chip) of a row: the serving simulation for a row with a
    stack, else the static-batch estimate."""
    scn, chip = scenario_of(row)
    stack = stack_of(row)
    if stack is not None:
        return steady_state(scn, stack)["output_tokens_per_s"] / scn.parallel.tp, scn, chip
    est = estimate(scn)
    if not est.fits:
        raise Skip(f"the batch does not fit: {est.notes[0]}")
    return float(est.metrics["output_tokens_per_s_per_chip"]), scn, chip


def predict(row: dict, params=None) -> float | None:
    if row["metric"] not in METRICS:
        raise Skip(f"metric '{row['metric']}' is none of {', '.join(repr(m) for m in METRICS)}")
    tps, scn, chip = _throughput(row["hardware"], row["precision"], row["config"])
    watts, _, _ = serving_power_w(tps, scn, chip, params or default_params())
    if row["metric"] == POWER_METRIC:
        return watts * scn.parallel.tp
    joules = watts / tps
    return 1.0 / joules if row["metric"] == PER_WATT_METRIC else joules


@lru_cache(maxsize=256)
def _throughput(hardware: str, precision: str, config: str):
    # the power and energy rows of one configuration share one simulation (clear the cache after
    # changing a stack: scripts/fit_vllm_cuda.py)
    return tokens_per_s_per_chip({"id": config, "hardware": hardware, "precision": precision, "config": config})


__all__ = ["FIT_IDS", "FIT_IDS_POWER", "FRAMEWORK_STACKS", "METRIC", "METRICS", "PER_WATT_METRIC", "POWER_METRIC",
           "STACK_FIT_IDS", "VLLM_MEMORY_FRACTION", "VLLM_SCHEDULER", "engine_of", "predict", "scenario_of", "scheduler_of",
           "served", "stack_of", "steady_state",
           "tokens_per_s_per_chip"]
