"""Estimates of a model on a system: scenarios, parallel plans, and the engine.

    from fabless.estimate import estimate, load_scenario
    est = estimate(load_scenario("examples/scenarios/llama-70b-serving-dgx-h100.yaml"))
    est.metrics["ttft_s"], est.to_dict()
    bands_for(est)["ttft_s"]  # {"lo", "hi", "regime", "n"} or "unvalidated" (docs/validation.md)
"""

from fabless.bands import bands_for
from fabless.estimate.engine import Estimate, Plan, estimate
from fabless.estimate.scenario import Scenario, load_scenario, scenario_from_dict

__all__ = ["Estimate", "Plan", "Scenario", "bands_for", "estimate", "load_scenario", "scenario_from_dict"]

from fabless.callmod import make_callable  # noqa: E402

make_callable(__name__, "estimate")  # fabless.estimate(...) is the public API function (docs/api.md)
