"""Design-space exploration: many chip designs, one workload, a Pareto front.

    space.yaml -> load_space -> samplers (grid/random/sobol) or NSGA-II (Optuna)
               -> Evaluator.evaluate (vectorised performance, power, area, cost)
               -> Store (DuckDB, batch by batch, resumable) -> pareto.front -> report

See docs/explore.md.
"""

from .evaluate import Evaluator
from .pareto import front, pareto_mask
from .run import run_search
from .samplers import total_designs, values_of
from .space import Space, load_space, space_from_dict
from .store import Store

__all__ = ["Evaluator", "Space", "Store", "front", "load_space", "pareto_mask", "run_search", "space_from_dict",
           "total_designs", "values_of"]

from fabless.callmod import make_callable  # noqa: E402

make_callable(__name__, "explore")  # fabless.explore(...) is the public API function (docs/api.md)
