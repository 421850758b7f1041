"""One serving replica: a scheduler plus the step-time model, stepping through time."""

from __future__ import annotations

from fabless.serve.scheduler import Scheduler, SchedulerConfig
from fabless.serve.stepcost import StepCostModel, StepTimeCache


class Replica:
    """A model replica (one or more chips running one copy of the model) with its own KV cache.

    The simulator calls :meth:`start_step` when the replica is idle and has work, and
    :meth:`end_step` when the step's time has passed. Step statistics and a time series sampled
    every ``sample_interval_s`` are kept here.
    """

    def __init__(self, index: int, step_model: StepCostModel, cfg: SchedulerConfig, role: str = "mixed",
                 cache: StepTimeCache | None = None, sample_interval_s: float = 1.0):
        self.index = index
        self.role = role
        self.step_model = step_model
        self.cost = cache if cache is not None else StepTimeCache(step_model)
        self.sched = Scheduler(cfg, step_model.kv_capacity_tokens, role)
        self.busy = False
        self.steps = 0
        self.busy_s = 0.0
        self.sum_seqs_s = 0.0         # integral of batch sequences over busy time
        self.sum_kv_blocks_s = 0.0    # integral of used KV blocks over busy time
        self.max_kv_blocks = 0
        self.sample_interval_s = sample_interval_s
        self._next_sample_s = 0.0
        self.samples: list[tuple] = []
        # Inter-token gaps, for ITL as benchmark clients report it (the gap between consecutive
        # tokens of a sequence, over all tokens): (step end s, gap s, tokens with that gap).
        self.itl: list[tuple[float, float, int]] = []
        self._dec = 0
        self._last_decode_end: float | None = None  # end of the last step that decoded
        self._new_since_decode = 0                  # sequences whose first token came after it
        self._first_token_end: float | None = None  # end of the last step that made first tokens

    def in_system(self) -> int:
        return self.sched.in_system()

    def start_step(self, now_s: float) -> float | None:
        """Schedule and cost the next step; its duration in seconds, or None if there is nothing to do."""
        batch = self.sched.schedule(now_s)
        if batch is None:
            return None
        pf, pf_ctx, dec, dec_ctx = batch
        self._dec = dec
        d = self.cost(pf, pf_ctx, dec, dec_ctx, self.sched.prefill_seqs)
        self.busy = True
        self.steps += 1
        self.busy_s += d
        s = self.sched
        nseq = len(s.running)
        used = s.alloc.used_blocks
        self.sum_seqs_s += nseq * d
        self.sum_kv_blocks_s += used * d
        if used > self.max_kv_blocks:
            self.max_kv_blocks = used
        if now_s >= self._next_sample_s:
            self.samples.append((now_s, self.index, self.role, len(s.waiting), nseq, pf, dec,
                                 used / s.alloc.num_blocks))
            self._next_sample_s = now_s + self.sample_interval_s
        return d

    def end_step(self, now_s: float):
        self.busy = False
        out = self.sched.complete(now_s)
        dec = self._dec
        if dec:
            # Sequences that decoded in the last decoding step waited since its end (through any
            # prompt-only steps between); those that got their first token since then, since that.
            new = min(self._new_since_decode, dec)
            if dec > new and self._last_decode_end is not None:
                self.itl.append((now_s, now_s - self._last_decode_end, dec - new))
            if new and self._first_token_end is not None:
                self.itl.append((now_s, now_s - self._first_token_end, new))
            self._last_decode_end = now_s
            self._new_since_decode = 0
        started = self.sched.started_decoding
        if started:
            self._new_since_decode += started
            self._first_token_end = now_s
        return out
