"""Arrival processes, length distributions and trace reading."""

from __future__ import annotations

import numpy as np
import pytest

from fabless.errors import FablessError
from fabless.serve import Bursty, Fixed, Lengths, LogNormal, Poisson, SharedPrefix, Trace, Uniform, read_trace
from fabless.serve.workload import make_requests


def test_poisson_count_and_gaps():
    rng = np.random.default_rng(0)
    t = Poisson("3000/min").times_s(1000.0, rng)  # 50/s
    # count ~ Poisson(50000): sd 224; 5 sd
    assert abs(len(t) - 50_000) < 5 * 224
    assert np.all(np.diff(t) >= 0) and t[0] >= 0 and t[-1] < 1000.0
    gaps = np.diff(t)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.02)  # exponential: CV 1


def test_bursty_has_the_asked_rate_and_cv():
    t = Bursty(20, cv=3.0).times_s(10_000.0, np.random.default_rng(1))
    gaps = np.diff(t)
    assert len(t) / 10_000.0 == pytest.approx(20, rel=0.03)
    assert gaps.std() / gaps.mean() == pytest.approx(3.0, rel=0.05)


def test_length_distributions():
    rng = np.random.default_rng(2)
    x = LogNormal(1024, 512).sample(200_000, rng)
    assert x.mean() == pytest.approx(1024, rel=0.01) and x.std() == pytest.approx(512, rel=0.03)
    assert LogNormal(1024, 512, max_tokens=1500).sample(10_000, rng).max() == 1500
    u = Uniform(3, 5).sample(10_000, rng)
    assert set(np.unique(u)) == {3, 4, 5}
    assert Fixed(7).sample(3, rng).tolist() == [7, 7, 7]


def test_shared_prefix_is_added_in_front():
    reqs = make_requests(Poisson(10), Lengths(Fixed(100), Fixed(5)), 100.0, np.random.default_rng(3),
                         SharedPrefix(num_prefixes=2, prefix_tokens=50, fraction=0.5))
    has = np.array([p is not None for p in reqs.prefix_id])
    assert 0.4 < has.mean() < 0.6
    assert set(reqs.input_tokens[has]) == {150} and set(reqs.input_tokens[~has]) == {100}
    assert set(reqs.prefix_tokens[has]) == {50} and {p for p in reqs.prefix_id if p is not None} == {0, 1}


def test_trace_reads_rows(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("arrival_s,input_tokens,output_tokens,prefix_id,prefix_tokens,user\n"
                 "0,10,2,,,alice\n0.5,20,3,sys,8,bob\n")
    r = read_trace(p)
    assert r.arrival_s.tolist() == [0.0, 0.5] and r.input_tokens.tolist() == [10, 20]
    assert r.output_tokens.tolist() == [2, 3] and r.prefix_id == [None, "sys"] and r.prefix_tokens.tolist() == [0, 8]


@pytest.mark.parametrize("body,fragment", [
    ("arrival_s,input_tokens\n0,1\n", "no 'output_tokens' column"),
    ("arrival_s,input_tokens,output_tokens\n0,10,2\nsoon,10,2\n", "t.csv:3: arrival_s 'soon'"),
    ("arrival_s,input_tokens,output_tokens\n1,10,2\n0.5,10,2\n", "t.csv:3: arrival_s 0.5 is earlier"),
    ("arrival_s,input_tokens,output_tokens\n0,10.5,2\n", "t.csv:2: input_tokens must be a whole number"),
    ("arrival_s,input_tokens,output_tokens\n0,10,0\n", "t.csv:2: output_tokens must be a whole number >= 1"),
    ("arrival_s,input_tokens,output_tokens\n-1,10,2\n", "t.csv:2: arrival_s must be a finite time >= 0"),
    ("arrival_s,input_tokens,output_tokens,prefix_id,prefix_tokens\n0,10,2,a,11\n", "prefix_tokens 11 is more than"),
    ("arrival_s,input_tokens,output_tokens\n", "no requests"),
])
def test_bad_trace_rows_are_one_line_errors(tmp_path, body, fragment):
    p = tmp_path / "t.csv"
    p.write_text(body)
    with pytest.raises(FablessError) as err:
        Trace(str(p)).load()
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_bad_workload_arguments():
    with pytest.raises(FablessError, match="cannot read 'fast' as a rate"):
        Poisson("fast")
    with pytest.raises(FablessError, match="cv must be > 0"):
        Bursty(1, cv=0)
    with pytest.raises(FablessError, match="a trace gives the lengths"):
        make_requests(Trace("x.csv"), Lengths(Fixed(1), Fixed(1)), None, np.random.default_rng(0))
    with pytest.raises(FablessError, match="no such trace file"):
        Trace("/nonexistent/x.csv").load()
