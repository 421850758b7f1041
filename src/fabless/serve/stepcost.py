"""The time of one serving step: the interface the simulator needs, and a toy to test it with.

The simulator never decides how long a step takes. It asks a :class:`StepCostModel` for the
time of the *exact batch* it scheduled (how many prefill tokens, how many decode sequences, and
how much KV each of them reads), and asks it how many KV tokens fit on the replica. The
performance engine (``fabless.perf`` / ``fabless.estimate``) plugs in here; until then
:class:`RooflineStepCost` is an analytic stand-in whose every coefficient is passed in by the
caller (no number is invented here), and :class:`ConstantStepCost` makes queueing-theory checks
possible.

Batch composition of one step (all counts are over the whole replica, after tensor/pipeline
parallelism is accounted for by the model):

- ``prefill_tokens``: new prompt tokens computed this step (sum of the prefill chunks).
- ``prefill_context_tokens``: sum over the prefill chunks of the KV length each chunk attends
  to at its end (tokens already in the cache for that request + the chunk itself).
- ``decode_seqs``: sequences that compute exactly one token this step.
- ``decode_context_tokens``: sum over those sequences of the KV length each attends to
  (its tokens so far, including the one being computed).
- ``prefill_seqs`` (keyword, optional: a model takes it if its ``step_time_s`` names it): how many
  requests the prefill chunks belong to. Each chunk's causal attention covers its own request's
  tokens only, so ``n`` prompts of ``L`` tokens cost ``n x L^2 / 2`` of attention, not
  ``(n L)^2 / 2``; without it a model may take the step's prefill as one sequence.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from fabless.errors import FablessError


@runtime_checkable
class StepCostModel(Protocol):
    """What the simulator needs from a performance model of one replica."""

    kv_capacity_tokens: int
    """KV-cache tokens that fit in the memory left after weights and activations."""

    kv_bytes_per_token: float
    """Bytes of K and V per token over all layers (sizes the prefill->decode transfer)."""

    def step_time_s(self, prefill_tokens: int, prefill_context_tokens: int,
                    decode_seqs: int, decode_context_tokens: int) -> float:
        """Seconds for one forward step over this batch; must be > 0 for a non-empty batch."""
        ...


@dataclass(frozen=True)
class ConstantStepCost:
    """Every step takes ``step_s``, whatever is in it (an M/D/1 server when batch size is 1)."""

    step_s: float
    kv_capacity_tokens: int
    kv_bytes_per_token: float = 0.0

    def __post_init__(self):
        if not self.step_s > 0:
            raise FablessError(f"step_s must be > 0, got {self.step_s}")

    def step_time_s(self, prefill_tokens, prefill_context_tokens, decode_seqs, decode_context_tokens) -> float:
        return self.step_s


@dataclass(frozen=True)
class RooflineStepCost:
    """A roofline of one step: the slower of moving its bytes and doing its FLOPs, plus a fixed overhead.

    ``step_time_s = overhead_s + max(bytes / mem_bytes_per_s, flops / peak_flops_per_s)`` with

    - ``bytes = weights_bytes + kv_bytes_per_token * (prefill_context_tokens + decode_context_tokens)``
      (weights read once per step; every sequence reads its KV),
    - ``flops = flops_per_token * (prefill_tokens + decode_seqs)
      + attn_flops_per_context_token * decode_context_tokens
      + attn_flops_per_context_token * prefill_context_tokens``.

    ``flops_per_token`` is about 2 x parameters; ``attn_flops_per_context_token`` about
    4 x layers x (heads x head_dim) for one query token against one cached token. Charging
    prefill attention as one query per context token under-counts long prompts (the true cost
    is quadratic); the real performance engine replaces all of this. ``mem_bytes_per_s`` and
    ``peak_flops_per_s`` are *achieved* rates: pass peak x efficiency if you mean that.
    """

    weights_bytes: float
    kv_bytes_per_token: float
    flops_per_token: float
    mem_bytes_per_s: float
    peak_flops_per_s: float
    kv_capacity_tokens: int
    attn_flops_per_context_token: float = 0.0
    overhead_s: float = 0.0

    def __post_init__(self):
        for name in ("mem_bytes_per_s", "peak_flops_per_s"):
            if not getattr(self, name) > 0:
                raise FablessError(f"RooflineStepCost.{name} must be > 0, got {getattr(self, name)}")
        for name in ("weights_bytes", "kv_bytes_per_token", "flops_per_token", "attn_flops_per_context_token", "overhead_s"):
            if getattr(self, name) < 0:
                raise FablessError(f"RooflineStepCost.{name} must be >= 0, got {getattr(self, name)}")
        if self.kv_capacity_tokens <= 0:
            raise FablessError(f"RooflineStepCost.kv_capacity_tokens must be > 0, got {self.kv_capacity_tokens}")

    def step_time_s(self, prefill_tokens, prefill_context_tokens, decode_seqs, decode_context_tokens) -> float:
        ctx = prefill_context_tokens + decode_context_tokens
        bytes_ = self.weights_bytes + self.kv_bytes_per_token * ctx
        flops = self.flops_per_token * (prefill_tokens + decode_seqs) + self.attn_flops_per_context_token * ctx
        return self.overhead_s + max(bytes_ / self.mem_bytes_per_s, flops / self.peak_flops_per_s)


def _bucket(x: int, rel_bits: int) -> int:
    """``x`` rounded to the nearest point of a grid spaced ~2**-rel_bits of x (exact below 2**(rel_bits+1))."""
    if x <= 0:
        return x
    q = 1 << max(0, x.bit_length() - 1 - rel_bits)
    return (x + q // 2) // q * q


class StepTimeCache:
    """Memoises a :class:`StepCostModel` on the batch composition, with token counts bucketed.

    ``decode_seqs`` is kept exact; ``prefill_tokens`` and the two context sums are rounded to
    the *nearest* point of a grid spaced ``2**-rel_bits`` of their value (default 1/64, so each
    is off by at most 1/128, about 0.8%, up or down: unbiased over many steps, which matters
    near saturation where a steady bias in step time moves the queue a lot). Values below
    ``2**(rel_bits+1)`` are exact. ``rel_bits=None`` turns bucketing off (exact keys).
    ``memo``: a dict of step times to share with other caches of the same model and
    ``rel_bits`` (runs of one search), else a fresh one; ``hits`` and ``misses`` are this cache's.
    """

    def __init__(self, model: StepCostModel, rel_bits: int | None = 6, memo: dict | None = None):
        self.model = model
        self.rel_bits = rel_bits
        try:
            self._splits = "prefill_seqs" in inspect.signature(model.step_time_s).parameters
        except (TypeError, ValueError):
            self._splits = False
        self._memo: dict[tuple[int, int, int, int, int], float] = {} if memo is None else memo
        self.hits = 0
        self.misses = 0

    def __call__(self, prefill_tokens: int, prefill_context_tokens: int, decode_seqs: int, decode_context_tokens: int,
                 prefill_seqs: int = 1) -> float:
        b = self.rel_bits
        if b is not None:
            prefill_tokens = _bucket(prefill_tokens, b)
            prefill_context_tokens = _bucket(prefill_context_tokens, b)
            decode_context_tokens = _bucket(decode_context_tokens, b)
            prefill_seqs = _bucket(prefill_seqs, b)
        n = max(1, min(int(prefill_seqs), prefill_tokens)) if self._splits and prefill_tokens > 0 else 1
        key = (prefill_tokens, prefill_context_tokens, decode_seqs, decode_context_tokens, n)
        t = self._memo.get(key)
        if t is not None:
            self.hits += 1
            return t
        self.misses += 1
        t = float(self.model.step_time_s(*key[:4], prefill_seqs=n) if self._splits else self.model.step_time_s(*key[:4]))
        if not (t > 0 and math.isfinite(t)):
            raise FablessError(f"step cost model returned {t} s for batch {key}; a step must take a finite time > 0")
        self._memo[key] = t
        return t
