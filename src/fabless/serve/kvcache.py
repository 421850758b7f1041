"""The KV cache of one replica: a block allocator, and an optional prefix cache on top of it.

Like vLLM's paged attention, the cache is cut into blocks of ``block_size_tokens`` tokens; a
sequence holding ``t`` tokens of KV needs ``ceil(t / block_size_tokens)`` blocks. The
allocator only counts: it never hands out more blocks than it has (it raises instead), and it
knows how many blocks each owner holds, so freeing an owner returns exactly those.

The prefix cache keeps the KV of shared prompt prefixes (keyed by a prefix id) in blocks owned
by the cache. A request that finds its prefix *ready* skips computing those tokens and holds
a reference; entries no request references are evicted least-recently-used when the
allocator runs short.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from fabless.errors import FablessError


class BlockAllocator:
    """Counts KV blocks handed to owners (request ids, prefix entries)."""

    __slots__ = ("num_blocks", "block_size_tokens", "used_blocks", "held")

    def __init__(self, num_blocks: int, block_size_tokens: int):
        if num_blocks < 1 or block_size_tokens < 1:
            raise FablessError(f"KV cache needs >= 1 block of >= 1 token, got {num_blocks} blocks of {block_size_tokens}")
        self.num_blocks = int(num_blocks)
        self.block_size_tokens = int(block_size_tokens)
        self.used_blocks = 0
        self.held: dict[Hashable, int] = {}

    @property
    def free_blocks(self) -> int:
        return self.num_blocks - self.used_blocks

    def blocks_for(self, tokens: int) -> int:
        return -(-tokens // self.block_size_tokens)

    def can_allocate(self, n: int) -> bool:
        return n <= self.num_blocks - self.used_blocks

    def allocate(self, owner: Hashable, n: int) -> None:
        """Give ``owner`` ``n`` more blocks; raises (and changes nothing) if fewer are free."""
        if n < 0:
            raise ValueError(f"cannot allocate {n} blocks")
        if n > self.num_blocks - self.used_blocks:
            raise MemoryError(f"KV cache: {n} blocks asked, {self.num_blocks - self.used_blocks} free")
        if n:
            self.used_blocks += n
            self.held[owner] = self.held.get(owner, 0) + n

    def allocate_each(self, owners) -> None:
        """Give every one of ``owners`` one more block (a decode step's new token each); raises (and
        changes nothing) if fewer are free. The same as ``allocate(o, 1)`` for each, in one pass."""
        n = len(owners)
        if n > self.num_blocks - self.used_blocks:
            raise MemoryError(f"KV cache: {n} blocks asked, {self.num_blocks - self.used_blocks} free")
        held = self.held
        for o in owners:
            held[o] = held.get(o, 0) + 1
        self.used_blocks += n

    def free(self, owner: Hashable) -> int:
        """Return every block ``owner`` holds; the number freed (0 if it held none)."""
        n = self.held.pop(owner, 0)
        self.used_blocks -= n
        return n

    def move(self, src: Hashable, dst: Hashable, n: int) -> None:
        """Hand ``n`` of ``src``'s blocks to ``dst`` (e.g. a computed prefix into the prefix cache)."""
        have = self.held.get(src, 0)
        if not 0 <= n <= have:
            raise ValueError(f"{src} holds {have} blocks, cannot move {n}")
        if n == 0:
            return
        if have == n:
            del self.held[src]
        else:
            self.held[src] = have - n
        self.held[dst] = self.held.get(dst, 0) + n


class PrefixCache:
    """Shared prefixes kept in the allocator, LRU-evicted when no request references them."""

    def __init__(self, alloc: BlockAllocator):
        self.alloc = alloc
        # prefix id -> [blocks, refcount]; order = least recently used first
        self.entries: OrderedDict[Hashable, list[int]] = OrderedDict()

    @staticmethod
    def _owner(prefix_id: Hashable) -> tuple:
        return ("prefix", prefix_id)

    def acquire(self, prefix_id: Hashable, prefix_tokens: int) -> int:
        """Reference the cached prefix; the number of tokens it saves (0 on a miss)."""
        e = self.entries.get(prefix_id)
        if e is None:
            return 0
        e[1] += 1
        self.entries.move_to_end(prefix_id)
        return min(e[0] * self.alloc.block_size_tokens, prefix_tokens)

    def release(self, prefix_id: Hashable) -> None:
        e = self.entries[prefix_id]
        e[1] -= 1
        if e[1] < 0:
            raise AssertionError(f"prefix {prefix_id!r} released more often than acquired")

    def insert_from(self, owner: Hashable, prefix_id: Hashable, blocks: int) -> bool:
        """Move ``blocks`` computed blocks of ``owner`` into the cache as ``prefix_id`` (referenced once by owner)."""
        if prefix_id in self.entries or blocks <= 0:
            return False
        self.alloc.move(owner, self._owner(prefix_id), blocks)
        self.entries[prefix_id] = [blocks, 1]
        return True

    def evictable_blocks(self) -> int:
        return sum(b for b, r in self.entries.values() if r == 0)

    def evict_one(self) -> int:
        """Drop the least recently used unreferenced prefix; the blocks freed (0 if none can go)."""
        for pid, (blocks, refs) in self.entries.items():
            if refs == 0:
                del self.entries[pid]
                return self.alloc.free(self._owner(pid))
        return 0
