"""The ``--html FILE`` and ``--plot FILE.png`` options every computing command shares.

A command checks both targets before its work (:func:`check`: suffix, folder, the report
extra), then hands its ``--json`` dict to :func:`emit`, which writes the report and the PNG
(:mod:`fabless.report.html`) and says where on stderr (stdout stays the command's own output).
"""

from __future__ import annotations

import shlex
import sys

import typer

HTML = typer.Option(None, "--html", help="Also write an interactive HTML report to FILE (self-contained: opens offline). "
                    "Needs the report extra: pip install 'fabless[report]'.")
PLOT = typer.Option(None, "--plot", help="Also write the main figure as a PNG to FILE.png (plotly, kaleido and Chromium: "
                    "pip install 'fabless[report]').")


def check(html: str | None, plot: str | None) -> None:
    """Refuse an output that cannot be written before any work (one line, exit 2)."""
    if html is None and plot is None:
        return
    from fabless.report.html import check_targets

    check_targets(html, plot)


def emit(kind: str, data, html: str | None, plot: str | None, *, inputs: dict | None = None, title: str | None = None) -> None:
    """Write the ``kind`` report of ``data`` to ``html`` and its main figure to ``plot`` (either
    may be None); ``inputs`` (flag -> value) is listed in the page's footer."""
    if html is None and plot is None:
        return
    from fabless.cli import current_argv
    from fabless.report.console import err_console
    from fabless.report.html import write_html, write_png

    report = {"rows": data} if isinstance(data, list) else dict(data)
    report["inputs"] = {"command": shlex.join(["fabless", *(current_argv or sys.argv[1:])]), **{k: v for k, v in (inputs or {}).items() if v is not None}}
    if html is not None:
        write_html(html, kind, report, title=title)
        err_console.print(f"report: {html}")
    if plot is not None:
        write_png(plot, kind, report)
        err_console.print(f"plot: {plot}")
