"""fabless: buy GPUs, rent TPUs, or build your own accelerator.

Performance, cost and design-space models for AI accelerators, over a sourced library of
chips, systems and models. The public API (docs/api.md)::

    import fabless
    fabless.load_chip("h100-sxm"), fabless.load_system("dgx-h100"), fabless.load_model("llama-3.1-70b")
    fabless.estimate("examples/scenarios/llama-70b-serving-dgx-h100.yaml").metrics
    fabless.serve(scenario, concurrency=32).summary, fabless.cost("b200").unit_usd
    fabless.tco(scenario, ["h100-sxm", "tpu-v6e"]), fabless.breakeven(scenario, custom, gpu)
    fabless.explore("examples/openai-xpu/space.yaml", "out/"), fabless.validate(["kernel"])

The names are loaded on first use (``import fabless`` stays light: the CLI starts fast).
"""

from fabless.callmod import lazy_exports
from fabless.errors import FablessError, Infeasible, InfeasibleDesign, InvalidInput, NoSystemPreset, UnknownPreset

__version__ = "0.1.0"

_API = ("Plan", "Scenario", "ServeResult", "breakeven", "cost", "estimate", "explore", "load_chip", "load_model",
        "load_system", "scenario", "serve", "tco", "validate")


__getattr__ = lazy_exports(__name__, dict.fromkeys(_API, "fabless.api"))


def __dir__():
    return sorted([*globals(), *_API])


__all__ = ["FablessError", "Infeasible", "InfeasibleDesign", "InvalidInput", "NoSystemPreset", "UnknownPreset",
           "__version__", *_API]
