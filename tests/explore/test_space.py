"""Invalid design spaces get one-line errors; valid ones resolve their parameters."""

import copy

import numpy as np
import pytest

from fabless.errors import FablessError
from fabless.explore.samplers import values_of
from fabless.explore.space import space_from_dict

from ..conftest import assert_one_line_error
from .conftest import SMALL, write_space


def _with(**changes):
    raw = copy.deepcopy(SMALL)
    for k, v in changes.items():
        raw[k] = v
    return raw


@pytest.mark.parametrize("raw, fragments", [
    (_with(parameters={"hbm_stackz": [1, 2]}), ("unknown parameter 'hbm_stackz'", "hbm_stacks")),
    (_with(parameters={"hbm_stacks": []}), ("parameters.hbm_stacks", "empty")),
    (_with(parameters={"clock_mhz": {"min": 2000, "max": 1000}}), ("parameters.clock_mhz", "empty range")),
    (_with(parameters={"process_node": ["N1"]}), ("unknown parameters.process_node value 'N1'",)),
    (_with(constraints={"tdp_w": {"min": 900, "max": 500}}), ("constraints.tdp_w", "contradictory")),
    (_with(constraints={"watts": {"max": 500}}), ("unknown constraint metric 'watts'",)),
    (_with(objectives=[{"maximize": "speed"}]), ("unknown objective metric 'speed'",)),
    (_with(objectives=[]), ("objectives",)),
    (_with(parameters={}), ("give at least one parameter",)),
    (_with(workload=[]), ("workload",)),
])
def test_invalid_space_one_line_error(xcli, tmp_path, raw, fragments):
    p = write_space(tmp_path, raw)
    r = xcli("explore", str(p), "--out", str(tmp_path / "r"), "--no-plot", "--no-progress")
    assert_one_line_error(r, *fragments)
    assert not (tmp_path / "r").exists()  # nothing written before the inputs validate


def test_workload_errors_are_one_line(xcli, tmp_path):
    raw = _with(workload=[{**SMALL["workload"][0], "parallel": {"tp": 3}}])
    r = xcli("explore", str(write_space(tmp_path, raw)), "--out", str(tmp_path / "r"), "--no-plot")
    assert_one_line_error(r, "tp 3 does not divide")


def test_grid_and_ranges():
    sp = space_from_dict(_with(parameters={"clock_mhz": {"min": 1000, "max": 2000, "steps": 3},
                                           "hbm_generation": ["hbm3e", "hbm4"], "hbm_stacks": {"min": 4, "max": 8, "step": 2}}))
    assert [p.grid() for p in sp.params.values()] == [[1000.0, 1500.0, 2000.0], ["hbm3e", "hbm4"], [4, 6, 8]]
    v = values_of(sp, np.arange(18))
    assert list(v["clock_mhz"][:6]) == [1000.0] * 6 and list(v["hbm_stacks"][:3]) == [4, 6, 8]


@pytest.mark.parametrize("sampler", ["random", "sobol"])
def test_samplers_same_id_same_design(sampler):
    """An id maps to the same design whatever batch it is asked in (what resume relies on)."""
    sp = space_from_dict(_with(parameters={"clock_mhz": {"min": 1000, "max": 2000}, "hbm_stacks": [2, 4, 6]},
                               search={"sampler": sampler, "samples": 3000, "seed": 7}))
    whole = values_of(sp, np.arange(3000))
    part = values_of(sp, np.arange(1500, 2100))
    assert np.array_equal(whole["clock_mhz"][1500:2100], part["clock_mhz"])
    assert whole["clock_mhz"].min() >= 1000 and whole["clock_mhz"].max() <= 2000
    assert set(whole["hbm_stacks"]) == {2.0, 4.0, 6.0}


def test_invalid_direct_use_raises():
    with pytest.raises(FablessError, match="empty range"):
        space_from_dict(_with(parameters={"cores": {"min": 4, "max": 2}}))
