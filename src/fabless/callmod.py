"""Sub-packages that are also the public API's functions, and that load their names lazily.

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


def lazy_exports(package: str, exports: dict[str, str]):
    """A module ``__getattr__`` that loads each of ``package``'s re-exported names from its module
    on first use (``exports``: name -> module, relative to ``package`` unless dotted from
    ``fabless``), so importing the package stays cheap (the CLI's start-up)."""

    def __getattr__(name: str):
        mod = exports.get(name)
        if mod is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(mod if mod.startswith("fabless.") else f"{package}.{mod}"), name)

    return __getattr__


__all__ = ["lazy_exports", "make_callable"]
