"""Design-space exploration: many chip designs, one workload, a Pareto front.

    space.yaml -> load_space -> samplers (grid/random/sobol) or NSGA-II (Optuna)
               -> Evaluator.evaluate (vectorised performance, power, area, cost)
               -> Store (DuckDB, batch by batch, resumable) -> pareto.front -> report

See docs/explore.md.
"""

from fabless.callmod import lazy_exports, make_callable

#: The package's names and the module each lives in; loaded on first use, so that importing
#: ``fabless.explore`` (the CLI's ``explore --help``) does not build the evaluator's tables.
_EXPORTS = {"Evaluator": "evaluate", "front": "pareto", "pareto_mask": "pareto", "run_search": "run",
            "total_designs": "samplers", "values_of": "samplers", "Space": "space", "load_space": "space",
            "space_from_dict": "space", "Store": "store"}


__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = sorted(_EXPORTS)


make_callable(__name__, "explore")  # fabless.explore(...) is the public API function (docs/api.md)
