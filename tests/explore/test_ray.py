"""The Ray backend on a local Ray instance: same results as the local backend, and a batch
whose worker dies is retried (nothing lost)."""

import copy
import os

import pandas as pd
import pytest

from fabless.explore import load_space, run_search
from fabless.explore.run import FAULT_ENV

from .conftest import SMALL, write_space

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    fault = tmp_path_factory.mktemp("fault") / "kill-once"
    fault.write_text("die")
    os.environ[FAULT_ENV] = str(fault)  # inherited by the local Ray workers
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield fault
    ray.shutdown()
    os.environ.pop(FAULT_ENV, None)


# Starting Ray workers on a loaded 2-core machine has failed once in nine runs (a start-up
# timeout, not a wrong result); one rerun keeps CI from failing on that, and a wrong result
# still fails both times.
@pytest.mark.flaky(reruns=1)
def test_ray_backend_matches_local_and_survives_a_dead_worker(local_ray, tmp_path):
    raw = copy.deepcopy(SMALL)
    raw["parameters"] = {"hbm_stacks": [2, 3, 4], "clock_mhz": {"min": 800, "max": 2400}}
    raw["objectives"] = [{"minimize": "unit_cost_usd"}, {"maximize": "tokens_per_s_per_chip"}]
    raw["search"] = {"sampler": "sobol", "samples": 200, "batch_size": 25, "seed": 5}
    space = load_space(write_space(tmp_path, raw))
    remote = run_search(space, tmp_path / "ray", backend="ray", progress=False).frame()
    assert not local_ray.exists()  # one worker did die mid-batch
    local = run_search(space, tmp_path / "local", progress=False).frame()
    assert len(remote) == 200 and remote["id"].is_unique
    pd.testing.assert_frame_equal(remote.drop(columns="batch"), local.drop(columns="batch"), check_like=True)
