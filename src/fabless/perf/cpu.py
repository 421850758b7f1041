"""A server CPU (a chip file with ``kind: cpu``): GEMM and LLM inference as llama.cpp and
PyTorch run them, without any of the accelerator models' assumptions (no tensor-core tiles,
no waves of thread blocks, no HBM, no NCCL).

The CPU, per socket (:class:`CpuParams`):

* ``cores`` that the process uses (an instance may rent part of a socket), each issuing
  ``macs_per_cycle_per_core[dtype]`` multiply-accumulates a cycle on its SIMD/matrix pipes
  (the chip file's ``matrix_units``: SVE/NEON pipes x MACs per instruction, or one AMX tile
  unit) at the all-core clock;
* its caches (per-core L2, shared last-level cache) and DRAM: channels x rate x 8 bytes, of
  which a streaming kernel reaches ``dram_efficiency``.

GEMM ``C = A (m x k) @ B (k x n)``, threads across cores (:func:`gemm_time`): compute is
``2mnk / (cores x 2 x MACs/cycle x clock x gemm_efficiency)``. DRAM traffic is the compulsory
A + B + C when they fit in the last-level cache; otherwise the GotoBLAS/BLIS loop order: B
is cut into ``KC x NC`` panels that fill half the LLC (``KC`` = :data:`KC` elements), A is
streamed once per column panel and C is read and written once per ``KC`` slice of k. The cores
stream A from their L2 once per :data:`NR` columns (their register tile), where the chip file
gives the L2 bandwidth. Time is ``max(compute, L2 bytes / L2 bandwidth, traffic / (DRAM x
dram_efficiency))``: compute-, cache- or DRAM-bound.

LLM decode (:func:`decode_step`) streams every weight once per step (the weights of a
7-8B model are 100x any LLC) plus each sequence's KV cache, and does one dot product per
weight per sequence on the quantised kernels' datatype (llama.cpp quantises the activations
to 8 bits and multiplies Q4_0/Q8_0 blocks with int8 SDOT/SMMLA, VNNI or AMX): time is
``bytes / (DRAM x dram_efficiency) + MACs / (cores x MACs/cycle x clock x gemv_efficiency)
+ sync``, ``sync = layers x NODES_PER_LAYER x cores x barrier_s_per_core`` (llama.cpp joins
the threads after every node of its graph: a fixed cost a step, whatever the batch, that grows
with the threads). The stream and the dot products add rather than overlap: each thread of
llama.cpp's matrix-vector kernel loads a block, unpacks it and multiplies it before it loads
the next, so a core's unpack and multiply time is time its loads are not in flight (a
roofline's ``max`` would put a 32-core Graviton4 at the DRAM limit it does not reach:
49, 63 and 70 tokens/s on 16, 32 and 64 cores, each doubling of the cores halving only the
compute part). The step runs on the thread count with the least time (:func:`best_threads`,
as a user tunes llama.cpp's ``-t``: past ``sqrt(compute / barrier)`` a thread more adds more
barrier than it saves; so more cores never slow a step). Prefill (:func:`prefill`) is the same weights through
llama.cpp's quantised GEMMs of ``batch x prompt`` rows at ``gemm_efficiency`` (the same kernels
one block at a time: the stream, the multiplies and the barriers add as in decode; past a few
tens of prompt tokens the multiplies are nearly all of it), plus causal attention at the fp32
SIMD rate.

Weight formats (:data:`WEIGHT_FORMATS`) are llama.cpp's blocks: Q4_0 stores 32 weights in
18 bytes (an fp16 scale and 32 4-bit values), Q8_0 in 34 bytes (an fp16 scale and 32 int8);
llama.cpp's quantizer keeps the output projection of a Q4_0 model in Q6_K (210 bytes per 256
weights) and of a Q8_0 model in Q8_0. ``bf16``/``f16``/``f32`` are PyTorch's (and
llama.cpp's) dense weights. The model's parameters (three efficiencies and the barrier cost,
:data:`PARAM_FIELDS`) are set in one place, ``data/perf/cpu.yaml``, each with its source; a
chip file's ``calibration`` section does not reach them (they are the CPU model's, not a GPU
family's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from fabless.errors import FablessError, InvalidInput, unknown_name_error
from fabless.hardware.schema import DTYPE_BYTES, Chip
from fabless.loading import read_yaml
from fabless.provenance import split_provenance
from fabless.workload.config import ModelConfig

#: K block (elements) of the GotoBLAS/BLIS loop: one B panel is KC rows deep.
KC = 512
#: Output columns of a core's register tile in a GEMM micro-kernel (ACL, oneDNN and llama.cpp
#: keep 8-16): A streams from L2 once per NR columns of B.
NR = 8
#: Nodes of llama.cpp's graph per Llama layer that end in a barrier of all threads, counted from
#: its Llama graph (llama.cpp src/llama-model.cpp, build_llama): two RMS norms and their scales,
#: the Q, K, V and output projections, two RoPEs, two KV-cache copies, Q·K, softmax, P·V and the
#: merge of heads, gate, up, SiLU x up, down, two residual adds.
NODES_PER_LAYER = 22

_PARAMS_PATH = Path(str(resources.files("fabless") / "data" / "perf" / "cpu.yaml"))
#: The CPU model's parameters (data/perf/cpu.yaml): their names and meanings.
PARAM_FIELDS = {
    "dram_efficiency": "fraction of the socket's peak DRAM bandwidth a streaming kernel reaches",
    "gemv_efficiency": "fraction of the cores' dot-product peak a decode (matrix-vector) kernel sustains",
    "gemm_efficiency": "fraction of the cores' SIMD/matrix peak a large GEMM (prefill) sustains",
    "barrier_s_per_core": "seconds each participating core adds to one barrier of all threads (a cache line "
                          "passed core to core over the mesh)",
}


@dataclass(frozen=True)
class WeightFormat:
    """How a weight tensor is stored and which datatype its dot products run in."""

    name: str
    bytes_per_weight: float
    dot_dtype: str
    lm_head: str  # the format llama.cpp's quantizer gives the output projection
    note: str


#: Weight formats by name (llama.cpp's block layouts; see the module docstring).
WEIGHT_FORMATS: dict[str, WeightFormat] = {
    "q4_0": WeightFormat("q4_0", 18 / 32, "int8", "q6_k", "llama.cpp Q4_0: blocks of 32 weights, fp16 scale + 32 x 4 bits = 18 bytes"),
    "q8_0": WeightFormat("q8_0", 34 / 32, "int8", "q8_0", "llama.cpp Q8_0: blocks of 32 weights, fp16 scale + 32 x int8 = 34 bytes"),
    "q6_k": WeightFormat("q6_k", 210 / 256, "int8", "q6_k", "llama.cpp Q6_K: super-blocks of 256 weights in 210 bytes"),
    "bf16": WeightFormat("bf16", 2.0, "bf16", "bf16", "bfloat16 (PyTorch on Graviton: BFMMLA through oneDNN/ACL; AMX on Xeon)"),
    "f16": WeightFormat("f16", 2.0, "fp16", "f16", "IEEE half"),
    "f32": WeightFormat("f32", 4.0, "fp32", "f32", "IEEE single"),
}

#: KV-cache element sizes by the names a scenario uses (llama.cpp's default cache is f16).
KV_BYTES = {"bf16": 2.0, "fp16": 2.0, "f16": 2.0, "fp32": 4.0, "f32": 4.0, "int8": 34 / 32, "q8_0": 34 / 32,
            "int4": 18 / 32, "q4_0": 18 / 32}


def weight_format(name: str) -> WeightFormat:
    """A weight format by name; a one-line error naming the known ones otherwise."""
    fmt = WEIGHT_FORMATS.get(str(name).lower())
    if fmt is None:
        raise unknown_name_error("weight format", name, WEIGHT_FORMATS)
    return fmt


@lru_cache(maxsize=4)
def _read_params(path: str) -> tuple[dict[str, float], dict[str, dict]]:
    plain, sources = split_provenance(read_yaml(path))
    unknown = set(plain) - set(PARAM_FIELDS)
    if unknown:
        raise FablessError(f"{path}: unknown parameter '{sorted(unknown)[0]}'; known: {', '.join(PARAM_FIELDS)}")
    missing = [k for k in PARAM_FIELDS if k not in plain]
    if missing:
        raise FablessError(f"{path}: lacks '{missing[0]}'")
    values = {k: float(v) for k, v in plain.items()}
    for k, v in values.items():
        if not (0 < v <= 1 if k.endswith("_efficiency") else 0 <= v < 1):
            raise FablessError(f"{path}: {k} must be in {'(0, 1]' if k.endswith('_efficiency') else '[0, 1) s'}, got {v:g}")
    return values, sources


def cpu_params_file(path: str | Path | None = None) -> tuple[dict[str, float], dict[str, dict]]:
    """The CPU model's parameters and their sources (``data/perf/cpu.yaml`` or ``path``)."""
    return _read_params(str(path or _PARAMS_PATH))


@dataclass(frozen=True)
class CpuParams:
    """One CPU socket as the CPU model sees it (SI units in the names)."""

    name: str
    cores: int
    chip_cores: int
    clock_hz: float
    macs_per_cycle_per_core: dict[str, float]
    l2_bytes_per_core: float
    llc_bytes: float
    l2_bytes_per_s: float | None
    dram_bytes_per_s: float
    memory_bytes: float
    dram_efficiency: float
    gemv_efficiency: float
    gemm_efficiency: float
    barrier_s_per_core: float
    sources: dict = field(default_factory=dict, compare=False)

    @classmethod
    def from_chip(cls, chip: Chip, *, cores: int | None = None, memory_bytes: float | None = None,
                  params_path: str | Path | None = None, **overrides: float) -> CpuParams:
        """The CPU model of a ``kind: cpu`` chip; ``cores``: those the instance gives (default all);
        ``memory_bytes``: the instance's memory per socket (default the chip file's);
        ``overrides``: CPU-model parameters in place of data/perf/cpu.yaml's (a fit)."""
        if chip.kind != "cpu":
            raise InvalidInput(f"{chip.name} is a {chip.kind}, not a CPU: the CPU model takes chip files with kind: cpu")
        mu = chip.compute.matrix_units
        if mu is None:
            raise InvalidInput(f"{chip.name}: a CPU needs compute.matrix_units (its SIMD/matrix pipes and MACs per cycle)")
        n = chip.compute.cores
        if cores is not None and not 1 <= cores <= n:
            raise InvalidInput(f"cores: {chip.name} has {n} cores, got {cores}")
        values, sources = cpu_params_file(params_path)
        bad = set(overrides) - set(PARAM_FIELDS)
        if bad:
            raise InvalidInput(f"unknown CPU-model parameter '{sorted(bad)[0]}'; known: {', '.join(PARAM_FIELDS)}")
        values = {**values, **{k: float(v) for k, v in overrides.items()}}
        l2 = [lv.capacity_kib * 1024 for lv in chip.memory.on_chip if lv.scope == "core" and lv.name.lower() == "l2"]
        l2_bw = [lv.bandwidth_gb_s * 1e9 for lv in chip.memory.on_chip
                 if lv.scope == "core" and lv.name.lower() == "l2" and lv.bandwidth_gb_s]
        llc = [lv.total_bytes for lv in chip.memory.on_chip if lv.scope == "chip"]
        return cls(
            name=chip.name, cores=int(cores or n), chip_cores=n, clock_hz=chip.clock.boost_mhz * 1e6,
            macs_per_cycle_per_core={d: mu.count * m / n for d, m in mu.macs_per_cycle.items()},
            l2_bytes_per_core=max(l2) if l2 else 1 << 20, llc_bytes=float(sum(llc)),
            l2_bytes_per_s=l2_bw[0] * int(cores or n) / n if l2_bw else None,
            dram_bytes_per_s=chip.memory.hbm.bandwidth_bytes_per_s,
            memory_bytes=float(memory_bytes if memory_bytes is not None else chip.memory.hbm.capacity_bytes),
            sources=sources, **values)

    def macs_per_cycle(self, dtype: str) -> float:
        """MACs a core issues per cycle in ``dtype``; a datatype the pipes do not list runs at the
        next wider one they do (fp16 -> fp32 on a chip file without fp16)."""
        order = ["int8", "fp16", "bf16", "fp32", "fp64"]
        if dtype not in order:
            raise unknown_name_error("dtype", dtype, order)
        for d in ([dtype] + order[order.index(dtype) + 1:] if dtype != "int8" else ["int8", "bf16", "fp32"]):
            if d in self.macs_per_cycle_per_core:
                return self.macs_per_cycle_per_core[d]
        raise InvalidInput(f"{self.name}: no SIMD rate for {dtype} or a wider datatype in its chip file")

    def peak_macs_per_s(self, dtype: str) -> float:
        """The cores' dense MAC rate in ``dtype`` (cores x MACs/cycle x clock)."""
        return self.cores * self.macs_per_cycle(dtype) * self.clock_hz

    @property
    def dram_rate_bytes_per_s(self) -> float:
        """What a streaming kernel reads: peak DRAM bandwidth x ``dram_efficiency``."""
        return self.dram_bytes_per_s * self.dram_efficiency


@dataclass(frozen=True)
class CpuTime:
    """Time of one CPU operation and what bounds it."""

    time_s: float
    compute_s: float
    memory_s: float
    flops: float
    dram_bytes: float
    sync_s: float = 0.0
    threads: int = 0  # threads the step runs on (0: not a threaded step)
    cache_s: float = 0.0  # operands streamed from L2 (GEMM)

    @property
    def bound(self) -> str:
        parts = {"compute": self.compute_s, "cache": self.cache_s, "memory": self.memory_s}
        return max(parts, key=parts.get)


def _positive_int(name: str, v: float) -> None:
    if not (v >= 1) or int(v) != v:
        raise InvalidInput(f"{name} must be a positive whole number, got {v}")


def gemm_dram_bytes(m: int, n: int, k: int, cpu: CpuParams, dtype: str = "bf16") -> float:
    """DRAM traffic of C = A @ B on ``cpu`` (module docstring): compulsory when A + B + C fit in
    the LLC, else A once per ``NC``-wide panel of B and C once per ``KC`` slice of k."""
    ib = DTYPE_BYTES[dtype]
    ob = max(ib, 2.0) if dtype != "int8" else 4.0  # int8 GEMMs accumulate into int32
    a, b, c = m * k * ib, k * n * ib, m * n * ob
    if a + b + c <= cpu.llc_bytes:
        return a + b + c
    kc = min(k, KC)
    nc = max(1.0, math.floor(cpu.llc_bytes / 2 / (kc * ib)))
    k_slices = math.ceil(k / kc)
    return a * math.ceil(n / nc) + b + c * (2 * k_slices - 1)


def gemm_time(m: int, n: int, k: int, cpu: CpuParams, dtype: str = "bf16") -> CpuTime:
    """A GEMM threaded over all the cores: ``max(compute, L2 stream, DRAM traffic / rate)`` (module docstring)."""
    for name, v in (("m", m), ("n", n), ("k", k)):
        _positive_int(name, v)
    if dtype not in DTYPE_BYTES:
        raise unknown_name_error("dtype", dtype, DTYPE_BYTES)
    flops = 2.0 * m * n * k
    compute = flops / (2 * cpu.peak_macs_per_s(dtype) * cpu.gemm_efficiency)
    traffic = gemm_dram_bytes(m, n, k, cpu, dtype)
    memory = traffic / cpu.dram_rate_bytes_per_s
    cache = m * k * DTYPE_BYTES[dtype] * math.ceil(n / NR) / cpu.l2_bytes_per_s if cpu.l2_bytes_per_s else 0.0
    return CpuTime(max(compute, memory, cache), compute, memory, flops, traffic, cache_s=cache)


# ----------------------------------------------------------------------------- LLM inference


def linear_params(cfg: ModelConfig) -> tuple[float, float]:
    """(weights of the transformer layers' matmuls, of the output projection) that one token
    multiplies; a model with tied embeddings reads its embedding table as the projection. The
    experts a token is not routed to are not read by it (a MoE model's active weights)."""
    parts = cfg.params_by_part()
    n_moe = sum(n for kind, n in cfg.layer_runs() if kind == "moe")
    inactive = n_moe * (cfg.num_experts - cfg.top_k) * cfg.mlp_params(cfg.moe_intermediate_size) if cfg.num_experts else 0
    layers = (parts["attention"] + parts["mlp"] + parts["experts"] + parts["shared_experts"] + parts["router"]) - inactive
    head = parts["lm_head"] or cfg.vocab_size * cfg.hidden_size
    return float(layers), float(head)


def weight_bytes(cfg: ModelConfig, fmt: WeightFormat, *, active: bool = True) -> float:
    """Bytes of the matmul weights in ``fmt`` (the output projection in llama.cpp's choice for it):
    those one token reads (``active``) or every one stored (plus the embedding table, in ``fmt``)."""
    layers, head = linear_params(cfg)
    if not active:
        parts = cfg.params_by_part()
        layers = float(parts["attention"] + parts["mlp"] + parts["experts"] + parts["shared_experts"] + parts["router"])
    total = layers * fmt.bytes_per_weight + head * WEIGHT_FORMATS[fmt.lm_head].bytes_per_weight
    if not active and cfg.params_by_part()["lm_head"]:
        total += cfg.params_by_part()["embedding"] * fmt.bytes_per_weight
    return total


def best_threads(work_s: float, memory_s: float, sync_per_thread_s: float, cores: int) -> int:
    """The thread count (1 to ``cores``) with the least ``memory_s + work_s / n + n x
    sync_per_thread_s`` (llama.cpp's quantised kernels, decode and prompt: the stream does not
    hide under the multiplies), as a llama.cpp user tunes ``-t`` (decode) and ``-tb`` (prompt):
    the minimum is at sqrt(work / sync), past which a thread more adds more barrier time than it
    saves. ``memory_s`` is the same for every count (the socket's DRAM is shared)."""
    x = math.sqrt(work_s / sync_per_thread_s) if sync_per_thread_s > 0 else cores
    cands = {1, cores, max(1, min(cores, math.floor(x))), max(1, min(cores, math.ceil(x)))}
    return min(sorted(cands), key=lambda n: memory_s + work_s / n + n * sync_per_thread_s)


def sync_s(cfg: ModelConfig, cpu: CpuParams) -> float:
    """Seconds one forward step spends in barriers: llama.cpp joins every thread after each node
    of its graph (:data:`NODES_PER_LAYER` a layer), and a barrier of ``n`` threads costs ``n``
    cache-line hand-offs (``barrier_s_per_core`` each)."""
    return cfg.num_layers * NODES_PER_LAYER * cpu.cores * cpu.barrier_s_per_core


def _attention_macs(cfg: ModelConfig, q_tokens: float, kv_tokens: float) -> float:
    """MACs of Q·K^T and P·V of ``q_tokens`` queries over ``kv_tokens`` keys, all layers."""
    return 2.0 * cfg.num_layers * cfg.num_heads * cfg.head_dim * q_tokens * kv_tokens


def _threads(cpu: CpuParams, threads: int | None) -> None:
    if threads is not None and not (isinstance(threads, int) and 1 <= threads <= cpu.cores):
        raise InvalidInput(f"threads: {cpu.name} gives this instance {cpu.cores} cores; give 1 to {cpu.cores}, got {threads}")


def decode_step(cfg: ModelConfig, cpu: CpuParams, fmt: WeightFormat, *, batch: int = 1, context: int = 1,
                kv_bytes: float = 2.0, threads: int | None = None) -> CpuTime:
    """One decode step of ``batch`` sequences each at ``context`` tokens (module docstring): the
    stream, the dot products and the barriers one after another, on ``threads`` threads (None:
    the count with the least time, :func:`best_threads`)."""
    _positive_int("batch", batch)
    _positive_int("context", context)
    _threads(cpu, threads)
    layers, head = linear_params(cfg)
    weights = weight_bytes(cfg, fmt)
    kv = batch * context * cfg.kv_cache_elements_per_token * kv_bytes
    macs = batch * (layers + head) + batch * _attention_macs(cfg, 1, context)
    compute_all = macs / (cpu.peak_macs_per_s(fmt.dot_dtype) * cpu.gemv_efficiency)
    memory = (weights + kv) / cpu.dram_rate_bytes_per_s
    n = threads or best_threads(compute_all * cpu.cores, memory, sync_s(cfg, cpu) / cpu.cores, cpu.cores)
    compute, sync = compute_all * cpu.cores / n, sync_s(cfg, cpu) * n / cpu.cores
    return CpuTime(memory + compute + sync, compute, memory, 2 * macs, weights + kv, sync, n)


def prefill(cfg: ModelConfig, cpu: CpuParams, fmt: WeightFormat, *, batch: int = 1, tokens: int = 1,
            kv_bytes: float = 2.0, threads: int | None = None) -> CpuTime:
    """The prompt of ``batch`` sequences of ``tokens``: the weights' GEMMs at ``gemm_efficiency`` of
    the quantised kernels' datatype, causal attention at the fp32 SIMD rate, and the weights read
    once (KV written once), one after another as in :func:`decode_step`; ``threads`` as there."""
    _positive_int("batch", batch)
    _positive_int("tokens", tokens)
    _threads(cpu, threads)
    layers, head = linear_params(cfg)
    rows = batch * tokens
    mm_macs = rows * layers + batch * head  # the output projection runs for the last token only
    att_macs = batch * _attention_macs(cfg, tokens, (tokens + 1) / 2)
    compute = (mm_macs / (cpu.peak_macs_per_s(fmt.dot_dtype) * cpu.gemm_efficiency)
               + att_macs / (cpu.peak_macs_per_s("fp32") * cpu.gemm_efficiency))
    traffic = weight_bytes(cfg, fmt) + rows * cfg.kv_cache_elements_per_token * kv_bytes
    memory = traffic / cpu.dram_rate_bytes_per_s
    n = threads or best_threads(compute * cpu.cores, memory, sync_s(cfg, cpu) / cpu.cores, cpu.cores)
    compute, sync = compute * cpu.cores / n, sync_s(cfg, cpu) * n / cpu.cores
    return CpuTime(memory + compute + sync, compute, memory, 2 * (mm_macs + att_macs), traffic, sync, n)


def memory_bytes(cfg: ModelConfig, fmt: WeightFormat, *, batch: int, context: int, kv_bytes: float = 2.0) -> dict[str, float]:
    """Memory one model copy needs: every stored weight and the KV cache of ``batch`` sequences
    of ``context`` tokens."""
    w = weight_bytes(cfg, fmt, active=False)
    kv = batch * context * cfg.kv_cache_elements_per_token * kv_bytes
    return {"weights": w, "kv_cache": kv, "total": w + kv}


__all__ = ["KC", "KV_BYTES", "NODES_PER_LAYER", "NR", "PARAM_FIELDS", "WEIGHT_FORMATS", "CpuParams", "CpuTime", "WeightFormat", "cpu_params_file",
           "decode_step", "gemm_dram_bytes", "gemm_time", "linear_params", "memory_bytes", "prefill", "sync_s", "weight_bytes", "best_threads",
           "weight_format"]
