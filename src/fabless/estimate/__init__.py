"""Estimates of a model on a system: scenarios, parallel plans, and the engine.

    from fabless.estimate import estimate, load_scenario
    est = estimate(load_scenario("examples/scenarios/llama-70b-serving-dgx-h100.yaml"))
    est.metrics["ttft_s"], est.to_dict()
"""

from fabless.estimate.engine import Estimate, Plan, estimate
from fabless.estimate.scenario import Scenario, load_scenario, scenario_from_dict

__all__ = ["Estimate", "Plan", "Scenario", "estimate", "load_scenario", "scenario_from_dict"]
