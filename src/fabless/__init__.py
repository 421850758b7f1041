"""fabless: buy GPUs, rent TPUs, or build your own accelerator.

Performance, cost and design-space models for AI accelerators, over a sourced
library of chips, systems and models. The public API re-exports the pieces a
notebook user reaches for first; everything else lives in its sub-package.
"""

from fabless.errors import FablessError

__version__ = "0.1.0"

__all__ = ["FablessError", "__version__"]
