"""Operator graphs of decoder-only transformers, per phase.

* :func:`build_training_graph`: one optimizer step over ``batch`` sequences of
  ``seq_len`` tokens: forward, backward (each matmul twice: input and weight
  gradients), recomputation (``none``, ``selective``: the attention core as in
  Korthikanti et al. 2022, ``full``: every layer's forward again) and the
  optimizer update. Ops carry ``pass_`` = fwd / bwd / recompute / opt.
* :func:`build_prefill_graph`: a prompt of ``prompt_len`` tokens per sequence
  (causal attention, KV cache written, logits for the last token only).
* :func:`build_decode_graph`: one new token per sequence against a KV cache
  of ``context_len`` tokens (the new one included).
* :func:`build_forward_graph`: a plain forward pass over full sequences with
  logits for every token (what a traced PyTorch model computes).

Each distinct layer is built once and repeated: a model with 3 dense and 58
MoE layers is two layer blocks.

MLA (DeepSeek-V2/V3) is built non-absorbed for training and prefill (the
latent is expanded to per-head K and V by ``kv_b``) and absorbed for decode
(``W_UK`` folded into the query, ``W_UV`` into the output, attention runs as
multi-query over the cached latent), the way DeepSeek's inference code runs it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from fabless.errors import FablessError, unknown_name_error
from fabless.workload.graph import Block, Graph
from fabless.workload.ops import (
    Attention,
    Elementwise,
    Embedding,
    ExpertMatMul,
    MatMul,
    MoERouter,
    Norm,
    Op,
    OptimizerStep,
    Softmax,
    backward_ops,
    dtype_bytes,
)

if TYPE_CHECKING:  # annotations only: config builds its FLOP counts with this module
    from fabless.workload.config import ModelConfig

RECOMPUTE = ("none", "selective", "full")

#: FLOPs per element of pointwise ops (estimates: count of arithmetic ops in the formula).
SILU_MUL_FLOPS = 5.0  # x * sigmoid(x) * up: exp, add, divide, multiply, multiply
GELU_FLOPS = 8.0  # tanh approximation: cube, 2 multiply-adds, tanh, add, 2 multiplies
ROPE_FLOPS = 3.0  # x*cos + rotate(x)*sin


@dataclass(frozen=True)
class Precision:
    """Datatypes for weights, activations and the KV cache (names from ``DTYPE_BYTES``).

    ``attention_weights``: the datatype of the attention projections' weights when a checkpoint
    quantises only the other linear layers (None: ``weights``). Meta's FP8 Llama 3.1 405B keeps the
    self-attention layers in BF16 ("The Llama 3 Herd of Models", section 6.2, "FP8 quantization":
    no quantization in the self-attention layers); those matmuls then run at that datatype with
    activations at least as wide."""

    weights: str = "bf16"
    activations: str = "bf16"
    kv_cache: str = "bf16"
    attention_weights: str | None = None

    def __post_init__(self) -> None:
        for dt in (self.weights, self.activations, self.kv_cache, self.attention_weights or self.weights):
            dtype_bytes(dt)  # raises a one-line error naming the dtype

    def attention(self) -> Precision:
        """The precision of the attention projections' matmuls: ``attention_weights`` for the
        weights, the activations widened to them (an unquantised layer takes unquantised inputs)."""
        aw = self.attention_weights
        if aw is None or aw == self.weights:
            return self
        act = aw if dtype_bytes(aw) > dtype_bytes(self.activations) else self.activations
        return Precision(weights=aw, activations=act, kv_cache=self.kv_cache)


def _mm(name: str, m: int, n: int, k: int, p: Precision, *, batch: int = 1, tied: bool = False) -> MatMul:
    return MatMul(name, m=m, n=n, k=k, batch=batch, dtype_a=p.activations, dtype_b=p.weights,
                  dtype_out=p.activations, weight=True, tied=tied)


def _bias(name: str, rows: int, n: int, p: Precision) -> Elementwise:
    return Elementwise(name, elements=rows * n, inputs=1, flops_per_element=1.0, dtype=p.activations, param_elements=n)


def _attention_ops(cfg: ModelConfig, batch: int, q_len: int, kv_len: int, p: Precision, phase: str,
                   window: int | None) -> list[Op]:
    T = batch * q_len
    pw = p.attention()  # the projections' weights and inputs
    h, H = cfg.hidden_size, cfg.num_heads
    act = p.activations
    kv_dt = p.kv_cache if phase == "decode" else act
    ops: list[Op] = []
    if cfg.is_mla:
        rope, nope, v, r_kv = cfg.qk_rope_head_dim, cfg.qk_nope_head_dim, cfg.v_head_dim, cfg.kv_lora_rank
        if cfg.q_lora_rank:
            ops += [_mm("q_a", T, cfg.q_lora_rank, h, pw), Norm("q_a_norm", rows=T, hidden=cfg.q_lora_rank, dtype=act),
                    _mm("q_b", T, H * (nope + rope), cfg.q_lora_rank, pw)]
        else:
            ops.append(_mm("q", T, H * (nope + rope), h, pw))
        ops += [_mm("kv_a", T, r_kv + rope, h, pw), Norm("kv_a_norm", rows=T, hidden=r_kv, dtype=act),
                Elementwise("rope", elements=T * (H + 1) * rope, flops_per_element=ROPE_FLOPS, dtype=act)]
        if phase in ("prefill", "decode"):
            ops.append(Elementwise("kv_cache_write", elements=T * (r_kv + rope), flops_per_element=0.0,
                                   dtype=act, out_dtype=p.kv_cache))
        if phase == "decode":
            ops += [_mm("q_absorb_uk", T, r_kv, nope, pw, batch=H),
                    Attention("attention", batch=batch, q_len=q_len, kv_len=kv_len, heads=H, kv_heads=1,
                              head_dim_qk=r_kv + rope, head_dim_v=r_kv, causal=True, phase="decode", kv_shared=True,
                              dtype=act, kv_dtype=kv_dt),
                    _mm("out_absorb_uv", T, v, r_kv, pw, batch=H)]
        else:
            ops += [_mm("kv_b", T, H * (nope + v), r_kv, pw),
                    Attention("attention", batch=batch, q_len=q_len, kv_len=kv_len, heads=H, kv_heads=H,
                              head_dim_qk=nope + rope, head_dim_v=v, causal=True, phase=phase, dtype=act, kv_dtype=kv_dt)]
        ops.append(_mm("o_proj", T, h, H * v, pw))
        return ops
    d, kvh = cfg.head_dim, cfg.num_kv_heads
    qkv_n = (H + 2 * kvh) * d
    ops.append(_mm("qkv_proj", T, qkv_n, h, pw))
    if cfg.qkv_bias:
        ops.append(_bias("qkv_bias", T, qkv_n, p))
    if cfg.qk_norm:
        ops += [Norm("q_norm", rows=T * H, hidden=d, dtype=act), Norm("k_norm", rows=T * kvh, hidden=d, dtype=act)]
    if cfg.positions == "rope":
        rot = cfg.rotary_dim or d
        ops.append(Elementwise("rope", elements=T * (H + kvh) * rot, flops_per_element=ROPE_FLOPS, dtype=act))
    if phase in ("prefill", "decode"):
        ops.append(Elementwise("kv_cache_write", elements=T * 2 * kvh * d, flops_per_element=0.0,
                               dtype=act, out_dtype=p.kv_cache))
    ops.append(Attention("attention", batch=batch, q_len=q_len, kv_len=kv_len, heads=H, kv_heads=kvh,
                         head_dim_qk=d, head_dim_v=d, causal=True, window=window,
                         phase=phase, dtype=act, kv_dtype=kv_dt, sinks=cfg.attention_sinks))
    ops.append(_mm("o_proj", T, h, H * d, pw))
    if cfg.o_bias:
        ops.append(_bias("o_bias", T, h, p))
    return ops


def _mlp_ops(cfg: ModelConfig, T: int, width: int, p: Precision, prefix: str = "mlp") -> list[Op]:
    h, act = cfg.hidden_size, p.activations
    if cfg.gated_mlp:
        ops: list[Op] = [_mm(f"{prefix}.gate_up", T, 2 * width, h, p)]
        if cfg.mlp_bias:
            ops.append(_bias(f"{prefix}.gate_up_bias", T, 2 * width, p))
        ops.append(Elementwise(f"{prefix}.{cfg.activation}_mul", elements=T * width, inputs=2,
                               flops_per_element=SILU_MUL_FLOPS, dtype=act))
    else:
        ops = [_mm(f"{prefix}.fc1", T, width, h, p)]
        if cfg.mlp_bias:
            ops.append(_bias(f"{prefix}.fc1_bias", T, width, p))
        ops.append(Elementwise(f"{prefix}.{cfg.activation}", elements=T * width, flops_per_element=GELU_FLOPS, dtype=act))
    ops.append(_mm(f"{prefix}.down" if cfg.gated_mlp else f"{prefix}.fc2", T, h, width, p))
    if cfg.mlp_bias:
        ops.append(_bias(f"{prefix}.down_bias", T, h, p))
    return ops


def _moe_ops(cfg: ModelConfig, T: int, p: Precision, capacity_factor: float | None) -> list[Op]:
    h, E, k, w, act = cfg.hidden_size, cfg.num_experts, cfg.top_k, cfg.moe_intermediate_size, p.activations
    ops: list[Op] = [_mm("router", T, E, h, p)]
    if cfg.router_bias:
        ops.append(_bias("router_bias", T, E, p))
    ops.append(MoERouter("topk_dispatch", tokens=T, experts=E, top_k=k, hidden=h, dtype=act))
    ex = dict(experts=E, tokens=T, top_k=k, capacity_factor=capacity_factor, dtype_a=act, dtype_b=p.weights, dtype_out=act,
              bias=cfg.mlp_bias)
    ops += [ExpertMatMul("experts.gate_up", n=2 * w, k=h, **ex),
            Elementwise(f"experts.{cfg.activation}_mul", elements=int(T * k * w * (capacity_factor or 1)), inputs=2,
                        flops_per_element=SILU_MUL_FLOPS, dtype=act),
            ExpertMatMul("experts.down", n=h, k=w, **ex)]
    if cfg.num_shared_experts:
        ops += _mlp_ops(cfg, T, cfg.num_shared_experts * cfg.shared_intermediate_size, p, prefix="shared_expert")
        if cfg.shared_expert_gate:
            ops.append(_mm("shared_expert_gate", T, 1, h, p))
    return ops


def layer_ops(cfg: ModelConfig, kind: str, batch: int, q_len: int, kv_len: int, p: Precision, phase: str,
              capacity_factor: float | None = None, window: int | None = -1) -> list[Op]:
    """Forward operators of one transformer layer (``kind`` dense or moe) whose attention sees at
    most ``window`` keys (None: all; the default -1: the model's ``sliding_window``). Attention
    sinks (gpt-oss) add one logit per head and query to the softmax: not counted."""
    if window == -1:
        window = cfg.sliding_window
    T, h, act = batch * q_len, cfg.hidden_size, p.activations
    ops: list[Op] = [Norm("attn_norm", rows=T, hidden=h, norm=cfg.norm, dtype=act)]
    ops += _attention_ops(cfg, batch, q_len, kv_len, p, phase, window)
    if not cfg.parallel_residual:
        ops += [Elementwise("attn_residual", elements=T * h, inputs=2, dtype=act),
                Norm("mlp_norm", rows=T, hidden=h, norm=cfg.norm, dtype=act)]
    ops += _moe_ops(cfg, T, p, capacity_factor) if kind == "moe" else _mlp_ops(cfg, T, cfg.intermediate_size, p)
    ops.append(Elementwise("mlp_residual", elements=T * h, inputs=3 if cfg.parallel_residual else 2,
                           flops_per_element=2.0 if cfg.parallel_residual else 1.0, dtype=act))
    return ops


def _embed_ops(cfg: ModelConfig, T: int, p: Precision) -> list[Op]:
    ops: list[Op] = [Embedding("embed_tokens", lookups=T, rows=cfg.vocab_size, dim=cfg.hidden_size, dtype=p.weights)]
    if cfg.positions == "learned":
        ops += [Embedding("embed_positions", lookups=T, rows=cfg.max_position_embeddings, dim=cfg.hidden_size, dtype=p.weights),
                Elementwise("embed_add", elements=T * cfg.hidden_size, inputs=2, dtype=p.activations)]
    return ops


def _head_ops(cfg: ModelConfig, rows: int, p: Precision, loss: bool) -> list[Op]:
    ops: list[Op] = [Norm("final_norm", rows=rows, hidden=cfg.hidden_size, norm=cfg.norm, dtype=p.activations),
                     _mm("lm_head", rows, cfg.vocab_size, cfg.hidden_size, p, tied=cfg.tie_embeddings)]
    if cfg.lm_head_bias:
        ops.append(_bias("lm_head_bias", rows, cfg.vocab_size, p))
    ops.append(Softmax("cross_entropy" if loss else "softmax", rows=rows, cols=cfg.vocab_size, dtype=p.activations, loss=loss))
    return ops


def _layer_blocks(cfg, batch, q_len, kv_len, p, phase, capacity_factor) -> list[tuple[str, int, list[Op]]]:
    out = []
    for kind, window, ix in cfg.layer_groups():
        if ix == tuple(range(ix[0], ix[-1] + 1)):
            name = f"layers[{ix[0]}:{ix[-1] + 1}].{kind}"
        else:  # e.g. every other layer: layers[0:36:2]
            step = ix[1] - ix[0]
            name = f"layers[{ix[0]}:{ix[-1] + 1}:{step}].{kind}" if ix == tuple(range(ix[0], ix[-1] + 1, step)) \
                else f"layers[{','.join(map(str, ix))}].{kind}"
        if cfg.window_layers is not None:
            name += f".window{window}" if window else ".full"
        out.append((name, len(ix), layer_ops(cfg, kind, batch, q_len, kv_len, p, phase, capacity_factor, window)))
    return out


def _check_positive(**values: int) -> None:
    for k, v in values.items():
        if not isinstance(v, int) or v <= 0:
            raise FablessError(f"{k} must be a positive integer (got {v!r})")


def _meta(cfg: ModelConfig, p: Precision, **kw) -> tuple[tuple[str, object], ...]:
    return (("model", cfg.name), *kw.items(), ("weights_dtype", p.weights), ("activations_dtype", p.activations),
            ("kv_cache_dtype", p.kv_cache), ("attention_weights_dtype", p.attention_weights or p.weights))


def build_forward_graph(cfg: ModelConfig, batch: int, seq_len: int, precision: Precision | None = None,
                        capacity_factor: float | None = None) -> Graph:
    """A forward pass over ``batch`` full sequences, logits for every token, no loss."""
    _check_positive(batch=batch, seq_len=seq_len)
    p = precision or Precision()
    T = batch * seq_len
    blocks = [Block("embed", tuple(_embed_ops(cfg, T, p)))]
    blocks += [Block(n, tuple(ops), r) for n, r, ops in _layer_blocks(cfg, batch, seq_len, seq_len, p, "train", capacity_factor)]
    blocks.append(Block("head", tuple(_head_ops(cfg, T, p, loss=False))))
    return Graph(f"{cfg.name} forward", "forward", tuple(blocks), tokens=T,
                 meta=_meta(cfg, p, batch=batch, seq_len=seq_len))


def _bwd(ops: list[Op]) -> list[Op]:
    out: list[Op] = []
    for op in reversed(ops):
        out += backward_ops(op)
    return out


def build_training_graph(cfg: ModelConfig, batch: int, seq_len: int, precision: Precision | None = None,
                         recompute: str = "none", capacity_factor: float | None = None,
                         optimizer_state_bytes_per_param: float = 12.0) -> Graph:
    """One training step: forward, backward (with ``recompute``), Adam update.

    Backward FLOPs are twice the forward for every matmul and attention (input
    and weight gradients), so without recompute a step is 3x the forward;
    ``full`` recompute adds one more forward of every transformer layer (not
    the embedding or LM head, as in Megatron-LM), ``selective`` adds the
    attention core only."""
    if recompute not in RECOMPUTE:
        raise unknown_name_error("recompute mode", recompute, RECOMPUTE)
    _check_positive(batch=batch, seq_len=seq_len)
    p = precision or Precision()
    T = batch * seq_len
    embed = _embed_ops(cfg, T, p)
    layers = _layer_blocks(cfg, batch, seq_len, seq_len, p, "train", capacity_factor)
    head = _head_ops(cfg, T, p, loss=True)
    blocks = [Block("embed", tuple(embed))]
    blocks += [Block(n, tuple(ops), r) for n, r, ops in layers]
    blocks += [Block("head", tuple(head)), Block("head.bwd", tuple(_bwd(head)))]
    for name, r, ops in reversed(layers):
        if recompute == "full":
            again = [_as_recompute(op) for op in ops]
        elif recompute == "selective":
            again = [_as_recompute(op) for op in ops if isinstance(op, Attention)]
        else:
            again = []
        blocks.append(Block(f"{name}.bwd", tuple(again + _bwd(ops)), r))
    blocks.append(Block("embed.bwd", tuple(_bwd(embed))))
    params = sum(b.total("params") for b in blocks)
    blocks.append(Block("optimizer", (OptimizerStep("adam", n_params=params, state_bytes_per_param=optimizer_state_bytes_per_param,
                                                    weight_dtype=p.weights, pass_="opt"),)))
    return Graph(f"{cfg.name} training step", "train", tuple(blocks), tokens=T,
                 meta=_meta(cfg, p, batch=batch, seq_len=seq_len, recompute=recompute))


def _as_recompute(op: Op) -> Op:
    return replace(op, name=f"{op.name}.recompute", pass_="recompute")


def build_prefill_graph(cfg: ModelConfig, batch: int, prompt_len: int, precision: Precision | None = None,
                        cached_len: int = 0, capacity_factor: float | None = None) -> Graph:
    """Prefill ``batch`` prompts of ``prompt_len`` tokens (after ``cached_len``
    tokens already in the KV cache, e.g. a shared prefix): causal attention,
    KV cache written, logits for the last position of each sequence."""
    _check_positive(batch=batch, prompt_len=prompt_len)
    p = precision or Precision()
    T = batch * prompt_len
    blocks = [Block("embed", tuple(_embed_ops(cfg, T, p)))]
    blocks += [Block(n, tuple(ops), r) for n, r, ops in
               _layer_blocks(cfg, batch, prompt_len, cached_len + prompt_len, p, "prefill", capacity_factor)]
    blocks.append(Block("head", tuple(_head_ops(cfg, batch, p, loss=False))))
    return Graph(f"{cfg.name} prefill", "prefill", tuple(blocks), tokens=T,
                 meta=_meta(cfg, p, batch=batch, prompt_len=prompt_len, cached_len=cached_len))


def build_decode_graph(cfg: ModelConfig, batch: int, context_len: int, precision: Precision | None = None,
                       capacity_factor: float | None = None) -> Graph:
    """One decode step: each of ``batch`` sequences adds one token, attending
    to a KV cache of ``context_len`` tokens (the new one included)."""
    _check_positive(batch=batch, context_len=context_len)
    p = precision or Precision()
    blocks = [Block("embed", tuple(_embed_ops(cfg, batch, p)))]
    blocks += [Block(n, tuple(ops), r) for n, r, ops in
               _layer_blocks(cfg, batch, 1, context_len, p, "decode", capacity_factor)]
    blocks.append(Block("head", tuple(_head_ops(cfg, batch, p, loss=False))))
    return Graph(f"{cfg.name} decode", "decode", tuple(blocks), tokens=batch,
                 meta=_meta(cfg, p, batch=batch, context_len=context_len,
                            kv_cache_bytes=batch * context_len * cfg.kv_cache_bytes_per_token(p.kv_cache)))


def local_experts(graph: Graph, ep: int, token_sets: int = 1) -> Graph:
    """The graph one chip of an inference expert-parallel group of ``ep`` chips runs, given the
    graph of a chip that holds every expert whole (``moe_intermediate_size`` unsliced): the
    chips share the step's tokens (tensor-parallel attention, or attention data-parallel after
    the dispatch), each holds ``experts / ep`` whole experts and computes only the token-expert
    pairs routed to them, ``tokens x top_k / experts`` rows per local expert under even routing;
    the experts' elementwise work shrinks by ``ep`` with them. ``token_sets``: how many
    different sets of the graph's tokens the ep group routes (an ep group spanning several
    tensor-parallel replicas, each with its own tokens), each local expert taking its share of all."""
    if ep <= 1:
        return graph

    def local(op: Op) -> Op:
        if isinstance(op, ExpertMatMul):
            return dataclasses.replace(op, experts=op.experts // ep, global_experts=op.routed_over,
                                       tokens=op.tokens * token_sets)
        if isinstance(op, Elementwise) and op.name.startswith("experts."):
            return dataclasses.replace(op, elements=max(1, op.elements * token_sets // ep))
        return op

    blocks = tuple(Block(b.name, tuple(local(op) for op in b.ops), b.repeat) for b in graph.blocks)
    return Graph(graph.name, graph.phase, blocks, graph.tokens, graph.meta)
