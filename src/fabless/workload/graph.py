"""The workload graph: blocks of operators, each block with a repeat count.

A transformer's identical layers are one :class:`Block` with ``repeat`` equal
to the number of layers, so totals and per-op cost models touch each distinct
operator once: a 126-layer model costs no more to evaluate than a 1-layer one.
Operators within a block run in order; blocks run in order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from fabless.workload.ops import Op


@dataclass(frozen=True)
class Block:
    """Operators run ``repeat`` times in a row (e.g. one transformer layer x 80)."""

    name: str
    ops: tuple[Op, ...]
    repeat: int = 1

    def total(self, attr: str) -> float:
        return self.repeat * sum(getattr(op, attr) for op in self.ops)


@dataclass(frozen=True)
class Graph:
    """A workload: blocks of operators for one step of one phase.

    ``phase`` is ``train`` (one optimizer step: forward, backward, update),
    ``forward``, ``prefill``, ``decode`` (one new token per sequence) or
    ``imported``. ``tokens`` is how many tokens (or samples, for imported
    models) one step processes, so per-token figures are ``total / tokens``.
    ``meta`` records how it was built (model, batch, lengths, precisions)."""

    name: str
    phase: str
    blocks: tuple[Block, ...]
    tokens: int = 1
    meta: tuple[tuple[str, object], ...] = field(default=())

    # --- iteration ---------------------------------------------------------
    def items(self) -> Iterator[tuple[Block, Op]]:
        """Each (block, op) once; multiply by ``block.repeat`` for totals."""
        for b in self.blocks:
            for op in b.ops:
                yield b, op

    @property
    def n_ops(self) -> int:
        """Distinct operators stored (what a cost model evaluates)."""
        return sum(len(b.ops) for b in self.blocks)

    @property
    def n_ops_executed(self) -> int:
        """Operators executed in one step (repeats expanded)."""
        return sum(len(b.ops) * b.repeat for b in self.blocks)

    def info(self) -> dict[str, object]:
        return dict(self.meta)

    # --- totals ------------------------------------------------------------
    def total(self, attr: str, *, pass_: str | None = None, kind: str | None = None) -> float:
        """Sum of ``op.<attr>`` times repeats, optionally for one pass or kind."""
        return sum(
            b.repeat * getattr(op, attr)
            for b, op in self.items()
            if (pass_ is None or op.pass_ == pass_) and (kind is None or op.kind == kind)
        )

    @property
    def flops(self) -> float:
        return self.total("flops")

    @property
    def flops_dense(self) -> float:
        """FLOPs with attention counted without its causal mask (Megatron-LM's convention)."""
        return self.total("flops_dense")

    @property
    def bytes_read(self) -> float:
        return self.total("bytes_read")

    @property
    def bytes_written(self) -> float:
        return self.total("bytes_written")

    @property
    def bytes(self) -> float:
        return self.bytes_read + self.bytes_written

    @property
    def params(self) -> float:
        """Parameters held (each weight counted once, on its forward operator)."""
        return self.total("params")

    @property
    def params_active(self) -> float:
        """Parameters each token uses (routed experts: only its top-k)."""
        return self.total("params_active")

    def breakdown(self, by: str = "kind") -> dict[str, dict[str, float]]:
        """FLOPs, bytes and executed count grouped by ``kind``, ``pass_``, ``name`` or ``block``."""
        out: dict[str, dict[str, float]] = defaultdict(lambda: {"flops": 0.0, "bytes": 0.0, "count": 0})
        for b, op in self.items():
            key = b.name if by == "block" else str(getattr(op, by))
            row = out[key]
            row["flops"] += b.repeat * op.flops
            row["bytes"] += b.repeat * op.bytes
            row["count"] += b.repeat
        return dict(out)

    def summary(self) -> dict[str, object]:
        """The headline totals as a plain dict (for JSON and tables)."""
        return {
            "name": self.name,
            "phase": self.phase,
            "tokens": self.tokens,
            "flops": self.flops,
            "flops_per_token": self.flops / self.tokens if self.tokens else None,
            "bytes_read": self.bytes_read,
            "bytes_written": self.bytes_written,
            "params": self.params,
            "params_active": self.params_active,
            "ops_stored": self.n_ops,
            "ops_executed": self.n_ops_executed,
            **{k: v for k, v in self.meta},
        }
