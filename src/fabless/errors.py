"""The one error type users see.

Every mistake a user can make (a wrong field, unit or value, an unknown preset,
a design that cannot be built) raises :class:`FablessError` with a single line
that names what is wrong and what would be right. The CLI prints that line and
exits with status 2; nothing else is printed and nothing is half-written.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable


class FablessError(Exception):
    """A user-facing error: ``str(err)`` is one line, fit to print as is."""

    exit_code = 2

    def __init__(self, message: str):
        # One line, always: a newline in a message would break `2>err; head -1`.
        super().__init__(" ".join(str(message).split()))


class InfeasibleDesign(FablessError):
    """A design that cannot be built or run: over the reticle, over its power
    budget, a model that does not fit in memory. Reported, never evaluated."""


#: The same class under the short name the issue tracker and the docs use.
Infeasible = InfeasibleDesign


class InvalidInput(FablessError):
    """A value, field, flag or file that is wrong as given (type, unit, range, format)."""


class UnknownPreset(FablessError):
    """A name that is not in a catalogue (chip, system, model, software stack, ...)."""


class NoSystemPreset(UnknownPreset):
    """A chip that no system preset is built from (a design file, or a chip without one): the
    caller needs a system for it (tco and fleet place it in the scenario's system)."""


def require(module: str, extra: str, what: str):
    """Import an optional dependency, or raise one line naming the ``pip install`` that brings it
    (``what`` says what needs it, e.g. "fabless explore's result store")."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise FablessError(f"{what} needs {module.split('.')[0]}: pip install 'fabless[{extra}]'") from None


def suggest(name: str, choices: Iterable[str], n: int = 3) -> str:
    """A '; did you mean a, b?' tail listing the closest of ``choices``, or ''."""
    close = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.4)
    return f"; did you mean {', '.join(close)}?" if close else ""


def unknown_name_error(kind: str, name: str, choices: Iterable[str]) -> UnknownPreset:
    """An error for a name that is not in a catalogue, with the closest matches."""
    choices = sorted(choices)
    tail = suggest(name, choices)
    if not tail:
        shown = ", ".join(choices[:8]) + (", ..." if len(choices) > 8 else "")
        tail = f"; known {kind}s: {shown}"
    return UnknownPreset(f"unknown {kind} '{name}'{tail}")
