"""A search killed mid-way and started again loses nothing and duplicates nothing; the
same seed gives the same results."""

import copy
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd

from fabless.explore import front, load_space, run_search
from fabless.explore.store import Store

from .conftest import SMALL, write_space

SCRIPT = ("import sys; from fabless.explore import load_space, run_search; "
          "run_search(load_space(sys.argv[1]), sys.argv[2], progress=True)")


def _raw(sampler="random", samples=6000, batch=15):
    raw = copy.deepcopy(SMALL)
    raw["parameters"] = {"hbm_stacks": [2, 3, 4, 6], "clock_mhz": {"min": 800, "max": 2400},
                         "matrix_units": {"min": 1, "max": 8}}
    raw["objectives"] = [{"minimize": "unit_cost_usd"}, {"maximize": "tokens_per_s_per_chip"}]
    raw["search"] = {"sampler": sampler, "samples": samples, "batch_size": batch, "seed": 3}
    return raw


def _kill_mid_search(space_path, out, after_batches=8):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(space_path), str(out)], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, env=env)
    seen = 0
    for line in proc.stderr:
        if line.startswith("batch "):
            seen += 1
            if seen >= after_batches:
                proc.send_signal(signal.SIGKILL)
                break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the search finished before it could be killed"


def test_kill_and_resume_loses_nothing(tmp_path):
    space_path = write_space(tmp_path, _raw())
    space = load_space(space_path)
    _kill_mid_search(space_path, tmp_path / "killed")
    st = Store(tmp_path / "killed", read_only=True)  # what --show opens
    partial = st.count()
    done = st.done_batches()
    st.close()
    assert 0 < partial < 6000
    assert partial == sum(min(15, 6000 - 15 * k) for k in done)  # whole batches only

    resumed = run_search(space, tmp_path / "killed", progress=False).frame()
    fresh = run_search(space, tmp_path / "fresh", progress=False).frame()
    assert len(resumed) == 6000 and resumed["id"].is_unique
    assert list(resumed["id"]) == list(range(6000))
    pd.testing.assert_frame_equal(resumed.drop(columns="batch"), fresh.drop(columns="batch"))
    f1, f2 = front(resumed, space.objective_list), front(fresh, space.objective_list)
    assert list(f1["id"]) == list(f2["id"]) and len(f1) > 0


def test_same_seed_same_results_other_seed_differs(tmp_path):
    raw = _raw(samples=300, batch=100)
    a = run_search(load_space(write_space(tmp_path, raw, "a.yaml")), tmp_path / "a", progress=False).frame()
    b = run_search(load_space(write_space(tmp_path, raw, "b.yaml")), tmp_path / "b", progress=False).frame()
    pd.testing.assert_frame_equal(a, b)
    raw["search"]["seed"] = 4
    c = run_search(load_space(write_space(tmp_path, raw, "c.yaml")), tmp_path / "c", progress=False).frame()
    assert not np.allclose(a["clock_mhz"], c["clock_mhz"])


def test_resuming_another_space_is_refused(tmp_path):
    import pytest

    from fabless.errors import FablessError

    raw = _raw(samples=30, batch=10)
    run_search(load_space(write_space(tmp_path, raw)), tmp_path / "r", progress=False).close()
    raw["parameters"]["hbm_stacks"] = [8]
    with pytest.raises(FablessError, match="different space"):
        run_search(load_space(write_space(tmp_path, raw)), tmp_path / "r", progress=False)


def test_nsga2_finds_the_known_front_and_resumes(tmp_path):
    """NSGA-II (Optuna) on the hand-checked space: it reaches the 2..6-stack front; a run cut
    after 2 generations and extended to 4 equals a 4-generation run (replayed optimiser)."""
    raw = copy.deepcopy(SMALL)
    raw["objectives"] = [{"minimize": "unit_cost_usd"}, {"maximize": "tokens_per_s_per_chip"}]
    raw["search"] = {"sampler": "nsga2", "samples": 16, "population": 8, "seed": 1}
    space = load_space(write_space(tmp_path, raw))
    short = run_search(space, tmp_path / "n", progress=False)
    assert short.count() == 16
    short.close()
    raw["search"]["samples"] = 32
    long_space = load_space(write_space(tmp_path, raw, "long.yaml"))
    resumed = run_search(long_space, tmp_path / "n", progress=False).frame()
    fresh = run_search(long_space, tmp_path / "m", progress=False).frame()
    pd.testing.assert_frame_equal(resumed, fresh)
    fr = front(fresh, long_space.objective_list)
    assert sorted(fr["hbm_stacks"].unique()) == [2, 3, 4, 5, 6]


def test_ctrl_c_says_what_was_kept_and_exits_130(tmp_path, monkeypatch, capsys):
    # Ctrl-C during the 4th batch of 15 designs: the 3 finished batches (45 designs) are in the
    # store; the command says so, exits 130, and the same command then finishes the rest.
    from fabless.cli import main
    from fabless.explore.evaluate import Evaluator

    space = write_space(tmp_path, _raw(samples=120, batch=15))
    out = tmp_path / "out"
    real = Evaluator.evaluate
    calls = {"n": 0}

    def interrupted(self, vals):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(self, vals)

    monkeypatch.setattr(Evaluator, "evaluate", interrupted)
    assert main(["explore", str(space), "--out", str(out), "--no-plot", "--json"]) == 130
    err = capsys.readouterr().err
    assert "error: interrupted; 45 designs are kept in" in err and "resume" in err
    monkeypatch.setattr(Evaluator, "evaluate", real)
    assert main(["explore", str(space), "--out", str(out), "--no-plot", "--json"]) == 0
    store = Store(out, read_only=True)
    try:
        assert store.count() == 120
    finally:
        store.close()
