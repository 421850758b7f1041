"""A recommendation model (DLRM family) on a system: embedding sharding, all-to-all, one step.

The embedding tables are model-parallel across the ``N`` chips of the system; everything else
(bottom MLP, interaction, top MLP) is data-parallel, each chip taking ``b = B / N`` of the
batch's ``B`` samples. Each table is placed by one of four rules (:data:`SHARDINGS`):

==============  ===================================================================  ===========================================
table_wise      the whole table on one chip (greedy: the next-largest table by       forward: ids all-to-all; pooled outputs
                lookup bytes to the chip with the fewest so far)                     all-to-all, B x T_c x dim per chip c
row_wise        rows split evenly over the N chips; each chip pools its rows'        ids all-to-all; partial sums reduce-scatter,
                lookups for all B samples (lookups / N each, ids uniform)            B x T_rw x dim per chip
column_wise     embedding_dim split over the N chips (N must divide it)              ids all-gather; all-to-all of B x T_cw x dim/N
data_parallel   a copy on every chip; each looks up its own b samples                none forward; training all-reduces the table's
                                                                                     fp32 gradient (rows x dim x 4 bytes)
==============  ===================================================================  ===========================================

``auto`` (inference) replicates every table when all fit in half a chip's memory; otherwise it
replicates tables of at most ``recsys.replicate_below_mb``, places row-wise a table over
half a chip's memory or whose lookups alone exceed a chip's fair share (all sharded lookups / N),
and the rest table-wise. The collectives are timed by
:mod:`fabless.perf.collectives` (all-to-all with nccl-tests' size convention: the whole send
buffer of the busiest chip); the pooled embeddings travel in the activations' datatype, ids as
8-byte int64. Training adds the transpose of each exchange (all-to-all back, all-gather for the
reduce-scatter), the embedding backward with its fused row-wise Adagrad update, and the
all-reduce of the dense gradients (fp32).

Every kernel is timed by the single-chip models on :func:`fabless.estimate.optime.framework_chip`
(the math at the engine-wide ``framework_kernel_efficiency``, as a language model's step is). One
step, with no overlap between its parts (an upper bound on the time of a pipelined trainer
such as TorchRec's)::

    step = step overhead (fixed: host and framework, fitted)
           + ids exchange + max over chips(embedding lookups) + pooled exchange
           + bottom MLP + interaction + top MLP                                   (forward)
           + dense backward + pooled-gradient exchange + max over chips(embedding backward)
           + dense gradient all-reduce + replicated tables' all-reduce + optimizer (training)

Inference: ``latency = step``, ``samples/s = B / latency`` (one batch at a time).

The dense part's operands may stay on chip (:mod:`fabless.perf.resident`, one rule for every
chip): when the chip lists a chip-wide SRAM with a bandwidth (MTIA v1/v2, Gaudi, MI300X's
Infinity Cache) and the dense weights (:func:`dense_weight_bytes`) fit in it, each kernel reads
its weight from SRAM; when the largest kernel's activations fit beside them, the whole dense
part runs from SRAM. A GPU whose L2 preset lists no bandwidth keeps every byte in HBM. The
embedding rows a scenario's ``cache_hit_rate`` serves from SRAM are not counted against its
capacity (the caller's fraction is taken as given).
"""

from __future__ import annotations

from dataclasses import dataclass

from fabless.errors import InvalidInput
from fabless.estimate.optime import engine_params, framework_chip
from fabless.estimate.plan import Plan
from fabless.hardware.schema import System
from fabless.perf.collectives import group_collective_time_s
from fabless.perf.embedding import embedding_time, sram_bandwidth_bytes_per_s
from fabless.perf.ops import op_time
from fabless.perf.params import ChipParams
from fabless.perf.resident import activation_bytes, op_sram_bytes, resident_time, residency, sram_level
from fabless.workload.ops import EmbeddingBag, OptimizerStep, backward_ops, dtype_bytes
from fabless.workload.recsys import RecsysConfig, Table, dense_ops

SHARDINGS = ("auto", "table_wise", "row_wise", "column_wise", "data_parallel")
KINDS = SHARDINGS[1:]
ID_BYTES = 8.0  # int64 indices


@dataclass(frozen=True)
class ShardingPlan:
    """Where each table lives: ``kinds[t]`` for table t, and for a table-wise table its chip."""

    chips: int
    kinds: tuple[str, ...]
    owner: tuple[int, ...]  # chip of a table-wise table, -1 otherwise

    def tables(self, cfg: RecsysConfig, kind: str) -> tuple[Table, ...]:
        return tuple(t for t, k in zip(cfg.tables, self.kinds) if k == kind)

    def chip_tables(self, cfg: RecsysConfig, chip: int) -> tuple[Table, ...]:
        """The table-wise tables on ``chip``."""
        return tuple(t for t, k, o in zip(cfg.tables, self.kinds, self.owner) if k == "table_wise" and o == chip)

    def counts(self) -> dict[str, int]:
        return {k: self.kinds.count(k) for k in KINDS if self.kinds.count(k)}

    def table_bytes_per_chip(self, cfg: RecsysConfig, dtype: str) -> list[float]:
        """Bytes of table rows each chip holds."""
        row = cfg.embedding_dim * dtype_bytes(dtype)
        n = self.chips
        shared = sum(t.rows for t in self.tables(cfg, "row_wise")) * row / n
        shared += sum(t.rows for t in self.tables(cfg, "column_wise")) * row / n
        shared += sum(t.rows for t in self.tables(cfg, "data_parallel")) * row
        return [shared + sum(t.rows for t in self.chip_tables(cfg, c)) * row for c in range(n)]


def plan_sharding(cfg: RecsysConfig, chips: int, mode: str, capacity_bytes: float, dtype: str,
                  replicate_below_bytes: float, training: bool = False) -> ShardingPlan:
    """The :class:`ShardingPlan` of ``mode`` (:data:`SHARDINGS`) on ``chips`` chips, each with
    ``capacity_bytes`` for table rows; a plan that breaks a rule is a one-line error naming it.
    For inference, ``auto`` replicates every table when all of them fit in half a chip's memory
    (each chip then serves its samples alone, with no exchange)."""
    if mode not in SHARDINGS:
        raise InvalidInput(f"recsys.sharding: '{mode}' is not one of {', '.join(SHARDINGS)}")
    row = cfg.embedding_dim * dtype_bytes(dtype)
    sizes = [t.rows * row for t in cfg.tables]
    n = chips
    if mode == "column_wise" and cfg.embedding_dim % n:
        raise InvalidInput(f"recsys.sharding: column_wise splits embedding_dim {cfg.embedding_dim} over {n} chips, "
                           f"which must divide it (rule: chips divide the embedding dimension)")
    if mode == "row_wise":
        small = [i for i, t in enumerate(cfg.tables) if t.rows < n]
        if small:
            raise InvalidInput(f"recsys.sharding: row_wise gives each of {n} chips a slice of every table, but table "
                               f"{small[0]} has {cfg.tables[small[0]].rows} rows (rule: a row-wise table has at least "
                               "one row per chip); use auto, which replicates small tables")
    if mode == "data_parallel" and sum(sizes) > capacity_bytes:
        raise InvalidInput(f"recsys.sharding: data_parallel puts every table on every chip: {sum(sizes) / 1e9:.1f} GB "
                           f"of tables, {capacity_bytes / 1e9:.1f} GB per chip (rule: a replicated table fits one chip)")
    if mode == "auto" and not training and sum(sizes) <= capacity_bytes / 2:
        mode = "data_parallel"
    kinds: list[str] = []
    # auto: a table whose lookups alone exceed a chip's fair share (all sharded lookups / n) would
    # make its chip the slowest: spread it row-wise, as one over half a chip's memory
    sharded = [t.pooling * row for t, s in zip(cfg.tables, sizes) if s > replicate_below_bytes]
    fair = sum(sharded) / n
    for i, s in enumerate(sizes):
        if mode != "auto":
            kinds.append(mode)
        elif s <= replicate_below_bytes or n == 1:
            kinds.append("data_parallel" if s <= replicate_below_bytes else "table_wise")
        elif s > capacity_bytes / 2 or (cfg.tables[i].pooling * row > fair and cfg.tables[i].rows >= n):
            kinds.append("row_wise")
        else:
            kinds.append("table_wise")
    owner = [-1] * len(sizes)
    load = [0.0] * n  # lookup bytes per sample on each chip
    held = [0.0] * n
    tw = sorted((i for i, k in enumerate(kinds) if k == "table_wise"),
                key=lambda i: (-cfg.tables[i].pooling * row, -sizes[i], i))
    for i in tw:
        if sizes[i] > capacity_bytes:
            raise InvalidInput(f"recsys.sharding: table {i} ({sizes[i] / 1e9:.1f} GB) does not fit one chip's "
                               f"{capacity_bytes / 1e9:.1f} GB (rule: a table-wise table fits one chip); use row_wise, "
                               "column_wise or auto")
        c = min(range(n), key=lambda c: (load[c], held[c]))
        owner[i] = c
        load[c] += cfg.tables[i].pooling * row
        held[c] += sizes[i]
    return ShardingPlan(n, tuple(kinds), tuple(owner))


def exchange_bytes(cfg: RecsysConfig, plan: ShardingPlan, batch: int, act_dtype: str) -> dict[str, tuple[str, float]]:
    """The forward collectives of one step and each one's nccl-tests size (bytes per chip):
    {name: (kind, bytes)}; empty names are left out. ``batch`` is the global batch B."""
    n, d, a = plan.chips, cfg.embedding_dim, dtype_bytes(act_dtype)
    if n == 1:
        return {}
    local = batch / n
    out: dict[str, tuple[str, float]] = {}
    routed = plan.tables(cfg, "table_wise") + plan.tables(cfg, "row_wise")
    if routed:
        out["ids_all_to_all"] = ("all_to_all", local * sum(t.pooling for t in routed) * ID_BYTES)
    cw = plan.tables(cfg, "column_wise")
    if cw:
        out["ids_all_gather"] = ("all_gather", batch * sum(t.pooling for t in cw) * ID_BYTES)
        out["pooled_cw_all_to_all"] = ("all_to_all", batch * len(cw) * (d / n) * a)
    busiest = max((len(plan.chip_tables(cfg, c)) for c in range(n)), default=0)
    if busiest:
        out["pooled_tw_all_to_all"] = ("all_to_all", batch * busiest * d * a)
    rw = plan.tables(cfg, "row_wise")
    if rw:
        out["pooled_rw_reduce_scatter"] = ("reduce_scatter", batch * len(rw) * d * a)
    return out


def backward_exchange_bytes(cfg: RecsysConfig, plan: ShardingPlan, batch: int, act_dtype: str) -> dict[str, tuple[str, float]]:
    """The training step's backward collectives: the transposes of the pooled exchanges, the
    dense gradients' all-reduce and the replicated tables' all-reduce (fp32 gradients)."""
    swap = {"all_to_all": "all_to_all", "reduce_scatter": "all_gather"}
    out = {f"grad_{k}": (swap[kind], b) for k, (kind, b) in exchange_bytes(cfg, plan, batch, act_dtype).items()
           if k.startswith("pooled")}
    if plan.chips > 1:
        out["dense_grad_all_reduce"] = ("all_reduce", cfg.params_dense * 4.0)
        dp_rows = sum(t.rows for t in plan.tables(cfg, "data_parallel"))
        if dp_rows:
            out["replicated_tables_all_reduce"] = ("all_reduce", dp_rows * cfg.embedding_dim * 4.0)
    return out


def chip_embedding_ops(cfg: RecsysConfig, plan: ShardingPlan, chip: int, batch: int, dtype: str) -> list[EmbeddingBag]:
    """The lookups chip ``chip`` does for a global batch of ``batch`` samples."""
    n = plan.chips
    local = -(-batch // n)
    ops: list[EmbeddingBag] = []

    def op(name: str, tabs: tuple[Table, ...], rows_div: int, b: int, pool_div: float = 1.0, dim: int | None = None):
        if tabs:
            ops.append(EmbeddingBag(name, batch=b, tables=len(tabs), pooling=sum(t.pooling for t in tabs) / len(tabs) / pool_div,
                                    rows=sum(t.rows for t in tabs) // rows_div, dim=dim or cfg.embedding_dim, dtype=dtype))

    op("embeddings.table_wise", plan.chip_tables(cfg, chip), 1, batch)
    op("embeddings.row_wise", plan.tables(cfg, "row_wise"), n, batch, pool_div=n)
    op("embeddings.column_wise", plan.tables(cfg, "column_wise"), 1, batch, dim=cfg.embedding_dim // n)
    op("embeddings.data_parallel", plan.tables(cfg, "data_parallel"), 1, local)
    return ops


@dataclass(frozen=True)
class RecsysStep:
    """One step's parts (seconds), what bounds each, the memory per chip and the plan."""

    parts_s: dict[str, float]
    bounds: dict[str, str]
    memory_bytes: dict[str, float]
    sharding: ShardingPlan
    embedding_chip: int  # the busiest chip for lookups
    resident: str = "none"  # what of the dense part stays in on-chip SRAM (perf.resident.RESIDENCY)

    @property
    def time_s(self) -> float:
        return sum(self.parts_s.values())


def recsys_step(cfg: RecsysConfig, system: System, chip: ChipParams, *, batch: int, training: bool,
                sharding: str = "auto", cache_hit_rate: float = 0.0, act_dtype: str = "bf16",
                compute_dtype: str = "bf16", embedding_dtype: str = "fp32", replicate_below_bytes: float = 2**20,
                usable_fraction: float = 1.0, step_overhead_s: float | None = None,
                fused_epilogue: bool = False) -> RecsysStep:
    """The step of the module docstring on every chip of ``system`` (its ``chips`` count).
    ``fused_epilogue``: the dense GEMMs' ReLUs run in their epilogues and the lookups write the
    interaction's input in place (:func:`fabless.workload.recsys.dense_ops`; an inference
    engine such as TensorRT), instead of a kernel and a trip to memory each.
    ``step_overhead_s``: the fixed host and framework cost of one step (None: the fitted
    ``recsys_step_overhead_s`` of data/estimate/engine.yaml; scripts/fit_recsys.py passes 0)."""
    n = system.chips
    if batch < n:
        raise InvalidInput(f"batch: {batch} samples cannot be split over {n} chips (each chip's dense part needs "
                           "at least one sample); give at least one sample per chip")
    capacity = float(system.chip.memory.hbm.capacity_bytes) * usable_fraction
    plan = plan_sharding(cfg, n, sharding, capacity, embedding_dtype, replicate_below_bytes, training)
    sram = sram_bandwidth_bytes_per_s(system.chip)
    chip = framework_chip(chip)  # the kernels' math at the engine-wide framework efficiency, as for LLM steps
    parts: dict[str, float] = {}
    bounds: dict[str, str] = {}

    def add(name: str, t: float, bound: str) -> None:
        if t > 0:
            parts[name] = parts.get(name, 0.0) + t
            bounds.setdefault(name, bound)

    def comm(items: dict[str, tuple[str, float]]) -> None:
        for name, (kind, nbytes) in items.items():
            t = float(group_collective_time_s(kind, nbytes, n, system))
            add(name, t, f"network ({kind.replace('_', '-')})")

    overhead = engine_params()["recsys_step_overhead_s"] if step_overhead_s is None else step_overhead_s
    add("step_overhead", overhead, "overhead (host and framework, fitted)")
    # forward: ids, lookups on the busiest chip, pooled exchange, dense part
    fwd = exchange_bytes(cfg, plan, batch, act_dtype)
    comm({k: v for k, v in fwd.items() if k.startswith("ids")})
    emb_times = []
    for c in range(n):
        ts = [embedding_time(op, chip, hit_rate=cache_hit_rate, sram_bytes_per_s=sram) for op in
              chip_embedding_ops(cfg, plan, c, batch, embedding_dtype)]
        emb_times.append((sum(float(t.time_s[0]) for t in ts), ts))
    busiest = max(range(n), key=lambda c: emb_times[c][0])
    ts = emb_times[busiest][1]
    add("embedding_lookup", emb_times[busiest][0], _bound(ts))
    comm({k: v for k, v in fwd.items() if k.startswith("pooled")})
    local = -(-batch // n)
    groups = dict(zip(("bottom_mlp", "interaction", "top_mlp"), dense_ops(cfg, local, compute_dtype, fused_epilogue)))
    bwd_ops = [b for ops in reversed(list(groups.values())) for op in reversed(ops) for b in backward_ops(op)] \
        if training else []
    # the dense part's weights (training: with their gradients and optimizer state) and the
    # largest kernel's activations: what of them stays in on-chip SRAM (perf.resident)
    weights = dense_weight_bytes(cfg, compute_dtype, training)
    acts = max(activation_bytes(op) for op in [*(op for ops in groups.values() for op in ops), *bwd_ops])
    level = sram_level(system.chip)
    mode = residency(weights, acts, level[0] if level else None)

    def dense_time(op):
        r = op_time(op, chip)
        return resident_time(r, op_sram_bytes(op, float(r.bytes[0]), mode), level[1]) if mode != "none" else r

    for name, ops in groups.items():
        times = [dense_time(op) for op in ops]
        add(name, sum(float(t.time_s[0]) for t in times), _bound(times))
    if training:
        times = [dense_time(op) for op in bwd_ops]
        add("dense_backward", sum(float(t.time_s[0]) for t in times), _bound(times))
        back = backward_exchange_bytes(cfg, plan, batch, act_dtype)
        comm({k: v for k, v in back.items() if k.startswith("grad_pooled")})
        ts = [embedding_time(_bwd(op), chip, hit_rate=cache_hit_rate, sram_bytes_per_s=sram)
              for op in chip_embedding_ops(cfg, plan, busiest, batch, embedding_dtype)]
        add("embedding_backward", sum(float(t.time_s[0]) for t in ts), _bound(ts))
        comm({k: v for k, v in back.items() if not k.startswith("grad_pooled")})
        opt = op_time(OptimizerStep("dense_optimizer", n_params=float(cfg.params_dense)), chip)
        add("optimizer", float(opt.time_s[0]), _bound([opt]))

    tables = max(plan.table_bytes_per_chip(cfg, embedding_dtype))
    a = dtype_bytes(act_dtype)
    widths = sum(cfg.bottom_mlp) + sum(cfg.top_mlp) + cfg.features * cfg.embedding_dim * (2 if cfg.interaction == "dcn" else 1)
    mem = {
        "embedding_tables": tables,
        "embedding_optimizer": (tables / (cfg.embedding_dim * dtype_bytes(embedding_dtype)) * 4.0) if training else 0.0,
        "dense_weights": weights,
        "activations": (batch * cfg.num_tables * cfg.embedding_dim + local * widths) * a * (2 if training else 1),
    }
    mem["total"] = sum(mem.values())
    return RecsysStep(parts, bounds, mem, plan, busiest, mode)


def dense_weight_bytes(cfg: RecsysConfig, compute_dtype: str, training: bool) -> float:
    """Bytes of the dense part's weights on every chip: the weights in ``compute_dtype``, and for
    training 12 more bytes a parameter (fp32 master copy, gradient and one optimizer moment)."""
    return cfg.params_dense * dtype_bytes(compute_dtype) + (cfg.params_dense * 12.0 if training else 0.0)


def _bwd(op: EmbeddingBag) -> EmbeddingBag:
    return backward_ops(op)[0]  # type: ignore[return-value]


def _bound(times) -> str:
    """What bounds a group of kernels: the bound of the one that takes longest."""
    if not times:
        return "-"
    top = max(times, key=lambda t: float(t.time_s[0]))
    return str(top.bound[0])


def step_plan(chips: int) -> Plan:
    """The Plan an Estimate of a recommendation model reports: the dense part data-parallel."""
    return Plan(dp=chips)


__all__ = ["KINDS", "RecsysStep", "SHARDINGS", "ShardingPlan", "backward_exchange_bytes", "chip_embedding_ops",
           "dense_weight_bytes", "exchange_bytes", "plan_sharding", "recsys_step", "step_plan"]
