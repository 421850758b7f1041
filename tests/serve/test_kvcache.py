"""The KV allocator never hands out more than it has; the scheduler's holdings match each request's tokens."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabless.errors import FablessError
from fabless.serve.kvcache import BlockAllocator, PrefixCache
from fabless.serve.request import Request
from fabless.serve.scheduler import Scheduler, SchedulerConfig

ops = st.lists(st.tuples(st.sampled_from(["alloc", "free"]), st.integers(0, 5), st.integers(0, 12)), max_size=60)


@given(num_blocks=st.integers(1, 40), ops=ops)
def test_allocator_never_over_allocates(num_blocks, ops):
    a = BlockAllocator(num_blocks, 16)
    mine = {}  # an independent ledger
    for op, owner, n in ops:
        if op == "alloc":
            if n <= num_blocks - sum(mine.values()):
                a.allocate(owner, n)
                if n:
                    mine[owner] = mine.get(owner, 0) + n
            else:
                before = (a.used_blocks, dict(a.held))
                with pytest.raises(MemoryError):
                    a.allocate(owner, n)
                assert (a.used_blocks, a.held) == before  # a refused request changes nothing
        else:
            assert a.free(owner) == mine.pop(owner, 0)
        assert a.used_blocks == sum(mine.values()) <= num_blocks
        assert a.held == mine


def test_prefix_cache_evicts_least_recently_used_unreferenced_entry():
    a = BlockAllocator(10, 4)
    pc = PrefixCache(a)
    for pid in ("a", "b", "c"):
        a.allocate(pid + "-owner", 2)
        assert pc.insert_from(pid + "-owner", pid, 2)
    assert a.used_blocks == 6
    assert pc.acquire("a", 8) == 8        # 'a' is now the most recently used, referenced twice
    pc.release("a"); pc.release("a")
    pc.release("b"); pc.release("c")
    pc.acquire("c", 8)                     # 'c' referenced: cannot go
    # use order (oldest first): b, a, c; unreferenced: b, a
    assert pc.evict_one() == 2 and list(pc.entries) == ["a", "c"]
    assert pc.evict_one() == 2 and list(pc.entries) == ["c"]
    assert pc.evict_one() == 0 and a.used_blocks == 2  # 'c' is still referenced


def _expected_own_blocks(s: Scheduler, req: Request, chunks: dict) -> int:
    """Blocks a running request must own after this step is scheduled, from its token counts alone."""
    B = s.B
    if req.decoding:
        tokens = req.c0 + (s.k - req.k0) + 1
    else:
        tokens = req.computed + chunks.get(req.rid, 0)
    return -(-tokens // B) - req.cached_blocks


@settings(max_examples=200, deadline=None)
@given(B=st.sampled_from([1, 4, 16]), blocks=st.integers(3, 30), budget=st.integers(8, 64), seqs=st.integers(1, 8),
       chunked=st.booleans(), prefix=st.booleans(),
       reqs=st.lists(st.tuples(st.integers(1, 80), st.integers(1, 40), st.integers(0, 3), st.integers(0, 6)),
                     min_size=1, max_size=12))
def test_scheduler_holds_exactly_the_blocks_its_requests_need(B, blocks, budget, seqs, chunked, prefix, reqs):
    cfg = SchedulerConfig(max_num_batched_tokens=budget, max_num_seqs=min(seqs, budget), block_size_tokens=B,
                          chunked_prefill=chunked, prefix_caching=prefix)
    s = Scheduler(cfg, blocks * B)
    arrivals = {}
    objs = []
    for i, (inp, out, pid, step) in enumerate(reqs):
        if inp + out - 1 > blocks * B or (not chunked and inp + out - 1 > budget):
            continue  # rejected up front by the simulator
        r = Request(i, float(step), inp, out, pid or None, min(inp, 12 * pid))
        objs.append(r)
        arrivals.setdefault(step, []).append(r)
    finished = []
    for step in range(20_000):
        for r in arrivals.pop(step, []):
            s.add(r)
        batch = s.schedule(float(step))
        if batch is None:
            if not arrivals and not s.has_work():
                break
            continue
        chunks = {r.rid: c for r, c in s._chunks}
        own = sum(_expected_own_blocks(s, r, chunks) for r in s.running.values())
        cached = sum(b for b, _ in s.prefix.entries.values()) if s.prefix else 0
        assert s.alloc.used_blocks == own + cached <= s.alloc.num_blocks
        for r in s.running.values():
            assert s.alloc.held.get(r.rid, 0) == _expected_own_blocks(s, r, chunks)
        pf, pf_ctx, dec, dec_ctx = batch
        assert 0 < pf + dec <= budget and len(s.running) <= cfg.max_num_seqs
        done, _ = s.complete(float(step + 1))
        finished += done
    assert sorted(r.rid for r in finished) == sorted(r.rid for r in objs)
    for r in objs:
        assert r.generated == r.output_tokens and r.finish_s >= r.first_token_s
    assert s.alloc.used_blocks == (sum(b for b, _ in s.prefix.entries.values()) if s.prefix else 0)
    if s.prefix:
        assert all(refs == 0 for _, refs in s.prefix.entries.values())
