"""Which chip preset a measurement row's ``hardware`` text means.

A small explicit table, checked in order (first match wins; put the more specific text
first). Each entry says why the preset stands for that hardware when they are not the same
product. Rows whose text matches nothing, or whose preset is not in this build, are
reported as skipped with the reason (:func:`chip_for_hardware`).
"""

from __future__ import annotations

from fabless.errors import FablessError
from fabless.hardware.presets import load_chip

#: (text the hardware field contains, lower case) -> (chip preset, note on the stand-in).
HARDWARE_CHIPS: list[tuple[str, str, str]] = [
    ("gh200", "h200-sxm", "GH200's GPU is the GH100 die of H100/H200 (132 SMs, 989 dense bf16 TFLOPS) with HBM3e; "
                          "the 900 W module power and 4.9 TB/s are not modelled"),
    ("h200", "h200-sxm", ""),
    # the PCIe card is another part (114 SMs, 756 dense bf16 TFLOPS against SXM's 132 and 989): no preset yet, so
    # its rows are skipped rather than taken as SXM
    ("h100 pcie", "h100-pcie", ""),
    ("h100", "h100-sxm", "rows that do not state the variant are taken as SXM"),
    ("a100 pcie", "a100-sxm", "same GA100 die and 312 TFLOPS dense bf16 peak; the PCIe card's lower power limit is not modelled"),
    ("a100", "a100-sxm", ""),
    ("mtia v2", "mtia-v2", ""),
    ("mtia v1", "mtia-v1", ""),
    ("gb300", "gb300", ""),
    # only the DGX-B300 text: the one other B300 row ("NVIDIA B300 SXM", kernel-265) is from a
    # source this project's validation holds back, so it stays unmapped
    ("dgx b300", "b300", ""),
    ("p6-b300", "b300", "AWS p6-b300.48xlarge: 8 x B300 SXM on NVLink (the seventh batch's Megatron-Bridge rows)"),
    ("gb200", "gb200", ""),
    ("b200", "b200", ""),
    # only the "Instinct MI355X" text: the one other MI355X row ("AMD MI355X", kernel-269) is from a
    # source this project's validation holds back, so it stays unmapped
    ("instinct mi355x", "mi355x", ""),
    ("mi325x", "mi325x", ""),
    ("mi300x", "mi300x", ""),
    ("gaudi 3", "gaudi3", ""),
    ("gaudi3", "gaudi3", ""),
    ("gaudi 2", "gaudi2", ""),
    ("gaudi2", "gaudi2", ""),
    # a row measured on one JAX device of a TPU7x chip (one of its two chiplets) is that chiplet
    ("ironwood chiplet", "tpu-v7-chiplet", ""),
    ("tpu v7", "tpu-v7", ""),
    ("ironwood", "tpu-v7", ""),
    ("tpu v6e", "tpu-v6e", ""),
    ("trillium", "tpu-v6e", ""),
    ("tpu v5p", "tpu-v5p", ""),
    ("tpu v5e", "tpu-v5e", ""),
    ("tpu v4", "tpu-v4", ""),
    ("trainium2", "trainium2", ""),
    ("trn2", "trainium2", ""),
    ("trainium1", "trainium1", ""),
    ("trn1", "trainium1", ""),
    ("graviton4", "graviton4", "EC2 instances renting part of a socket are system presets with their cores (cpu_cores)"),
    ("graviton3", "graviton3", ""),
    ("xeon platinum 8488c", "xeon-8488c", ""),
    ("inferentia2", "inferentia2", ""),
    ("inf2", "inferentia2", ""),
]


class Unmapped(Exception):
    """The row's hardware has no preset; ``str()`` says why."""


def preset_for_hardware(text: str) -> tuple[str, str]:
    """(preset name, stand-in note) for a hardware text; Unmapped if the table has none."""
    t = " ".join(str(text).lower().replace("-", " ").split())
    for key, preset, note in HARDWARE_CHIPS:
        if key.replace("-", " ") in t:
            return preset, note
    raise Unmapped(f"no chip preset for hardware '{text}'")


def chip_for_hardware(text: str):
    """The Chip a hardware text means; Unmapped when there is no preset (or it is not shipped yet)."""
    preset, _ = preset_for_hardware(text)
    try:
        return load_chip(preset)
    except FablessError:
        raise Unmapped(f"preset '{preset}' (for '{text}') is not in this build") from None
