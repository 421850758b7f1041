"""Printing results: Rich tables for people, JSON for machines.

Every command that prints results takes ``--json``; both paths go through
here so that numbers look the same everywhere (tables: :mod:`fabless.report.format`).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fabless.report.format import cell, is_numeric

console = Console()
if not console.is_terminal:
    # Piped or captured output has no width to fit; 80 columns would cut wide tables
    # (tco, compare) into ellipses, so print them at a width a file or pager can show.
    console = Console(width=160)
err_console = Console(stderr=True)


def _plain(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None, models to dicts."""
    if hasattr(obj, "model_dump"):
        return _plain(obj.model_dump())
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def print_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(_plain(obj), indent=2) + "\n")


def table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    title: str | None = None,
    caption: str | None = None,
) -> Table:
    """A Rich table; numbers (raw, or text from :mod:`fabless.report.format`) right-aligned,
    raw ones written by :func:`~fabless.report.format.num`."""
    rows = list(rows)
    t = Table(title=title, caption=caption, header_style="bold")
    for i, col in enumerate(columns):
        numeric = bool(rows) and all(is_numeric(r[i]) for r in rows)
        t.add_column(col, justify="right" if numeric else "left", no_wrap=(i == 0))
    for r in rows:
        t.add_row(*(cell(v) for v in r))
    return t


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None, caption: str | None = None) -> None:
    console.print(table(columns, rows, title=title, caption=caption))


class _NoBar:
    def update(self, done: int | None = None, total: int | None = None, text: str | None = None) -> None:
        pass


class _Bar:
    def __init__(self, prog: Any, task: Any) -> None:
        self._prog, self._task = prog, task

    def update(self, done: int | None = None, total: int | None = None, text: str | None = None) -> None:
        """Move the bar: ``done`` of ``total`` steps (total None: unknown), ``text`` beside it."""
        fields: dict[str, Any] = {}
        if done is not None:
            fields["completed"] = done
        if total is not None:
            fields["total"] = total
        if text is not None:
            fields["text"] = text
        self._prog.update(self._task, **fields)


@contextmanager
def progress(label: str, total: int | None = None, enabled: bool = True) -> Iterator[_Bar | _NoBar]:
    """A progress bar on stderr while a long run works (label, bar, done/total, a line of text,
    elapsed time), removed when it ends. Nothing is shown when ``enabled`` is False (``--json``)
    or stderr is not a terminal, so piped and captured output stay clean."""
    if not (enabled and err_console.is_terminal):
        yield _NoBar()
        return
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[text]}"),
                  TimeElapsedColumn(), console=err_console, transient=True) as prog:
        yield _Bar(prog, prog.add_task(label, total=total, text=""))
