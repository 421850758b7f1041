"""Estimates of a model on a system: scenarios, parallel plans, and the engine.

    from fabless.estimate import estimate, load_scenario
    est = estimate(load_scenario("examples/scenarios/llama-70b-serving-dgx-h100.yaml"))
    est.metrics["ttft_s"], est.to_dict()
    bands_for(est)["ttft_s"]  # {"lo", "hi", "regime", "n"} or "unvalidated" (docs/validation.md)
"""

from fabless.callmod import lazy_exports, make_callable

#: The package's names and the module each lives in; loaded on first use, so that importing
#: ``fabless.estimate`` (the CLI's ``estimate --help``) does not build the engine.
_EXPORTS = {"bands_for": "fabless.bands", "Estimate": "fabless.estimate.engine", "Plan": "fabless.estimate.engine",
            "estimate": "fabless.estimate.engine", "Scenario": "fabless.estimate.scenario",
            "load_scenario": "fabless.estimate.scenario", "scenario_from_dict": "fabless.estimate.scenario"}


__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = sorted(_EXPORTS)


make_callable(__name__, "estimate")  # fabless.estimate(...) is the public API function (docs/api.md)
