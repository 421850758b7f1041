"""One seed, one answer."""

from __future__ import annotations

import math

import pandas as pd

from fabless.serve import Bursty, Fleet, Lengths, LogNormal, SchedulerConfig, SharedPrefix, run
from tests.serve.test_queueing import _roofline


def _run(seed):
    return run(_roofline(capacity_tokens=6_000), Bursty(12, cv=2.5), Lengths(LogNormal(500, 300, 3000), LogNormal(150, 100, 800)),
               SchedulerConfig(max_num_batched_tokens=1024, prefix_caching=True), seed, duration_s=120,
               fleet=Fleet(2, "least_loaded"), prefix=SharedPrefix(4, 256, 0.6))


def _plain(d):
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}


def test_same_seed_same_results_row_for_row():
    a, b = _run(11), _run(11)
    pd.testing.assert_frame_equal(a.requests, b.requests)
    pd.testing.assert_frame_equal(a.timeseries, b.timeseries)
    assert _plain(a.summary) == _plain(b.summary)
    assert a.summary["preemptions"] > 0 and a.summary["prefix_cache_hit_rate"] > 0  # the run exercises both


def test_another_seed_other_results():
    a, c = _run(11), _run(12)
    assert len(a.requests) != len(c.requests) or not a.requests["e2e_s"].equals(c.requests["e2e_s"])
