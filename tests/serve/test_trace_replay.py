"""A trace replayed through the scheduler gives the times worked out by hand."""

from __future__ import annotations

import pytest

from fabless.serve import Disaggregated, RooflineStepCost, SchedulerConfig, SharedPrefix, Trace, run


def _compute_bound(kv_bytes_per_token=0.0, capacity=100_000):
    # step = 10 ms + 1 ms per token computed (prefill tokens + decode sequences); no memory term.
    return RooflineStepCost(weights_bytes=0, kv_bytes_per_token=kv_bytes_per_token, flops_per_token=1.0,
                            mem_bytes_per_s=1e15, peak_flops_per_s=1000.0, kv_capacity_tokens=capacity,
                            overhead_s=0.010)


class Recording:
    """Wraps a step model and records each batch it is asked about."""

    def __init__(self, inner):
        self.inner = inner
        self.kv_capacity_tokens = inner.kv_capacity_tokens
        self.kv_bytes_per_token = inner.kv_bytes_per_token
        self.calls = []

    def step_time_s(self, *batch):
        self.calls.append(batch)
        return self.inner.step_time_s(*batch)


@pytest.fixture
def trace3(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("arrival_s,input_tokens,output_tokens\n0.0,100,3\n0.05,50,2\n0.2,20,1\n")
    return Trace(str(p))


def test_three_requests_whole_prompts(trace3):
    res = run(_compute_bound(), trace3, None, SchedulerConfig(), cache_rel_bits=None)
    df = res.requests.set_index("request")
    # step 1 [0, 0.110]: prefill r0 (100 tokens). r1 arrives mid-step.
    # step 2 [0.110, 0.171]: decode r0 + prefill r1 (50) = 51 tokens -> 61 ms.
    # step 3 [0.171, 0.183]: decode r0 (3rd token, done) + decode r1 (2nd token, done) -> 12 ms.
    # step 4 [0.200, 0.230]: prefill r2 (20), its only token.
    assert df["ttft_s"].tolist() == pytest.approx([0.110, 0.121, 0.030])
    assert df["e2e_s"].tolist() == pytest.approx([0.183, 0.133, 0.030])
    assert df.loc[0, "tpot_s"] == pytest.approx((0.183 - 0.110) / 2)
    assert res.summary["steps"] == 4


def test_three_requests_chunked_prefill_and_batch_composition(trace3):
    model = Recording(_compute_bound())
    res = run(model, trace3, None, SchedulerConfig(max_num_batched_tokens=64, max_num_seqs=8), cache_rel_bits=None)
    df = res.requests.set_index("request")
    # step 1 [0, 0.074]: r0 chunk 64.
    # step 2 [0.074, 0.148]: r0 chunk 36 (first token) + r1 chunk 28 = 64 tokens.
    # step 3 [0.148, 0.181]: decode r0 + r1 chunk 22 (first token) = 23 tokens.
    # step 4 [0.181, 0.193]: decode r0 (done) + decode r1 (done).
    # step 5 [0.200, 0.230]: r2.
    assert df["ttft_s"].tolist() == pytest.approx([0.148, 0.131, 0.030])
    assert df["finish_s"].tolist() == pytest.approx([0.193, 0.193, 0.230])
    # (prefill_tokens, prefill_context_tokens, decode_seqs, decode_context_tokens)
    assert model.calls == [
        (64, 64, 0, 0),
        (64, 100 + 28, 0, 0),    # r0 attends to all 100, r1's chunk to its 28
        (22, 50, 1, 101),        # r0 computes its 101st token
        (0, 0, 2, 102 + 51),
        (20, 20, 0, 0),
    ]


def test_prefix_cache_hit_skips_the_cached_blocks(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("arrival_s,input_tokens,output_tokens,prefix_id,prefix_tokens\n"
                 "0.0,100,1,sys,70\n1.0,100,1,sys,70\n2.0,100,1,,0\n")
    sched = SchedulerConfig(block_size_tokens=16, prefix_caching=True)
    res = run(_compute_bound(), Trace(str(p)), None, sched, cache_rel_bits=None)
    df = res.requests.set_index("request")
    # r1 reuses 4 full blocks (64 of the 70 prefix tokens) and computes 36 tokens: 10 + 36 ms.
    assert df["prefix_hit_tokens"].tolist() == [0, 64, 0]
    assert df["ttft_s"].tolist() == pytest.approx([0.110, 0.046, 0.110])
    assert res.summary["prefix_cache_hit_rate"] == pytest.approx(0.5)  # 2 lookups (r2 has no prefix), 1 hit


def test_disaggregated_kv_transfer_time(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("arrival_s,input_tokens,output_tokens\n0.0,100,3\n")
    model = _compute_bound(kv_bytes_per_token=1000.0)
    fleet = Disaggregated(1, 1, link_bytes_per_s=1e6, link_latency_s=0.01)
    res = run(model, Trace(str(p)), None, SchedulerConfig(), fleet=fleet, cache_rel_bits=None)
    r = res.requests.iloc[0]
    # prefill 100 tokens [0, 0.110] gives the first token; 100 tokens x 1000 B over 1 MB/s = 0.1 s + 10 ms;
    # on the decode replica two one-token steps of 11 ms: finish at 0.220 + 0.022.
    assert r["ttft_s"] == pytest.approx(0.110)
    assert r["transfer_s"] == pytest.approx(0.110)
    assert r["finish_s"] == pytest.approx(0.242)
    assert (r["replica"], r["decode_replica"]) == (0, 1)


def test_transfers_share_the_prefill_link_in_turn(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("arrival_s,input_tokens,output_tokens\n0.0,100,2\n0.0,100,2\n")
    fleet = Disaggregated(1, 1, link_bytes_per_s=1e6, link_latency_s=0.0)
    res = run(_compute_bound(kv_bytes_per_token=1000.0), Trace(str(p)), None, SchedulerConfig(), fleet=fleet,
              cache_rel_bits=None)
    df = res.requests
    # both prefilled in one 210 ms step; transfers of 0.1 s each go one after the other
    assert df["first_token_s"].tolist() == pytest.approx([0.210, 0.210])
    assert df["transfer_s"].tolist() == pytest.approx([0.1, 0.2])
