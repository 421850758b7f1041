"""Chips and systems as pandas DataFrames: the summary list, a side-by-side
comparison, and every field of one chip with its source (the rows of ``fabless.hardware.rows``)."""

from __future__ import annotations

import pandas as pd

from fabless.hardware.rows import COMPARE_METRICS, chips_rows, compare_rows, field_rows, systems_rows
from fabless.hardware.schema import Chip, System


def chips_table(chips: list[Chip] | None = None) -> pd.DataFrame:
    """One row per chip: name, vendor, kind, node, bf16/fp8 TFLOPS, HBM GB and TB/s, TDP W."""
    return pd.DataFrame(chips_rows(chips))


def systems_table(systems: list[System] | None = None) -> pd.DataFrame:
    """One row per system: chip, chip count, scale-up domain, bandwidths, bf16 PFLOPS."""
    return pd.DataFrame(systems_rows(systems))


def compare_chips(refs: list[str | Chip]) -> pd.DataFrame:
    """Metrics as rows, chips as columns, plus ``A/B`` ratio columns of each
    chip to the first one (``None`` where either is unknown)."""
    return pd.DataFrame(compare_rows(refs))


def chip_fields(chip: Chip | System) -> pd.DataFrame:
    """Every numeric field of a chip (or of a system, without its chip) with its value,
    confidence, source and note."""
    return pd.DataFrame(field_rows(chip))


__all__ = ["COMPARE_METRICS", "chips_table", "systems_table", "compare_chips", "chip_fields"]
