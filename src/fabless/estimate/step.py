"""The step model, written once over numpy arrays: training steps and inference requests.

One call times one plan or a hundred thousand: :func:`training_steps` takes a :class:`PlanTable`
(one column per plan axis) and returns arrays of step time, its terms and the memory per chip.
``estimate()`` calls it with one row, ``parallel: auto`` with every plan of the space
(:func:`training_plan_space`). The formula itself is :func:`step_terms`, over operator-time parts
that broadcast over plans or over chip designs: explore times the same chip-independent operator
lists (:func:`shape_terms`) over its designs and calls it too. The inference request
(:func:`request_terms`) and a forward pass's collectives (:func:`forward_collectives_s`) are
written here once for the engine, the serving simulator and explore.

How a step is timed (1F1B pipeline, ``m = global_batch / (dp x micro_batch)`` micro-batches)::

    stage   = compute of the busiest stage (its layers' forward + backward + recompute; the
              embedding on the first stage, the LM head and loss on the last)
              + TP collectives (4 per layer, 2 more per fully recomputed layer)
              + MoE all-to-all (dispatch + combine, forward and backward) + the software's host
              time per MoE layer (moe_host) + CP K/V all-gathers + pipeline send/recv (x interleave)
    step    = m x stage + bubble ((pp-1)/(v m + pp - 1) of the pipelined time)
              + exposed data-parallel sync (after the last micro-batch's backward) + optimizer

Operator times depend only on the shape one chip sees (tp, ep, cp, micro-batch): they are
timed once per distinct shape (:class:`ShapeTimes`) by the single-chip models; everything
else is array arithmetic. Collectives are timed once per distinct (kind, bytes, group, placement).

Memory per chip (the busiest of the first, second and last pipeline stages)::

    weights     params / (tp pp) (experts / (ep pp)), / shard group under ZeRO-3, plus under
                ZeRO-3 two layers' gathered weights (the one in use and the prefetched one)
    gradients   2 bytes per parameter (bf16 gradient buffer), / shard group under ZeRO >= 2
    optimizer   12 bytes per parameter (fp32 master, Adam m and v; ZeRO paper K = 12),
                / shard group under ZeRO >= 1 (experts over their expert data-parallel group)
    activations per layer (:func:`fabless.estimate.parallel.activation_bytes_per_layer`) x the
                stage's layers x micro-batches in flight: stage i of a 1F1B pipeline holds
                min(pp - i, m); interleaving multiplies by (1 + (pp-1)/(pp v)) (Korthikanti et
                al. 2022, eq. 5); fully recomputed layers keep only their input
    logits      fp32 logits of one micro-batch (vocab / tp) on the last stage
    budget      capacity x usable_memory_fraction (data/estimate/engine.yaml: runtime context,
                communication buffers, allocator fragmentation)

Stages: ceil(layers / pp) layers each; when pp x that exceeds the layers by two or more, the
first and last stages take one layer fewer, as Llama 3's training did to balance the embedding
and the loss (Llama 3 paper, section 3.3.2).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from itertools import product

import numpy as np

from fabless.estimate.optime import GEMM_INPUT_DTYPES, _category, _op_time, comm_dtype_bytes, engine_params, framework_dtypes
from fabless.estimate.parallel import ADAM_STATE_BYTES_PER_PARAM, activation_bytes_per_layer, divisors
from fabless.estimate.plan import DEFAULT_ORDER, Plan, sharded_config
from fabless.hardware.schema import System
from fabless.perf.collectives import group_collective_time_s
from fabless.perf.params import ChipParams
from fabless.workload import ModelConfig, Precision, build_training_graph
from fabless.workload.ops import Attention, Collective, Elementwise, ExpertMatMul, MatMul, backward_ops, dtype_bytes

RC_NONE, RC_SELECTIVE, RC_FULL = -1, -2, -3  # recompute codes; >= 0: that many fully recomputed layers per stage
_RC_CODE = {"none": RC_NONE, "selective": RC_SELECTIVE, "full": RC_FULL}


def recompute_code(recompute: str | int) -> int:
    """A plan's recompute as the :class:`PlanTable` column holds it."""
    return _RC_CODE.get(recompute, recompute if isinstance(recompute, int) else RC_SELECTIVE)
ORDERS = (DEFAULT_ORDER, "tp-cp-pp-dp")

#: Time terms of a step, in the order they are reported.
TERMS = ("compute", "tp_comm", "ep_all_to_all", "moe_host", "cp_comm", "pp_send_recv", "pipeline_bubble", "dp_comm_exposed",
         "optimizer")


# ----------------------------------------------------------------------------- what is trained


@dataclass(frozen=True)
class Tuning:
    """What a step trains. ``pretrain`` and ``full`` (full fine-tuning) train every weight;
    ``lora`` freezes the base and trains rank-``rank`` adapters (A: k x r, B: r x n) beside each
    weight matmul of the attention and dense MLP blocks (Hu et al. 2021; on the fused modules, as
    Megatron/NeMo attach them); ``qlora`` also stores
    the frozen base in 4 bits and dequantises it in the matmuls (Dettmers et al. 2023). A frozen
    base still runs its backward for the activations (the input gradients) but computes no weight
    gradients; gradients, optimizer state and the data-parallel reduction are the adapters' only."""

    mode: str = "pretrain"
    rank: int = 16

    @property
    def adapters(self) -> bool:
        return self.mode in ("lora", "qlora")


PRETRAIN = Tuning()


def adapter_params(cfg: ModelConfig, rank: int) -> float:
    """Parameters of rank-``rank`` LoRA adapters on every weight matmul of the attention and
    dense MLP blocks, as Megatron/NeMo attach them to the fused modules (linear_qkv, linear_proj,
    linear_fc1 = gate and up, linear_fc2): r x (k + n) per module; routed experts carry none."""
    h, H, kvh, d = cfg.hidden_size, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
    attn = (h + (H + 2 * kvh) * d) + (H * d + h)
    n_moe = sum(k for kind, k in cfg.layer_runs() if kind == "moe")
    ffn = cfg.intermediate_size
    mlp = ((h + (2 if cfg.gated_mlp else 1) * ffn) + (ffn + h)) * (cfg.num_layers - n_moe)
    return float(rank * (attn * cfg.num_layers + mlp))


# ----------------------------------------------------------------------------- plans as columns


@dataclass(frozen=True)
class PlanTable:
    """Plans as columns (numpy int arrays of one length). ``rc`` is the recompute code
    (:data:`RC_NONE`, :data:`RC_SELECTIVE`, :data:`RC_FULL`, or N >= 0 layers), ``order`` an
    index into :data:`ORDERS`."""

    tp: np.ndarray
    pp: np.ndarray
    dp: np.ndarray
    ep: np.ndarray
    cp: np.ndarray
    sp: np.ndarray
    v: np.ndarray
    zero: np.ndarray
    shard: np.ndarray
    rc: np.ndarray
    mb: np.ndarray
    order: np.ndarray

    def __len__(self) -> int:
        return int(self.tp.shape[0])

    @staticmethod
    def of(plans: list[Plan]) -> PlanTable:
        def col(f):
            return np.array([f(p) for p in plans], dtype=np.int64)
        return PlanTable(
            tp=col(lambda p: p.tp), pp=col(lambda p: p.pp), dp=col(lambda p: p.dp), ep=col(lambda p: p.ep),
            cp=col(lambda p: p.cp), sp=col(lambda p: int(p.sp)), v=col(lambda p: p.interleave),
            zero=col(lambda p: p.zero), shard=col(lambda p: p.shard or p.dp),
            rc=col(lambda p: recompute_code(p.recompute)),
            mb=col(lambda p: p.micro_batch), order=col(lambda p: ORDERS.index(p.order) if p.order in ORDERS else 0),
        )

    def take(self, idx) -> PlanTable:
        return PlanTable(**{f.name: getattr(self, f.name)[idx] for f in dataclasses.fields(self)})

    def plan(self, i: int) -> Plan:
        rc = int(self.rc[i])
        recompute = {RC_NONE: "none", RC_SELECTIVE: "selective", RC_FULL: "full"}.get(rc, rc)
        dp, shard = int(self.dp[i]), int(self.shard[i])
        return Plan(tp=int(self.tp[i]), pp=int(self.pp[i]), dp=dp, ep=int(self.ep[i]), cp=int(self.cp[i]),
                    sp=bool(self.sp[i]), interleave=int(self.v[i]), zero=int(self.zero[i]),
                    shard=0 if shard == dp else shard, recompute=recompute, micro_batch=int(self.mb[i]),
                    order=ORDERS[int(self.order[i])])


# ----------------------------------------------------------------------------- per-shape operator times


@dataclass(frozen=True)
class ShapeTimes:
    """Seconds of one micro-batch on one chip of a (tp, ep, cp, micro_batch) shard, for all the
    model's layers (divide by layers for one): ``layers`` forward + backward by category (no
    recompute), ``rec_full`` a full recompute of every layer, ``rec_sel`` of every attention
    core; ``embed``/``head`` forward + backward of the end blocks; ``optimizer`` the Adam step
    over the chip's tp/ep shard of every layer (before pp and ZeRO division); ``bwd_mm`` the
    matmul + attention backward of all layers (what DP sync overlaps with)."""

    layers: dict[str, float]
    rec_full: float
    rec_sel: float
    embed: float
    head: float
    optimizer: float
    bwd_mm: float

    @property
    def layers_total(self) -> float:
        return sum(self.layers.values())


def shape_times(cfg: ModelConfig, chip: ChipParams, prec: Precision, tp: int, ep: int, cp: int, mb: int,
                seq_len: int, tuning: Tuning = PRETRAIN, eff: float | None = None,
                fused_attention: bool = True, pipelined_vector: bool = False,
                remat_drops_dead_ops: bool = False) -> ShapeTimes:
    """Time the operators of one training micro-batch of the (tp, ep, cp, mb) shard (cached by the
    chip's content, :attr:`fabless.perf.params.ChipParams.key`). ``fused_attention=False``: the
    software's attention writes the score matrix to memory (:attr:`fabless.workload.ops.Attention.fused`);
    ``pipelined_vector``: its vector-core work runs under the matmuls (:func:`part_times`)."""
    key = (chip.key, cfg, prec, tp, ep, cp, mb, seq_len, tuning, eff, fused_attention, pipelined_vector,
           remat_drops_dead_ops)
    hit = _SHAPES.get(key)
    if hit is None:
        if len(_SHAPES) > 4096:
            _SHAPES.clear()
        hit = _SHAPES[key] = _shape_times(cfg, chip, prec, tp, ep, cp, mb, seq_len, tuning, eff, fused_attention,
                                          pipelined_vector, remat_drops_dead_ops)
    return hit


_SHAPES: dict[tuple, ShapeTimes] = {}


def _lora_ops(op: MatMul, rank: int) -> list:
    """A weight matmul's adapter: x @ A (k -> r) then @ B (r -> n), forward, or their backward
    (input and weight gradients) for a backward pass."""
    a = dataclasses.replace(op, name=f"{op.name}.lora_a", n=rank)
    b = dataclasses.replace(op, name=f"{op.name}.lora_b", k=rank)
    return [a, b]


#: NVFP4 training (Transformer Engine's NVFP4BlockScaling recipe, as Megatron-Bridge's
#: ``bf16_with_nvfp4_mixed`` runs it) quantises each linear layer's activation-side GEMM input
#: (the input X in the forward and a recompute, the output gradient dY in the backward) with
#: three kernels over the bf16 tensor (TransformerEngine transformer_engine/pytorch/csrc/
#: quantizer.cpp, NVFP4Quantizer::quantize_impl, github.com/NVIDIA/TransformerEngine commit
#: ad3f651f1dad676dac5109ac20d525f54650d88d): an amax pass (the per-tensor FP32 scale of the
#: two-level scaling needs the tensor's absolute maximum first, and with the random Hadamard
#: transform also that of RHT(X^T): nvte_hadamard_transform_amax), the rowwise 1x16-block cast
#: the forward / dgrad GEMM reads (nvte_quantize_v2) and the columnwise cast with the 16x16 RHT
#: the wgrad GEMM reads (nvte_hadamard_transform_cast_fusion_columnwise); NVIDIA, "Pretraining
#: Large Language Models with NVFP4", arXiv:2509.25149, sec. 4: RHT on the wgrad inputs only).
#: So each element is read three times in bf16 and written twice as 4 bits plus one E4M3 scale
#: byte per 16 elements. The weights' 2D (16x16) cast is left out: it runs once per weight per
#: step (TE keeps the quantised weight across a step's micro-batches), not per micro-batch.
NVFP4_QUANTIZE_READS = 3.0
NVFP4_QUANTIZE_WRITE_BYTES = 2 * (0.5 + 1.0 / 16)
#: Arithmetic per element of those kernels on the vector units (absolute value and max, scale,
#: round and convert); the RHT's 16-point products run as a small matmul and are not counted.
NVFP4_QUANTIZE_FLOPS_PER_ELEMENT = 4.0


def nvfp4_quantize_op(op) -> Elementwise | None:
    """The quantisation of ``op``'s activation-side input under NVFP4 training (the constants
    above say what it moves), or None when ``op`` does not read one: a linear layer's forward,
    recompute or input-gradient GEMM (``weight`` set, not a weight gradient) whose A operand is
    fp4. Its ``elements`` are the A operand's (rows x k)."""
    if not isinstance(op, (MatMul, ExpertMatMul)) or not op.weight or op.dtype_a != "fp4":
        return None
    if op.name.endswith(".wgrad") or getattr(op, "wgrad", False):
        return None
    if isinstance(op, MatMul):
        elements = op.batch * op.m * op.k
    else:
        elements = int(round(op.experts * op.tokens_per_expert)) * op.k
    bf16 = float(dtype_bytes("bf16"))
    return Elementwise(name=f"{op.name}.nvfp4_quantize", elements=elements, inputs=NVFP4_QUANTIZE_READS,
                       outputs=NVFP4_QUANTIZE_WRITE_BYTES / bf16, flops_per_element=NVFP4_QUANTIZE_FLOPS_PER_ELEMENT,
                       dtype="bf16", pass_=op.pass_)


#: A fully recomputed layer's forward operators whose results no gradient of the layer reads: the MLP's
#: down projection (with its bias) and the residual add after it produce the layer's output, which the
#: next layer's checkpoint keeps. A framework that compiles the recomputation with the backward into one
#: graph (XLA) drops them as dead code; an eager framework's checkpoint reruns the whole forward
#: (Software.remat_drops_dead_ops). The attention output projection is not among them: the residual sum
#: it feeds is the MLP norm's input, which that norm's gradient reads; a mixture-of-experts layer's
#: expert outputs are read by the router's gradient.
DEAD_UNDER_REMAT = frozenset({"mlp.down", "mlp.fc2", "mlp.down_bias", "mlp_residual"})

#: The parts of one micro-batch's operators (:func:`shape_terms`), as in :class:`ShapeTimes`.
SHAPE_PARTS = ("rec_full", "rec_sel", "embed", "head", "optimizer", "bwd_mm")


def shape_terms(cfg: ModelConfig, prec: Precision, tp: int, ep: int, cp: int, mb: int, seq_len: int,
                tuning: Tuning = PRETRAIN, fused_attention: bool = True,
                remat_drops_dead_ops: bool = False) -> dict[str, list[tuple[object, float]]]:
    """The operators of one training micro-batch of the (tp, ep, cp, mb) shard as (op, coefficient)
    lists per part: ``layer.<category>`` (forward + backward of all layers, no recompute),
    ``rec_full`` / ``rec_sel`` (a full / attention-core recompute of all layers), ``embed``,
    ``head``, ``optimizer`` and ``bwd_mm`` (the matmul and attention backward). Each op is already
    in the datatypes the framework runs (:func:`fabless.estimate.optime.framework_dtypes`); its
    time times the coefficient (the block's repeat count; x cp for attention under ring attention)
    is its share. Chip-independent: :func:`shape_times` (one chip) and explore (arrays of designs)
    time the same lists. ``fused_attention=False`` marks the attention ops unfused (the software
    writes the score matrix to memory: :func:`fabless.perf.attention.unfused_attention_time`)."""
    scfg = sharded_config(cfg, Plan(tp=tp, ep=ep))
    g = build_training_graph(scfg, mb, seq_len // cp, prec, recompute="full")
    if tuning.adapters:
        g = with_adapters(g, tuning.rank, max(1, tp), dequant=tuning.mode == "qlora")
    out: dict[str, list[tuple[object, float]]] = {k: [] for k in SHAPE_PARTS}
    for b in g.blocks:
        root = b.name.split(".")[0]
        for op in b.ops:
            if isinstance(op, Collective):
                continue
            if remat_drops_dead_ops and op.pass_ == "recompute" and op.name.removesuffix(".recompute") in DEAD_UNDER_REMAT:
                continue  # dead code under a compiled recompute, its quantisation with it
            if op.pass_ == "opt" and tuning.adapters:
                op = dataclasses.replace(op, n_params=adapter_params(scfg, tuning.rank))
            quant = nvfp4_quantize_op(op) if root.startswith("layers[") else None
            if quant is not None:
                part = "rec_full" if op.pass_ == "recompute" else "layer.quantize"
                out.setdefault(part, []).append((quant, float(b.repeat)))
            fop = framework_dtypes(op)
            if not fused_attention and isinstance(fop, Attention):
                fop = dataclasses.replace(fop, fused=False)
            coef = float(b.repeat)
            if op.pass_ == "opt":
                out["optimizer"].append((fop, coef))
            elif root == "embed":
                out["embed"].append((fop, coef))
            elif root == "head":
                out["head"].append((fop, coef))
            elif op.pass_ == "recompute":
                # ring attention: each chip's seq/cp queries attend to all seq keys
                c = coef * cp if isinstance(op, Attention) else coef
                out["rec_full"].append((fop, c))
                if isinstance(op, Attention):
                    out["rec_sel"].append((fop, c))
            else:
                cat = _category(op)
                c = coef * cp if cat == "attention" else coef
                out.setdefault(f"layer.{cat}", []).append((fop, c))
                if op.pass_ == "bwd" and cat in ("matmul", "attention"):
                    out["bwd_mm"].append((fop, c))
    return out


def _shape_times(cfg, chip, prec, tp, ep, cp, mb, seq_len, tuning: Tuning = PRETRAIN,
                 eff: float | None = None, fused_attention: bool = True, pipelined_vector: bool = False,
                 remat_drops_dead_ops: bool = False) -> ShapeTimes:
    terms = shape_terms(cfg, prec, tp, ep, cp, mb, seq_len, tuning, fused_attention, remat_drops_dead_ops)
    tot = part_times(terms, lambda pairs: sum(_op_time(op, chip, eff) * c for op, c in pairs), pipelined_vector)
    layers = {k.split(".", 1)[1]: v for k, v in tot.items() if k.startswith("layer.")}
    return ShapeTimes(layers, tot["rec_full"], tot["rec_sel"], tot["embed"], tot["head"], tot["optimizer"], tot["bwd_mm"])


#: The layer categories a Gaudi runs on its vector cores (TPCs) beside the matrix engines' (MME)
#: matmuls (:func:`part_times`).
VECTOR_CATEGORIES = ("elementwise", "norm")


def vector_under_matmul(matmul, vector):
    """Seconds of ``vector`` work left exposed when a graph compiler runs it on separate vector
    cores, pipelined with ``matmul`` seconds of matrix-engine work (Gaudi: "given the heterogeneous
    nature of Gaudi hardware (Matrix Math engine, TPC and DMA), the graph compiler enables effective
    utilization through parallel and pipelined execution", Intel Gaudi docs, 'Intel Gaudi Software
    Suite'): the two engines work side by side, so a block takes the longer of the two, and only the
    vector time beyond the matmuls is added. Works on floats and arrays."""
    return np.maximum(0.0, np.asarray(vector, dtype=float) - np.asarray(matmul, dtype=float))


def part_times(terms: dict[str, list[tuple[object, float]]], time_of, pipelined_vector: bool = False) -> dict:
    """Seconds of each part of :func:`shape_terms` (``time_of(pairs)`` sums one list's operator
    times: a float, or an array over chip designs). With ``pipelined_vector`` (a software stack whose
    graph compiler pipelines vector-core work with the matrix engines: ``Software.pipelined_vector``)
    the vector categories (:data:`VECTOR_CATEGORIES`) of the layers' forward + backward, and those of
    a full recompute, run under their matmuls (:func:`vector_under_matmul`): each ``layer.<vector>``
    part is scaled to its share of the exposed remainder, and ``rec_full`` is its other operators +
    its matmuls + its exposed vector work. The other parts are summed as they are."""
    out = {k: time_of(v) for k, v in terms.items() if not (pipelined_vector and k == "rec_full")}
    if not pipelined_vector:
        return out
    vec_keys = [f"layer.{c}" for c in VECTOR_CATEGORIES if f"layer.{c}" in out]
    vec = sum((out[k] for k in vec_keys), 0.0)
    exposed = vector_under_matmul(out.get("layer.matmul", 0.0), vec)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(np.asarray(vec) > 0, exposed / np.where(np.asarray(vec) > 0, vec, 1.0), 0.0)
    for k in vec_keys:
        out[k] = out[k] * share
    split: dict[str, list] = {"matmul": [], "vector": [], "rest": []}
    for op, c in terms.get("rec_full", []):
        cat = _category(op)
        split["matmul" if cat == "matmul" else "vector" if cat in VECTOR_CATEGORIES else "rest"].append((op, c))
    mm = time_of(split["matmul"])
    out["rec_full"] = time_of(split["rest"]) + mm + vector_under_matmul(mm, time_of(split["vector"]))
    return out


def with_adapters(g, rank: int, tp: int, dequant: bool = False):
    """The graph of a LoRA step: the frozen base's weight gradients (and the embedding's) dropped;
    an adapter beside each forward weight matmul of a transformer layer (not experts, not the LM
    head), with its backward. Under tp the adapter's rank stays whole (A is split like the
    weight's k or n, B replicated: a rank-r matmul either way). With ``dequant`` (QLoRA) every use
    of a base weight (forward, recompute, input gradient) is preceded by its dequantisation from
    4 bits to bf16 (read k x n x 0.5 bytes, write k x n x 2), and the matmul runs in bf16, as
    bitsandbytes' NF4 layers do."""
    blocks = []
    for b in g.blocks:
        root = b.name.split(".")[0]
        ops = []
        for op in b.ops:
            if op.name.endswith(".wgrad") and isinstance(op, (MatMul, ExpertMatMul)):
                continue  # frozen base: no weight gradient
            if root == "embed" and op.pass_ == "bwd":
                continue
            if dequant and root.startswith("layers[") and isinstance(op, MatMul) and op.weight:
                ops.append(Elementwise(name=f"{op.name}.dequant", elements=op.batch * op.k * op.n, inputs=0.25,
                                       outputs=1, flops_per_element=2.0, dtype="bf16", pass_=op.pass_))
            ops.append(op)
            if root.startswith("layers[") and isinstance(op, MatMul) and op.weight and op.pass_ in ("fwd", "recompute"):
                ops += _lora_ops(op, rank)
            if root.startswith("layers[") and isinstance(op, MatMul) and op.name.endswith(".dgrad") and op.weight:
                fwd = dataclasses.replace(op, name=op.name[:-6], m=op.m, n=op.k, k=op.n, pass_="fwd")
                for ad in _lora_ops(fwd, rank):
                    ops += backward_ops(ad)
        blocks.append(dataclasses.replace(b, ops=tuple(ops)))
    return dataclasses.replace(g, blocks=tuple(blocks))


# ----------------------------------------------------------------------------- collectives over plans


def _groups(*cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of one row per distinct combination of ``cols``, inverse map row -> group): a 1-D
    unique over a mixed-radix key, much faster than ``np.unique(axis=0)`` on 100k rows."""
    if len(cols[0]) <= 16:  # a few plans (an estimate): a dict is cheaper than sorting
        seen: dict[tuple, int] = {}
        first: list[int] = []
        inv = np.empty(len(cols[0]), dtype=np.int64)
        for i in range(len(cols[0])):
            key = tuple(c[i].item() for c in cols)
            if key not in seen:
                seen[key] = len(first)
                first.append(i)
            inv[i] = seen[key]
        return np.array(first, dtype=np.int64), inv
    key = np.zeros(len(cols[0]), dtype=np.int64)
    for c in cols:
        _, inv = np.unique(c, return_inverse=True)
        key = key * (int(inv.max()) + 1 if inv.size else 1) + inv.ravel()
    _, first, inv = np.unique(key, return_index=True, return_inverse=True)
    return first, inv.ravel()


def _coll(kind: str, nbytes, group, per_dom, system: System, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Seconds of one collective per plan, timed once per distinct (bytes, group, members per
    scale-up domain): ``per_dom`` = group means inside one domain, 1 one member per domain."""
    nbytes = np.broadcast_to(np.asarray(nbytes, dtype=float), np.shape(group)).copy()
    group = np.asarray(group, dtype=np.int64)
    per_dom = np.broadcast_to(np.asarray(per_dom, dtype=np.int64), group.shape)
    out = np.zeros(group.shape)
    live = group > 1
    if not live.any():
        return out
    b_l, g_l, d_l = nbytes[live], group[live], per_dom[live]
    first, inv = _groups(b_l, g_l, d_l)
    vals = np.empty(len(first))
    for j, i in enumerate(first):
        g, d = int(g_l[i]), int(d_l[i])
        key = (kind, float(b_l[i]), g, min(d, g), id(system), shape)
        hit = _COLL.get(key)
        if hit is None or hit[0] is not system:
            if d >= g and shape is not None and math.prod(shape) == g:
                t = group_collective_time_s(kind, float(b_l[i]), g, system, within_domain=True, group_shape=shape)
            elif d >= g:
                t = group_collective_time_s(kind, float(b_l[i]), g, system, within_domain=True)
            elif d <= 1:
                t = group_collective_time_s(kind, float(b_l[i]), g, system, within_domain=False)
            else:
                t = group_collective_time_s(kind, float(b_l[i]), g, system, per_domain=d)
            if len(_COLL) > 100_000:
                _COLL.clear()
            hit = _COLL[key] = (system, float(t))
        vals[j] = hit[1]
    out[live] = vals[inv]
    return out


#: collective seconds by (kind, bytes, group, members per domain, system object); the system is
#: kept in the value so that a reused id is recognised. The collective parameters are read once
#: per process (data/perf/collectives.yaml), so they need no place in the key.
_COLL: dict[tuple, tuple[System, float]] = {}


def _stride(t: PlanTable, axis: str) -> np.ndarray:
    """Chips between neighbours of an ``axis`` group per plan (product of the axes inside it)."""
    out = np.ones(len(t), dtype=np.int64)
    for o, order in enumerate(ORDERS):
        sel = t.order == o
        axes = order.split("-")
        for a in axes[: axes.index(axis)]:
            out[sel] = out[sel] * getattr(t, a)[sel]
    return out


def per_domain(stride, size, domain: int):
    """Members of a group (``size`` chips, ``stride`` apart) in each scale-up domain of
    ``domain`` chips: all of them when stride x size fits, 1 when the stride fills a domain,
    else domain / stride."""
    stride, size = np.asarray(stride), np.asarray(size)
    return np.where(stride * size <= domain, size, np.where(stride >= domain, 1, np.maximum(1, domain // stride)))


def _within(t: PlanTable, axis: str, domain: int) -> np.ndarray:
    """Members per scale-up domain of each plan's ``axis`` groups (see :func:`per_domain`)."""
    return per_domain(_stride(t, axis), getattr(t, axis), domain)


# ----------------------------------------------------------------------------- the step


def stage_layout(layers: int, pp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(layers of the first, a middle, the last stage) per plan: ceil(layers / pp) each, the end
    stages one fewer when that leaves two or more layers over (Llama 3's balanced layout)."""
    mid = -(-layers // pp)
    spare = pp * mid - layers
    end = np.where((pp >= 3) & (spare >= 2), mid - 1, mid)
    last = np.where(pp == 1, mid, layers - (pp - 2) * mid - end)
    last = np.where(pp == 2, layers - end, last)
    return end, mid, np.maximum(last, 1)


def recompute_split(t: PlanTable, stage_layers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(layers of a stage fully recomputed, whether the others recompute the attention core) per
    plan: a stage of ``stage_layers`` layers under none, selective, full, or N layers fully recomputed."""
    full_n = np.where(t.rc == RC_FULL, stage_layers, np.where(t.rc >= 0, np.minimum(t.rc, stage_layers), 0))
    return full_n, t.rc == RC_SELECTIVE


def training_steps(cfg: ModelConfig, chip: ChipParams, system: System, prec: Precision, *, global_batch: int,
                   seq_len: int, plans: PlanTable, tuning: Tuning = PRETRAIN, eff: float | None = None,
                   overlap_grad_reduce: bool = True, overlap_tp_comm: bool = False, fused_attention: bool = True,
                   mesh: dict[str, tuple[int, ...]] | None = None, overlap_ep_comm: bool = False,
                   moe_host_s: float = 0.0, moe_host_per_expert_s: float = 0.0,
                   pipelined_vector: bool = False, remat_drops_dead_ops: bool = False) -> dict[str, np.ndarray]:
    """Step time, its terms (:data:`TERMS`, seconds over the step) and memory per chip
    (bytes: weights, gradients, optimizer, activations, logits, total) for every plan in
    ``plans``. Plans must be valid (:func:`fabless.estimate.plan.check_plan`). ``eff`` and
    ``overlap_grad_reduce`` come from the software stack (:mod:`fabless.estimate.software`):
    the framework efficiency (None = engine-wide), whether the gradient reduction overlaps the
    last micro-batch's backward (else all of it is exposed), and whether tensor-parallel collectives
    overlap the layer matmuls they feed (XLA's collective matmul; then only their excess over the
    stage's compute is exposed), whether a MoE layer's all-to-alls run under another micro-batch's
    compute (``overlap_ep_comm``, :func:`step_terms`), the host time per MoE layer and micro-batch that the
    device waits out (``moe_host_s`` + ``moe_host_per_expert_s`` per local expert, :func:`step_terms`), and whether its attention kernel is fused
    (flash) or writes the score matrix to memory (``fused_attention``), and whether its vector-core work runs
    under the matmuls (``pipelined_vector``, :func:`part_times`). ``mesh`` (a torus system, one plan): the shape each axis's
    groups take on the torus, e.g. ``{"tp": (4, 1), "dp": (4, 16)}`` (:attr:`Plan.mesh`); the
    ZeRO shard and gather groups follow dp's shape."""
    t = plans
    n = len(t)
    p = engine_params()

    # --- operator times per distinct shard shape
    first_i, inv = _groups(t.tp, t.ep, t.cp, t.mb)
    st = [shape_times(cfg, chip, prec, int(t.tp[i]), int(t.ep[i]), int(t.cp[i]), int(t.mb[i]), seq_len, tuning, eff,
                      fused_attention, pipelined_vector, remat_drops_dead_ops) for i in first_i]
    times = {"layers": np.array([s.layers_total for s in st])[inv],
             **{k: np.array([getattr(s, k) for s in st])[inv] for k in SHAPE_PARTS}}
    r = step_terms(cfg, prec, t, times, global_batch=global_batch, seq_len=seq_len,
                   coll=lambda kind, nbytes, group, per_dom, axis=None: _coll(kind, nbytes, group, per_dom, system,
                                                                              mesh.get(axis) if mesh else None),
                   domain=system.scale_up.size, tuning=tuning, overlap_grad_reduce=overlap_grad_reduce,
                   overlap_tp_comm=overlap_tp_comm, overlap_ep_comm=overlap_ep_comm, moe_host_s=moe_host_s,
                   moe_host_per_expert_s=moe_host_per_expert_s)

    mem = training_memory(cfg, prec, global_batch=global_batch, seq_len=seq_len, plans=t, tuning=tuning)
    budget = float(system.chip.memory.hbm.capacity_bytes) * p["usable_memory_fraction"]
    return {**r, **{f"mem_{k}": v for k, v in mem.items()}, "mem_budget": np.full(n, budget),
            "fits": mem["total"] <= budget}


def step_terms(cfg: ModelConfig, prec: Precision, t: PlanTable, times: dict[str, np.ndarray], *, global_batch: int,
               seq_len: int, coll, domain: int, tuning: Tuning = PRETRAIN, overlap_grad_reduce: bool = True,
               overlap_tp_comm: bool = False, overlap_ep_comm: bool = False,
               moe_host_s: float = 0.0, moe_host_per_expert_s: float = 0.0) -> dict[str, np.ndarray]:
    """The training step from its parts, over arrays: the one place the step's formula is written
    (module docstring). ``times`` holds one micro-batch's operator seconds for all layers:
    ``layers`` (forward + backward, no recompute) and each of :data:`SHAPE_PARTS`, as arrays that
    broadcast with the plan columns of ``t`` (one value per plan for a plan search; one plan and
    an array over chip designs for explore). ``coll(kind, bytes, group, members_per_domain,
    axis=...)`` gives a collective's seconds (arrays broadcast likewise); ``axis`` names the plan
    axis whose groups run it (tp, cp, ep, pp, dp, dp_shard, dp_cross, edp), so that a caller can
    place it (a torus mesh shape); ``domain`` is the scale-up domain's chips. Returns the step time, the micro-batch stage time, the micro-batch count, the bubble
    fraction and every term of :data:`TERMS` (seconds over the step).

    ``overlap_ep_comm`` (Megatron's ``overlap_moe_expert_parallel_comm``, which needs an
    interleaved pipeline when pp > 1): the schedule pairs one micro-batch's forward with another's
    backward, and each one's dispatch / combine all-to-alls run while the other computes. A
    micro-batch's all-to-alls are then exposed only beyond the stage's compute that the
    tensor-parallel exchanges have not already taken; the forwards of the pipeline warm-up and the
    backwards of the cool-down have no partner, and their all-to-alls stay exposed: on the first
    stage ``2 (pp - 1) + (v - 1) pp`` of the ``v m`` virtual-stage forwards (Megatron's interleaved
    1F1B warm-up; one of ``m`` without a pipeline).

    ``moe_host_s`` + ``moe_host_per_expert_s`` x the chip's local experts (``experts / ep``; the software
    stack's, :attr:`fabless.estimate.software.Software.moe_host_s`): seconds per MoE layer and
    micro-batch (forward + backward) in which the device waits for the host: a dropless MoE layer's
    grouped GEMMs are launched by the host, one GEMM per local expert, with each expert's token count,
    which the host must first read back from the device, so the launches of the expert path that
    follow are not queued ahead of the device. Added to every stage, overlapped with nothing (the
    ``moe_host`` term)."""
    L = cfg.num_layers
    h = cfg.hidden_size
    p = engine_params()
    act_b = comm_dtype_bytes(prec)  # what the collectives move (bf16 under fp8/fp4 GEMM inputs)
    lay = times["layers"] / L            # one layer, fwd + bwd
    rfull = times["rec_full"] / L
    rsel = times["rec_sel"] / L
    emb = times["embed"]
    head = times["head"]
    opt_all = times["optimizer"]
    bwd_mm = times["bwd_mm"] / L
    zeros = np.zeros(np.broadcast(t.tp, lay).shape)

    first, mid, last = stage_layout(L, t.pp)
    full_n, sel = recompute_split(t, mid)
    per_layer = lay + np.where(sel, rsel, 0.0)
    stage_of = lambda k, fn: k * per_layer + np.minimum(fn, k) * (rfull - np.where(sel, rsel, 0.0))  # noqa: E731
    c_mid = stage_of(mid, full_n)
    c_first = stage_of(first, full_n) + emb
    c_last = stage_of(last, full_n) + head
    compute = np.where(t.pp == 1, c_mid + emb + head, np.maximum(c_mid, np.maximum(c_first, c_last)))

    # --- collectives of one micro-batch
    tokens_mb = t.mb * seq_len // t.cp
    tp_bytes = tokens_mb * h * act_b
    # ranks a micro-batch's tokens are split over: tp under sequence parallelism (each rank holds its share)
    sp_split = np.where(t.sp == 1, t.tp, 1)
    tp_w = _within(t, "tp", domain)
    n_tp = 4 * mid + 2 * full_n
    tp_s = n_tp * coll("all_reduce", tp_bytes, t.tp, tp_w, axis="tp") * p["tp_comm_exposed_fraction"]
    tp_hidden = zeros
    if overlap_tp_comm:
        tp_all = tp_s
        tp_s = np.maximum(0.0, tp_s - compute)
        tp_hidden = tp_all - tp_s
    m = global_batch // (t.dp * t.mb)
    ep_s = zeros
    host_s = zeros
    if cfg.is_moe:
        moe_frac = sum(k for kind, k in cfg.layer_runs() if kind == "moe") / L
        local = cfg.num_experts / np.maximum(t.ep, 1)
        host_s = zeros + moe_frac * mid * (moe_host_s + local * moe_host_per_expert_s)
        # each rank dispatches the tokens it holds (sp_split; Megatron-core requires sequence parallelism
        # for MoE layers under tensor parallelism): the expert-parallel all-to-all sends that share
        # (MoEAlltoAllTokenDispatcher, expert TP 1), as pp_s does
        a2a = tokens_mb * cfg.top_k * h * act_b / sp_split
        ep_s = 4 * moe_frac * mid * coll("all_to_all", a2a, t.ep, per_domain(1, t.ep, domain), axis="ep")
        if overlap_ep_comm:
            unpaired = np.minimum(1.0, np.maximum(1, 2 * (t.pp - 1) + (t.v - 1) * t.pp) / (t.v * m))
            ep_s = unpaired * ep_s + (1 - unpaired) * np.maximum(0.0, ep_s - np.maximum(0.0, compute - tp_hidden))
    cp_s = zeros
    if (t.cp > 1).any():
        kv = 2 * tokens_mb * cfg.num_kv_heads * cfg.head_dim * act_b / t.tp
        cp_s = 3 * mid * coll("all_gather", kv * t.cp, t.cp, _within(t, "cp", domain), axis="cp")
    pp_hop = np.where(_stride(t, "pp") >= domain, 1, 2)  # neighbouring stages on one domain or two
    pp_s = 2 * t.v * coll("send_recv", tp_bytes / sp_split, np.where(t.pp > 1, 2, 1),
                          np.where(t.pp > 1, pp_hop, 1), axis="pp")
    stage_s = compute + tp_s + ep_s + host_s + cp_s + pp_s

    bubble_frac = np.where(t.pp > 1, (t.pp - 1) / (t.v * m + t.pp - 1), 0.0)
    pipeline_s = m * stage_s
    bubble_s = pipeline_s * bubble_frac / (1 - bubble_frac)

    # --- data-parallel synchronisation (dense parameters over dp, experts over their ep group)
    parts = cfg.params_by_part()
    dense, expert, dense_chip, expert_chip, edp = param_split(cfg, t)
    dp_w = _within(t, "dp", domain)
    shard = t.shard
    hsdp = shard < t.dp
    w_bytes = training_bytes(prec.weights)
    grad_b = 2.0
    if tuning.adapters:  # only the adapters' gradients are reduced
        dense_chip = adapter_params(cfg, tuning.rank) / (t.tp * t.pp)
        expert_chip = zeros
        expert = 0.0
    # ZeRO 0-2: one all-reduce of the gradients (Megatron's distributed optimizer does a
    # reduce-scatter of gradients and an all-gather of updated weights: the same volume).
    # ZeRO 3: reduce-scatter over the shard group (+ all-reduce of the shard across groups
    # under HSDP); weights all-gathered before each micro-batch's forward and backward.
    z3 = t.zero == 3
    dp_stride = _stride(t, "dp")
    shard_w = per_domain(dp_stride, shard, domain)
    ar_dense = coll("all_reduce", dense_chip * grad_b, t.dp, dp_w, axis="dp")
    rs_dense = coll("reduce_scatter", dense_chip * grad_b, shard, shard_w, axis="dp_shard")
    cross = coll("all_reduce", dense_chip * grad_b / shard, t.dp // shard, per_domain(dp_stride * shard, t.dp // shard, domain),
                 axis="dp_cross")
    dp_s = np.where(z3, rs_dense + np.where(hsdp, cross, 0.0), ar_dense)
    if expert:
        dp_s = dp_s + coll("all_reduce", expert_chip * grad_b, edp, per_domain(1, edp, domain), axis="edp")
    base_chip = (float(cfg.params_total) - float(parts.get("experts", 0))) / (t.tp * t.pp) \
        + float(parts.get("experts", 0)) / (t.ep * t.pp * np.where(t.ep == 1, t.tp, 1))
    base_w = 0.5 if tuning.mode == "qlora" else w_bytes
    ag = coll("all_gather", base_chip * base_w, shard, shard_w, axis="dp_shard")
    dp_s = dp_s + np.where(z3, np.maximum(0.0, 2 * ag - stage_s) * m, 0.0)
    dp_exposed = np.maximum(0.0, dp_s - bwd_mm * mid) if overlap_grad_reduce else dp_s
    opt_s = opt_all / t.pp / np.where(t.zero >= 1, shard, 1)
    step_s = pipeline_s + bubble_s + dp_exposed + opt_s

    return {
        "step_time_s": step_s, "stage_s": stage_s, "micro_batches": m, "bubble_fraction": bubble_frac,
        "compute": pipeline_s - m * (tp_s + ep_s + host_s + cp_s + pp_s), "tp_comm": m * tp_s, "ep_all_to_all": m * ep_s,
        "moe_host": m * host_s,
        "cp_comm": m * cp_s, "pp_send_recv": m * pp_s, "pipeline_bubble": bubble_s, "dp_comm_exposed": dp_exposed,
        "optimizer": opt_s,
    }


def param_split(cfg: ModelConfig, t: PlanTable):
    """(dense params, routed-expert params, dense params per chip, expert params per chip, expert
    data-parallel group size) per plan: dense parts split over tp x pp, experts whole over ep x pp
    (and tensor-parallel over tp when ep = 1); each expert's gradients are reduced over the
    tp x cp x dp / ep chips that hold it."""
    expert = float(cfg.params_by_part().get("experts", 0))
    dense = float(cfg.params_total) - expert
    dense_chip = dense / (t.tp * t.pp)
    expert_chip = expert / (t.ep * t.pp * np.where(t.ep == 1, t.tp, 1))
    edp = np.maximum(1, t.tp * t.cp * t.dp // t.ep)
    return dense, expert, dense_chip, expert_chip, edp


def training_bytes(dtype: str) -> float:
    """Bytes per element a training step stores and gathers for weights or activations of
    ``dtype``: FP8 and NVFP4 training quantise only the GEMM inputs (optime.framework_dtypes),
    the weights are kept and all-gathered in bf16 and the activations between kernels are bf16,
    so both narrow formats count 2 bytes."""
    return 2.0 if dtype in GEMM_INPUT_DTYPES else float(dtype_bytes(dtype))


def training_memory(cfg: ModelConfig, prec: Precision, *, global_batch: int, seq_len: int,
                    plans: PlanTable, tuning: Tuning = PRETRAIN) -> dict[str, np.ndarray]:
    """Bytes per chip of every plan's busiest pipeline stage: ``weights``, ``gradients``,
    ``optimizer``, ``activations``, ``logits`` and ``total`` (the module docstring states each term)."""
    t = plans
    L = cfg.num_layers
    act_b = training_bytes(prec.activations)
    w_bytes = training_bytes(prec.weights)
    grad_b = 2.0
    parts = cfg.params_by_part()
    dense, expert, dense_chip, expert_chip, edp = param_split(cfg, t)
    shard = t.shard
    z3 = t.zero == 3
    first, mid, last = stage_layout(L, t.pp)
    full_n, sel = recompute_split(t, mid)
    m = global_batch // (t.dp * t.mb)
    state_div_w = np.where(z3, shard, 1)
    state_div_g = np.where(t.zero >= 2, shard, 1)
    weights = (dense_chip + expert_chip) * w_bytes / state_div_w
    layer_params = (dense - float(parts.get("embedding", 0)) - float(parts.get("lm_head", 0))) / L / t.tp \
        + expert / L / np.maximum(t.ep, 1) / np.where(t.ep == 1, t.tp, 1)
    weights = weights + np.where(z3, 2 * layer_params * w_bytes, 0.0)
    grads = (dense_chip + expert_chip) * grad_b / state_div_g
    edp_shard = np.maximum(1, edp * shard // t.dp)
    optim = np.where(t.zero >= 1, dense_chip / shard + expert_chip / edp_shard, dense_chip + expert_chip) \
        * ADAM_STATE_BYTES_PER_PARAM
    if tuning.adapters:
        # frozen base (4-bit under QLoRA) + bf16 adapters; gradients and Adam state for adapters only
        base_w = 0.5 if tuning.mode == "qlora" else w_bytes
        lora = adapter_params(cfg, tuning.rank) / (t.tp * t.pp)
        weights = weights / w_bytes * base_w + lora * 2.0
        grads = lora * grad_b / state_div_g
        optim = lora * ADAM_STATE_BYTES_PER_PARAM / np.where(t.zero >= 1, shard, 1)
    act = {mode: _act_vec(cfg, t, seq_len, act_b, mode) for mode in ("none", "selective", "full")}
    kept = np.where(sel, act["selective"], act["none"])

    def stage_act(k, in_flight):
        fn = np.minimum(full_n, k)
        return (fn * act["full"] + (k - fn) * kept) * in_flight

    inter = np.where(t.v > 1, 1 + (t.pp - 1) / (t.pp * t.v), 1.0)
    a_first = stage_act(first, np.minimum(t.pp, m)) * inter
    a_second = np.where(t.pp > 2, stage_act(mid, np.minimum(t.pp - 1, m)) * inter, 0.0)
    a_last = stage_act(last, 1)
    logits = t.mb * seq_len / t.cp * (-(-cfg.vocab_size // t.tp)) * 4.0
    state = weights + grads + optim
    total = np.where(t.pp == 1, state + a_first + logits, np.maximum(np.maximum(a_first, a_second), a_last + logits) + state)
    activations = np.where(t.pp == 1, a_first, np.maximum(np.maximum(a_first, a_second), a_last))

    return {"weights": weights, "gradients": grads, "optimizer": optim, "activations": activations, "logits": logits,
            "total": total}


def _act_vec(cfg: ModelConfig, t: PlanTable, seq_len: int, act_b: float, mode: str) -> np.ndarray:
    """:func:`activation_bytes_per_layer` over many plans: evaluated once per distinct
    (tp, mb, cp, sp)."""
    first, inv = _groups(t.tp, t.mb, t.cp, t.sp)
    ffn = cfg.moe_intermediate_size if cfg.is_moe else cfg.intermediate_size
    vals = np.array([activation_bytes_per_layer(
        seq=seq_len // int(t.cp[i]), micro_batch=int(t.mb[i]), hidden=cfg.hidden_size, ffn=ffn, heads=cfg.num_heads,
        kv_heads=cfg.num_kv_heads, head_dim=cfg.head_dim, act_bytes=act_b, tp=int(t.tp[i]), sp=bool(t.sp[i]),
        recompute=mode, glu=cfg.gated_mlp, experts_per_token=max(1, cfg.top_k)) for i in first])
    return vals[inv]


# ----------------------------------------------------------------------------- inference


def moe_layer_count(cfg: ModelConfig) -> int:
    """Layers whose MLP is a mixture of experts."""
    return sum(k for kind, k in cfg.layer_runs() if kind == "moe") if cfg.is_moe else 0


def tp_all_reduces(cfg: ModelConfig, plan: Plan) -> int:
    """Tensor-parallel all-reduces of one forward pass: two per layer (the attention output and the
    MLP output); a MoE layer whose experts sit whole on each chip (ep > 1) with no shared expert
    combines its output with the all-to-all instead; none under attention data parallelism."""
    if plan.tp <= 1 or plan.attn_dp:
        return 0
    n = 2 * cfg.num_layers
    if plan.ep > 1 and not cfg.num_shared_experts:
        n -= moe_layer_count(cfg)
    return n


def forward_collectives_s(cfg: ModelConfig, prec: Precision, plan: Plan, tokens, *, all_reduce, all_to_all):
    """(tensor-parallel, expert-parallel) collective seconds of one forward pass over ``tokens``
    tokens on one replica: :func:`tp_all_reduces` all-reduces of the tokens' activations (bf16
    under fp8/fp4 GEMM inputs) and, with ep > 1, a dispatch and a combine all-to-all per MoE layer
    of the tokens' top-k copies / ep per chip. ``all_reduce(bytes)`` and ``all_to_all(bytes)`` time
    one collective of the replica's groups (floats, or arrays over designs). The one place this is
    written: the engine's request, the serving simulator's step and explore call it."""
    act_b = comm_dtype_bytes(prec)
    h = cfg.hidden_size
    n_ar = tp_all_reduces(cfg, plan) * engine_params()["tp_comm_exposed_fraction"]
    tp = n_ar * all_reduce(tokens * h * act_b) if n_ar else 0.0
    ep = 0.0
    if cfg.is_moe and plan.ep > 1:
        ep = 2 * moe_layer_count(cfg) * all_to_all(tokens * cfg.top_k * h * act_b / plan.ep)
    return tp, ep


def forward_step(cfg: ModelConfig, prec: Precision, plan: Plan, tokens, op_s, *, all_reduce, all_to_all,
                 send_recv) -> dict:
    """One inference forward pass over ``tokens`` tokens on one chip of ``plan`` (a prefill, a
    decode step, or a serving step that mixes prefill chunks and decoding sequences), from
    ``op_s``, the seconds of its operators (floats or arrays over designs or steps): each
    pass adds :func:`forward_collectives_s`, and with pp > 1 its activations (``tokens x
    hidden`` in the collective dtype) cross pp - 1 stage boundaries, ``send_recv(bytes)``
    seconds each. Returns ``step_s`` and its parts ``tp``, ``ep`` and ``pp_hop`` (seconds)."""
    tp, ep = forward_collectives_s(cfg, prec, plan, tokens, all_reduce=all_reduce, all_to_all=all_to_all)
    hop = (plan.pp - 1) * send_recv(tokens * cfg.hidden_size * comm_dtype_bytes(prec)) if plan.pp > 1 else 0.0
    return {"step_s": op_s + tp + ep + hop, "tp": tp, "ep": ep, "pp_hop": hop}


def request_terms(cfg: ModelConfig, prec: Precision, plan: Plan, *, batch: int, input_tokens: int,
                  output_tokens: int, prefill_s, decode_s, all_reduce, all_to_all, send_recv) -> dict:
    """A static batch's request (the engine's inference estimate, explore's inference) from its
    parts: ``prefill_s`` and ``decode_s`` (operator seconds of the prefill of ``batch`` prompts
    and of one decode step, floats or arrays over designs), each a :func:`forward_step` of
    ``batch x input_tokens`` and of ``batch`` tokens. TTFT = the prefill step; TPOT = one decode
    step; e2e = TTFT + (output - 1) TPOT."""
    coll = {"all_reduce": all_reduce, "all_to_all": all_to_all, "send_recv": send_recv}
    pre = forward_step(cfg, prec, plan, batch * input_tokens, prefill_s, **coll)
    dec = forward_step(cfg, prec, plan, batch, decode_s, **coll)
    ttft, tpot = pre["step_s"], dec["step_s"]
    return {"ttft_s": ttft, "tpot_s": tpot, "e2e_latency_s": ttft + (output_tokens - 1) * tpot,
            "tp_pre": pre["tp"], "tp_dec": dec["tp"], "ep_pre": pre["ep"], "ep_dec": dec["ep"],
            "pp_hop_pre": pre["pp_hop"], "pp_hop": dec["pp_hop"]}


# ----------------------------------------------------------------------------- the plan space


def training_plan_space(cfg: ModelConfig, chips: int, system: System, *, global_batch: int, seq_len: int,
                        max_micro_batch: int = 8, max_cp: int = 16) -> PlanTable:
    """Every valid training plan of ``cfg`` on ``chips`` chips of ``system``: each divisor
    combination of tp, cp, pp, dp (and ep for MoE) x sequence parallelism on/off (tp > 1) x ZeRO stage 0-3 x shard group (for ZeRO-3:
    all of dp, or a group that fills whole scale-up domains: HSDP) x recompute (none, selective,
    full, or 1/4, 1/2, 3/4 of a stage's layers) x micro-batch (powers of two up to
    ``max_micro_batch``) x interleave (divisors of a stage's layers, for pp > 1) x placement
    (:data:`ORDERS`). Context parallelism is tried up to ``max_cp``, and only when a chip would
    still hold at least 1,024 tokens."""
    domain = system.scale_up.size
    divs = divisors(chips)
    tps = [d for d in divs if d <= min(domain, 64) and cfg.num_heads % d == 0
           and (cfg.num_kv_heads % d == 0 or d % cfg.num_kv_heads == 0)]
    cps = [d for d in divs if d <= max_cp and seq_len % d == 0 and seq_len // d >= 1024]
    pps = [d for d in divs if d <= cfg.num_layers]
    mbs = [b for b in (1, 2, 4, 8, 16, 32) if b <= max_micro_batch]
    rows: list[tuple] = []
    for tp, cp, pp in product(tps, cps, pps):
        if chips % (tp * cp * pp):
            continue
        dp = chips // (tp * cp * pp)
        eps = [1]
        if cfg.is_moe:
            eps = [e for e in divisors(cfg.num_experts) if (dp * tp) % e == 0]
        stage = -(-cfg.num_layers // pp)
        vs = [v for v in divisors(stage)] if pp > 1 else [1]
        rcs = [RC_NONE, RC_SELECTIVE, RC_FULL] + sorted({max(1, stage * q // 4) for q in (1, 2, 3)} - {stage})
        shards = sorted({dp} | {s for s in divisors(dp) if s * tp * cp >= domain and (s * tp * cp) % domain == 0})
        for mb in mbs:
            if global_batch % (dp * mb):
                continue
            m = global_batch // (dp * mb)
            for ep, v, o in product(eps, vs, range(len(ORDERS))):
                if v > 1 and m % pp:
                    continue
                if pp == 1 and o:
                    continue  # with one stage both orders are the same placement
                for sp, zero in product((1, 0) if tp > 1 else (1,), (0, 1, 2, 3)):
                    for s in (shards if zero == 3 else [dp]):
                        for rc in rcs:
                            rows.append((tp, pp, dp, ep, cp, sp, v, zero, s, rc, mb, o))
    if not rows:
        return PlanTable(*(np.zeros(0, dtype=np.int64) for _ in range(12)))
    a = np.array(rows, dtype=np.int64)
    return PlanTable(*(a[:, i] for i in range(12)))


__all__ = ["ORDERS", "PRETRAIN", "PlanTable", "Tuning", "adapter_params", "RC_FULL", "RC_NONE", "RC_SELECTIVE", "ShapeTimes", "TERMS", "shape_times",
           "forward_collectives_s", "forward_step", "moe_layer_count", "recompute_code", "request_terms", "stage_layout", "shape_terms", "step_terms",
           "tp_all_reduces", "training_memory", "training_plan_space", "training_steps", "with_adapters"]
