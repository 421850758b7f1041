"""Operators of a workload graph: shapes, datatypes, FLOPs and minimum bytes.

Every operator is a small frozen dataclass. It knows

* ``flops``: the arithmetic it must do (a multiply-add counts 2);
* ``bytes_read`` / ``bytes_written``: the traffic it cannot avoid if each input
  is read once from memory and each output written once (no re-reads, no
  spills: a lower bound the performance model may add to);
* ``params``: the weights it owns (counted once, on the forward operator);
* ``kind``: a category for breakdowns (``matmul``, ``attention``, ...);
* ``pass_``: ``fwd``, ``bwd``, ``recompute`` (a second forward during the
  backward pass) or ``opt`` (the optimizer update).

Shapes are in elements and datatypes are names from
:data:`fabless.hardware.schema.DTYPE_BYTES` (``bf16``, ``fp8``, ``int4`` ...).
Backward operators are built from forward ones by :func:`backward_ops`, with the
rules written next to each class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal, Union

from fabless.errors import unknown_name_error
from fabless.hardware.schema import DTYPE_BYTES

Pass = Literal["fwd", "bwd", "recompute", "opt"]
PASSES = ("fwd", "bwd", "recompute", "opt")
COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv")


def dtype_bytes(dtype: str) -> float:
    """Bytes per element of ``dtype``; an unknown name is a one-line FablessError."""
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        raise unknown_name_error("dtype", dtype, DTYPE_BYTES) from None


@dataclass(frozen=True)
class Op:
    """Fields and totals shared by every operator."""

    name: str
    pass_: Pass = field(default="fwd", kw_only=True)

    kind = "op"

    @property
    def flops(self) -> float:
        return 0.0

    @property
    def flops_dense(self) -> float:
        """FLOPs if no causal mask skipped work (differs from ``flops`` only for attention)."""
        return self.flops

    @property
    def bytes_read(self) -> float:
        return 0.0

    @property
    def bytes_written(self) -> float:
        return 0.0

    @property
    def bytes(self) -> float:
        return self.bytes_read + self.bytes_written

    @property
    def params(self) -> int:
        return 0

    @property
    def params_active(self) -> float:
        """Parameters one token uses (differs from ``params`` only for routed experts)."""
        return self.params

    @property
    def arithmetic_intensity(self) -> float:
        """FLOPs per byte of minimum traffic (inf for a op that moves nothing)."""
        return self.flops / self.bytes if self.bytes else math.inf


@dataclass(frozen=True)
class MatMul(Op):
    """``out[batch, m, n] = a[batch, m, k] @ b[batch, k, n]``.

    With ``weight`` the ``b`` operand is a weight of ``k x n`` per batch entry
    (``batch`` heads of a per-head weight, as in MLA's absorbed projections);
    the perf model may keep it resident or stream it once. ``tied`` marks a
    weight owned by another operator (an LM head sharing the embedding), so it
    is not counted twice. Backward: ``dgrad`` (dA = dC @ B^T, m x k x n) and
    ``wgrad`` (dB = A^T @ dC, k x n x m), each with the forward's FLOPs."""

    m: int
    n: int
    k: int
    batch: int = 1
    dtype_a: str = "bf16"
    dtype_b: str = "bf16"
    dtype_out: str = "bf16"
    weight: bool = False
    tied: bool = False

    kind = "matmul"

    @property
    def flops(self) -> float:
        return 2.0 * self.batch * self.m * self.n * self.k

    @property
    def bytes_read(self) -> float:
        return self.batch * (self.m * self.k * dtype_bytes(self.dtype_a) + self.k * self.n * dtype_bytes(self.dtype_b))

    @property
    def bytes_written(self) -> float:
        return self.batch * self.m * self.n * dtype_bytes(self.dtype_out)

    @property
    def weight_bytes(self) -> float:
        """Bytes of the weight operand (0 when ``b`` is an activation)."""
        return self.batch * self.k * self.n * dtype_bytes(self.dtype_b) if self.weight else 0.0

    @property
    def params(self) -> int:
        return self.batch * self.k * self.n if (self.weight and not self.tied and self.pass_ == "fwd") else 0


@dataclass(frozen=True)
class ExpertMatMul(Op):
    """The routed experts of a mixture-of-experts layer, one matmul per expert.

    ``tokens`` tokens each go to ``top_k`` of ``experts`` experts; each expert
    multiplies its ``tokens_per_expert x k`` slice by its own ``k x n`` weight.
    ``tokens_per_expert`` is ``tokens*top_k/experts`` (even routing), times the
    capacity factor when one is set (tokens padded to capacity are computed).
    Only experts that receive a token have their weights read: under uniform
    routing, ``experts*(1-(1-top_k/experts)**tokens)`` of them.
    With ``weight=False`` both operands are activations (the weight-gradient
    matmul of the backward pass).

    Under inference expert parallelism (the chips of a tensor-parallel group all see the same
    tokens and each holds ``experts`` of the layer's ``global_experts`` whole experts), tokens
    are routed over all ``global_experts``: ``tokens*top_k/global_experts`` rows per local
    expert. ``global_experts = 0`` means the experts here are all the router chooses from
    (no expert parallelism, or training's, where each rank routes its own tokens)."""

    experts: int
    tokens: int
    top_k: int
    n: int
    k: int
    capacity_factor: float | None = None
    dtype_a: str = "bf16"
    dtype_b: str = "bf16"
    dtype_out: str = "bf16"
    weight: bool = True
    # For weight-gradient ops: the per-expert (k_rows x n) output and inner dim tokens_per_expert.
    wgrad: bool = False
    global_experts: int = 0
    # each expert adds its own bias of n to its output (gpt-oss): n more parameters per expert,
    # added in the GEMM's epilogue (no FLOPs counted)
    bias: bool = False

    kind = "matmul"

    @property
    def routed_over(self) -> int:
        """How many experts the router spreads each token's ``top_k`` choices over."""
        return self.global_experts or self.experts

    @property
    def tokens_per_expert(self) -> float:
        even = self.tokens * self.top_k / self.routed_over
        return even * self.capacity_factor if self.capacity_factor else even

    @property
    def experts_touched(self) -> float:
        """Expected local experts that receive at least one of ``tokens`` tokens, each routed to
        ``top_k`` of ``routed_over`` experts at random. With ``top_k`` >= the experts routed over
        (few local experts after training's expert-parallel sharding) every expert is touched; the
        probability is clamped to [0, 1] so the power neither overflows nor goes negative."""
        if self.capacity_factor and self.capacity_factor * self.top_k >= self.routed_over:
            return float(self.experts)  # a capacity of every token: each expert computes them all
        p_hit = min(1.0, self.top_k / self.routed_over)
        return self.experts * (1.0 - (1.0 - p_hit) ** self.tokens)

    @property
    def flops(self) -> float:
        return 2.0 * self.experts * self.tokens_per_expert * self.n * self.k

    @property
    def bytes_read(self) -> float:
        rows = self.experts * self.tokens_per_expert
        if self.wgrad:  # A^T (k x rows) and dC (rows x n), per expert
            return rows * (self.k * dtype_bytes(self.dtype_a) + self.n * dtype_bytes(self.dtype_b))
        w = self.experts_touched * self.k * self.n * dtype_bytes(self.dtype_b)
        return rows * self.k * dtype_bytes(self.dtype_a) + w

    @property
    def bytes_written(self) -> float:
        if self.wgrad:
            return self.experts * self.k * self.n * dtype_bytes(self.dtype_out)
        return self.experts * self.tokens_per_expert * self.n * dtype_bytes(self.dtype_out)

    @property
    def weight_bytes(self) -> float:
        return self.experts * self.k * self.n * dtype_bytes(self.dtype_b) if self.weight and not self.wgrad else 0.0

    @property
    def params(self) -> int:
        per_expert = self.k * self.n + (self.n if self.bias else 0)
        return self.experts * per_expert if (self.weight and not self.wgrad and self.pass_ == "fwd") else 0

    @property
    def params_active(self) -> float:
        return self.top_k * (self.k * self.n + (self.n if self.bias else 0)) if self.params else 0


@dataclass(frozen=True)
class Attention(Op):
    """Scaled dot-product attention, fused (FlashAttention-style: the score
    matrix never leaves the chip).

    ``batch`` sequences of ``q_len`` new queries attend to ``kv_len`` keys (the
    new ones included). ``kv_heads < heads`` is grouped-query attention, 1 is
    multi-query; MLA's absorbed decode form is multi-query over the latent
    (``head_dim_qk = kv_lora_rank + rope_dim``, ``head_dim_v = kv_lora_rank``).
    With ``causal`` query i (of q_len, placed at the end of the kv_len
    positions) sees ``kv_len - q_len + i + 1`` keys, and ``flops`` counts only
    those pairs; ``flops_dense`` counts all ``q_len*kv_len`` (the convention of
    Megatron-LM's formula). ``window`` caps the keys each query sees (sliding
    window). ``kv_shared``: V is a slice of K (MLA's latent serves as both), so
    only K is read. ``phase`` is informational: ``train``, ``prefill`` or ``decode``.
    ``fused=False`` is the attention of stacks before flash attention (Megatron-LM 2019-2022): the
    score matrix is written to memory between batched matmuls and softmax/dropout kernels
    (:func:`fabless.perf.attention.unfused_attention_time`); FLOPs and the op's own bytes are
    counted as for the fused kernel.

    FLOPs per visible pair and head: ``2*head_dim_qk`` (QK^T) + ``2*head_dim_v``
    (PV). The backward pass (dQ, dK, dV and dP) counts twice the forward."""

    batch: int
    q_len: int
    kv_len: int
    heads: int
    kv_heads: int
    head_dim_qk: int
    head_dim_v: int
    causal: bool = True
    window: int | None = None
    phase: Literal["train", "prefill", "decode"] = "prefill"
    dtype: str = "bf16"
    kv_dtype: str = "bf16"
    kv_shared: bool = False
    fused: bool = True
    # gpt-oss: one learned logit per head joins every row's softmax; ``heads`` parameters, and one
    # more exponential per row (not counted)
    sinks: bool = False

    kind = "attention"

    @property
    def params(self) -> int:
        return self.heads if self.sinks and self.pass_ == "fwd" else 0

    @property
    def pairs(self) -> float:
        """(query, key) pairs computed per sequence and head."""
        q, kv = self.q_len, self.kv_len
        if not self.causal:
            seen = q * kv
            return seen if self.window is None else q * min(kv, self.window)
        offset = kv - q  # keys before the first new query
        if self.window is None:
            return q * offset + q * (q + 1) / 2
        # query i sees min(offset + i + 1, window) keys; from i = window - offset - 1 on, a full window
        w = self.window
        first_full = min(q, max(0, w - offset - 1))
        return (q - first_full) * w + first_full * offset + first_full * (first_full + 1) / 2

    @property
    def _mult(self) -> float:
        return 2.0 if self.pass_ == "bwd" else 1.0

    @property
    def flops(self) -> float:
        return self._mult * 2.0 * self.batch * self.heads * self.pairs * (self.head_dim_qk + self.head_dim_v)

    @property
    def flops_dense(self) -> float:
        return self._mult * 2.0 * self.batch * self.heads * self.q_len * self.kv_len * (self.head_dim_qk + self.head_dim_v)

    def _qo_bytes(self) -> tuple[float, float]:
        b = dtype_bytes(self.dtype)
        q = self.batch * self.q_len * self.heads * self.head_dim_qk * b
        o = self.batch * self.q_len * self.heads * self.head_dim_v * b
        return q, o

    @property
    def kv_bytes(self) -> float:
        """Bytes of K and V read: the KV cache in decode, fresh K and V in prefill."""
        keys = self.kv_len if self.window is None else min(self.kv_len, self.window + self.q_len - 1)
        per_key = self.head_dim_qk + (0 if self.kv_shared else self.head_dim_v)
        return self.batch * keys * self.kv_heads * per_key * dtype_bytes(self.kv_dtype)

    @property
    def bytes_read(self) -> float:
        q, o = self._qo_bytes()
        if self.pass_ == "bwd":  # Q, K, V, O and dO
            return q + self.kv_bytes + 2 * o
        return q + self.kv_bytes

    @property
    def bytes_written(self) -> float:
        q, o = self._qo_bytes()
        if self.pass_ == "bwd":  # dQ, dK, dV
            return q + self.kv_bytes
        return o


@dataclass(frozen=True)
class Elementwise(Op):
    """A pointwise op over ``elements`` elements: activations (SiLU, GELU),
    residual adds, RoPE, bias adds, casts, KV-cache writes.

    Reads ``inputs`` tensors of ``elements`` each (plus ``param_elements``
    of weights, e.g. a bias) and writes ``outputs``. ``flops_per_element`` is
    an estimate (stated where the op is built). ``opaque`` marks an operator
    imported from PyTorch that fabless does not know, costed as a copy.
    Backward: ``inputs+1`` tensors read, ``inputs`` written, twice the FLOPs."""

    elements: int
    inputs: float = 1
    outputs: float = 1
    flops_per_element: float = 1.0
    dtype: str = "bf16"
    out_dtype: str | None = None
    param_elements: int = 0
    opaque: bool = False

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "opaque" if self.opaque else "elementwise"

    @property
    def flops(self) -> float:
        return self.elements * self.flops_per_element

    @property
    def bytes_read(self) -> float:
        return (self.inputs * self.elements + self.param_elements) * dtype_bytes(self.dtype)

    @property
    def bytes_written(self) -> float:
        return self.outputs * self.elements * dtype_bytes(self.out_dtype or self.dtype)

    @property
    def params(self) -> int:
        return self.param_elements if self.pass_ == "fwd" else 0


@dataclass(frozen=True)
class Norm(Op):
    """RMSNorm or LayerNorm over the last dimension ``hidden`` of ``rows`` rows.

    FLOPs per element: 4 for RMSNorm (square, sum, scale, weight), 7 for
    LayerNorm (mean, subtract, square, sum, scale, weight, bias); estimates.
    Weights: ``hidden`` (RMS) or ``2*hidden`` (gain and bias)."""

    rows: int
    hidden: int
    norm: Literal["rms", "layer", "batch"] = "rms"
    dtype: str = "bf16"
    affine: bool = True

    kind = "norm"

    @property
    def _weights(self) -> int:
        if not self.affine:
            return 0
        return self.hidden if self.norm == "rms" else 2 * self.hidden

    @property
    def flops(self) -> float:
        per = 4.0 if self.norm == "rms" else 7.0
        return (2.0 if self.pass_ == "bwd" else 1.0) * per * self.rows * self.hidden

    @property
    def bytes_read(self) -> float:
        n = self.rows * self.hidden * (2 if self.pass_ == "bwd" else 1)
        return (n + self._weights) * dtype_bytes(self.dtype)

    @property
    def bytes_written(self) -> float:
        return self.rows * self.hidden * dtype_bytes(self.dtype)

    @property
    def params(self) -> int:
        return self._weights if self.pass_ == "fwd" else 0


@dataclass(frozen=True)
class Softmax(Op):
    """Softmax over ``cols`` for ``rows`` rows (an LM's logits, with the
    cross-entropy loss when ``loss``). About 5 FLOPs per element (max,
    subtract, exp, sum, divide); estimate."""

    rows: int
    cols: int
    dtype: str = "bf16"
    loss: bool = False

    kind = "softmax"

    @property
    def flops(self) -> float:
        return (2.0 if self.pass_ == "bwd" else 1.0) * 5.0 * self.rows * self.cols

    @property
    def bytes_read(self) -> float:
        return self.rows * self.cols * dtype_bytes(self.dtype) * (2 if self.pass_ == "bwd" and not self.loss else 1)

    @property
    def bytes_written(self) -> float:
        if self.loss and self.pass_ == "fwd":
            return self.rows * 4.0  # one fp32 loss (and log-sum-exp) per row
        return self.rows * self.cols * dtype_bytes(self.dtype)


@dataclass(frozen=True)
class Embedding(Op):
    """Row lookup of ``lookups`` ids in a ``rows x dim`` table (token
    embeddings, learned positions, recommendation tables).

    At minimum each distinct row touched is read once: ``min(lookups, rows)``
    rows. ``bag`` > 1 sums that many lookups into one output row
    (EmbeddingBag). Backward scatters the gradient into the touched rows."""

    lookups: int
    rows: int
    dim: int
    dtype: str = "bf16"
    bag: int = 1

    kind = "embedding"

    @property
    def rows_touched(self) -> int:
        return min(self.lookups, self.rows)

    @property
    def flops(self) -> float:
        return float(self.lookups - self.lookups // self.bag) * self.dim  # the bag's sums

    @property
    def bytes_read(self) -> float:
        ids = self.lookups * 8.0  # int64 indices
        if self.pass_ == "bwd":
            return ids + (self.lookups // self.bag) * self.dim * dtype_bytes(self.dtype)
        return ids + self.rows_touched * self.dim * dtype_bytes(self.dtype)

    @property
    def bytes_written(self) -> float:
        if self.pass_ == "bwd":
            return self.rows_touched * self.dim * dtype_bytes(self.dtype)
        return (self.lookups // self.bag) * self.dim * dtype_bytes(self.dtype)

    @property
    def params(self) -> int:
        return self.rows * self.dim if self.pass_ == "fwd" else 0


@dataclass(frozen=True)
class EmbeddingBag(Op):
    """Pooled lookups in recommendation embedding tables (DLRM's sparse features; FBGEMM's
    table-batched embedding): ``batch`` samples each look up ``pooling`` rows (the pooling
    factor, a mean over the ``tables`` tables here) of ``dim`` elements in each of ``tables``
    tables holding ``rows`` rows in all, and sum each sample's rows of a table into one
    output row (pooling sum).

    Bytes per lookup = ``dim x dtype bytes`` (a gathered row), so one sample reads
    ``tables x pooling x dim x dtype bytes`` of rows, plus its 8-byte (int64) indices, and
    writes ``tables x dim`` pooled elements. FLOPs: the pooling sums, ``(pooling - 1) x dim``
    additions per sample and table. Whether a gathered row comes from DRAM/HBM or from an
    on-chip cache of hot rows is the perf model's choice (:mod:`fabless.perf.embedding`), not
    the operator's: these are the bytes the gathers touch.

    Backward with a fused sparse optimizer (FBGEMM's TBE backward with row-wise Adagrad): reads
    the pooled gradients, then reads and writes every looked-up row and its one fp32 row-wise
    optimizer state (a row looked up twice is counted twice: an upper bound, as no
    de-duplication is assumed)."""

    batch: int
    tables: int
    pooling: float
    rows: int
    dim: int
    dtype: str = "fp32"

    kind = "embedding_bag"

    @property
    def lookups(self) -> float:
        """Rows gathered: batch x tables x pooling."""
        return self.batch * self.tables * self.pooling

    @property
    def bytes_per_lookup(self) -> float:
        """dim x dtype bytes: one gathered row."""
        return self.dim * dtype_bytes(self.dtype)

    @property
    def gather_bytes(self) -> float:
        """Bytes of rows the lookups read: lookups x bytes per lookup."""
        return self.lookups * self.bytes_per_lookup

    @property
    def pooled_bytes(self) -> float:
        """Bytes of the pooled outputs (or, backward, of their gradients)."""
        return self.batch * self.tables * self.bytes_per_lookup

    @property
    def flops(self) -> float:
        per = max(self.pooling - 1.0, 0.0) * self.dim * self.batch * self.tables
        return (2.0 if self.pass_ == "bwd" else 1.0) * per

    @property
    def bytes_read(self) -> float:
        ids = self.lookups * 8.0
        if self.pass_ == "bwd":
            return self.pooled_bytes + self.gather_bytes + self.lookups * 4.0 + ids
        return self.gather_bytes + ids

    @property
    def bytes_written(self) -> float:
        if self.pass_ == "bwd":
            return self.gather_bytes + self.lookups * 4.0
        return self.pooled_bytes

    @property
    def params(self) -> int:
        return self.rows * self.dim if self.pass_ == "fwd" else 0


@dataclass(frozen=True)
class MoERouter(Op):
    """Top-k selection and token dispatch of a mixture-of-experts layer (the
    gate's matmul is a separate :class:`MatMul`). Reads the ``tokens x
    experts`` scores and the token activations, writes each token ``top_k``
    times in expert order (the permutation), and combines it back after the
    experts; ~``experts`` comparisons per token for top-k plus a softmax or
    sigmoid (about 5 FLOPs per score; estimate)."""

    tokens: int
    experts: int
    top_k: int
    hidden: int
    dtype: str = "bf16"

    kind = "moe_router"

    @property
    def flops(self) -> float:
        combine = self.tokens * self.top_k * self.hidden * 2.0  # weighted sum of expert outputs
        return (2.0 if self.pass_ == "bwd" else 1.0) * (6.0 * self.tokens * self.experts + combine)

    @property
    def bytes_read(self) -> float:
        b = dtype_bytes(self.dtype)
        # scores (fp32), tokens to dispatch, expert outputs to combine
        return self.tokens * self.experts * 4.0 + self.tokens * self.hidden * b + self.tokens * self.top_k * self.hidden * b

    @property
    def bytes_written(self) -> float:
        b = dtype_bytes(self.dtype)
        return self.tokens * self.top_k * self.hidden * b + self.tokens * self.hidden * b


@dataclass(frozen=True)
class Collective(Op):
    """A communication placeholder a parallel plan inserts: ``collective`` is one
    of all_reduce, all_gather, reduce_scatter, all_to_all, send_recv;
    ``payload_bytes`` is the per-rank payload (the full buffer for all-reduce, the
    gathered output for all-gather, the input for reduce-scatter), ``group``
    the number of ranks or a named axis ("tp", "dp", "ep", "pp").
    No FLOPs or memory traffic are counted here; the collectives model costs it."""

    collective: str
    payload_bytes: float
    group: int | str = "tp"
    dtype: str = "bf16"

    kind = "collective"

    def __post_init__(self) -> None:
        if self.collective not in COLLECTIVES:
            raise unknown_name_error("collective", self.collective, COLLECTIVES)


@dataclass(frozen=True)
class Conv(Op):
    """A 2-D convolution (imported models): ``out = batch x out_ch x oh x ow``
    with a ``in_ch/groups x kh x kw`` kernel per output channel."""

    batch: int
    in_ch: int
    out_ch: int
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    kernel: tuple[int, int]
    groups: int = 1
    dtype: str = "bf16"
    bias: bool = False

    kind = "conv"

    @property
    def flops(self) -> float:
        oh, ow = self.out_hw
        kh, kw = self.kernel
        return 2.0 * self.batch * self.out_ch * oh * ow * (self.in_ch // self.groups) * kh * kw

    @property
    def _weight_elems(self) -> int:
        kh, kw = self.kernel
        return self.out_ch * (self.in_ch // self.groups) * kh * kw + (self.out_ch if self.bias else 0)

    @property
    def bytes_read(self) -> float:
        ih, iw = self.in_hw
        return (self.batch * self.in_ch * ih * iw + self._weight_elems) * dtype_bytes(self.dtype)

    @property
    def bytes_written(self) -> float:
        oh, ow = self.out_hw
        return self.batch * self.out_ch * oh * ow * dtype_bytes(self.dtype)

    @property
    def params(self) -> int:
        return self._weight_elems if self.pass_ == "fwd" else 0


@dataclass(frozen=True)
class OptimizerStep(Op):
    """The optimizer update over ``n_params`` parameters (Adam by default).

    Mixed-precision Adam reads the fp32 master weight, the gradient and the two
    fp32 moments and writes them back plus a low-precision copy of the weight
    (ZeRO paper, section 3.1: 12 bytes of state per parameter). About 12 FLOPs
    per parameter (moment updates, bias correction, square root, divide,
    weight decay); estimate."""

    n_params: float
    state_bytes_per_param: float = 12.0
    grad_dtype: str = "fp32"
    weight_dtype: str = "bf16"
    flops_per_param: float = 12.0

    kind = "optimizer"

    @property
    def flops(self) -> float:
        return self.n_params * self.flops_per_param

    @property
    def bytes_read(self) -> float:
        return self.n_params * (self.state_bytes_per_param + dtype_bytes(self.grad_dtype))

    @property
    def bytes_written(self) -> float:
        return self.n_params * (self.state_bytes_per_param + dtype_bytes(self.weight_dtype))


AnyOp = Union[MatMul, ExpertMatMul, Attention, Elementwise, Norm, Softmax, Embedding, EmbeddingBag, MoERouter, Collective, Conv, OptimizerStep]


def backward_ops(op: Op) -> list[Op]:
    """The backward-pass operators of a forward ``op`` (rules in each class's docstring)."""
    bwd: Pass = "bwd"
    if isinstance(op, MatMul):
        dgrad = replace(op, name=f"{op.name}.dgrad", m=op.m, n=op.k, k=op.n, pass_=bwd,
                        dtype_a=op.dtype_out, weight=op.weight, tied=False)
        wgrad = replace(op, name=f"{op.name}.wgrad", m=op.k, n=op.n, k=op.m, pass_=bwd,
                        dtype_a=op.dtype_a, dtype_b=op.dtype_out, weight=False, tied=False)
        return [dgrad, wgrad]
    if isinstance(op, ExpertMatMul):
        # dgrad: (tokens_per_expert x n) @ (n x k) per expert; wgrad: (k x tpe) @ (tpe x n)
        dgrad = replace(op, name=f"{op.name}.dgrad", n=op.k, k=op.n, pass_=bwd)
        wgrad = replace(op, name=f"{op.name}.wgrad", pass_=bwd, weight=False, wgrad=True)
        return [dgrad, wgrad]
    if isinstance(op, Conv):
        return [replace(op, name=f"{op.name}.dgrad", pass_=bwd), replace(op, name=f"{op.name}.wgrad", pass_=bwd)]
    if isinstance(op, Elementwise):
        return [replace(op, name=f"{op.name}.bwd", inputs=op.inputs + 1, outputs=op.inputs,
                        flops_per_element=2 * op.flops_per_element, pass_=bwd)]
    if isinstance(op, (Attention, Norm, Softmax, Embedding, EmbeddingBag, MoERouter)):
        return [replace(op, name=f"{op.name}.bwd", pass_=bwd)]
    if isinstance(op, Collective):
        # the transpose of a collective: all-gather <-> reduce-scatter, all-reduce stays
        swap = {"all_gather": "reduce_scatter", "reduce_scatter": "all_gather"}
        return [replace(op, name=f"{op.name}.bwd", collective=swap.get(op.collective, op.collective), pass_=bwd)]
    return []
