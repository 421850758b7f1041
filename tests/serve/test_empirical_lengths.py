"""Empirical (quantile-table) request lengths and the MLPerf LLM length tables."""

from __future__ import annotations

import numpy as np
import pytest

from fabless.errors import FablessError
from fabless.loading import read_yaml
from fabless.serve.metrics import SLO
from fabless.serve.scheduler import SchedulerConfig
from fabless.serve.search import max_throughput
from fabless.serve.stepcost import ConstantStepCost
from fabless.serve.workload import Empirical, Fixed, Lengths, empirical_lengths
from fabless.validate.core import MEASUREMENTS_DIR

TABLE = MEASUREMENTS_DIR / "mlperf_llm_lengths.yaml"

# Computed independently from the extracted CSVs (every per-sample row read back and checked:
# 24,576 and 15,000 rows, byte counts as published): count, mean, min, max, p50, p99.
FROM_CSV = {
    ("llama2-70b-99", "input"): (24576, 222.33, 48, 1021, 152, 791),
    ("llama2-70b-99", "output"): (24576, 218.89, 3, 1016, 190, 779),
    ("mixtral-8x7b", "input"): (15000, 427.39, 35, 1948, 283, 1561),
    ("mixtral-8x7b", "output"): (15000, 144.84, 2, 1024, 113, 582),
}


def test_uniform_table_by_hand():
    # Quantiles 10, 20 at p = 0, 1: uniform on [10, 20]; mean 15, every draw in range.
    d = Empirical((10, 20))
    assert d.mean_tokens == 15.0
    x = d.sample(100_000, np.random.default_rng(0))
    assert x.min() >= 10 and x.max() <= 20
    assert x.mean() == pytest.approx(15.0, abs=0.05)  # sd of the mean ~ 2.9 / 316 = 0.009


def test_rescaled_keeps_the_shape_and_sets_the_mean():
    d = Empirical((10, 20, 40)).rescaled(60.0)
    assert d.scale == pytest.approx(60.0 / 22.5)
    x = d.sample(200_000, np.random.default_rng(1))
    assert x.mean() == pytest.approx(60.0, rel=0.005)


def test_rescaled_under_a_cap_makes_up_for_it():
    # Uniform on [0, 2] x s capped at 1.5 x ... : with cap 100 and quantiles (1, 101), asking for mean 60
    # needs a scale above 60/51 because the draws above 100 are cut.
    d = Empirical((1, 101), max_tokens=100).rescaled(60.0)
    assert d.scale > 60.0 / 51.0
    x = d.sample(400_000, np.random.default_rng(2))
    assert x.max() == 100
    assert x.mean() == pytest.approx(60.0, rel=0.005)


@pytest.mark.parametrize("key", sorted(FROM_CSV))
def test_stored_table_matches_the_csv(key):
    ds, which = key
    data = read_yaml(TABLE)
    count, mean, lo, hi, p50, p99 = FROM_CSV[key]
    entry = data[ds][which]
    assert data[ds]["count"] == count
    assert data[ds]["confidence"] == "derived" and "openshift-psap/performance-dashboard" in data[ds]["source"]
    assert (entry["mean"], entry["min"], entry["max"], entry["p50"], entry["p99"]) == (mean, lo, hi, p50, p99)
    q = entry["quantiles"]
    assert len(q) == 201 and q[0] == lo and q[-1] == hi and q[100] == p50 and q[198] == p99
    # The table's own mean (its interpolated distribution) is within 0.2 % of the data's mean,
    # and draws converge to it: 200k draws, sd of the mean < 0.3 % here.
    d = empirical_lengths(TABLE, ds, which)
    assert d.mean_tokens == pytest.approx(mean, rel=0.002)
    x = d.sample(200_000, np.random.default_rng(3))
    assert x.mean() == pytest.approx(mean, rel=0.006)
    assert np.percentile(x, 50) == pytest.approx(p50, rel=0.02)


def test_mlperf_answers_rescaled_to_a_row_mean():
    d = empirical_lengths(TABLE, "llama2-70b-99", "output", mean_tokens=290, max_tokens=1024)
    x = d.sample(200_000, np.random.default_rng(4))
    assert x.max() <= 1024
    assert x.mean() == pytest.approx(290, rel=0.006)


@pytest.mark.parametrize("args, fragment", [
    (((5,),), "needs >= 2 quantiles"),
    (((0, 5),), ">= 1"),
    (((5, 4, 6),), "value 1 \\(4\\) is below the one before \\(5\\)"),
    (((5, "x"),), "list of numbers"),
])
def test_bad_tables_are_one_line_errors(args, fragment):
    with pytest.raises(FablessError, match=fragment) as e:
        Empirical(*args)
    assert "\n" not in str(e.value)


def test_bad_table_files_are_one_line_errors(tmp_path):
    with pytest.raises(FablessError, match="no such length table"):
        empirical_lengths(tmp_path / "none.yaml", "x")
    with pytest.raises(FablessError, match="no dataset 'gpt-j' \\(has: llama2-70b-99, mixtral-8x7b\\)"):
        empirical_lengths(TABLE, "gpt-j")
    p = tmp_path / "t.yaml"
    p.write_text("d: {input: {quantiles: [3, 2]}, output: {mean: 4}}\n")
    with pytest.raises(FablessError, match="d.input: empirical quantiles must be non-decreasing"):
        empirical_lengths(p, "d", "input")
    with pytest.raises(FablessError, match="no output.quantiles list"):
        empirical_lengths(p, "d", "output")
    with pytest.raises(FablessError, match="must be below max_tokens"):
        Empirical((1, 10), max_tokens=5).rescaled(6)


def test_max_throughput_growth_must_exceed_one():
    model = ConstantStepCost(0.1, kv_capacity_tokens=1000)
    with pytest.raises(FablessError, match="growth must be > 1"):
        max_throughput(model, Lengths(Fixed(1), Fixed(1)), SLO.parse("ttft_mean=200ms"), SchedulerConfig(), growth=1.0)
