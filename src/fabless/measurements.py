"""The published measurements shipped with fabless (``data/measurements/*.csv``), read as rows.

A data-access module at the bottom of the layers: the validation (:mod:`fabless.validate`)
scores the rows, and the power model (:mod:`fabless.economics.power`) reads the measured
max-achievable GEMM rows it derives sustained clocks from; neither reaches into the other.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources
from pathlib import Path

MEASUREMENTS_DIR = Path(str(resources.files("fabless") / "data" / "measurements"))


def load_rows(directory: str | Path | None = None) -> list[dict]:
    """Every row of every CSV in the measurements directory (column -> text, plus ``_file``)."""
    d = Path(directory) if directory else MEASUREMENTS_DIR
    rows: list[dict] = []
    for path in sorted(d.glob("*.csv")):
        with open(path, newline="") as fh:
            for r in csv.DictReader(fh):
                rows.append({**r, "_file": path.name})
    return rows


@lru_cache(maxsize=1)
def rows_by_id() -> dict[str, dict]:
    """The shipped rows by id, read once."""
    return {r["id"]: r for r in load_rows()}


__all__ = ["MEASUREMENTS_DIR", "load_rows", "rows_by_id"]
