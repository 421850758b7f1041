"""Hardware: chips and systems, their schema, the shipped presets, and tables over them."""

from fabless.callmod import lazy_exports
from fabless.hardware.presets import (
    all_chips,
    all_systems,
    chip_names,
    load_chip,
    load_system,
    system_names,
)
from fabless.hardware.schema import DTYPE_BYTES, DTYPES, Chip, System

#: The table functions build pandas DataFrames; pandas is imported when one is first used, so
#: that importing the chip schema (every command does) does not pay for it.
_TABLES = ("chip_fields", "chips_table", "compare_chips", "systems_table")


__getattr__ = lazy_exports(__name__, dict.fromkeys(_TABLES, "tables"))

__all__ = [
    "Chip", "System", "DTYPES", "DTYPE_BYTES",
    "load_chip", "load_system", "chip_names", "system_names", "all_chips", "all_systems",
    "chips_table", "systems_table", "compare_chips", "chip_fields",
]
