"""The one number formatter: expected strings written by hand for representative values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fabless.estimate.plan import Plan
from fabless.report.console import table
from fabless.report.format import Num, cell, num, pct, plan, seconds


@pytest.mark.parametrize("value, text", [
    (1234.56, "1,235"),        # 4 significant digits, with a separator from 1,000 up
    (12345.6, "12,346"),       # never fewer digits than the integer part has
    (8873.2, "8,873"),         # the 4-digit number beside a 5-digit one gets its separator too
    (999.96, "1,000"),         # rounding up to the next power of ten
    (546.94, "546.9"),
    (44.76, "44.76"),
    (0.016651, "0.01665"),
    (0.5, "0.5"),              # no trailing zeros
    (2.0, "2"),
    (-1234.5, "-1,234"),       # an exact half rounds to even
    (5.721e-05, "5.721e-05"),  # under 1e-4: an exponent rather than a row of zeros
    (0.0, "0"),
    (7, "7"),
    (1234567, "1,234,567"),    # ints exactly, with separators
    (None, "-"),
    (math.nan, "-"),
    (math.inf, "inf"),
    (True, "yes"),
    (np.float64(1234.56), "1,235"),
    (np.int64(20000), "20,000"),
])
def test_num(value, text):
    assert num(value) == text


def test_num_digits():
    assert num(11673.4, 3) == "11,673"
    assert num(3.14159, 3) == "3.14"
    assert num(0.0123456, 2) == "0.012"


@pytest.mark.parametrize("fraction, kwargs, text", [
    (0.4476, {}, "44.8%"),
    (1.0, {}, "100.0%"),
    (0.0, {}, "0.0%"),
    (5.721e-07, {}, "<0.1%"),        # the share that printed as 5.721e-05 under 'share %'
    (-2e-4, {}, ">-0.1%"),
    (-0.032, {}, "-3.2%"),
    (0.006278, {"signed": True}, "+0.6%"),
    (-0.25, {"signed": True}, "-25.0%"),
    (12.5, {}, "1,250.0%"),
    (0.12345, {"decimals": 2}, "12.35%"),
    (None, {}, "-"),
])
def test_pct(fraction, kwargs, text):
    assert pct(fraction, **kwargs) == text


@pytest.mark.parametrize("t, text", [
    (2.686, "2.686 s"),
    (0.02394, "23.94 ms"),
    (8.569e-06, "8.569 us"),
    (3e-09, "3 ns"),
    (7200.0, "2 h"),
    (59.0, "59 s"),
    (0.0, "0 s"),
    (None, "-"),
])
def test_seconds(t, text):
    assert seconds(t) == text


def test_plan_text():
    assert plan(Plan(tp=8, pp=2, dp=4)) == "tp8 pp2 dp4"
    assert plan(Plan(tp=2, dp=4)) == "tp2 dp4"                        # pp 1 left out, tp and dp always
    assert plan({"tp": 8, "pp": 1, "dp": 1, "ep": 8, "attn_dp": True}) == "tp8 ep8 dp1 attn-dp"
    # training plans carry ZeRO, recompute and micro-batch (Plan.label)
    assert plan(Plan(tp=8, pp=2, dp=4, zero=1, recompute="full", micro_batch=2), training=True) == "tp8 pp2 dp4 zero1 full mb2"
    assert plan({"label": "tp1 dp8 zero3 none mb2"}, training=True) == "tp1 dp8 zero3 none mb2"


def test_cells_and_alignment():
    assert cell("h100-sxm") == "h100-sxm" and cell(1234.56) == "1,235" and cell(None) == "-"
    t = table(["name", "share", "time", "n"], [["a", pct(0.5), seconds(0.001), 3], ["b", pct(0.25), seconds(2.0), None]])
    # formatted numbers (Num) right-align like raw ones; text columns stay left
    assert [c.justify for c in t.columns] == ["left", "right", "right", "right"]
    assert isinstance(pct(0.5), Num) and isinstance(seconds(1.0), Num)
