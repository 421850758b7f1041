"""A vLLM-like scheduler for one replica: continuous batching under a token budget.

Each step (vLLM v1 order, with decodes first):

1. **Decodes.** Every running request that has finished its prompt computes one token. A
   request whose next token starts a new KV block gets one; when none is free, unreferenced
   prefix-cache entries are evicted, then the *newest* running request is preempted (its
   blocks freed, its progress dropped: it is recomputed later, prompt + tokens so far).
2. **Running prefills**, oldest first: the next chunk of each prompt, up to the remaining
   token budget (and ``long_prefill_token_threshold``), preempting the newest request if the
   chunk's blocks do not fit (if that is the request itself, scheduling stops).
3. **Waiting requests**, first come first served, while budget, ``max_num_seqs`` and free
   blocks allow (not in a step that preempted). With ``chunked_prefill=False`` a prompt must
   fit whole in the remaining budget; with ``prefill_min_free_kv_fraction`` f > 0, only in a step
   that starts with at least f of the KV blocks free. A preempted request goes back to the
   *front* of the queue.

Sampling happens at the end of the step in which a request's computed tokens catch up with
its tokens: the first such step gives the first token (TTFT); the request finishes when it
has generated ``output_tokens``.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass

from fabless.errors import FablessError
from fabless.serve.kvcache import BlockAllocator, PrefixCache
from fabless.serve.request import Request


@dataclass(frozen=True)
class SchedulerConfig:
    """Knobs of the batching policy (names follow vLLM's engine arguments)."""

    max_num_batched_tokens: int = 8192
    max_num_seqs: int = 256
    block_size_tokens: int = 16
    chunked_prefill: bool = True
    long_prefill_token_threshold: int | None = None
    prefix_caching: bool = False
    #: A step may carry prefill chunks and decoding sequences together (vLLM; SGLang's
    #: ``--enable-mixed-chunk``). False is SGLang's default (and sglang-jax's): a step is a
    #: prefill batch, run first whenever prompts wait, or a decode batch, and the decoding
    #: sequences wait out the prefill steps.
    mixed_chunks: bool = True
    #: Admission that reserves KV for the answers still to come (SGLang): a waiting prompt is
    #: admitted only if, after its own prompt, the running requests and it can all still grow by
    #: this fraction of their answers' remaining tokens, earlier finishers freeing theirs
    #: (:meth:`Scheduler._answers_fit`). SGLang takes 1.0 for requests with ``ignore_eos`` when its
    #: radix cache is off. 0 is vLLM's greedy admission, which relies on preempting the newest
    #: request when decodes run out of blocks.
    reserve_output_fraction: float = 0.0
    #: At most this many prompts (new or continuing chunks) in one step (None: as many as the token
    #: budget takes). The Neuron scheduler of vLLM on Neuron runs one prefill per step.
    max_prefills_per_step: int | None = None
    #: Waiting prompts are admitted only in a step that starts with at least this share of the KV
    #: blocks free (ROCm vLLM 0.4.3's ``VLLM_SCHED_PREFILL_KVC_FREEPCT`` / 100, set by AMD's MLPerf
    #: v4.1 Offline harness to 0.31): admissions wait until finished answers have freed that much,
    #: then come in one large group, so that an unmixed scheduler stops the decodes for a prompt
    #: step far less often. 0 (every other engine): admit whenever blocks allow.
    prefill_min_free_kv_fraction: float = 0.0

    def __post_init__(self):
        if self.max_num_seqs < 1:
            raise FablessError(f"max_num_seqs must be >= 1, got {self.max_num_seqs}")
        if self.max_num_batched_tokens < self.max_num_seqs:
            raise FablessError(
                f"max_num_batched_tokens ({self.max_num_batched_tokens}) must be >= max_num_seqs ({self.max_num_seqs}) "
                "so that every running sequence can decode in each step")
        if self.block_size_tokens < 1:
            raise FablessError(f"block_size_tokens must be >= 1, got {self.block_size_tokens}")
        if not 0.0 <= self.prefill_min_free_kv_fraction < 1.0:
            raise FablessError(f"prefill_min_free_kv_fraction must be in [0, 1), got {self.prefill_min_free_kv_fraction}")
        if not 0.0 <= self.reserve_output_fraction <= 1.0:
            raise FablessError(f"reserve_output_fraction must be in [0, 1], got {self.reserve_output_fraction}")
        if self.max_prefills_per_step is not None and self.max_prefills_per_step < 1:
            raise FablessError(f"max_prefills_per_step must be >= 1, got {self.max_prefills_per_step}")
        if self.long_prefill_token_threshold is not None and self.long_prefill_token_threshold < 1:
            raise FablessError(f"long_prefill_token_threshold must be >= 1, got {self.long_prefill_token_threshold}")


class Scheduler:
    """Batching state of one replica: the waiting queue, running requests and the KV cache.

    ``role`` is ``"mixed"`` (prefill and decode), ``"prefill"`` (hands each request off after
    its first token; its KV stays allocated until :meth:`release`) or ``"decode"`` (requests
    arrive with their prompt's KV already computed).
    """

    def __init__(self, cfg: SchedulerConfig, kv_capacity_tokens: int, role: str = "mixed"):
        self.cfg = cfg
        B = self.B = cfg.block_size_tokens
        num_blocks = int(kv_capacity_tokens) // B
        if num_blocks < 1:
            raise FablessError(f"KV capacity of {kv_capacity_tokens} tokens holds no {B}-token block")
        self.alloc = BlockAllocator(num_blocks, B)
        self.prefix = PrefixCache(self.alloc) if cfg.prefix_caching else None
        self.role = role
        self.waiting: deque[Request] = deque()
        self.running: dict[int, Request] = {}      # admission order; the last is the newest
        self.prefilling: dict[int, Request] = {}   # running requests still computing a prompt
        self.phase: list[dict[int, Request]] = [dict() for _ in range(B)]  # decoders by (c0 - k0) % B
        self.n_decoding = 0
        self.dec_S = 0                              # sum over decoders of (c0 - k0 + 1)
        self.finish_heap: list = []                 # (finish step, rid, version, request)
        self.held: dict[int, Request] = {}          # prefill role: KV kept until transferred
        self.k = 0
        self.preemptions = 0
        self.prefix_hits = 0
        self.prefix_lookups = 0
        self._chunks: list[tuple[Request, int]] = []
        self._decode_step = True
        self.prefill_seqs = 0  # prompt chunks in the last scheduled step (each attends to its own request only)
        self.started_decoding = 0  # requests that turned to decoding in the last completed step
        self._thr = cfg.long_prefill_token_threshold or cfg.max_num_batched_tokens

    # ------------------------------------------------------------------ bookkeeping
    def in_system(self) -> int:
        return len(self.waiting) + len(self.running) + len(self.held)

    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    def add(self, req: Request) -> None:
        self.waiting.append(req)

    def _own_blocks_for(self, req: Request, tokens: int) -> int:
        return -(-tokens // self.B) - req.cached_blocks

    def _drop_cache_ref(self, req: Request) -> None:
        if req.cache_ref:
            self.prefix.release(req.prefix_id)
            req.cache_ref = False
        req.cached_blocks = 0

    def _leave_decode(self, req: Request) -> None:
        del self.phase[(req.c0 - req.k0) % self.B][req.rid]
        self.n_decoding -= 1
        self.dec_S -= req.c0 - req.k0 + 1
        req.decoding = False
        req.version += 1

    def _preempt(self, req: Request) -> None:
        if req.decoding:
            steps = self.k - req.k0
            req.computed = req.c0 + steps
            req.generated = req.g0 + steps
            self._leave_decode(req)
        else:
            del self.prefilling[req.rid]
        self.alloc.free(req.rid)
        self._drop_cache_ref(req)
        req.computed = 0
        req.num_tokens = req.input_tokens + req.generated
        req.preemptions += 1
        self.preemptions += 1
        del self.running[req.rid]
        self.waiting.appendleft(req)

    def _make_room(self) -> Request | None:
        """Free blocks: evict an unreferenced prefix if any, else preempt the newest running request (returned)."""
        if self.prefix is not None and self.prefix.evict_one():
            return None
        if not self.running:
            raise AssertionError("KV cache full with nothing running to preempt")
        victim = self.running[next(reversed(self.running))]
        self._preempt(victim)
        return victim

    def _answers_fit(self, new: Request, need_blocks: int, prompt_left: int) -> bool:
        """SGLang's admission with an output reserve (``reserve_output_fraction`` r > 0): after
        ``new`` takes ``need_blocks`` for its prompt chunk, can every running request and ``new``
        still grow by r x its answer's remaining tokens? Requests are taken in order of tokens
        left; when the i-th finishes, the ``bs`` not yet finished have each grown by its tokens
        left, and the earlier ones have freed what they held; one token per request is kept
        spare (sglang-jax ``PrefillAdder.add_one_req_ignore_eos``). Prompt tokens still to prefill
        (``prompt_left`` of ``new``'s after this chunk, and the running requests') count as taken.
        A request that finds nothing running is admitted: it fits the cache alone (the simulator
        rejects one that cannot before the run), and waiting could not free anything."""
        frac = self.cfg.reserve_output_fraction
        if frac <= 0.0 or not self.running:
            return True
        alloc = self.alloc
        free = (alloc.num_blocks - alloc.used_blocks - need_blocks) * self.B - prompt_left
        states = []
        for req in (*self.running.values(), new):
            done = req.g0 + (self.k - req.k0) if req.decoding else req.generated
            if req is not new and not req.decoding:
                # the part of its prompt it holds no block for yet
                free -= max(0, req.num_tokens - (alloc.held.get(req.rid, 0) + req.cached_blocks) * self.B)
            left = math.ceil(frac * req.output_tokens) - done
            if left > 0:
                states.append((left, req.input_tokens + done))
        states.sort()
        freed = 0
        n = len(states)
        for i, (left, held) in enumerate(states):
            bs = n - i
            if free + freed - left * bs <= bs:
                return False
            freed += held
        return True

    # ------------------------------------------------------------------ one step
    def schedule(self, now_s: float, may_skip_decode: bool = True):
        """Choose the next step's batch; ``(prefill_tokens, prefill_context_tokens, decode_seqs,
        decode_context_tokens)``, or None when there is nothing to run. ``may_skip_decode``: an
        unmixed scheduler may run a step of prompts only (False when it found none to run)."""
        cfg, alloc, k, B = self.cfg, self.alloc, self.k, self.B
        budget = cfg.max_num_batched_tokens
        preempted = False
        chunks: list[tuple[Request, int]] = []
        # Admission gate (prefill_min_free_kv_fraction), on the blocks free as the step starts.
        admit = alloc.num_blocks - alloc.used_blocks >= cfg.prefill_min_free_kv_fraction * alloc.num_blocks
        # Without mixed chunks, prompts go first in a step of their own when any wait.
        prefill_only = (may_skip_decode and not cfg.mixed_chunks and self.role == "mixed"
                        and (bool(self.prefilling)
                             or (admit and bool(self.waiting) and len(self.running) < cfg.max_num_seqs)))
        self._decode_step = not prefill_only

        if self.n_decoding and not prefill_only:
            group = self.phase[(-k) % B]
            while len(group) > alloc.num_blocks - alloc.used_blocks:
                if self._make_room() is not None:
                    preempted = True
            alloc.allocate_each(group)
            budget -= self.n_decoding

        if self.prefilling:
            for req in list(self.prefilling.values()):
                if budget <= 0 or not self._prefill_slot(chunks):
                    break
                if req.rid not in self.prefilling:  # preempted to make room for an older one
                    continue
                chunk = min(req.num_tokens - req.computed, budget, self._thr)
                need = self._own_blocks_for(req, req.computed + chunk) - alloc.held.get(req.rid, 0)
                stopped = False
                while need > alloc.num_blocks - alloc.used_blocks:
                    victim = self._make_room()
                    if victim is not None:
                        preempted = True
                        if victim is req:
                            stopped = True
                            break
                if stopped:
                    break
                alloc.allocate(req.rid, need)
                chunks.append((req, chunk))
                budget -= chunk

        if not preempted and admit:
            waiting, running = self.waiting, self.running
            while waiting and budget > 0 and len(running) < cfg.max_num_seqs and self._prefill_slot(chunks):
                req = waiting[0]
                hit_blocks = 0
                if self.prefix is not None and req.prefix_id is not None and req.computed == 0:
                    hit_tokens = self.prefix.acquire(req.prefix_id, req.prefix_tokens)
                    # keep at least one token to compute, so that the step samples a token
                    hit_blocks = min(hit_tokens, req.num_tokens - 1) // B
                    if hit_tokens and hit_blocks < self.prefix.entries[req.prefix_id][0]:
                        # uses only part of the entry: take it as a miss, so that a request never
                        # pins more blocks than its own tokens need (it must fit the cache alone)
                        self.prefix.release(req.prefix_id)
                        hit_blocks = 0
                start = max(req.computed, hit_blocks * B)
                remaining = req.num_tokens - start
                if not cfg.chunked_prefill and remaining > budget:
                    if hit_blocks:
                        self.prefix.release(req.prefix_id)
                    break
                chunk = min(remaining, budget, self._thr)
                need = -(-(start + chunk) // B) - hit_blocks
                while need > alloc.num_blocks - alloc.used_blocks and self.prefix is not None and self.prefix.evict_one():
                    pass
                if need > alloc.num_blocks - alloc.used_blocks or not self._answers_fit(req, need, remaining - chunk):
                    if hit_blocks:
                        self.prefix.release(req.prefix_id)
                    break
                waiting.popleft()
                if self.prefix is not None and req.prefix_id is not None and req.computed == 0:
                    self.prefix_lookups += 1
                    if hit_blocks:
                        self.prefix_hits += 1
                        req.prefix_hit_tokens += hit_blocks * B
                req.cached_blocks = hit_blocks
                req.cache_ref = hit_blocks > 0
                req.computed = start
                if req.first_scheduled_s is None:
                    req.first_scheduled_s = now_s
                running[req.rid] = req
                self.prefilling[req.rid] = req
                alloc.allocate(req.rid, need)
                chunks.append((req, chunk))
                budget -= chunk

        if prefill_only and not chunks and self.n_decoding:
            # no prompt could be scheduled (KV full, batch full): decode instead
            return self.schedule(now_s, may_skip_decode=False)
        self._chunks = chunks
        dec = self.n_decoding if self._decode_step else 0
        dec_ctx = self.dec_S + dec * k if dec else 0
        pf = pf_ctx = n_pf = 0
        for req, chunk in chunks:
            if chunk == 1 and req.computed > 0:  # one token with a context: a decode
                dec += 1
                dec_ctx += req.computed + 1
            else:
                pf += chunk
                pf_ctx += req.computed + chunk
                n_pf += 1
        self.prefill_seqs = n_pf
        if dec == 0 and pf == 0:
            if self.waiting and not self.running and not self.held:
                req = self.waiting[0]
                raise FablessError(
                    f"request {req.rid} ({req.num_tokens} tokens) cannot be scheduled: the KV cache holds "
                    f"{alloc.num_blocks * B} tokens and the step budget is {cfg.max_num_batched_tokens} tokens")
            return None
        return pf, pf_ctx, dec, dec_ctx

    def _prefill_slot(self, chunks: list) -> bool:
        """Whether one more prompt fits this step under ``max_prefills_per_step``."""
        limit = self.cfg.max_prefills_per_step
        return limit is None or len(chunks) < limit

    def complete(self, now_s: float) -> tuple[list[Request], list[Request]]:
        """Apply the scheduled step, ending at ``now_s``: (requests finished, requests handed off for decode)."""
        finished: list[Request] = []
        handoff: list[Request] = []
        k, B = self.k, self.B
        decoded = self._decode_step  # a prefill-only step leaves the decoders where they were
        self.started_decoding = 0
        prefix = self.prefix
        for req, chunk in self._chunks:
            req.computed += chunk
            if (prefix is not None and req.prefix_id is not None and not req.cache_ref
                    and req.prefix_id not in prefix.entries):
                nb = min(req.prefix_tokens, req.num_tokens - 1) // B
                if nb and req.computed >= nb * B and prefix.insert_from(req.rid, req.prefix_id, nb):
                    req.cached_blocks = nb
                    req.cache_ref = True
            if req.computed == req.num_tokens:
                req.generated += 1
                req.num_tokens += 1
                if req.first_token_s is None:
                    req.first_token_s = now_s
                del self.prefilling[req.rid]
                if req.generated >= req.output_tokens:
                    self._finish(req, now_s, finished)
                elif self.role == "prefill":
                    del self.running[req.rid]
                    self.held[req.rid] = req
                    handoff.append(req)
                else:
                    req.decoding = True
                    self.started_decoding += 1
                    req.k0 = k + 1 if decoded else k  # the next decode step
                    req.c0 = req.computed
                    req.g0 = req.generated
                    self.phase[(req.c0 - req.k0) % B][req.rid] = req
                    self.n_decoding += 1
                    self.dec_S += req.c0 - req.k0 + 1
                    heapq.heappush(self.finish_heap, (req.k0 + req.output_tokens - req.g0 - 1, req.rid, req.version, req))
        heap = self.finish_heap
        while decoded and heap and heap[0][0] <= k:
            _, _, version, req = heapq.heappop(heap)
            if version != req.version:
                continue
            steps = k - req.k0 + 1
            req.computed = req.c0 + steps
            req.generated = req.g0 + steps
            req.num_tokens = req.input_tokens + req.generated
            self._leave_decode(req)
            self._finish(req, now_s, finished)
        self._chunks = []
        if decoded:
            self.k = k + 1
        return finished, handoff

    def _finish(self, req: Request, now_s: float, out: list) -> None:
        req.finish_s = now_s
        self.alloc.free(req.rid)
        self._drop_cache_ref(req)
        del self.running[req.rid]
        out.append(req)

    def release(self, req: Request) -> None:
        """Prefill role: the request's KV has reached its decode replica; free it here."""
        del self.held[req.rid]
        self.alloc.free(req.rid)
        self._drop_cache_ref(req)
