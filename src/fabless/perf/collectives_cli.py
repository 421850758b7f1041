"""`fabless op allreduce|allgather|reducescatter|alltoall|p2p`: one collective on a system."""

from __future__ import annotations

import numpy as np
import typer

from fabless.bands import band_text, json_fields, op_band
from fabless import bounds
from fabless.bounds import whole_number
from fabless.errors import FablessError
from fabless.hardware.presets import load_system
from fabless.perf.collectives import PLACEMENTS, collective_time
from fabless.report.console import print_json, print_table
from fabless.units import GIB, KIB, parse_bytes

collectives_app = typer.Typer(
    help="Collectives on a system's topology: time and bus bandwidth (nccl-tests convention).",
    no_args_is_help=True,
)

SYSTEM = typer.Option(..., "--system", help="A system preset (see `fabless systems list`) or a system YAML file.")
CHIPS = typer.Option(None, "--chips", help="Chips in the group (default: one scale-up domain of the system). More chips than the system holds are several such systems joined by its scale-out network, and the output says how many.")
BYTES = typer.Option("1GiB", "--bytes", help="Message size per chip, nccl-tests convention: 1GiB, 512MB, 4096.")
SWEEP = typer.Option(False, "--sweep", help="A table of sizes from 1 KiB to 16 GiB (x4 steps) instead of one size.")
PLACEMENT = typer.Option("auto", "--placement", help="packed (fill a scale-up domain first; = auto) or spread (one chip per domain).")
JSON = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")
SHAPE = typer.Option(None, "--shape", help="Torus systems only: the group's extent along each torus dimension, e.g. 4x2 or 1x4x2 (default: whole dimensions first, then a compact block).")

SWEEP_BYTES = np.array([KIB * 4**i for i in range(13)], dtype=float)  # 1 KiB ... 16 GiB
assert SWEEP_BYTES[-1] == 16 * GIB


def _human_bytes(n: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size and n % size == 0:
            return f"{int(n // size)} {unit}"
    return f"{n:g} B"


def _parse_shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        raise FablessError(f"--shape must be sizes joined by 'x', e.g. 4x2, got '{text}'") from None
    if not shape or min(shape) < 1 or len(shape) > 8 or max(shape) > bounds.MAX_CHIPS:
        raise FablessError(f"--shape sizes must be 1 to {bounds.MAX_CHIPS:,}, at most 8 of them, got '{text}'")
    return shape


def _run(kind: str, system_ref: str, chips: int | None, size: str, sweep: bool, placement: str, as_json: bool,
         shape: str | None = None) -> None:
    system = load_system(system_ref)
    group_shape = _parse_shape(shape)
    if placement not in PLACEMENTS:
        raise FablessError(f"--placement must be one of {', '.join(PLACEMENTS)}, got '{placement}'")
    if chips is None:
        chips = 2 if kind == "send_recv" else min(system.scale_up.size, system.chips)
    # More chips than the system holds is several systems joined by its scale-out network.
    whole_number(chips, "--chips", hi=bounds.MAX_CHIPS, unit="chips")
    if kind == "send_recv" and chips != 2:
        raise FablessError(f"p2p is between two chips: use --chips 2 (or leave it out), got {chips}")
    sizes = SWEEP_BYTES if sweep else np.array([parse_bytes(size, "--bytes")])
    if not sweep and sizes[0] <= 0:
        raise FablessError(f"--bytes must be more than 0, got '{size}'")
    res = collective_time(kind, sizes, chips, system, placement=placement, group_shape=group_shape)
    rows = []
    for i, s in enumerate(sizes):
        rows.append({
            "bytes": float(s), "time_s": float(res.time_s[i]),
            "algbw_gbps": float(res.algbw_bytes_per_s[i]) / 1e9, "busbw_gbps": float(res.busbw_bytes_per_s[i]) / 1e9,
            "algorithm": str(res.algorithm[i]), "bound": str(res.bound[i]),
        })
        r = rows[-1]
        bands = {"time_s": op_band(r["time_s"], "time", "comm", system.chip.name, r["bound"]),
                 "busbw_gbps": op_band(r["busbw_gbps"], "rate", "comm", system.chip.name, r["bound"])}
        r.update(json_fields(bands))
        r["_band_text"] = band_text(bands["time_s"], 1e6, "us")
    head = {"kind": res.kind, "system": system.name, "chips": res.group_size, "span": res.span}
    texts = [r.pop("_band_text") for r in rows]
    if as_json:
        print_json({**head, "sizes": rows} if sweep else {**head, **rows[0]})
        return
    title = f"{res.kind} on {system.name}, {res.group_size} chips ({res.span.replace('_', '-')}); GB/s = 1e9 bytes/s"
    if chips > system.chips:
        title += (f"\n{chips:,} chips are {-(-chips // system.chips):,} x {system.name} ({system.chips:,} chips each) "
                  f"joined by its scale-out network")
    print_table(
        ["size", "time (us)", "algbw GB/s", "busbw GB/s", "algorithm", "bound", "80% band of the time"],
        [[_human_bytes(r["bytes"]), r["time_s"] * 1e6, r["algbw_gbps"], r["busbw_gbps"], r["algorithm"], r["bound"], t]
         for r, t in zip(rows, texts)],
        title=title,
        caption="busbw = algbw x 2(n-1)/n (all-reduce), x (n-1)/n (all-gather, reduce-scatter, all-to-all), x 1 (p2p)",
    )


@collectives_app.command("allreduce")
def allreduce(system: str = SYSTEM, chips: int = CHIPS, size: str = BYTES, sweep: bool = SWEEP, placement: str = PLACEMENT, json: bool = JSON,
              shape: str = SHAPE) -> None:
    """All-reduce: time, algorithm bandwidth and bus bandwidth.

    Example: fabless op allreduce --system dgx-h200 --chips 8 --bytes 1GiB
    """
    _run("all_reduce", system, chips, size, sweep, placement, json, shape)


@collectives_app.command("allgather")
def allgather(system: str = SYSTEM, chips: int = CHIPS, size: str = BYTES, sweep: bool = SWEEP, placement: str = PLACEMENT, json: bool = JSON,
              shape: str = SHAPE) -> None:
    """All-gather (--bytes is the gathered output per chip).

    Example: fabless op allgather --system dgx-h100 --chips 8 --sweep
    """
    _run("all_gather", system, chips, size, sweep, placement, json, shape)


@collectives_app.command("reducescatter")
def reducescatter(system: str = SYSTEM, chips: int = CHIPS, size: str = BYTES, sweep: bool = SWEEP, placement: str = PLACEMENT, json: bool = JSON,
                  shape: str = SHAPE) -> None:
    """Reduce-scatter (--bytes is the input per chip).

    Example: fabless op reducescatter --system tpu-v5p-pod --chips 64 --bytes 256MiB
    """
    _run("reduce_scatter", system, chips, size, sweep, placement, json, shape)


@collectives_app.command("alltoall")
def alltoall(system: str = SYSTEM, chips: int = CHIPS, size: str = BYTES, sweep: bool = SWEEP, placement: str = PLACEMENT, json: bool = JSON,
             shape: str = SHAPE) -> None:
    """All-to-all (--bytes is the whole send buffer per chip, 1/n to each member).

    Example: fabless op alltoall --system dgx-h100 --chips 64 --bytes 64MiB
    """
    _run("all_to_all", system, chips, size, sweep, placement, json, shape)


@collectives_app.command("p2p")
def p2p(system: str = SYSTEM, chips: int = CHIPS, size: str = BYTES, sweep: bool = SWEEP, placement: str = PLACEMENT, json: bool = JSON) -> None:
    """Point-to-point send/recv between two chips (--placement spread: across domains).

    Example: fabless op p2p --system dgx-h100 --bytes 1GiB --placement spread
    """
    _run("send_recv", system, chips, size, sweep, placement, json)
