"""A decoder-only transformer's shape, read from a Hugging Face ``config.json``.

:func:`parse_config` dispatches on ``model_type`` (or, failing that, on
``architectures``) and reads the fields each family names its hyperparameters
by. Families: ``llama``, ``mistral``, ``mixtral``, ``qwen2``, ``qwen2_moe``,
``qwen3``, ``qwen3_moe``, ``deepseek_v3`` (and ``deepseek_v2``), ``gpt_oss``, ``gpt2``,
``gptj`` and ``gpt3`` (fabless's own name for GPT-3 and Megatron-LM GPT
models, with GPT-2's field names). A family fabless does not know is read as
a Llama-style decoder; a field it needs and cannot find is a one-line
:class:`~fabless.errors.FablessError` that names it.

Parameter counts are closed-form sums over the weight matrices (written out in
:meth:`ModelConfig.params_by_part`), independent of the graph builder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabless import bounds
from fabless.errors import FablessError
from fabless.loading import read_json
from fabless.workload.builder import build_decode_graph, build_training_graph
from fabless.workload.ops import dtype_bytes

LLAMA_LIKE = ("llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe")
FAMILIES = LLAMA_LIKE + ("deepseek_v2", "deepseek_v3", "gpt_oss", "gpt2", "gpt3", "gptj")

_ARCH_TO_TYPE = {
    "LlamaForCausalLM": "llama", "MistralForCausalLM": "mistral", "MixtralForCausalLM": "mixtral",
    "Qwen2ForCausalLM": "qwen2", "Qwen2MoeForCausalLM": "qwen2_moe", "Qwen3ForCausalLM": "qwen3",
    "Qwen3MoeForCausalLM": "qwen3_moe", "DeepseekV3ForCausalLM": "deepseek_v3",
    "DeepseekV2ForCausalLM": "deepseek_v2", "GPT2LMHeadModel": "gpt2", "GPTJForCausalLM": "gptj",
    "GptOssForCausalLM": "gpt_oss",
}


@dataclass(frozen=True)
class ModelConfig:
    """The shape of a decoder-only transformer (frozen; build with :func:`parse_config`).

    Attention is multi-head latent (MLA) when ``kv_lora_rank`` is set, else
    grouped-query with ``num_kv_heads`` (equal to ``num_heads``: multi-head;
    1: multi-query). Layers listed in ``moe_layers`` use ``num_experts`` routed
    experts (``top_k`` per token, ``moe_intermediate_size`` wide) plus
    ``num_shared_experts`` shared experts; the others use a dense MLP of
    ``intermediate_size``. ``sliding_window`` caps the keys a query sees in the
    layers of ``window_layers`` (every layer when that is None)."""

    name: str
    model_type: str
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    max_position_embeddings: int
    gated_mlp: bool = True  # SwiGLU (3 matrices) vs GELU MLP (2 matrices)
    activation: str = "silu"
    norm: str = "rms"  # "rms" | "layer"
    positions: str = "rope"  # "rope" | "learned"
    rotary_dim: int | None = None  # partial rotary (GPT-J); None = whole head
    tie_embeddings: bool = False
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    lm_head_bias: bool = False
    qk_norm: bool = False
    parallel_residual: bool = False  # attention and MLP read the same normed input (GPT-J)
    sliding_window: int | None = None
    # the layers that attend through the sliding window (None: every layer, when one is set);
    # gpt-oss alternates sliding and full-attention layers (config.json ``layer_types``)
    window_layers: tuple[int, ...] | None = None
    attention_sinks: bool = False  # gpt-oss: one learned logit per head joins every softmax
    # mixture of experts
    num_experts: int = 0
    top_k: int = 0
    moe_intermediate_size: int = 0
    num_shared_experts: int = 0
    shared_intermediate_size: int = 0  # width of each shared expert
    shared_expert_gate: bool = False  # Qwen2-MoE's sigmoid gate on the shared expert
    router_bias: bool = False  # DeepSeek-V3's score-correction bias
    moe_layers: tuple[int, ...] = ()
    # multi-head latent attention (DeepSeek-V2/V3)
    q_lora_rank: int | None = None
    kv_lora_rank: int | None = None
    qk_nope_head_dim: int = 0
    qk_rope_head_dim: int = 0
    v_head_dim: int = 0
    source: str = ""

    # --- structure ---------------------------------------------------------
    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0 and bool(self.moe_layers)

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank is not None

    @property
    def attention_kind(self) -> str:
        if self.is_mla:
            return "MLA"
        if self.num_kv_heads == self.num_heads:
            return "MHA"
        return "MQA" if self.num_kv_heads == 1 else "GQA"

    def layer_runs(self) -> list[tuple[str, int]]:
        """Consecutive runs of layer kinds: e.g. [("dense", 3), ("moe", 58)]."""
        runs: list[tuple[str, int]] = []
        moe = set(self.moe_layers) if self.num_experts else set()
        for i in range(self.num_layers):
            kind = "moe" if i in moe else "dense"
            if runs and runs[-1][0] == kind:
                runs[-1] = (kind, runs[-1][1] + 1)
            else:
                runs.append((kind, 1))
        return runs

    def layer_window(self, i: int) -> int | None:
        """The sliding window of layer ``i`` (None: full attention)."""
        if self.sliding_window is None:
            return None
        return self.sliding_window if self.window_layers is None or i in self.window_layers else None

    def layer_groups(self) -> list[tuple[str, int | None, tuple[int, ...]]]:
        """Layers of the same kind and attention window: (kind, window, layer numbers).

        A model with one window for all its layers gives its :meth:`layer_runs` (consecutive
        layers); one that mixes windows (gpt-oss: sliding and full attention alternate) groups
        the layers of each (kind, window) wherever they lie, so the graph has one block per group."""
        moe = set(self.moe_layers) if self.num_experts else set()
        if self.window_layers is None:
            out, start = [], 0
            for kind, n in self.layer_runs():
                out.append((kind, self.sliding_window, tuple(range(start, start + n))))
                start += n
            return out
        groups: dict[tuple[str, int | None], list[int]] = {}
        for i in range(self.num_layers):
            groups.setdefault(("moe" if i in moe else "dense", self.layer_window(i)), []).append(i)
        return [(kind, w, tuple(ix)) for (kind, w), ix in groups.items()]

    # --- parameters ----------------------------------------------------------
    def attention_params(self) -> int:
        h, H, d = self.hidden_size, self.num_heads, self.head_dim
        if self.is_mla:
            rope, nope, v, r_kv = self.qk_rope_head_dim, self.qk_nope_head_dim, self.v_head_dim, self.kv_lora_rank
            if self.q_lora_rank:
                q = h * self.q_lora_rank + self.q_lora_rank + self.q_lora_rank * H * (nope + rope)
            else:
                q = h * H * (nope + rope)
            kv = h * (r_kv + rope) + r_kv + r_kv * H * (nope + v)
            return q + kv + H * v * h
        kvh = self.num_kv_heads
        p = h * H * d + 2 * h * kvh * d + H * d * h
        if self.qkv_bias:
            p += (H + 2 * kvh) * d
        if self.o_bias:
            p += h
        if self.qk_norm:
            p += 2 * d
        if self.attention_sinks:
            p += H
        return p

    def mlp_params(self, width: int) -> int:
        h = self.hidden_size
        if self.gated_mlp:
            return 3 * h * width + ((2 * width + h) if self.mlp_bias else 0)
        return 2 * h * width + ((width + h) if self.mlp_bias else 0)

    def norm_params(self) -> int:
        return self.hidden_size * (1 if self.norm == "rms" else 2)

    def params_by_part(self) -> dict[str, int]:
        """Parameter counts by part: embeddings, attention, dense MLPs, routed
        experts, shared experts, routers, norms and LM head."""
        h = self.hidden_size
        runs = self.layer_runs()
        n_moe = sum(n for k, n in runs if k == "moe")
        n_dense = self.num_layers - n_moe
        norms_per_layer = 1 if self.parallel_residual else 2
        parts = {
            "embedding": self.vocab_size * h + (self.max_position_embeddings * h if self.positions == "learned" else 0),
            "attention": self.num_layers * self.attention_params(),
            "mlp": n_dense * self.mlp_params(self.intermediate_size),
            "experts": n_moe * self.num_experts * self.mlp_params(self.moe_intermediate_size),
            "shared_experts": n_moe * (self.num_shared_experts * self.mlp_params(self.shared_intermediate_size)
                                       + (h if self.shared_expert_gate else 0)),
            "router": n_moe * (h * self.num_experts + (self.num_experts if self.router_bias else 0)),
            "norms": self.num_layers * norms_per_layer * self.norm_params() + self.norm_params(),
            "lm_head": 0 if self.tie_embeddings else self.vocab_size * h + (self.vocab_size if self.lm_head_bias else 0),
        }
        return parts

    @property
    def params_total(self) -> int:
        return sum(self.params_by_part().values())

    @property
    def params_active(self) -> int:
        """Parameters one token uses: all but the routed experts it is not sent to
        (embeddings included, the convention of Mixtral's and DeepSeek-V3's figures)."""
        n_moe = sum(n for k, n in self.layer_runs() if k == "moe")
        inactive = n_moe * (self.num_experts - self.top_k) * self.mlp_params(self.moe_intermediate_size)
        return self.params_total - inactive

    @property
    def params_embedding(self) -> int:
        return self.params_by_part()["embedding"]

    # --- memory ------------------------------------------------------------
    @property
    def kv_cache_elements_per_token(self) -> int:
        """KV-cache elements one token adds: 2*layers*kv_heads*head_dim, or for
        MLA layers*(kv_lora_rank + rope dim) (the compressed latent and the shared rotary key).
        Sliding-window layers are counted as full ones: a paged cache that holds every layer's
        blocks for the whole sequence (vLLM before its hybrid KV-cache manager, the Neuron and
        TensorRT-LLM caches sized for max_model_len) stores them; an allocator that frees the
        window's old blocks holds less, which this overstates."""
        if self.is_mla:
            return self.num_layers * (self.kv_lora_rank + self.qk_rope_head_dim)
        return 2 * self.num_layers * self.num_kv_heads * self.head_dim

    def kv_cache_bytes_per_token(self, dtype: str = "bf16") -> float:
        return self.kv_cache_elements_per_token * dtype_bytes(dtype)

    def weight_bytes(self, dtype: str = "bf16") -> float:
        return self.params_total * dtype_bytes(dtype)

    # --- FLOPs (through the graph builder, the one source of FLOP counts) ----
    def forward_flops_per_token(self, context_len: int = 1) -> float:
        """FLOPs to decode one token against ``context_len`` cached tokens (itself included)."""
        return build_decode_graph(self, batch=1, context_len=context_len).flops

    def training_flops_per_token(self, seq_len: int = 2048, recompute: str = "none") -> float:
        """FLOPs of a training step (forward, backward, optimizer) per token at ``seq_len``."""
        g = build_training_graph(self, batch=1, seq_len=seq_len, recompute=recompute)
        return g.flops / g.tokens

    def summary(self) -> dict[str, Any]:
        """Headline figures for `fabless models show`."""
        ctx = min(self.max_position_embeddings, 4096)
        return {
            "name": self.name,
            "model_type": self.model_type,
            "params_total": self.params_total,
            "params_active": self.params_active,
            "layers": self.num_layers,
            "hidden_size": self.hidden_size,
            "heads": self.num_heads,
            "kv_heads": self.num_kv_heads,
            "head_dim": self.head_dim,
            "attention": self.attention_kind,
            "intermediate_size": self.intermediate_size,
            "experts": self.num_experts,
            "experts_per_token": self.top_k,
            "shared_experts": self.num_shared_experts,
            "moe_layers": len(self.moe_layers) if self.num_experts else 0,
            "vocab_size": self.vocab_size,
            "context_length": self.max_position_embeddings,
            "sliding_window": self.sliding_window or 0,
            "sliding_window_layers": (0 if self.sliding_window is None else
                                      self.num_layers if self.window_layers is None else len(self.window_layers)),
            "kv_cache_bytes_per_token_bf16": self.kv_cache_bytes_per_token("bf16"),
            "decode_flops_per_token_ctx1": self.forward_flops_per_token(1),
            f"decode_flops_per_token_ctx{ctx}": self.forward_flops_per_token(ctx),
            f"train_flops_per_token_seq{min(ctx, 2048)}": self.training_flops_per_token(min(ctx, 2048)),
        }


# --- parsing ---------------------------------------------------------------


class _Reader:
    """Field access on a raw config that names the missing field on failure."""

    def __init__(self, raw: dict[str, Any], origin: str, family: str):
        self.raw, self.origin, self.family = raw, origin, family

    def req(self, *keys: str) -> Any:
        for k in keys:
            if self.raw.get(k) is not None:
                return self.raw[k]
        alts = f" (or {', '.join(repr(k) for k in keys[1:])})" if len(keys) > 1 else ""
        raise FablessError(f"{self.origin}: missing field '{keys[0]}'{alts} needed to build a {self.family} model")

    def get(self, key: str, default: Any = None) -> Any:
        v = self.raw.get(key)
        return default if v is None else v

    def count(self, key: str, default: int | None = 0) -> int | None:
        """An optional whole-number field: ``default`` when absent, else an int from 0 to MAX_DIM."""
        v = self.raw.get(key)
        if v is None:
            return default
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= bounds.MAX_DIM:
            raise FablessError(f"{self.origin}: field '{key}' must be a whole number from 0 to {bounds.MAX_DIM:,} "
                               f"(got {v!r})")
        return v

    def pos_int(self, *keys: str, hi: int = bounds.MAX_DIM) -> int:
        v = self.req(*keys)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise FablessError(f"{self.origin}: field '{keys[0]}' must be a positive integer (got {v!r})")
        if v > hi:
            raise FablessError(f"{self.origin}: field '{keys[0]}' must be at most {hi:,} (got {v:,})")
        return v


def _family(raw: dict[str, Any]) -> tuple[str, bool]:
    """(family, known): the family from model_type or architectures."""
    mt = raw.get("model_type")
    if mt in FAMILIES:
        return mt, True
    for arch in raw.get("architectures") or []:
        if arch in _ARCH_TO_TYPE:
            return _ARCH_TO_TYPE[arch], True
    return (str(mt) if mt else "unknown"), False


def parse_config(raw: dict[str, Any], name: str = "model", origin: str = "config.json") -> ModelConfig:
    """A :class:`ModelConfig` from a parsed Hugging Face ``config.json``."""
    if not isinstance(raw, dict):
        raise FablessError(f"{origin}: expected a JSON object of config fields, got {type(raw).__name__}")
    if isinstance(raw.get("text_config"), dict) and "hidden_size" not in raw:
        raw = {**raw["text_config"]}
    family, known = _family(raw)
    label = family if known else f"Llama-style (model_type '{family}' is not one fabless knows: {', '.join(FAMILIES)})"
    r = _Reader(raw, origin, label)
    if family in ("gpt2", "gpt3", "gptj"):
        return _parse_gpt(r, family, name, origin)
    return _parse_llama_like(r, family if known else str(raw.get("model_type") or "unknown"), name, origin)


def _parse_gpt(r: _Reader, family: str, name: str, origin: str) -> ModelConfig:
    h = r.pos_int("n_embd", "d_model", "hidden_size")
    heads = r.pos_int("n_head", "num_attention_heads")
    head_dim = r.count("head_dim") or h // heads
    if not r.count("head_dim") and h % heads:
        raise FablessError(f"{origin}: n_embd {h} is not a multiple of n_head {heads}; give 'head_dim'")
    gptj = family == "gptj"
    act = str(r.get("activation_function", "gelu_new"))
    return ModelConfig(
        name=name, model_type=family,
        vocab_size=r.pos_int("vocab_size"), hidden_size=h, num_layers=r.pos_int("n_layer", "num_hidden_layers", hi=bounds.MAX_LAYERS),
        num_heads=heads, num_kv_heads=heads, head_dim=int(head_dim),
        intermediate_size=int(r.count("n_inner") or 4 * h),
        max_position_embeddings=r.pos_int("n_positions", "n_ctx", "max_position_embeddings"),
        gated_mlp=False, activation="gelu" if "gelu" in act else act, norm="layer",
        positions="rope" if gptj else "learned", rotary_dim=r.count("rotary_dim", None) if gptj else None,
        tie_embeddings=bool(r.get("tie_word_embeddings", not gptj)),
        qkv_bias=not gptj, o_bias=not gptj, mlp_bias=True, lm_head_bias=gptj,
        parallel_residual=gptj, source=origin,
    )


def _parse_llama_like(r: _Reader, family: str, name: str, origin: str) -> ModelConfig:
    h = r.pos_int("hidden_size")
    heads = r.pos_int("num_attention_heads")
    layers = r.pos_int("num_hidden_layers", hi=bounds.MAX_LAYERS)
    kv_heads = r.count("num_key_value_heads", heads) or heads
    head_dim = int(r.count("head_dim") or h // heads)
    kw: dict[str, Any] = {}
    deepseek = family in ("deepseek_v2", "deepseek_v3")
    # mixture of experts: field names by family
    if family == "mixtral":
        kw.update(num_experts=r.pos_int("num_local_experts", hi=bounds.MAX_EXPERTS), top_k=r.pos_int("num_experts_per_tok"),
                  moe_intermediate_size=r.pos_int("intermediate_size"), moe_layers=tuple(range(layers)))
    elif family in ("qwen2_moe", "qwen3_moe"):
        step = r.count("decoder_sparse_step", 1) or 1
        dense = r.get("mlp_only_layers", [])
        if not isinstance(dense, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in dense):
            raise FablessError(f"{r.origin}: field 'mlp_only_layers' must be a list of layer numbers (got {dense!r})")
        dense = set(dense)
        kw.update(num_experts=r.pos_int("num_experts", hi=bounds.MAX_EXPERTS), top_k=r.pos_int("num_experts_per_tok"),
                  moe_intermediate_size=r.pos_int("moe_intermediate_size"),
                  moe_layers=tuple(i for i in range(layers) if i not in dense and (i + 1) % step == 0))
        shared = r.count("shared_expert_intermediate_size", 0)
        if shared:
            kw.update(num_shared_experts=1, shared_intermediate_size=shared, shared_expert_gate=True)
    elif deepseek:
        first_dense = r.count("first_k_dense_replace", 0)
        freq = r.count("moe_layer_freq", 1) or 1
        kw.update(num_experts=r.pos_int("n_routed_experts", hi=bounds.MAX_EXPERTS), top_k=r.pos_int("num_experts_per_tok"),
                  moe_intermediate_size=r.pos_int("moe_intermediate_size"),
                  num_shared_experts=r.count("n_shared_experts", 0),
                  shared_intermediate_size=r.pos_int("moe_intermediate_size"),
                  router_bias=family == "deepseek_v3" and r.get("topk_method", "noaux_tc") == "noaux_tc",
                  moe_layers=tuple(i for i in range(first_dense, layers) if i % freq == 0))
        kw.update(q_lora_rank=r.count("q_lora_rank", None), kv_lora_rank=r.pos_int("kv_lora_rank"),
                  qk_nope_head_dim=r.pos_int("qk_nope_head_dim"), qk_rope_head_dim=r.pos_int("qk_rope_head_dim"),
                  v_head_dim=r.pos_int("v_head_dim"))
        head_dim = kw["qk_nope_head_dim"] + kw["qk_rope_head_dim"]
        kv_heads = heads
    elif family == "gpt_oss":
        # every layer a MoE of num_local_experts experts as wide as intermediate_size, each with its
        # biases; the router has a bias; attention has biases and one sink logit per head
        kw.update(num_experts=r.pos_int("num_local_experts", hi=bounds.MAX_EXPERTS),
                  top_k=r.pos_int("num_experts_per_tok", "experts_per_token"),
                  moe_intermediate_size=r.pos_int("intermediate_size"), moe_layers=tuple(range(layers)),
                  router_bias=True, attention_sinks=True, window_layers=_window_layers(r, layers))
    window = r.count("sliding_window", None) if (family in ("mistral", "mixtral", "gpt_oss")
                                                 or r.get("use_sliding_window")) else None
    act = str(r.get("hidden_act", "silu"))
    return ModelConfig(
        name=name, model_type=family, vocab_size=r.pos_int("vocab_size"), hidden_size=h, num_layers=layers,
        num_heads=heads, num_kv_heads=kv_heads, head_dim=head_dim,
        intermediate_size=r.pos_int("intermediate_size"),
        max_position_embeddings=r.pos_int("max_position_embeddings"),
        gated_mlp=True, activation=act, norm="rms", positions="rope",
        tie_embeddings=bool(r.get("tie_word_embeddings", False)),
        qkv_bias=bool(r.get("attention_bias", family in ("qwen2", "qwen2_moe"))),
        o_bias=bool(r.get("attention_bias", False)) and family not in ("qwen2", "qwen2_moe") and not deepseek,
        mlp_bias=bool(r.get("mlp_bias", family == "gpt_oss")),
        qk_norm=family in ("qwen3", "qwen3_moe"),
        sliding_window=int(window) if window else None,
        source=origin, **kw,
    )


def _window_layers(r: _Reader, layers: int) -> tuple[int, ...]:
    """The layers config.json's ``layer_types`` marks ``sliding_attention`` (gpt-oss)."""
    types = r.get("layer_types")
    kinds = ("sliding_attention", "full_attention")
    if not isinstance(types, list) or len(types) != layers or any(t not in kinds for t in types):
        raise FablessError(f"{r.origin}: field 'layer_types' must list one of {', '.join(kinds)} for each of the "
                           f"{layers} layers (got {types!r})")
    return tuple(i for i, t in enumerate(types) if t == "sliding_attention")


def load_config_file(path: str | Path, name: str | None = None) -> ModelConfig:
    """Read a ``config.json`` file (no network) into a :class:`ModelConfig`."""
    path = Path(path)
    raw = read_json(path)
    default = path.parent.name if path.name == "config.json" else path.stem
    return parse_config(raw, name=name or default, origin=str(path))
