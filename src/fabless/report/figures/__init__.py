"""Figure builders of the reports (``fabless.report.html``): one module per kind of report, each
with ``figures(data) -> list[plotly Figure]`` over the dict its command prints with ``--json``;
the first figure is the command's main one (``--plot FILE.png``)."""

from __future__ import annotations

from fabless.report.figures import breakeven, compare, cost, estimate, explore, fleet, serve, tco, validate

#: kind -> the module that draws it
BUILDERS = {"estimate": estimate, "serve": serve, "fleet": fleet, "cost": cost, "tco": tco, "breakeven": breakeven,
            "explore": explore, "validate": validate, "compare": compare}

__all__ = ["BUILDERS"]
