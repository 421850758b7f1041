"""Recommendation models of the DLRM family: embedding tables, feature interaction, MLPs.

A DLRM (Naumov et al., arXiv:1906.00091) turns ``dense_features`` numbers into an
``embedding_dim`` vector with a *bottom MLP*, looks up each sample's ids in one embedding table
per sparse feature and sums them (pooling) into one ``embedding_dim`` vector per table, lets
the ``tables + 1`` vectors interact, and scores the result with a *top MLP*:

* ``interaction: dot``: the pairwise dot products of the F = tables + 1 vectors (a batched
  F x F x dim GEMM per sample), of which the F(F-1)/2 below the diagonal are concatenated with
  the bottom MLP's output: the top MLP's input is F(F-1)/2 + dim wide.
* ``interaction: dcn``: DCN-v2 cross layers (Wang et al., arXiv:2008.13535) over the
  concatenation x0 of the F vectors (F x dim wide): ``x_{l+1} = x0 * (U (V x_l) + b) + x_l``
  with the low-rank factors V (width x rank) and U (rank x width); the top MLP reads x_L.

The configs live in ``fabless/data/models/recsys/*.json`` (sources in ``data/models/SOURCES.yaml``)
with torchrec's field names::

    {"model_type": "dlrm", "dense_features": 13, "embedding_dim": 128,
     "num_embeddings_per_feature": [40000000, 39060, ...],   # rows of each table
     "multi_hot_sizes": [3, 2, ...],                          # pooling factor of each (default 1)
     "bottom_mlp": [512, 256, 128], "top_mlp": [1024, 1024, 512, 256, 1],
     "interaction": "dcn", "dcn_num_layers": 3, "dcn_low_rank_dim": 512}

Parameter counts are closed-form sums (:meth:`RecsysConfig.params_by_part`), independent of the
graph builder (:func:`build_recsys_graph`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabless import bounds
from fabless.errors import FablessError
from fabless.loading import read_json
from fabless.workload.graph import Block, Graph
from fabless.workload.ops import Elementwise, EmbeddingBag, MatMul, Op, backward_ops, dtype_bytes

INTERACTIONS = ("dot", "dcn")


@dataclass(frozen=True)
class Table:
    """One embedding table: ``rows`` x the model's ``embedding_dim``, ``pooling`` ids per sample."""

    rows: int
    pooling: float = 1.0


@dataclass(frozen=True)
class RecsysConfig:
    """The shape of a DLRM-family model (frozen; build with :func:`parse_recsys`)."""

    name: str
    dense_features: int
    embedding_dim: int
    tables: tuple[Table, ...]
    bottom_mlp: tuple[int, ...]
    top_mlp: tuple[int, ...]
    interaction: str = "dot"
    dcn_num_layers: int = 0
    dcn_low_rank_dim: int = 0
    model_type: str = "dlrm"
    source: str = ""

    # --- structure ------------------------------------------------------------------
    @property
    def num_tables(self) -> int:
        return len(self.tables)

    @property
    def features(self) -> int:
        """Vectors that interact: one per table plus the bottom MLP's output."""
        return self.num_tables + 1

    @property
    def interaction_width(self) -> int:
        """Width of the top MLP's input."""
        f, d = self.features, self.embedding_dim
        if self.interaction == "dot":
            return f * (f - 1) // 2 + d
        return f * d

    @property
    def lookups_per_sample(self) -> float:
        """Rows gathered per sample: the sum of the tables' pooling factors."""
        return float(sum(t.pooling for t in self.tables))

    @property
    def embedding_rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def table_bytes(self, dtype: str = "fp32") -> float:
        """Bytes of every embedding table at ``dtype``."""
        return self.embedding_rows * self.embedding_dim * dtype_bytes(dtype)

    # --- parameters ------------------------------------------------------------------
    @staticmethod
    def _mlp_params(width_in: int, layers: tuple[int, ...]) -> int:
        p, w = 0, width_in
        for n in layers:
            p += w * n + n  # weight and bias
            w = n
        return p

    def params_by_part(self) -> dict[str, int]:
        """Parameters of the embedding tables, the bottom MLP, the DCN cross layers and the top MLP."""
        width = self.features * self.embedding_dim
        dcn = self.dcn_num_layers * (2 * width * self.dcn_low_rank_dim + width) if self.interaction == "dcn" else 0
        return {
            "embeddings": self.embedding_rows * self.embedding_dim,
            "bottom_mlp": self._mlp_params(self.dense_features, self.bottom_mlp),
            "interaction": dcn,
            "top_mlp": self._mlp_params(self.interaction_width, self.top_mlp),
        }

    @property
    def params_total(self) -> int:
        return sum(self.params_by_part().values())

    @property
    def params_dense(self) -> int:
        """Parameters outside the embedding tables (the data-parallel part)."""
        return self.params_total - self.params_by_part()["embeddings"]

    def forward_flops_per_sample(self) -> float:
        """FLOPs of one sample's forward pass (through the graph builder)."""
        return build_recsys_graph(self, 1).flops

    def summary(self) -> dict[str, Any]:
        """Headline figures for `fabless models show`."""
        return {
            "name": self.name, "model_type": self.model_type, "params_total": self.params_total,
            "params_dense": self.params_dense, "embedding_tables": self.num_tables,
            "embedding_rows": self.embedding_rows, "embedding_dim": self.embedding_dim,
            "table_bytes_fp32": self.table_bytes("fp32"), "lookups_per_sample": self.lookups_per_sample,
            "bottom_mlp": list(self.bottom_mlp), "top_mlp": list(self.top_mlp), "interaction": self.interaction,
            "dcn_num_layers": self.dcn_num_layers, "dcn_low_rank_dim": self.dcn_low_rank_dim,
            "forward_flops_per_sample": self.forward_flops_per_sample(),
        }


# ----------------------------------------------------------------------------- parsing


def _ints(raw: dict, key: str, origin: str, *, required: bool = True) -> tuple[int, ...]:
    v = raw.get(key)
    if v is None and not required:
        return ()
    if not isinstance(v, list) or not v or not all(isinstance(x, int) and not isinstance(x, bool) and 0 < x <= bounds.MAX_DIM for x in v):
        raise FablessError(f"{origin}: field '{key}' must be a non-empty list of positive whole numbers (got {v!r})")
    return tuple(v)


def _pos(raw: dict, key: str, origin: str, default: int | None = None) -> int:
    v = raw.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or not 0 < v <= bounds.MAX_DIM:
        raise FablessError(f"{origin}: field '{key}' must be a positive whole number (got {v!r})")
    return v


def parse_recsys(raw: dict[str, Any], name: str = "model", origin: str = "config.json") -> RecsysConfig:
    """A :class:`RecsysConfig` from a parsed config (fields in the module docstring)."""
    if not isinstance(raw, dict):
        raise FablessError(f"{origin}: expected a JSON object of config fields, got {type(raw).__name__}")
    rows = _ints(raw, "num_embeddings_per_feature", origin)
    pooling = raw.get("multi_hot_sizes")
    if pooling is None:
        pooling = [1] * len(rows)
    if (not isinstance(pooling, list) or len(pooling) != len(rows)
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and 0 < x <= bounds.MAX_DIM for x in pooling)):
        raise FablessError(f"{origin}: field 'multi_hot_sizes' must list one positive pooling factor per table "
                           f"({len(rows)} tables)")
    interaction = raw.get("interaction", "dot")
    if interaction not in INTERACTIONS:
        raise FablessError(f"{origin}: field 'interaction' must be one of {', '.join(INTERACTIONS)} (got {interaction!r})")
    dim = _pos(raw, "embedding_dim", origin)
    bottom = _ints(raw, "bottom_mlp", origin)
    if bottom[-1] != dim:
        raise FablessError(f"{origin}: the bottom MLP's last layer ({bottom[-1]}) must equal embedding_dim ({dim}) "
                           "to interact with the embeddings")
    kw: dict[str, Any] = {}
    if interaction == "dcn":
        kw = {"dcn_num_layers": _pos(raw, "dcn_num_layers", origin), "dcn_low_rank_dim": _pos(raw, "dcn_low_rank_dim", origin)}
    return RecsysConfig(
        name=name, dense_features=_pos(raw, "dense_features", origin), embedding_dim=dim,
        tables=tuple(Table(r, float(p)) for r, p in zip(rows, pooling)), bottom_mlp=bottom,
        top_mlp=_ints(raw, "top_mlp", origin), interaction=interaction, model_type=str(raw.get("model_type", "dlrm")),
        source=origin, **kw,
    )


def load_recsys_file(path: str | Path, name: str | None = None) -> RecsysConfig:
    """Read a recommendation model config file."""
    path = Path(path)
    return parse_recsys(read_json(path), name=name or path.stem, origin=str(path))


def is_recsys_raw(raw: Any) -> bool:
    """Whether a parsed config is a recommendation model (``model_type: dlrm``)."""
    return isinstance(raw, dict) and raw.get("model_type") == "dlrm"


# ----------------------------------------------------------------------------- graphs


def mlp_ops(prefix: str, rows: int, width_in: int, layers: tuple[int, ...], dtype: str,
            fused_epilogue: bool = False) -> list[Op]:
    """One GEMM (rows x width_in -> n) and its bias and activation per layer (ReLU: 1 FLOP per
    element), a kernel of its own that reads and writes the GEMM's output; ``fused_epilogue``:
    the bias and ReLU run in the GEMM's epilogue on the output tile before it is written, so
    the layer is the GEMM alone (TensorRT fuses a convolution or matrix multiply with a following
    ReLU: NVIDIA TensorRT "Layer Fusion Catalog", docs.nvidia.com/deeplearning/tensorrt/latest/
    performance/fusion-catalog.html; cuBLASLt's RELU_BIAS epilogue does the same)."""
    ops: list[Op] = []
    w = width_in
    for i, n in enumerate(layers):
        ops.append(MatMul(f"{prefix}.fc{i}", m=rows, n=n, k=w, dtype_a=dtype, dtype_b=dtype, dtype_out=dtype, weight=True))
        if not fused_epilogue:
            ops.append(Elementwise(f"{prefix}.act{i}", elements=rows * n, inputs=1, outputs=1, flops_per_element=1.0,
                                   dtype=dtype, param_elements=n))
        w = n
    return ops


def interaction_ops(cfg: RecsysConfig, rows: int, dtype: str, fused_epilogue: bool = False) -> list[Op]:
    """The feature interaction of ``rows`` samples: the dot products (a batched GEMM, one
    F x F x dim per sample) and the gather of the lower triangle, or the DCN-v2 cross layers:
    the concatenation of the F vectors into x0, then per layer two low-rank GEMMs (the bias in
    the second one's epilogue) and one pointwise kernel x0 * (.) + x_l, which reads the GEMM's
    output, x0 and x_l and writes x_{l+1}. ``fused_epilogue``: the lookup kernel writes its
    pooled rows and the bottom MLP's output straight into x0 (NVIDIA's MLPerf DLRM-v2 lookup
    plugin outputs the [batch, F x dim] tensor the cross layers read: mlcommons/
    inference_results_v4.1 closed/NVIDIA/code/dlrm-v2/tensorrt/builder.py), so there is no
    concatenation pass. The pointwise kernel stays: NVIDIA builds the layers as 1x1 convolutions,
    and TensorRT's fusion catalogue fuses a convolution with a following sum, not with the
    product by x0 (the product and the sum fuse with each other, into the one kernel above)."""
    f, d = cfg.features, cfg.embedding_dim
    if cfg.interaction == "dot":
        return [MatMul("interaction.dot", m=f, n=f, k=d, batch=rows, dtype_a=dtype, dtype_b=dtype, dtype_out=dtype),
                Elementwise("interaction.gather", elements=rows * cfg.interaction_width, inputs=1, outputs=1,
                            flops_per_element=0.0, dtype=dtype)]
    width, r = f * d, cfg.dcn_low_rank_dim
    ops: list[Op] = [] if fused_epilogue else [Elementwise("interaction.concat", elements=rows * width, inputs=1,
                                                           outputs=1, flops_per_element=0.0, dtype=dtype)]
    for i in range(cfg.dcn_num_layers):
        ops += [MatMul(f"dcn{i}.v", m=rows, n=r, k=width, dtype_a=dtype, dtype_b=dtype, dtype_out=dtype, weight=True),
                MatMul(f"dcn{i}.u", m=rows, n=width, k=r, dtype_a=dtype, dtype_b=dtype, dtype_out=dtype, weight=True),
                Elementwise(f"dcn{i}.cross", elements=rows * width, inputs=3, outputs=1, flops_per_element=3.0,
                            dtype=dtype, param_elements=width)]
    return ops


def dense_ops(cfg: RecsysConfig, rows: int, dtype: str, fused_epilogue: bool = False) -> tuple[list[Op], list[Op], list[Op]]:
    """(bottom MLP, interaction, top MLP) operators of ``rows`` samples; ``fused_epilogue`` as
    in :func:`mlp_ops` and :func:`interaction_ops`."""
    return (mlp_ops("bottom", rows, cfg.dense_features, cfg.bottom_mlp, dtype, fused_epilogue),
            interaction_ops(cfg, rows, dtype, fused_epilogue),
            mlp_ops("top", rows, cfg.interaction_width, cfg.top_mlp, dtype, fused_epilogue))


def embedding_op(cfg: RecsysConfig, batch: int, dtype: str = "fp32", tables: tuple[Table, ...] | None = None,
                 dim: int | None = None, name: str = "embeddings") -> EmbeddingBag:
    """One :class:`EmbeddingBag` over ``tables`` (default: all) for ``batch`` samples."""
    tabs = cfg.tables if tables is None else tables
    n = max(len(tabs), 1)
    pooling = sum(t.pooling for t in tabs) / n if tabs else 0.0
    return EmbeddingBag(name, batch=batch, tables=len(tabs), pooling=pooling, rows=sum(t.rows for t in tabs),
                        dim=dim or cfg.embedding_dim, dtype=dtype)


def build_recsys_graph(cfg: RecsysConfig, batch: int, *, training: bool = False, dtype: str = "bf16",
                       embedding_dtype: str = "fp32") -> Graph:
    """The operator graph of one step over ``batch`` samples on one device holding every table:
    embedding lookups, bottom MLP, interaction, top MLP (and, for ``training``, their backward
    operators). Sharding across chips is the step model's (:mod:`fabless.estimate.recsys`)."""
    if not isinstance(batch, int) or isinstance(batch, bool) or not 0 < batch <= bounds.MAX_BATCH:
        raise FablessError(f"batch must be a whole number of samples from 1 to {bounds.MAX_BATCH:,} (got {batch!r})")
    emb = embedding_op(cfg, batch, embedding_dtype)
    bottom, inter, top = dense_ops(cfg, batch, dtype)
    blocks = [Block("embeddings", (emb,)), Block("bottom_mlp", tuple(bottom)), Block("interaction", tuple(inter)),
              Block("top_mlp", tuple(top))]
    if training:
        bwd = [op2 for blk in reversed(blocks) for op in reversed(blk.ops) for op2 in backward_ops(op)]
        blocks.append(Block("backward", tuple(bwd)))
    return Graph(f"{cfg.name}.{'train' if training else 'forward'}", "train" if training else "forward",
                 tuple(blocks), tokens=batch, meta=(("model", cfg.name), ("batch", batch)))


__all__ = ["INTERACTIONS", "RecsysConfig", "Table", "build_recsys_graph", "dense_ops", "embedding_op", "interaction_ops",
           "is_recsys_raw", "load_recsys_file", "mlp_ops", "parse_recsys"]
