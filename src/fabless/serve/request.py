"""One request as the simulator tracks it (an entity, in Vidur's terms)."""

from __future__ import annotations


class Request:
    """State and timestamps of one request.

    ``num_tokens`` is the tokens whose KV the request must hold before it can sample its next
    token (prompt + tokens generated so far); ``computed`` is how many of them are in the KV
    cache. A step computes ``num_tokens - computed`` of them (or a chunk); when it catches up,
    one token is sampled. Preemption by recompute sets ``computed`` back to 0.

    While decoding, a request advances one token per step in lockstep with the others, so its
    counters are kept implicitly: at replica step ``k`` it has computed ``c0 + (k - k0)`` tokens
    and generated ``g0 + (k - k0)``.
    """

    __slots__ = (
        "rid", "arrival_s", "input_tokens", "output_tokens", "prefix_id", "prefix_tokens",
        "num_tokens", "computed", "generated", "cached_blocks", "cache_ref",
        "decoding", "k0", "c0", "g0", "version",
        "first_scheduled_s", "first_token_s", "finish_s", "preemptions", "prefix_hit_tokens",
        "replica", "decode_replica", "transfer_start_s", "transfer_end_s",
    )

    def __init__(self, rid: int, arrival_s: float, input_tokens: int, output_tokens: int,
                 prefix_id=None, prefix_tokens: int = 0):
        self.rid = rid
        self.arrival_s = arrival_s
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.prefix_id = prefix_id
        self.prefix_tokens = prefix_tokens
        self.num_tokens = input_tokens
        self.computed = 0
        self.generated = 0
        self.cached_blocks = 0     # prefix-cache blocks this request reads instead of owning
        self.cache_ref = False     # holds a reference on its prefix-cache entry
        self.decoding = False
        self.k0 = self.c0 = self.g0 = 0
        self.version = 0           # bumped on preemption: invalidates queued finish events
        self.first_scheduled_s = None
        self.first_token_s = None
        self.finish_s = None
        self.preemptions = 0
        self.prefix_hit_tokens = 0
        self.replica = -1
        self.decode_replica = -1
        self.transfer_start_s = None
        self.transfer_end_s = None
