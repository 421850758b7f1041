"""Consistency checks that catch data-entry errors in a chip description.

Each check compares a stated figure with the same figure derived from other
fields (peak FLOPS from units x MACs x clock, HBM bandwidth from stacks x
per-stack bandwidth, ...). They return messages; an empty list means the
description agrees with itself.
"""

from __future__ import annotations

from fabless.hardware.schema import DTYPES, Chip
from fabless.provenance import numeric_leaves

#: Relative disagreement tolerated between a stated and a derived figure.
TOLERANCE = 0.03


def _off(stated: float, derived: float) -> float:
    return abs(derived - stated) / stated


def peak_flops_issues(chip: Chip, tol: float = TOLERANCE) -> list[str]:
    """Stated peak vs matrix units x MACs/cycle x 2 x clock, for each datatype the units list."""
    out = []
    mu = chip.compute.matrix_units
    if mu is None:
        return out
    for dtype in DTYPES:
        stated = chip.compute.peak_tflops.get(dtype)
        derived = chip.derived_peak_tflops(dtype)
        if stated is None or derived is None:
            continue
        if _off(stated, derived) > tol:
            out.append(
                f"peak {dtype}: stated {stated:g} TFLOPS but units x MACs x clock gives {derived:.4g} "
                f"({_off(stated, derived):.1%} off)"
            )
    return out


def memory_issues(chip: Chip, tol: float = TOLERANCE) -> list[str]:
    """HBM bandwidth and capacity vs stacks x per-stack figures."""
    out = []
    hbm = chip.memory.hbm
    if hbm.stacks and hbm.per_stack_gb_s:
        derived = hbm.stacks * hbm.per_stack_gb_s
        if _off(hbm.bandwidth_gb_s, derived) > tol:
            out.append(f"HBM bandwidth: stated {hbm.bandwidth_gb_s:g} GB/s but {hbm.stacks} stacks x {hbm.per_stack_gb_s:g} = {derived:g}")
    if hbm.stacks and hbm.per_stack_capacity_gb:
        derived = hbm.stacks * hbm.per_stack_capacity_gb
        stated = hbm.capacity_bytes / 1e9
        # Vendors quote binary stack sizes in "GB"; accept either reading.
        if min(_off(stated, derived), _off(stated, derived * 2**30 / 1e9)) > tol:
            out.append(f"HBM capacity: stated {stated:g} GB but {hbm.stacks} stacks x {hbm.per_stack_capacity_gb:g} GB = {derived:g}")
    return out


def link_issues(chip: Chip, tol: float = TOLERANCE) -> list[str]:
    su = chip.links.scale_up
    if su and su.links and su.link_bidir_gb_s:
        derived = su.links * su.link_bidir_gb_s
        if _off(su.bidir_gb_s, derived) > tol:
            return [f"scale-up: stated {su.bidir_gb_s:g} GB/s but {su.links} links x {su.link_bidir_gb_s:g} = {derived:g}"]
    return []


def consistency_issues(chip: Chip) -> list[str]:
    """Every disagreement between a chip's stated and derived figures."""
    return peak_flops_issues(chip) + memory_issues(chip) + link_issues(chip)


def unsourced_numbers(chip_or_system) -> list[str]:
    """Dotted paths of numeric fields the file sets that carry no source
    (schema defaults, such as one instance of a shared cache, need none)."""
    leaves = numeric_leaves(chip_or_system.model_dump(exclude={"chip"}, exclude_unset=True))
    return [p for p in leaves if p not in chip_or_system.provenance]
