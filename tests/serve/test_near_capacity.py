"""The stability verdict's 'near capacity' flag on hand-built runs (sim.stability)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fabless.serve.sim import stability


def _run(rate: float, horizon_s: float, service_s: float, backlog_per_s: float) -> pd.DataFrame:
    """Evenly spaced arrivals; each finishes service_s after it arrives, plus a delay that grows so
    the number in the system rises by backlog_per_s per second (a queue that loses ground)."""
    arr = np.arange(0, horizon_s, 1 / rate)
    # request i waits behind the backlog built up by its arrival: backlog / completion rate
    fin = arr + service_s + backlog_per_s * arr / (rate - backlog_per_s)
    return pd.DataFrame({"arrival_s": arr, "finish_s": fin})


def test_keeping_up_is_stable_and_not_near_capacity():
    s = stability(_run(20, 3600, 5.0, 0.0), 3600)
    assert s["stable"] and not s["near_capacity"] and abs(s["backlog_growth"]) <= 1


def test_one_percent_short_is_stable_but_near_capacity():
    # 20 req/s offered, 0.2 req/s not completed: over the second half (36,000 arrivals) the
    # backlog grows by ~0.2 x 1800 = 360 requests: 1% of arrivals, above 0.5% and 1 sigma (190),
    # below the 10% that reads as unstable.
    s = stability(_run(20, 3600, 5.0, 0.2), 3600)
    assert s["stable"] and s["near_capacity"]
    assert abs(s["backlog_growth"] - 360) <= 10


def test_twenty_percent_short_is_unstable():
    s = stability(_run(20, 3600, 5.0, 4.0), 3600)
    assert not s["stable"] and not s["near_capacity"]
