"""Imported PyTorch models as workloads: the ``FILE.py:FACTORY`` model spec.

A model spec ``FILE.py:FACTORY`` (or ``FILE.py:FACTORY(layers=2,seq=256)``: keyword arguments
for the factory, Python literals) names a PyTorch model that :mod:`fabless.workload.torch_import`
traces on meta tensors. Scenarios give it as ``model: {graph: FILE.py:FACTORY, args: {...}}``.

* :func:`load_graph`: the traced forward graph, every operator mapped (an operator fabless
  cannot time is a one-line error naming it and where in the model it runs), read once per
  file version.
* :func:`decoder_config`: the :class:`ModelConfig` of a traced decoder-only transformer, found
  by reading the shapes off its operators (embedding, attention heads, MLP width, norms) and
  accepted only if the config's own forward graph (:func:`build_forward_graph`) reproduces the
  traced one: the same parameters, the same matmul and attention FLOPs. A recognised decoder
  runs everywhere a catalog model does (tensor and pipeline parallelism, serving, explore);
  any other graph is estimated operator by operator, data-parallel only
  (:mod:`fabless.estimate.graph`; explore times it so over its designs), and
  :func:`graph_model_config` says why.
"""

from __future__ import annotations

import ast
import dataclasses
import os
from functools import lru_cache
from pathlib import Path

from fabless.errors import FablessError
from fabless.workload.builder import Precision, build_forward_graph
from fabless.workload.config import ModelConfig, parse_config
from fabless.workload.graph import Block, Graph
from fabless.workload.ops import Attention, Elementwise, Embedding, MatMul, Norm, Op
from fabless.workload.torch_import import from_torch, load_factory


class NotADecoder(FablessError):
    """An imported graph that fabless does not recognise as a decoder transformer; ``why`` says
    what did not match."""

    def __init__(self, message: str, why: str = ""):
        super().__init__(message)
        self.why = why


def is_graph_spec(text: object) -> bool:
    """True for a model spec naming a PyTorch factory (``FILE.py:FACTORY[(args)]``)."""
    return isinstance(text, str) and ".py:" in text


def parse_graph_spec(text: str) -> tuple[str, str, dict]:
    """``FILE.py:FACTORY(k=v,...)`` -> (file, factory, keyword arguments); one-line errors."""
    file, _, call = text.rpartition(":")
    if not file.endswith(".py") or not call:
        raise FablessError(f"model: '{text}': write FILE.py:FACTORY or FILE.py:FACTORY(name=value,...)")
    name, paren, rest = call.partition("(")
    args: dict = {}
    if paren:
        if not rest.endswith(")"):
            raise FablessError(f"model: '{text}': the factory's arguments end with ')'")
        try:
            tree = ast.parse(f"f({rest}", mode="eval")
            call_node = tree.body
            if not isinstance(call_node, ast.Call) or call_node.args:
                raise ValueError("give arguments as name=value")
            args = {kw.arg: ast.literal_eval(kw.value) for kw in call_node.keywords}
            if None in args:
                raise ValueError("give arguments as name=value")
        except (SyntaxError, ValueError) as exc:
            raise FablessError(f"model: '{text}': cannot read the factory's arguments ({exc}); "
                               "write name=value with Python literals, e.g. build(layers=2,seq=256)") from None
    if not name.isidentifier():
        raise FablessError(f"model: '{text}': '{name}' is not a Python function name")
    return file, name, args


def graph_spec(graph: str, args: dict | None = None) -> str:
    """The model spec string of a scenario's ``{graph: FILE.py:FACTORY, args: {...}}``."""
    if not isinstance(graph, str) or not is_graph_spec(graph):
        raise FablessError(f"model.graph: '{graph}': write FILE.py:FACTORY, a Python file and a function in it "
                           "returning (module, example_inputs)")
    if not args:
        return graph
    if not isinstance(args, dict):
        raise FablessError("model.args: expected a mapping of the factory's keyword arguments, e.g. {layers: 2}")
    if "(" in graph.rpartition(":")[2]:
        raise FablessError("model: give the factory's arguments once, in graph: or in args:")
    return f"{graph}({','.join(f'{k}={v!r}' for k, v in args.items())})"


def _stamp(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        raise FablessError(f"model: {path}: no such file") from None
    return st.st_mtime_ns, st.st_size


def load_graph(spec: str) -> Graph:
    """The traced forward graph of a model spec; every operator must map to a fabless operator
    (else a one-line error naming it and where it runs). Traced once per file version."""
    file, name, args = parse_graph_spec(spec)
    return _traced(file, name, tuple(sorted(args.items())), os.path.abspath(file), _stamp(file))


@lru_cache(maxsize=16)
def _traced(file: str, name: str, args: tuple, where: str, stamp: tuple[int, int]) -> Graph:
    module, inputs = load_factory(f"{file}:{name}", dict(args))
    label = f"{Path(file).name}:{name}"
    return dataclasses.replace(from_torch(module, inputs, name=label, on_unknown="error"), name=label)


# ----------------------------------------------------------------------------- recognising a decoder


def _gemm_flops(g: Graph) -> float:
    return sum(op.flops * b.repeat for b, op in g.items() if isinstance(op, (MatMul, Attention)))


def decoder_config(graph: Graph, name: str) -> tuple[ModelConfig | None, str]:
    """(config, "") for a traced decoder-only transformer, or (None, why not). The shapes are
    read off the operators; the config is accepted only if its forward graph at the traced
    batch and length has the traced graph's parameters and matmul and attention FLOPs."""
    ops = [op for _, op in graph.items()]
    attn = [op for op in ops if isinstance(op, Attention)]
    emb = [op for op in ops if isinstance(op, Embedding)]
    mms = [op for op in ops if isinstance(op, MatMul) and op.weight]
    if not attn:
        return None, "it has no attention operator"
    if not emb:
        return None, "it does not start from a token embedding"
    a = attn[0]
    if any((o.heads, o.kv_heads, o.head_dim_qk, o.head_dim_v, o.q_len, o.kv_len) !=
           (a.heads, a.kv_heads, a.head_dim_qk, a.head_dim_v, a.q_len, a.kv_len) for o in attn):
        return None, "its attention layers differ in shape"
    if not all(o.causal for o in attn) or a.q_len != a.kv_len:
        return None, "its attention is not causal self-attention"
    vocab, hidden = emb[0].rows, emb[0].dim
    layers, heads, kv_heads, head_dim = len(attn), a.heads, a.kv_heads, a.head_dim_qk
    batch, seq = a.batch, a.q_len
    if head_dim != a.head_dim_v or not mms:
        return None, "its attention's value width differs from its query width"
    # the MLP: the matmul that reads a width other than the attention's and writes the hidden size
    width = {op.k for op in mms if op.n == hidden and op.k not in (hidden, heads * head_dim)}
    if len(width) != 1:
        return None, "no single MLP width (a matmul from it back to the hidden size) is found"
    norms = {op.norm for op in ops if isinstance(op, Norm)}
    if len(norms) != 1 or not norms <= {"rms", "layer"}:
        return None, "its layers do not use one kind of RMS or layer norm"
    learned = any(isinstance(op, Embedding) and op.rows != vocab for op in ops)
    gated = any(isinstance(op, Elementwise) and op.name.startswith("silu") for op in ops)
    base = {
        "model_type": "llama", "vocab_size": vocab, "hidden_size": hidden, "num_hidden_layers": layers,
        "num_attention_heads": heads, "num_key_value_heads": kv_heads, "head_dim": head_dim,
        "intermediate_size": width.pop(), "max_position_embeddings": max(seq, 1),
        "hidden_act": "silu" if gated else "gelu",
    }
    if learned or not gated or "layer" in norms:
        return None, "only Llama-style decoders (RMSNorm, rotary positions, SwiGLU MLP) are recognised"
    target = (graph.params, _gemm_flops(graph))
    for tied in (False, True):
        for qkv_bias in (False, True):
            for mlp_bias in (False, True):
                raw = {**base, "tie_word_embeddings": tied, "attention_bias": qkv_bias, "mlp_bias": mlp_bias}
                try:
                    cfg = parse_config(raw, name=name)
                    fwd = build_forward_graph(cfg, batch, seq, Precision())
                except FablessError:
                    continue
                if (fwd.params, _gemm_flops(fwd)) == target:
                    return dataclasses.replace(cfg, source=f"traced from {name}"), ""
    return None, ("no Llama-style config reproduces its parameters and matmul FLOPs "
                  f"({graph.params:,.0f} parameters, {_gemm_flops(graph):.4g} FLOPs traced)")


def graph_model_config(spec: str) -> ModelConfig:
    """The decoder config of an imported model spec; :class:`NotADecoder` (one line) if the graph
    is not a recognised decoder, saying why and what it does run in."""
    file, _, _ = parse_graph_spec(spec)
    cfg, why = _config(spec, os.path.abspath(file), _stamp(file))
    if cfg is None:
        raise NotADecoder(f"model: {spec} is not a decoder transformer fabless recognises ({why}); serving, "
                          "tensor/pipeline parallelism and tco need one: fabless estimate and explore run it operator by "
                          "operator, data-parallel only", why)
    return cfg


@lru_cache(maxsize=16)
def _config(spec: str, where: str, stamp: tuple[int, int]) -> tuple[ModelConfig | None, str]:
    return decoder_config(load_graph(spec), spec)


def with_precision(graph: Graph, prec: Precision) -> Graph:
    """The traced graph at a scenario's datatypes (the trace runs in the module's own, fp32 by
    default): weights at ``prec.weights``, every other floating-point tensor at
    ``prec.activations``; integer tensors (token ids) stay as traced."""
    floats = {"fp32", "fp64", "bf16", "fp16", "fp8", "fp4"}
    act, w = prec.activations, prec.weights

    def re(op: Op) -> Op:
        ch = {}
        for f in ("dtype", "dtype_a", "dtype_out", "kv_dtype", "out_dtype"):
            v = getattr(op, f, None)
            if isinstance(v, str) and v in floats:
                ch[f] = act
        if isinstance(op, MatMul):
            ch["dtype_b"] = w if op.weight else act
        if isinstance(op, Embedding):
            ch["dtype"] = w
        return dataclasses.replace(op, **ch) if ch else op

    blocks = tuple(Block(b.name, tuple(re(op) for op in b.ops), b.repeat) for b in graph.blocks)
    return dataclasses.replace(graph, blocks=blocks)


__all__ = ["NotADecoder", "decoder_config", "graph_model_config", "graph_spec", "is_graph_spec", "load_graph",
           "parse_graph_spec", "with_precision"]
