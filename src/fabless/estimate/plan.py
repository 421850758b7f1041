"""The parallel plan: one frozen object with every axis, checked in one place.

A plan says how a model is spread over the chips of a system and how each chip runs its share::

    tp          tensor parallel (Megatron column/row split of attention heads, MLP width, vocabulary)
    sp          sequence parallelism inside the tp group (norms and residuals split by sequence)
    pp          pipeline stages; interleave = virtual stages per chip (interleaved 1F1B)
    dp          data-parallel replicas
    zero        0-3: ZeRO stage over the sharding group (1 = distributed optimizer, 2 + gradients,
                3 + weights = FSDP)
    shard       chips one ZeRO shard group spans (divides dp; 0 = all of dp). shard < dp with
                zero 3 is hybrid sharding (HSDP): weights gathered inside a group, gradients
                all-reduced across the dp / shard groups
    cp          context parallel (sequence split, ring attention)
    ep          expert parallel (whole experts per chip); each expert's data-parallel group is
                the tp x cp x dp / ep chips that hold the same experts
    recompute   "none", "selective" (attention core), "full", or N: N layers of each pipeline
                stage fully recomputed, the rest not at all (Megatron --recompute-num-layers)
    micro_batch sequences per micro-batch
    attn_dp     inference: attention data-parallel over the tp group with expert-parallel MoE
                (DeepSeek-V3 / SGLang DP attention): each chip runs attention on its own requests
    mesh        on a torus (TPU, Trainium): the shape each axis's groups take, one extent per torus
                dimension, e.g. (("tp", (4, 1)), ("dp", (4, 16))) on a 16x16 slice: tp spans 4 chips
                of the first dimension, dp the rest (MaxText's ici_tensor / ici_fsdp mesh); axes not
                named take the default compact block
    order       placement: the axes from innermost (consecutive chips) to outermost, e.g.
                "tp-cp-dp-pp" (Megatron's order: pipeline stages across nodes) or "tp-cp-pp-dp".
                An axis whose group (stride x size chips) fits in one scale-up domain runs its
                collectives there (:func:`fabless.estimate.step.per_domain`); on a torus the
                packed group spans whole mesh dimensions first

:func:`check_plan` is the one place a plan is checked against a model, a chip count and a system;
each failure names its rule.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from math import prod

from fabless.errors import FablessError
from fabless.workload import ModelConfig

RECOMPUTE_MODES = ("none", "selective", "full")
ORDER_AXES = ("tp", "cp", "dp", "pp")
DEFAULT_ORDER = "tp-cp-dp-pp"


class PlanError(FablessError):
    """A plan that cannot run: ``rule`` names the rule it breaks."""

    def __init__(self, rule: str, message: str):
        super().__init__(f"parallel: {message} (rule: {rule})")
        self.rule = rule


@dataclass(frozen=True)
class Plan:
    """One parallel plan (every axis). Plain, hashable, frozen; ``as_dict()`` for output."""

    tp: int = 1
    pp: int = 1
    dp: int = 1
    ep: int = 1
    cp: int = 1
    sp: bool = True
    interleave: int = 1
    zero: int = 1
    shard: int = 0
    recompute: str | int = "selective"
    micro_batch: int = 1
    attn_dp: bool = False
    order: str = DEFAULT_ORDER
    mesh: tuple[tuple[str, tuple[int, ...]], ...] = ()

    @property
    def model_parallel(self) -> int:
        return self.tp * self.pp * self.cp

    @property
    def chips(self) -> int:
        return self.tp * self.pp * self.cp * self.dp

    @property
    def shard_group(self) -> int:
        """Chips a ZeRO shard group spans: ``shard`` or, when 0, all of dp."""
        return self.shard or self.dp

    @property
    def expert_dp(self) -> int:
        """Chips holding a copy of the same experts (their gradients are reduced over these)."""
        return max(1, self.tp * self.cp * self.dp // self.ep)

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["mesh"] = {a: list(shape) for a, shape in self.mesh}
        return d

    def mesh_shapes(self) -> dict[str, tuple[int, ...]]:
        """Axis -> torus shape of its groups, with the ZeRO shard group following dp when it is all of dp."""
        m = dict(self.mesh)
        if "dp" in m and self.shard_group == self.dp:
            m["dp_shard"] = m["dp"]
        return m

    def label(self) -> str:
        """Short text, e.g. ``tp8 pp16 dp128 zero1 selective mb1``."""
        parts = [f"{k}{getattr(self, k)}" for k in ("tp", "cp", "ep", "pp", "dp") if getattr(self, k) > 1 or k in ("tp", "dp")]
        if self.tp > 1 and not self.sp:
            parts.append("no-sp")
        if self.attn_dp:
            parts.append("attn-dp")
        if self.interleave > 1:
            parts.append(f"v{self.interleave}")
        parts.append(f"zero{self.zero}" + (f"/shard{self.shard}" if self.shard and self.shard != self.dp else ""))
        parts.append(self.recompute if isinstance(self.recompute, str) else f"recompute{self.recompute}")
        parts.append(f"mb{self.micro_batch}")
        if self.order != DEFAULT_ORDER:
            parts.append(self.order)
        return " ".join(parts)


def order_axes(order: str) -> tuple[str, ...]:
    axes = tuple(order.split("-"))
    if sorted(axes) != sorted(ORDER_AXES):
        raise PlanError("order", f"order '{order}' must list each of {', '.join(ORDER_AXES)} once, innermost first, joined by '-'")
    return axes


def check_plan(plan: Plan, cfg, chips: int, system, *, seq_len: int | None = None,
               global_batch: int | None = None) -> None:
    """Raise :class:`PlanError` naming the first rule ``plan`` breaks for model ``cfg`` on
    ``chips`` chips of ``system`` (training when ``global_batch`` is given)."""
    for name in ("tp", "pp", "dp", "ep", "cp", "interleave", "micro_batch"):
        v = getattr(plan, name)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise PlanError("positive", f"{name} must be a whole number >= 1, got {v!r}")
    if plan.zero not in (0, 1, 2, 3):
        raise PlanError("zero", f"zero must be 0, 1, 2 or 3, got {plan.zero!r}")
    r = plan.recompute
    if not (r in RECOMPUTE_MODES or (isinstance(r, int) and not isinstance(r, bool) and r >= 0)):
        raise PlanError("recompute", f"recompute must be one of {', '.join(RECOMPUTE_MODES)} or a number of layers, got {r!r}")
    order_axes(plan.order)
    if plan.chips != chips:
        raise PlanError("chips", f"tp x cp x pp x dp = {plan.tp}x{plan.cp}x{plan.pp}x{plan.dp} = {plan.chips}, "
                                 f"but the system has {chips} chips")
    if cfg.num_heads % plan.tp:
        raise PlanError("tp-divides-heads", f"tp {plan.tp} does not divide the {cfg.num_heads} attention heads of {cfg.name}")
    if cfg.num_kv_heads % plan.tp and plan.tp % cfg.num_kv_heads:
        raise PlanError("tp-kv-heads", f"tp {plan.tp} and the {cfg.num_kv_heads} KV heads of {cfg.name} must divide one another")
    if plan.pp > cfg.num_layers:
        raise PlanError("pp-layers", f"pp {plan.pp} stages for the {cfg.num_layers} layers of {cfg.name}; use pp <= {cfg.num_layers}")
    stage = -(-cfg.num_layers // plan.pp)
    if plan.interleave > 1:
        if plan.pp == 1:
            raise PlanError("interleave-needs-pp", f"interleave {plan.interleave} needs pp > 1")
        if stage % plan.interleave:
            raise PlanError("interleave-layers", f"interleave {plan.interleave} does not divide the {stage} layers of a stage")
    if plan.attn_dp and not cfg.is_moe:
        raise PlanError("attn-dp-needs-experts", f"attn_dp: {cfg.name} has no experts to run expert-parallel")
    if plan.attn_dp and plan.ep != plan.tp:
        raise PlanError("attn-dp-ep", f"attn_dp: the experts are spread over the {plan.tp} attention-data-parallel chips: "
                                      f"give ep = tp = {plan.tp} (got ep {plan.ep})")
    if plan.ep > 1:
        if not cfg.is_moe:
            raise PlanError("ep-needs-experts", f"ep {plan.ep}: {cfg.name} has no experts; use ep 1")
        if cfg.num_experts % plan.ep or (plan.dp * plan.tp) % plan.ep:
            raise PlanError("ep-divides", f"ep {plan.ep} must divide the {cfg.num_experts} experts and dp x tp = {plan.dp * plan.tp}")
    if plan.shard and (plan.dp % plan.shard):
        raise PlanError("shard-divides-dp", f"shard {plan.shard} must divide dp {plan.dp}")
    if plan.mesh:
        _check_mesh(plan, system)
    if plan.tp > system.scale_up.size:
        raise PlanError("tp-in-domain", f"tp {plan.tp} exceeds the scale-up domain of {system.scale_up.size} chips of {system.name}")
    if seq_len is not None and seq_len % plan.cp:
        raise PlanError("cp-divides-seq", f"cp {plan.cp} does not divide seq_len {seq_len}")
    if global_batch is not None:
        if global_batch % (plan.dp * plan.micro_batch):
            raise PlanError("batch-divides", f"global_batch {global_batch} is not a multiple of dp x micro_batch = "
                                             f"{plan.dp} x {plan.micro_batch}")
        m = global_batch // (plan.dp * plan.micro_batch)
        if plan.interleave > 1 and m % plan.pp:
            raise PlanError("interleave-microbatches", f"interleave needs the {m} micro-batches per replica to be a "
                                                       f"multiple of pp {plan.pp} (Megatron's interleaved schedule)")


MESH_AXES = ("tp", "cp", "dp", "ep")


def _check_mesh(plan: Plan, system) -> None:
    su = system.scale_up
    if su.topology != "torus":
        raise PlanError("mesh-needs-torus", f"mesh: {system.name}'s scale-up domain is a {su.topology}, not a torus")
    dims = list(su.torus_dims)
    used = [1] * len(dims)
    for axis, shape in plan.mesh:
        if axis not in MESH_AXES:
            raise PlanError("mesh-axis", f"mesh: '{axis}' is not one of {', '.join(MESH_AXES)}")
        size = getattr(plan, axis)
        if len(shape) != len(dims) or prod(shape) != size or any(x < 1 or d % x for x, d in zip(shape, dims)):
            raise PlanError("mesh-shape", f"mesh.{axis}: {'x'.join(map(str, shape))} must give one extent per dimension "
                                          f"of the {'x'.join(map(str, dims))} torus, each dividing it, multiplying to "
                                          f"{axis} = {size}")
        used = [u * x for u, x in zip(used, shape)]
    if any(u > d or d % u for u, d in zip(used, dims)):
        raise PlanError("mesh-fits", f"mesh: the axes together span {'x'.join(map(str, used))}, more than the "
                                     f"{'x'.join(map(str, dims))} torus")


def sharded_config(cfg: ModelConfig, plan: Plan) -> ModelConfig:
    """The model as one chip of a tp/ep group sees it (Megatron-LM partitioning)."""
    tp, ep = plan.tp, plan.ep
    changes: dict = {
        "num_heads": cfg.num_heads // tp,
        "num_kv_heads": max(1, cfg.num_kv_heads // tp),
        "intermediate_size": max(1, cfg.intermediate_size // tp),
        "vocab_size": -(-cfg.vocab_size // tp),
    }
    if cfg.is_moe:
        changes["num_experts"] = max(1, cfg.num_experts // ep)
        changes["top_k"] = cfg.top_k  # each rank still sees top_k expert visits per local token
        if ep == 1:
            changes["moe_intermediate_size"] = max(1, cfg.moe_intermediate_size // tp)
        if cfg.num_shared_experts:
            changes["shared_intermediate_size"] = max(1, cfg.shared_intermediate_size // tp)
    return dataclasses.replace(cfg, **changes)


def params_per_chip(cfg: ModelConfig, plan: Plan) -> float:
    """Parameters (a count, not bytes) one chip of ``plan`` holds of ``cfg``: the dense parts
    / (tp x pp), the experts / (ep x pp) (and / tp when ep = 1: each expert tensor-parallel),
    embeddings vocab-parallel over tp. Multiply by the weights' bytes per element for bytes."""
    parts = cfg.params_by_part()
    expert = float(parts.get("experts", 0))
    other = float(cfg.params_total) - expert
    expert_div = plan.ep * plan.pp * (plan.tp if plan.ep == 1 else 1)
    return other / (plan.tp * plan.pp) + expert / expert_div


__all__ = ["params_per_chip", "sharded_config", "DEFAULT_ORDER", "Plan", "PlanError", "RECOMPUTE_MODES", "check_plan",
           "order_axes"]
