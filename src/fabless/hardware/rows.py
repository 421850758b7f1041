"""Chips and systems as plain rows (one dict per row): the summary list, a side-by-side
comparison, and every field of one chip with its source. ``tables`` wraps these in pandas
DataFrames; the CLI prints them directly, so that listing chips does not import pandas."""

from __future__ import annotations

from fabless.hardware.prices import buy_price, rent_price
from fabless.hardware.presets import all_chips, all_systems, load_chip
from fabless.hardware.schema import Chip, System
from fabless.provenance import numeric_leaves


def _summary(chip: Chip) -> dict:
    hbm = chip.memory.hbm
    return {
        "name": chip.name,
        "vendor": chip.vendor,
        "kind": chip.kind,
        "node": chip.physical.process_node,
        "bf16_tflops": chip.compute.peak_tflops.bf16,
        "fp8_tflops": chip.compute.peak_tflops.fp8,
        "hbm_gb": hbm.capacity_bytes / 1e9,
        "hbm_tb_s": hbm.bandwidth_gb_s / 1e3,
        "tdp_w": chip.physical.tdp_w,
    }


def chips_rows(chips: list[Chip] | None = None) -> list[dict]:
    """One row per chip: name, vendor, kind, node, bf16/fp8 TFLOPS, HBM GB and TB/s, TDP W."""
    return [_summary(c) for c in (chips or all_chips())]


def systems_rows(systems: list[System] | None = None) -> list[dict]:
    """One row per system: chip, chip count, scale-up domain, bandwidths, bf16 PFLOPS."""
    rows = []
    for s in systems or all_systems():
        bf16 = s.chip.compute.peak_tflops.bf16
        su = s.chip.links.scale_up
        rows.append({
            "name": s.name,
            "chip": s.chip.name,
            "chips": s.chips,
            "chips_per_node": s.chips_per_node,
            "scale_up_size": s.scale_up.size,
            "scale_up_topology": s.scale_up.topology + (f" {'x'.join(map(str, s.scale_up.torus_dims))}" if s.scale_up.torus_dims else ""),
            "scale_up_gb_s_per_chip": su.bidir_gb_s if su else None,
            "scale_out_gbit_s_per_chip": (s.scale_out_bytes_per_s or 0) * 8 / 1e9 or None,
            "bf16_pflops": bf16 * s.chips * (s.cpu_cores or s.chip.compute.cores) / s.chip.compute.cores / 1e3 if bf16 else None,
            "hbm_tb": (s.memory_gib * 2**30 if s.memory_gib is not None else s.chips * s.chip.memory.hbm.capacity_bytes) / 1e12,
        })
    return rows


#: Metrics for a side-by-side comparison: (label, function of chip, higher is better).
COMPARE_METRICS = [
    ("bf16 TFLOPS (dense)", lambda c: c.compute.peak_tflops.bf16),
    ("fp8 TFLOPS (dense)", lambda c: c.compute.peak_tflops.fp8),
    ("int8 TOPS (dense)", lambda c: c.compute.peak_tflops.int8),
    ("HBM GB", lambda c: c.memory.hbm.capacity_bytes / 1e9),
    ("HBM TB/s", lambda c: c.memory.hbm.bandwidth_gb_s / 1e3),
    ("on-chip SRAM MB", lambda c: c.memory.on_chip_bytes / 1e6 or None),
    ("scale-up GB/s (bidir)", lambda c: c.links.scale_up.bidir_gb_s if c.links.scale_up else None),
    ("scale-out Gbit/s", lambda c: c.links.scale_out.bandwidth_gbit_s if c.links.scale_out else None),
    ("TDP W", lambda c: c.physical.tdp_w),
    ("bf16 TFLOPS per W", lambda c: _div(c.compute.peak_tflops.bf16, c.physical.tdp_w)),
    ("FLOP per HBM byte (bf16)", lambda c: _div(c.compute.peak_tflops.bf16 and c.compute.peak_tflops.bf16 * 1e3, c.memory.hbm.bandwidth_gb_s)),
    ("die area mm2 (per die)", lambda c: c.physical.die_area_mm2),
    ("compute dies", lambda c: c.physical.dies),
    ("purchase price USD (list, else street)", lambda c: _usd(buy_price(c))),
    ("cloud USD per chip-hour (on-demand)", lambda c: _usd(rent_price(c))),
    ("bf16 TFLOPS per cloud USD/h", lambda c: _div(c.compute.peak_tflops.bf16, _usd(rent_price(c)))),
]


def _usd(rec):
    return rec.usd if rec is not None else None


def _div(a, b):
    return a / b if a is not None and b else None


def compare_rows(refs: list[str | Chip]) -> list[dict]:
    """One row per metric: ``metric``, then one key per chip, then ``A/B`` ratios of each
    chip to the first one (``None`` where either is unknown)."""
    chips = [load_chip(r) for r in refs]
    data: dict[str, list] = {"metric": [m for m, _ in COMPARE_METRICS]}
    for c in chips:
        data[c.name] = [f(c) for _, f in COMPARE_METRICS]
    base = chips[0].name
    for c in chips[1:]:
        data[f"{c.name}/{base}"] = [_div(x, y) for x, y in zip(data[c.name], data[base])]
    return [dict(zip(data, values)) for values in zip(*data.values())]


def field_rows(chip: Chip | System) -> list[dict]:
    """Every numeric field of a chip (or of a system, without its chip) with its value,
    confidence, source and note."""
    rows = []
    data = chip.model_dump(exclude={"chip"}) if isinstance(chip, System) else chip
    for path, value in numeric_leaves(data).items():
        src = chip.provenance.get(path)
        rows.append({
            "field": path,
            "value": value,
            "confidence": src.confidence if src else None,
            "source": src.source if src else None,
            "note": src.note if src else None,
        })
    return rows
