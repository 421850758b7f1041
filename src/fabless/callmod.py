"""Sub-packages that are also the public API's functions.

``fabless.estimate``, ``fabless.serve``, ``fabless.explore`` and ``fabless.validate`` are both
packages and the functions of the public API (docs/api.md). Once a sub-package is imported,
Python binds the package attribute to the module, so each such package makes its module
callable: ``fabless.estimate(scenario)`` runs :func:`fabless.api.estimate` while
``fabless.estimate.engine`` stays the module.
"""

from __future__ import annotations

import importlib
import sys
import types


def make_callable(module_name: str, api_name: str) -> None:
    """Let the module ``module_name`` be called as :func:`fabless.api.<api_name>` (imported on call)."""

    class _CallableModule(types.ModuleType):
        def __call__(self, *args, **kwargs):
            return getattr(importlib.import_module("fabless.api"), api_name)(*args, **kwargs)

    _CallableModule.__call__.__doc__ = f"fabless.api.{api_name}: see docs/api.md"
    sys.modules[module_name].__class__ = _CallableModule


__all__ = ["make_callable"]
