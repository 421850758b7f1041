"""Workloads: operator graphs with shapes, datatypes, FLOPs and minimum bytes.

* :mod:`~fabless.workload.ops`: the operators (MatMul, ExpertMatMul, Attention,
  Elementwise, Norm, Softmax, Embedding, MoERouter, Collective, Conv, OptimizerStep).
* :mod:`~fabless.workload.graph`: :class:`Graph`, a sequence of :class:`Block`
  (operators x repeat count).
* :mod:`~fabless.workload.config`: :class:`ModelConfig` from a Hugging Face config.json.
* :mod:`~fabless.workload.catalog`: the shipped configs (:func:`load_model`, :func:`model_names`).
* :mod:`~fabless.workload.builder`: graphs per phase (:func:`build_training_graph`,
  :func:`build_prefill_graph`, :func:`build_decode_graph`, :func:`build_forward_graph`).
* :mod:`~fabless.workload.torch_import`: :func:`from_torch` (needs the optional ``torch`` extra).

Example::

    from fabless.workload import load_model, build_decode_graph, Precision
    cfg = load_model("llama-3.1-70b")
    g = build_decode_graph(cfg, batch=32, context_len=8192, precision=Precision(kv_cache="fp8"))
    g.flops / g.tokens, g.bytes_read
"""

from fabless.workload.builder import (
    Precision,
    build_decode_graph,
    build_forward_graph,
    build_prefill_graph,
    local_experts,
    build_training_graph,
    layer_ops,
)
from fabless.workload.catalog import load_model, model_names, model_source
from fabless.workload.config import ModelConfig, load_config_file, parse_config
from fabless.workload.graph import Block, Graph
from fabless.workload.ops import (
    Attention,
    Collective,
    Conv,
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
)
from fabless.workload.torch_import import from_torch  # torch itself is imported on first use

__all__ = [
    "Attention", "Block", "Collective", "Conv", "Elementwise", "Embedding", "ExpertMatMul", "Graph", "MatMul",
    "ModelConfig", "MoERouter", "Norm", "Op", "OptimizerStep", "Precision", "Softmax", "backward_ops",
    "build_decode_graph", "build_forward_graph", "build_prefill_graph", "build_training_graph", "from_torch",
    "layer_ops", "load_config_file", "local_experts", "load_model", "model_names", "model_source", "parse_config",
]
