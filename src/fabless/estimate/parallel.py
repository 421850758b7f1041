"""Parallel plans: closed-form pieces that do not depend on a chip.

Pipeline bubbles, the bytes each chip holds for weights, gradients and optimizer
state under ZeRO, and activation memory with and without recomputation. Each
function is a formula a reader can check by hand; the references are in the
docstrings.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product


def pipeline_bubble_fraction(pp: int, microbatches: int, interleave: int = 1) -> float:
    """Fraction of a 1F1B pipeline step spent idle: (p-1) / (v*m + p - 1).

    With ``v`` virtual stages per chip (interleaved 1F1B) the bubble shrinks by v
    (Narayanan et al., SC'21, section 2.2). ``pp = 1`` gives 0."""
    if pp <= 1:
        return 0.0
    return (pp - 1) / (interleave * microbatches + pp - 1)


@dataclass(frozen=True)
class StateBytes:
    """Bytes per chip of model state during training."""

    weights_bytes: float
    grads_bytes: float
    optimizer_bytes: float

    @property
    def total_bytes(self) -> float:
        return self.weights_bytes + self.grads_bytes + self.optimizer_bytes


#: Adam keeps an fp32 master copy, first and second moments: 4 + 4 + 4 bytes per parameter
#: (Rajbhandari et al., ZeRO, SC'20, section 3.1: "K = 12" for mixed-precision Adam).
ADAM_STATE_BYTES_PER_PARAM = 12.0


def training_state_bytes(
    params_per_chip: float,
    weight_bytes_per_param: float,
    dp: int,
    zero: int,
    grad_bytes_per_param: float = 2.0,
    optimizer_bytes_per_param: float = ADAM_STATE_BYTES_PER_PARAM,
) -> StateBytes:
    """Weights, gradients and optimizer state per chip for ``params_per_chip``
    parameters (already divided by tp x pp / ep), with ZeRO stage ``zero`` over ``dp``.

    Stage 1 shards optimizer state, 2 also gradients, 3 also weights (ZeRO paper, fig. 1)."""
    w = params_per_chip * weight_bytes_per_param
    g = params_per_chip * grad_bytes_per_param
    o = params_per_chip * optimizer_bytes_per_param
    if zero >= 1:
        o /= dp
    if zero >= 2:
        g /= dp
    if zero >= 3:
        w /= dp
    return StateBytes(w, g, o)


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def candidate_plans(
    chips: int,
    *,
    max_tp: int,
    layers: int,
    heads: int,
    kv_heads: int,
    experts: int = 0,
    global_batch: int | None = None,
    micro_batch: int = 1,
) -> list[dict]:
    """Every (tp, pp, dp, ep) with tp x pp x dp = chips that a real framework could run:
    tp divides the attention heads and stays inside the scale-up domain (``max_tp``),
    pp is at most the layers (stages may be uneven, as Megatron-LM allows), dp divides the global batch (in micro-batches) when given,
    and ep divides the experts and the dp x tp ranks."""
    plans = []
    for tp, pp in product(divisors(chips), divisors(chips)):
        if tp * pp > chips or chips % (tp * pp):
            continue
        dp = chips // (tp * pp)
        if tp > max_tp or heads % tp or (kv_heads % tp and tp % kv_heads):
            continue
        if pp > layers:
            continue
        if global_batch is not None and (global_batch % (dp * micro_batch)):
            continue
        eps = [1]
        if experts:
            eps = [e for e in divisors(experts) if (dp * tp) % e == 0]
        for ep in eps:
            plans.append({"tp": tp, "pp": pp, "dp": dp, "ep": ep})
    return plans


def activation_bytes_per_layer(
    *,
    seq: int,
    micro_batch: int,
    hidden: int,
    ffn: int,
    heads: int,
    kv_heads: int,
    head_dim: int,
    act_bytes: float,
    tp: int = 1,
    sp: bool = True,
    recompute: str = "selective",
    glu: bool = True,
    experts_per_token: int = 1,
) -> float:
    """Bytes of activations one transformer layer keeps for the backward pass, per
    micro-batch, on one chip.

    Counted tensor by tensor for a pre-norm layer with a fused (flash) attention kernel,
    which keeps only Q, K, V, the output and the softmax statistics (no s x s scores):
    the two norm inputs (2h), the inputs of the QKV and output projections (h each),
    Q/K/V ((heads + 2 kv_heads) d), the attention output (heads d), the MLP input (h),
    the gate/up outputs (2 ffn for a GLU, ffn otherwise) and the activation output (ffn),
    times the experts each token visits. This is Korthikanti et al. (2022)'s accounting,
    eq. 2, with the attention-score term removed by the fused kernel.

    Tensor parallelism divides everything inside the tp region by tp; sequence
    parallelism also divides the norm/residual tensors. ``selective`` recomputes the
    attention core (keeps the rest), ``full`` keeps only the layer input."""
    tokens = seq * micro_batch
    norm_side = 3 * hidden  # two norm inputs + residual-stream copy at the MLP input
    attn = hidden + (heads + 2 * kv_heads) * head_dim + heads * head_dim
    mlp = ((3 if glu else 2) * ffn) * experts_per_token
    norm_div = tp if sp else 1
    if recompute == "full":
        return tokens * hidden * act_bytes / norm_div
    if recompute == "selective":
        attn -= heads * head_dim  # the attention output is recomputed from Q, K, V
    per_token = norm_side / norm_div + (attn + mlp) / tp
    return tokens * per_token * act_bytes


def stage_layers(layers: int, pp: int) -> int:
    """Layers on the busiest pipeline stage: ceil(layers / pp) (stages may be uneven)."""
    return -(-layers // pp)
