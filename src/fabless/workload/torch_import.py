"""PyTorch models to workload graphs, traced with ``torch.export``.

:func:`from_torch` exports a module on meta tensors (shapes only: no weights
are materialised, no GPU is touched) and maps each ATen operator of the
exported graph to a fabless operator:

* ``linear``, ``mm``, ``addmm``, ``bmm``, ``baddbmm``, ``matmul`` -> :class:`MatMul`
  (``weight=True`` when an operand is a parameter, through views);
* ``scaled_dot_product_attention`` (and the flash/efficient variants) -> :class:`Attention`;
* ``conv1d/2d``, ``convolution`` -> :class:`Conv`; ``embedding``, ``embedding_bag`` -> :class:`Embedding`;
* ``layer_norm``, ``rms_norm``, ``batch_norm``, ``group_norm`` -> :class:`Norm`;
  ``softmax``, ``log_softmax``, ``cross_entropy`` -> :class:`Softmax`;
* pointwise ops, reductions, pooling, casts and copies -> :class:`Elementwise`;
* views, reshapes and tensor creation -> nothing (they move no data).

An operator outside these lists is never dropped silently: with
``on_unknown="error"`` the import fails with one line naming every unmapped
operator; with ``"warn"`` (the default) each is costed as an opaque
elementwise op (read inputs, write outputs, 1 FLOP per output element) and a
warning names them.

torch is imported only when this module is used (the optional ``torch`` extra).
"""

from __future__ import annotations

import importlib.util
import math
import operator
import sys
import warnings
from pathlib import Path
from typing import Any

from fabless.errors import FablessError, suggest
from fabless.workload.graph import Block, Graph
from fabless.workload.ops import Attention, Conv, Elementwise, Embedding, MatMul, Norm, Op, Softmax

# Pointwise ops and their FLOPs per output element (estimates: arithmetic ops in each formula).
POINTWISE_FLOPS = {
    "add": 1, "sub": 1, "rsub": 1, "mul": 1, "div": 1, "neg": 1, "abs": 1, "relu": 1, "relu_": 1, "leaky_relu": 2,
    "maximum": 1, "minimum": 1, "clamp": 2, "clamp_min": 1, "clamp_max": 1, "where": 1, "hardtanh": 2,
    "exp": 1, "log": 1, "sqrt": 1, "rsqrt": 1, "pow": 1, "square": 1, "reciprocal": 1, "sin": 1, "cos": 1,
    "tanh": 1, "sigmoid": 4, "silu": 4, "gelu": 8, "softplus": 3, "erf": 1, "hardswish": 4, "mish": 8,
    "add_": 1, "mul_": 1, "div_": 1, "sub_": 1, "masked_fill": 1, "eq": 1, "ne": 1, "lt": 1, "gt": 1,
    "le": 1, "ge": 1, "logical_and": 1, "logical_or": 1, "logical_not": 1, "bitwise_and": 1, "sign": 1,
    "dropout": 0, "native_dropout": 0, "alpha_dropout": 0, "feature_dropout": 0,
    "lerp": 3, "addcmul": 2, "addcdiv": 2, "floor": 1, "ceil": 1, "round": 1, "triu": 0, "tril": 0,
}
# Reductions, pooling and data movement: FLOPs per input element.
REDUCTION_FLOPS = {
    "sum": 1, "mean": 1, "amax": 1, "amin": 1, "max": 1, "min": 1, "prod": 1, "var": 3, "std": 3,
    "var_mean": 3, "norm": 2, "linalg_vector_norm": 2, "logsumexp": 3, "cumsum": 1, "argmax": 1, "argmin": 1,
    "topk": 1, "sort": 1, "max_pool1d": 1, "max_pool2d": 1, "max_pool3d": 1, "avg_pool1d": 1, "avg_pool2d": 1,
    "adaptive_avg_pool1d": 1, "adaptive_avg_pool2d": 1, "adaptive_max_pool2d": 1, "any": 1, "all": 1,
}
COPIES = {
    "clone", "contiguous", "_to_copy", "to", "copy", "copy_", "cat", "concat", "stack", "index_select",
    "gather", "index", "repeat", "repeat_interleave", "roll", "flip", "pad", "constant_pad_nd", "scatter",
    "scatter_add", "index_put", "index_put_", "type_as", "masked_scatter", "one_hot", "bucketize", "searchsorted",
}
FREE = {
    "view", "_unsafe_view", "reshape", "transpose", "t", "permute", "expand", "expand_as", "unsqueeze", "squeeze",
    "slice", "select", "split", "split_with_sizes", "chunk", "unbind", "flatten", "unflatten", "alias", "detach",
    "lift_fresh_copy", "narrow", "movedim", "swapaxes", "view_as", "as_strided", "arange", "full", "zeros", "ones",
    "empty", "scalar_tensor", "full_like", "zeros_like", "ones_like", "empty_like", "rand", "randn", "randint",
    "sym_size", "sym_numel", "sym_stride", "_assert_tensor_metadata", "_assert_scalar", "sym_constrain_range_for_size",
    "_local_scalar_dense", "item", "size", "dim", "new_zeros", "new_ones", "new_empty", "new_full", "linspace",
    "tensor", "_log_api_usage_once", "set_grad_enabled", "_set_grad_enabled", "unfold", "triu_indices", "tril_indices",
}
MATMULS = {"linear", "mm", "addmm", "bmm", "baddbmm", "matmul", "einsum"}
ATTENTION = {"scaled_dot_product_attention", "_scaled_dot_product_flash_attention",
             "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
             "_scaled_dot_product_flash_attention_for_cpu"}
NORMS = {"layer_norm": "layer", "native_layer_norm": "layer", "rms_norm": "rms", "_fused_rms_norm": "rms",
         "batch_norm": "batch", "_native_batch_norm_legit_no_training": "batch",
         "_native_batch_norm_legit_functional": "batch", "native_batch_norm": "batch",
         "group_norm": "layer", "native_group_norm": "layer", "instance_norm": "layer"}
SOFTMAX = {"softmax", "_softmax", "log_softmax", "_log_softmax", "cross_entropy", "nll_loss", "nll_loss_nd",
           "cross_entropy_loss", "_safe_softmax"}
CONVS = {"conv1d", "conv2d", "conv3d", "convolution", "_convolution"}
EMBEDDINGS = {"embedding", "embedding_bag", "_embedding_bag", "_embedding_bag_forward_only"}

_TORCH_DTYPES = {"float32": "fp32", "float64": "fp64", "bfloat16": "bf16", "float16": "fp16",
                 "float8_e4m3fn": "fp8", "float8_e5m2": "fp8", "float8_e4m3fnuz": "fp8", "float8_e5m2fnuz": "fp8",
                 "int8": "int8", "uint8": "int8", "float4_e2m1fn_x2": "fp4"}


def _torch():
    try:
        import torch  # the optional torch extra, heavy: imported when a model is traced
    except ImportError:
        raise FablessError("importing a PyTorch model needs torch: pip install 'fabless[torch]'") from None
    return torch


def _val(x: Any) -> Any:
    """The example value (a fake tensor) of an fx node, or the argument itself."""
    meta = getattr(x, "meta", None)
    return meta.get("val") if isinstance(meta, dict) else x


def _is_tensor(v: Any) -> bool:
    return hasattr(v, "shape") and hasattr(v, "dtype")


def _numel(v: Any) -> int:
    return int(math.prod(int(s) for s in v.shape)) if _is_tensor(v) else 0


def _dtype(v: Any, default: str = "fp32") -> str:
    if not _is_tensor(v):
        return default
    return _TORCH_DTYPES.get(str(v.dtype).removeprefix("torch."), default)


def _tensor_args(node) -> list[Any]:
    out: list[Any] = []

    def walk(a):
        if isinstance(a, (list, tuple)):
            for b in a:
                walk(b)
        elif _is_tensor(_val(a)):
            out.append(_val(a))

    walk(node.args)
    walk(list(node.kwargs.values()))
    return out


def _out(node) -> Any:
    v = _val(node)
    if isinstance(v, (list, tuple)):
        v = next((t for t in v if _is_tensor(t)), None)
    return v


def module_path(node) -> str:
    """Where in the model an fx node runs: the dotted path of its innermost module and that
    module's class (e.g. ``layers.0.mlp.act (MyAct)``), or ``forward`` at the top level."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return "forward"
    path, cls = list(stack.values())[-1]
    cls_name = (cls if isinstance(cls, str) else getattr(cls, "__name__", str(cls))).rsplit(".", 1)[-1]
    return f"{path or 'forward'} ({cls_name})"


class _Mapper:
    def __init__(self, ep, module_name: str):
        sig = ep.graph_signature
        self.param_names = dict(sig.inputs_to_parameters)  # placeholder -> parameter name
        self.weights: dict[str, str] = {}  # fx node name -> parameter name it views
        self.owned: set[str] = set()
        self.ops: list[Op] = []
        self.unknown: dict[str, int] = {}
        self.where: dict[str, str] = {}  # unmapped operator -> the module it first occurs in
        self.module_name = module_name
        self.count: dict[str, int] = {}

    def _name(self, base: str) -> str:
        n = self.count.get(base, 0)
        self.count[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def weight_of(self, arg: Any) -> str | None:
        return self.weights.get(getattr(arg, "name", None)) if arg is not None else None

    def own(self, param: str | None) -> bool:
        """True the first time a parameter is used (it is counted there); False after (tied)."""
        if param is None or param in self.owned:
            return False
        self.owned.add(param)
        return True

    # -- the dispatch -------------------------------------------------------
    def map(self, node) -> None:
        target = node.target
        if target is operator.getitem:
            return
        op = getattr(target, "_overloadpacket", None)
        name = op.__name__ if op is not None else getattr(target, "__name__", str(target))
        if name in FREE:
            if node.args and self.weight_of(node.args[0]):
                self.weights[node.name] = self.weight_of(node.args[0])
            return
        if name in MATMULS:
            return self._matmul(node, name)
        if name in ATTENTION:
            return self._attention(node, name)
        if name in CONVS:
            return self._conv(node)
        if name in EMBEDDINGS:
            return self._embedding(node, name)
        if name in NORMS:
            return self._norm(node, NORMS[name])
        if name in SOFTMAX:
            return self._softmax(node, name)
        if name in POINTWISE_FLOPS or name in REDUCTION_FLOPS or name in COPIES:
            return self._pointwise(node, name)
        self._unmapped(node)
        self._pointwise(node, name, opaque=True)

    def _unmapped(self, node) -> None:
        full = str(node.target)
        self.unknown[full] = self.unknown.get(full, 0) + 1
        self.where.setdefault(full, module_path(node))

    def _pointwise(self, node, name: str, opaque: bool = False) -> None:
        ins = _tensor_args(node)
        out = _out(node)
        n_out = _numel(out)
        n_in = sum(_numel(t) for t in ins)
        if n_out == 0 and n_in == 0:
            return
        if name in REDUCTION_FLOPS:
            flops = REDUCTION_FLOPS[name] * n_in
        elif name in COPIES or opaque:
            flops = 0.0 if name in COPIES else float(n_out)
        else:
            flops = POINTWISE_FLOPS[name] * n_out
        elements = max(n_out, 1)
        params = 0
        for a in node.args:
            p = self.weight_of(a)
            if p and self.own(p):
                params += _numel(_val(a))
        self.ops.append(Elementwise(self._name(name), elements=elements, inputs=(n_in - params) / elements,
                                    outputs=n_out / elements, flops_per_element=flops / elements,
                                    dtype=_dtype(out if _is_tensor(out) else (ins[0] if ins else None)),
                                    param_elements=params, opaque=opaque))

    def _mm_op(self, label: str, a_val, b_val, batch: int, m: int, k: int, n: int, weight_param: str | None, out) -> None:
        weight = weight_param is not None
        tied = weight and not self.own(weight_param)
        self.ops.append(MatMul(self._name(label), m=m, n=n, k=k, batch=batch, dtype_a=_dtype(a_val), dtype_b=_dtype(b_val),
                               dtype_out=_dtype(out), weight=weight, tied=tied))

    def _matmul(self, node, name: str) -> None:
        args = node.args
        out = _out(node)
        if name == "einsum":
            self._unmapped(node)
            return self._pointwise(node, name, opaque=True)
        if name == "linear":
            x, w = _val(args[0]), _val(args[1])
            k, n = int(w.shape[1]), int(w.shape[0])
            m = _numel(x) // k
            self._mm_op("linear", x, w, 1, m, k, n, self.weight_of(args[1]), out)
            bias = args[2] if len(args) > 2 else node.kwargs.get("bias")
            if bias is not None:
                p = self.weight_of(bias)
                self.ops.append(Elementwise(self._name("bias_add"), elements=m * n, dtype=_dtype(out),
                                            param_elements=n if (p and self.own(p)) else 0,
                                            inputs=1.0 if p else 1.0 + 1.0 / m))
            return
        if name in ("addmm", "baddbmm"):
            bias, a_node, b_node = args[0], args[1], args[2]
        else:
            bias, a_node, b_node = None, args[0], args[1]
        a, b = _val(a_node), _val(b_node)
        wa, wb = self.weight_of(a_node), self.weight_of(b_node)
        if a.dim() == 1 or b.dim() == 1:  # matrix-vector: treat the vector as one row / column
            m = 1 if a.dim() == 1 else _numel(a) // int(a.shape[-1])
            k = int(a.shape[-1])
            n = 1 if b.dim() == 1 else int(b.shape[-1])
            batch = 1
        else:
            m, k, n = int(a.shape[-2]), int(a.shape[-1]), int(b.shape[-1])
            batch = _numel(out) // (m * n) if _numel(out) else 1
            if wb and b.dim() == 2:  # activations [..., m, k] @ weight [k, n]: fold the batch into m
                m, batch = m * batch, 1
        if wa and not wb and a.dim() == 2 and batch == 1:  # weight @ activations: C^T = B^T A^T
            self._mm_op(name, b, a, 1, n, k, m, wa, out)
        else:
            self._mm_op(name, a, b, batch, m, k, n, wb, out)
        if bias is not None:
            p = self.weight_of(bias)
            self.ops.append(Elementwise(self._name("bias_add"), elements=_numel(out), dtype=_dtype(out),
                                        param_elements=_numel(_val(bias)) if (p and self.own(p)) else 0))

    def _attention(self, node, name: str) -> None:
        q, k, v = (_val(a) for a in node.args[:3])
        kw = node.kwargs
        if name == "scaled_dot_product_attention":
            mask = node.args[3] if len(node.args) > 3 else kw.get("attn_mask")
            causal = bool(node.args[5] if len(node.args) > 5 else kw.get("is_causal", False))
        else:
            mask = None
            causal = bool(node.args[4] if len(node.args) > 4 else kw.get("is_causal", False))
        if mask is not None:
            causal = False  # an explicit mask: every pair is computed
        B = int(math.prod(int(s) for s in q.shape[:-3])) if q.dim() > 3 else 1
        H, Lq, E = int(q.shape[-3]), int(q.shape[-2]), int(q.shape[-1])
        Hkv, Lk, Ev = int(k.shape[-3]), int(k.shape[-2]), int(v.shape[-1])
        self.ops.append(Attention(self._name("attention"), batch=B, q_len=Lq, kv_len=Lk, heads=H, kv_heads=Hkv,
                                  head_dim_qk=E, head_dim_v=Ev, causal=causal, phase="train",
                                  dtype=_dtype(q), kv_dtype=_dtype(k)))

    def _conv(self, node) -> None:
        x, w = _val(node.args[0]), _val(node.args[1])
        out = _out(node)
        bias = node.args[2] if len(node.args) > 2 else None
        if str(node.target).startswith(("aten.convolution", "aten._convolution")):
            groups = node.args[8] if len(node.args) > 8 else 1
        else:
            groups = node.args[6] if len(node.args) > 6 else node.kwargs.get("groups", 1)
        spatial = lambda t: [int(s) for s in t.shape[2:]] + [1] * (2 - len(t.shape[2:]))
        ih, iw = spatial(x)[:2]
        oh, ow = int(math.prod(spatial(out)[:-1])), spatial(out)[-1]
        kh, kw = int(math.prod(spatial(w)[:-1])), spatial(w)[-1]
        if len(x.shape) > 4:  # 3-D convolution: fold depth into height
            ih = int(math.prod(spatial(x)[:-1]))
        p = self.weight_of(node.args[1])
        owned = self.own(p) if p else False
        has_bias = bias is not None and owned and self.own(self.weight_of(bias))
        self.ops.append(Conv(self._name("conv"), batch=int(x.shape[0]), in_ch=int(x.shape[1]), out_ch=int(w.shape[0]),
                             in_hw=(ih, iw), out_hw=(oh, ow), kernel=(kh, kw), groups=int(groups or 1),
                             dtype=_dtype(x), bias=has_bias))

    def _embedding(self, node, name: str) -> None:
        w, idx = _val(node.args[0]), _val(node.args[1])
        rows, dim = int(w.shape[0]), int(w.shape[1])
        lookups = _numel(idx)
        bag = 1
        if name != "embedding":
            offsets = _val(node.args[2])
            bags = _numel(offsets)
            include_last = bool(node.args[7]) if len(node.args) > 7 else False
            bags = bags - 1 if include_last else bags
            bag = max(1, lookups // max(bags, 1))
        p = self.weight_of(node.args[0])
        if p is not None and not self.own(p):  # tied to a table counted earlier: a gather of rows
            self.ops.append(Elementwise(self._name(f"{name}_tied"), elements=lookups * dim, dtype=_dtype(w),
                                        flops_per_element=0.0))
            return
        self.ops.append(Embedding(self._name(name), lookups=lookups, rows=rows, dim=dim, dtype=_dtype(w), bag=bag))

    def _norm(self, node, kind: str) -> None:
        x = _val(node.args[0])
        if kind == "batch":
            hidden = int(x.shape[1])
            w_arg = node.args[1] if len(node.args) > 1 else None
        elif kind == "layer" and "group" in str(node.target):
            hidden = int(x.shape[1])
            w_arg = node.args[2] if len(node.args) > 2 else None
        else:
            shape = node.args[1]
            hidden = int(math.prod(int(s) for s in shape))
            w_arg = node.args[2] if len(node.args) > 2 else node.kwargs.get("weight")
        p = self.weight_of(w_arg)
        affine = bool(p) and self.own(p)
        if kind in ("layer", "batch"):  # bias
            b_arg = node.args[3] if kind == "layer" and len(node.args) > 3 else (node.args[2] if kind == "batch" and len(node.args) > 2 else None)
            self.own(self.weight_of(b_arg))
        self.ops.append(Norm(self._name(f"{kind}_norm"), rows=_numel(x) // hidden, hidden=hidden,
                             norm="rms" if kind == "rms" else ("batch" if kind == "batch" else "layer"),
                             dtype=_dtype(x), affine=affine))

    def _softmax(self, node, name: str) -> None:
        x = _val(node.args[0])
        loss = name in ("cross_entropy", "nll_loss", "nll_loss_nd", "cross_entropy_loss")
        dim = node.args[1] if (len(node.args) > 1 and isinstance(node.args[1], int) and not loss) else -1
        cols = int(x.shape[dim]) if x.dim() else 1
        if loss and x.dim() > 1:
            cols = int(x.shape[1])
        self.ops.append(Softmax(self._name(name), rows=max(1, _numel(x) // cols), cols=cols, dtype=_dtype(x), loss=loss))


def from_torch(module, example_inputs: tuple, *, name: str | None = None, on_unknown: str = "warn",
               meta: bool = True) -> Graph:
    """Trace ``module(*example_inputs)`` with ``torch.export`` and map it to a :class:`Graph`.

    With ``meta`` (the default) the module and inputs are moved to the meta
    device first (a module already on meta is used as is), so nothing is
    allocated. ``on_unknown``: ``"warn"`` costs unmapped operators as opaque
    elementwise ops and warns; ``"error"`` raises a one-line FablessError
    naming them. The graph is one block of the forward pass; ``tokens`` is the
    leading dimension of the first input (the batch)."""
    torch = _torch()
    if on_unknown not in ("warn", "error"):
        raise FablessError(f"on_unknown must be 'warn' or 'error' (got {on_unknown!r})")
    if not isinstance(example_inputs, tuple):
        example_inputs = (example_inputs,)
    n_params_module = sum(int(p.numel()) for p in module.parameters())
    if meta:
        module = module.to("meta")
        example_inputs = tuple(t.to("meta") if isinstance(t, torch.Tensor) else t for t in example_inputs)
    label = name or type(module).__name__
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ep = torch.export.export(module, example_inputs, strict=False)
    except Exception as exc:  # torch's messages span many lines: keep the first
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise FablessError(f"torch.export could not trace {label}: {type(exc).__name__}: {first}") from None
    mapper = _Mapper(ep, label)
    for node in ep.graph.nodes:
        if node.op == "placeholder" and node.name in mapper.param_names:
            mapper.weights[node.name] = mapper.param_names[node.name]
    for node in ep.graph.nodes:
        if node.op == "call_function":
            mapper.map(node)
    if mapper.unknown:
        listed = ", ".join(f"{k} x{v}" if v > 1 else k for k, v in sorted(mapper.unknown.items()))
        if on_unknown == "error":
            located = ", ".join(f"{k} at {mapper.where[k]}" + (f" (and {v - 1} more)" if v > 1 else "")
                                for k, v in sorted(mapper.unknown.items()))
            raise FablessError(f"{label}: no fabless operator for {located}; fabless cannot time it "
                               "(fabless import costs it as an opaque elementwise op without --strict)")
        warnings.warn(f"{label}: costed as opaque elementwise ops (no fabless mapping): {listed}", stacklevel=2)
    first = next((t for t in example_inputs if isinstance(t, torch.Tensor)), None)
    tokens = int(first.shape[0]) if first is not None and first.dim() else 1
    if first is not None and first.dim() >= 2 and not torch.is_floating_point(first):
        tokens = int(first.shape[0] * first.shape[1])  # token ids [batch, seq]
    batch = int(first.shape[0]) if first is not None and first.dim() else 1
    meta_info = (("model", label), ("module_params", n_params_module), ("unmapped_ops", tuple(sorted(mapper.unknown))),
                 ("batch", batch), ("token_ids", bool(first is not None and first.dim() >= 2 and not torch.is_floating_point(first))))
    return Graph(f"{label} (torch.export)", "imported", (Block(label, tuple(mapper.ops)),), tokens=tokens, meta=meta_info)


def load_factory(spec: str, kwargs: dict | None = None):
    """``FILE.py:FACTORY`` -> the factory's ``(module, example_inputs)``, called with ``kwargs``;
    one-line errors."""
    if ":" not in spec:
        raise FablessError(f"'{spec}': write FILE.py:FACTORY, a Python file and a function in it returning (module, example_inputs)")
    file, func = spec.rsplit(":", 1)
    path = Path(file)
    if not path.is_file():
        raise FablessError(f"{file}: no such file")
    if path.suffix != ".py":
        raise FablessError(f"{file}: not a Python file; write FILE.py:FACTORY")
    _torch()
    mod_name = f"_fabless_import_{path.stem}"
    loader_spec = importlib.util.spec_from_file_location(mod_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise FablessError(f"{file}: Python cannot load this file as a module")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[mod_name] = module
    try:
        loader_spec.loader.exec_module(module)
    except Exception as exc:
        raise FablessError(f"{file}: failed to run: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    factory = getattr(module, func, None)
    if not callable(factory):
        names = [n for n in vars(module) if callable(getattr(module, n)) and not n.startswith("_")]
        raise FablessError(f"{file}: no function '{func}'{suggest(func, names)}")
    torch = _torch()
    try:
        with torch.device("meta"):
            result = factory(**(kwargs or {}))
    except TypeError as exc:
        raise FablessError(f"{spec}: {exc}") from None
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], torch.nn.Module)):
        raise FablessError(f"{spec}: the factory must return (module, example_inputs), got {type(result).__name__}")
    module_, inputs = result
    return module_, inputs if isinstance(inputs, tuple) else (inputs,)
