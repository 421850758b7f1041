"""An inference request on a CPU system (chips of ``kind: cpu``): llama.cpp or PyTorch on
Graviton or Xeon sockets, timed by the CPU model (:mod:`fabless.perf.cpu`), not by the
accelerator operator and collective models.

Each socket runs one copy of the model (one llama.cpp or PyTorch process pinned to its
NUMA node: ``tp = pp = 1``, ``dp`` = sockets); nothing crosses sockets, so no collective is
timed. A static batch of ``B`` requests per copy, as the engine's accelerator path::

    TTFT = prefill of B x input tokens
    TPOT = one decode step of B sequences at the mean context (input + output / 2)
    e2e  = TTFT + (output - 1) x TPOT

Precision: the weight format is the scenario's ``precision.weights``: llama.cpp's ``q4_0``
and ``q8_0``, or dense ``bf16`` / ``fp16`` / ``fp32`` (PyTorch); ``int4`` and ``int8`` mean
llama.cpp's Q4_0 and Q8_0 here. The KV cache is ``precision.kv_cache`` (llama.cpp's default
f16 is 2 bytes an element).
"""

from __future__ import annotations

from dataclasses import dataclass

from fabless.errors import InvalidInput
from fabless.estimate.scenario import ParallelSpec, Scenario
from fabless.hardware.schema import System
from fabless.perf.cpu import KV_BYTES, CpuParams, WeightFormat, decode_step, memory_bytes, prefill, weight_format
from fabless.workload import ModelConfig

#: The llama.cpp block formats a scenario may name (CPU systems only).
LLAMA_CPP_FORMATS = ("q4_0", "q8_0")
#: Scenario weight precisions -> the CPU weight format they mean.
_FORMAT_OF = {"q4_0": "q4_0", "q8_0": "q8_0", "int4": "q4_0", "int8": "q8_0", "bf16": "bf16", "fp16": "f16", "fp32": "f32"}


@dataclass(frozen=True)
class CpuRequest:
    """What :func:`cpu_request` computes: headline figures, memory per socket, where the time goes."""

    metrics: dict
    memory_bytes: dict[str, float]
    breakdown_s: dict[str, float]
    notes: tuple[str, ...]
    sockets: int


def check_accelerator_precision(scn: Scenario, system: System) -> None:
    """A llama.cpp block format on an accelerator is refused in one line (its kernels are CPU kernels)."""
    if system.chip.kind != "cpu" and scn.precision.weights in LLAMA_CPP_FORMATS:
        raise InvalidInput(f"precision: {scn.precision.weights} is a llama.cpp weight format for CPU systems; "
                           f"on {system.chip.name} use int4 or int8 (weight-only) instead")


def format_for(scn: Scenario) -> WeightFormat:
    """The weight format a scenario's precision means on a CPU (one-line error for fp8/fp4)."""
    w = scn.precision.weights
    if w not in _FORMAT_OF:
        raise InvalidInput(f"precision: {w} has no CPU kernels (llama.cpp and PyTorch on CPUs run q4_0, q8_0, "
                           "bf16, fp16 or fp32 weights); use one of those")
    return weight_format(_FORMAT_OF[w])


def cpu_of(system: System, **params: float) -> CpuParams:
    """The CPU model of one socket of ``system`` (the cores and memory the instance gives);
    ``params``: CPU-model parameters in place of data/perf/cpu.yaml's (a fit's trial values)."""
    mem = system.memory_gib * 2**30 / system.chips if system.memory_gib is not None else None
    return CpuParams.from_chip(system.chip, cores=system.cpu_cores, memory_bytes=mem, **params)


def check_cpu_scenario(scn: Scenario, system: System) -> None:
    """Refuse what a CPU system cannot run, one line each: training, and a model split over sockets.
    (``inference.threads`` on an accelerator is refused by the engine.)"""
    if scn.training is not None:
        raise InvalidInput(f"training: {system.chip.name} is a CPU; fabless models CPU inference (llama.cpp, PyTorch), "
                           "not training; use a GPU, TPU or Trainium system")
    p = scn.parallel
    if isinstance(p, ParallelSpec) and (p.tp > 1 or p.pp > 1 or p.ep > 1 or p.cp > 1):
        raise InvalidInput(f"parallel: on a CPU system ({system.name}) each socket runs its own copy of the model; "
                           "give tp=1 (and pp, ep, cp = 1) or parallel: auto")


def cpu_request(cfg: ModelConfig, scn: Scenario, system: System, *, usable_fraction: float) -> CpuRequest:
    """An inference request of ``scn`` on the CPU ``system`` (module docstring)."""
    check_cpu_scenario(scn, system)
    inf = scn.inference
    fmt = format_for(scn)
    kv_bytes = KV_BYTES.get(scn.precision.kv_cache)
    if kv_bytes is None:
        raise InvalidInput(f"precision.kv_cache: {scn.precision.kv_cache} is not a CPU cache type; use bf16, fp16, fp32, "
                           "q8_0 or q4_0")
    cpu = cpu_of(system)
    usable = cpu.memory_bytes * usable_fraction
    ctx_full = inf.input_tokens + inf.output_tokens
    batch = inf.batch
    notes: list[str] = []
    if batch == "auto":
        one = memory_bytes(cfg, fmt, batch=1, context=ctx_full, kv_bytes=kv_bytes)
        per_seq = one["kv_cache"]
        batch = max(1, min(4096, int((usable - one["weights"]) // per_seq))) if usable > one["total"] else 1
        if usable <= one["total"]:
            notes.append("batch auto: not even one sequence fits")
    mem = memory_bytes(cfg, fmt, batch=batch, context=ctx_full, kv_bytes=kv_bytes)
    fits = mem["total"] <= usable
    if not fits:
        notes.append(f"does not fit: needs {mem['total'] / 1e9:.1f} GB per socket, {usable / 1e9:.1f} GB usable of "
                     f"{cpu.memory_bytes / 1e9:.0f} GB")
    ctx = inf.input_tokens + max(1, inf.output_tokens // 2)
    pre = prefill(cfg, cpu, fmt, batch=batch, tokens=inf.input_tokens, kv_bytes=kv_bytes, threads=inf.threads)
    dec = decode_step(cfg, cpu, fmt, batch=batch, context=ctx, kv_bytes=kv_bytes, threads=inf.threads)
    ttft, tpot = pre.time_s, dec.time_s
    e2e = ttft + (inf.output_tokens - 1) * tpot
    sockets = system.chips
    out_tps = sockets * batch * inf.output_tokens / e2e
    metrics = {
        "batch": batch, "ttft_s": ttft, "tpot_s": tpot, "e2e_latency_s": e2e,
        "output_tokens_per_s": out_tps, "output_tokens_per_s_per_chip": out_tps / sockets,
        "decode_tokens_per_s_per_replica": batch / tpot, "replicas": sockets, "fits": fits,
        "software": "llama.cpp" if fmt.dot_dtype == "int8" else "pytorch-cpu",
        "weight_format": fmt.name, "cores_per_socket": cpu.cores, "decode_threads": dec.threads,
        "prefill_threads": pre.threads,
        "decode_bound": dec.bound, "prefill_bound": pre.bound,
    }
    breakdown = {f"prefill.{pre.bound}": ttft, f"decode.{dec.bound}": tpot * (inf.output_tokens - 1)}
    notes.append(f"CPU model (fabless/perf/cpu.py): {cpu.cores} cores x {sockets} socket(s), one model copy per socket "
                 f"on {dec.threads} decode / {pre.threads} prompt threads; "
                 f"weights {fmt.name} ({fmt.note}); decode {dec.bound}-bound, prefill {pre.bound}-bound")
    if batch > 1:
        notes.append(f"static batch: {batch} requests start and finish together")
    return CpuRequest(metrics, mem, {k: v for k, v in breakdown.items() if v > 0}, tuple(notes), sockets)


__all__ = ["LLAMA_CPP_FORMATS", "CpuRequest", "check_accelerator_precision", "check_cpu_scenario", "cpu_of", "cpu_request", "format_for"]
