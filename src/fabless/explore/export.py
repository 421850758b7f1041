"""Front designs as chip (and system) YAML files that ``fabless estimate``, ``fabless cost``
and ``fabless tco`` accept.

A design file is the base chip with the varied parameters written in, and the numbers the
search's models produced (die area, TDP, unit cost) marked as such in their provenance.
It names the base chip's performance family (``perf_family``), as the search assumed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from fabless.hardware.presets import load_chip
from fabless.hardware.schema import Chip

from .evaluate import Evaluator

_MODEL = "fabless explore (vectorised area/power/cost models, fabless.explore.evaluate)"


def _hbm_name(gen: str) -> str:
    g = gen.lower()
    return g.upper().replace("E", "e") if g.startswith("hbm") else gen.upper()


def design_chip(ev: Evaluator, row: dict, space_name: str) -> dict:
    """The chip YAML mapping of one stored design (a row of the store)."""
    base: Chip = ev.base
    raw = base.model_dump(mode="json", exclude_none=True)
    raw.pop("provenance", None)
    vals = {k: row[k] for k in ev.space.params}
    d = {k: (v[0] if hasattr(v, "__len__") and not isinstance(v, str) else v)
         for k, v in ev.designs({k: __import__("numpy").asarray([v]) for k, v in vals.items()}).items()}
    cores = int(d["cores"])
    units = int(d["matrix_units"])
    clock = float(d["clock_mhz"])
    macs = d["mu_rows"] * d["mu_cols"] if ev.kind == "systolic_array" else d["macs_per_unit"]
    has8, has4 = "fp8" in d["dtypes"], "fp4" in d["dtypes"]
    mpc = {"bf16": float(macs), "fp16": float(macs * ev.rate["fp16"])}
    if has8:
        mpc.update(fp8=float(macs * ev.rate["fp8"]), int8=float(macs * ev.rate["int8"]))
    if has4:
        mpc.update(fp4=float(macs * ev.rate["fp4"]), int4=float(macs * ev.rate["int4"]))
    # unrounded: fabless estimate on the exported file reproduces explore's figures for the design
    peak = {k: units * v * 2 * clock * 1e6 / 1e12 for k, v in mpc.items()}
    name = f"{base.name}-explore-{space_name}-{int(row['id'])}"
    src = lambda v, note: {"value": v, "source": _MODEL, "confidence": "derived", "note": note}  # noqa: E731
    mu = {"kind": ev.kind, "count": units, "macs_per_cycle": mpc}
    if ev.kind == "systolic_array":
        mu.update(rows=int(d["mu_rows"]), cols=int(d["mu_cols"]))
        f = int(ev.reshape_factor({k: np.asarray([v]) for k, v in d.items() if k in ("mu_rows", "mu_cols", "cores")})[0])
        if f > 1:
            mu["reshape_factor"] = f
    compute = {"cores": cores, "core_kind": base.compute.core_kind, "matrix_units": mu, "peak_tflops": peak}
    if base.compute.vector_units:
        compute["vector_units"] = {"fp32_flops_per_cycle": base.compute.vector_units.fp32_flops_per_cycle / base.compute.cores * cores}
    on_chip = [{"name": "sram", "capacity_kib": float(d["sram_per_core_mib"]) * 1024, "instances": cores, "scope": "core"}]
    if d["sram_shared_mib"] > 0:
        on_chip.append({"name": "shared_sram", "capacity_kib": float(d["sram_shared_mib"]) * 1024, "scope": "chip"})
    stacks = int(d["hbm_stacks"])
    hbm = {"generation": _hbm_name(d["hbm_generation"]), "stacks": stacks,
           "capacity_gb": stacks * float(d["hbm_stack_gb"]), "bandwidth_gb_s": stacks * float(d["stack_gb_s"]),
           "per_stack_gb_s": float(d["stack_gb_s"]), "per_stack_capacity_gb": float(d["hbm_stack_gb"])}
    links = dict(raw.get("links", {}))
    if base.links.scale_up is not None:
        links["scale_up"] = {"technology": base.links.scale_up.technology, "links": int(d["links"]),
                             "link_bidir_gb_s": float(d["link_gb_s"]), "bidir_gb_s": float(d["links"] * d["link_gb_s"])}
    clock_d = {"boost_mhz": clock}
    if base.clock.sustained_mhz:
        clock_d["sustained_mhz"] = base.clock.sustained_mhz / base.clock.boost_mhz * clock
    physical = {"process_node": str(d["process_node"]), "dies": int(d["dies"]),
                "die_area_mm2": src(round(float(row["die_area_per_die_mm2"]), 1), "model area of one compute die"),
                "tdp_w": src(round(float(row["tdp_w"]), 1), "power at full bf16 load at the design clock"),
                "packaging": base.physical.packaging}
    price = {"list_usd": src(round(float(row["unit_cost_usd"]), 2),
                             "manufacturing cost per unit" + (" with the design partner's margin" if ev.space.economics.partner else ""))}
    return {
        "name": name, "display_name": f"{space_name} design {int(row['id'])} (from {base.display_name})",
        # the base chip's vendor first, so that `fabless estimate` on this file runs the same software
        # stack (data/estimate/software.yaml: the newest for the vendor) as explore ran the design with
        "vendor": f"{base.vendor} (fabless explore design)", "kind": base.kind, "architecture": base.architecture or "",
        **({"perf_family": base.perf_family} if base.perf_family else {}),
        "compute": compute, "clock": clock_d, "memory": {"on_chip": on_chip, "hbm": hbm}, "links": links,
        "physical": physical, "price": price,
        "notes": [f"Design {int(row['id'])} of the design space '{space_name}' (base chip {base.name}); "
                  f"parameters: " + ", ".join(f"{k}={vals[k]}" for k in vals)],
    }


def write_front(ev: Evaluator, front_df, folder: str | Path, space_name: str) -> list[Path]:
    """One ``<name>.yaml`` per front design (and ``<name>.system.yaml`` when the space has a
    system), each loaded back through the chip schema to prove it valid."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for _, row in front_df.iterrows():
        chip = design_chip(ev, row.to_dict(), space_name)
        p = folder / f"{chip['name']}.yaml"
        p.write_text(yaml.safe_dump(chip, sort_keys=False, width=120))
        load_chip(str(p))
        paths.append(p)
        if ev.system is not None:
            sysd = ev.system.model_dump(mode="json", exclude_none=True)
            sysd.pop("provenance", None)
            sysd.pop("chip", None)
            sysd["name"] = f"{chip['name']}-system"
            sysd["display_name"] = f"{ev.system.display_name} with {chip['name']}"
            sysd.pop("price_usd", None)
            sysd.pop("power_w", None)
            sysd = {"name": sysd.pop("name"), "display_name": sysd.pop("display_name"), "chip": p.name, **sysd}
            sp = folder / f"{chip['name']}.system.yaml"
            sp.write_text(yaml.safe_dump(sysd, sort_keys=False, width=120))
            paths.append(sp)
    return paths


__all__ = ["design_chip", "write_front"]
