"""`fabless chips ...` and `fabless systems ...`."""

from __future__ import annotations

import typer

from fabless.hardware.checks import consistency_issues
from fabless.hardware.presets import load_chip, load_system
from fabless.hardware.rows import chips_rows, compare_rows, field_rows, systems_rows
from fabless.report import output_cli
from fabless.report.console import console, print_json, print_table

JSON = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")

chips_app = typer.Typer(
    help="The chip library: list, show (with sources), compare, and check your own chip file.",
    no_args_is_help=True,
)
systems_app = typer.Typer(
    help="The system library: chips joined by a scale-up domain and a scale-out network.",
    no_args_is_help=True,
)


def _cells(rows: list[dict]) -> list[list]:
    return [list(r.values()) for r in rows]


@chips_app.command("list")
def chips_list(json: bool = JSON) -> None:
    """List every chip preset.

    Example: fabless chips list --json
    """
    rows = chips_rows()
    if json:
        print_json(rows)
        return
    print_table(
        ["name", "vendor", "kind", "node", "bf16 TFLOPS", "fp8 TFLOPS", "HBM GB", "HBM TB/s", "TDP W"],
        _cells(rows), title="Chips (dense peak figures)",
    )


def _listed(x) -> str:
    return ", ".join(x) if isinstance(x, (list, tuple)) else str(x)


@chips_app.command("show")
def chips_show(name: str = typer.Argument(..., help="A preset name (see `fabless chips list`) or a chip YAML file."), json: bool = JSON) -> None:
    """Every field of one chip, with its source and confidence, and the performance model's
    parameters for it (perf.*: its family's, or its own calibration's), each with its source.

    Example: fabless chips show h100-sxm
    """
    from fabless.perf.params import chip_parameters  # the CLI defers a command's modules (start-up)

    chip = load_chip(name)
    perf = chip_parameters(chip)
    if json:
        print_json({"chip": chip.model_dump(), "performance": perf, "consistency_issues": consistency_issues(chip)})
        return
    rows = field_rows(chip) + [
        {"field": f"perf.{k}", "value": v["value"], "confidence": v.get("confidence"), "source": v.get("source"),
         "note": "; ".join(x for x in (f"family {v.get('inherited_from') or perf['family']}",
                                        f"fitted on {_listed(v['fitted_on'])}" if v.get("fitted_on") else "",
                                        v.get("note") or "") if x)}
        for k, v in perf["parameters"].items()]
    print_table(["field", "value", "confidence", "source", "note"], _cells(rows), title=f"{chip.display_name} ({chip.name})")
    for note in chip.notes:
        console.print(f"note: {note}")


@chips_app.command("compare")
def chips_compare(names: list[str] = typer.Argument(..., help="Two or more chip presets or YAML files; ratios are to the first."), json: bool = JSON,
                  html: str = output_cli.HTML, plot: str = output_cli.PLOT) -> None:
    """Chips side by side, with ratios to the first.

    Example: fabless chips compare h100-sxm tpu-v5p trainium2
    """
    output_cli.check(html, plot)
    rows = compare_rows(names)
    output_cli.emit("compare", rows, html, plot, inputs={"chips": " ".join(names)}, title=f"fabless chips compare: {', '.join(names)}")
    if json:
        print_json(rows)
        return
    print_table(list(rows[0]), _cells(rows), title="Chip comparison (dense peaks; ratios to the first chip)")


@chips_app.command("validate")
def chips_validate(path: str = typer.Argument(..., help="Your chip YAML file."), json: bool = JSON) -> None:
    """Check a chip file: schema, units, and that its figures agree with each other.

    Exit status 2 on an error in the file; consistency findings are printed as warnings.

    Example: fabless chips validate examples/scenarios/hardware/my-chip.yaml
    """
    chip = load_chip(path)
    issues = consistency_issues(chip)
    if json:
        print_json({"name": chip.name, "valid": True, "consistency_issues": issues})
        return
    console.print(f"[green]ok[/green] {path}: {chip.display_name} is a valid chip description")
    for issue in issues:
        console.print(f"[yellow]warning[/yellow]: {issue}")


@systems_app.command("list")
def systems_list(json: bool = JSON) -> None:
    """List every system preset.

    Example: fabless systems list
    """
    rows = systems_rows()
    if json:
        print_json(rows)
        return
    print_table(
        ["name", "chip", "chips", "per node", "scale-up size", "scale-up topology", "scale-up GB/s/chip", "scale-out Gbit/s/chip", "bf16 PFLOPS", "HBM TB"],
        _cells(rows), title="Systems",
    )


@systems_app.command("show")
def systems_show(name: str = typer.Argument(..., help="A system preset or a system YAML file."), json: bool = JSON) -> None:
    """One system's fields, with their sources.

    Example: fabless systems show dgx-h100
    """
    system = load_system(name)
    if json:
        print_json(system.model_dump())
        return
    rows = field_rows(system)
    print_table(["field", "value", "confidence", "source", "note"], _cells(rows),
                title=f"{system.display_name} ({system.name}), chip {system.chip.name}")
    for note in system.notes:
        console.print(f"note: {note}")


@systems_app.command("validate")
def systems_validate(path: str = typer.Argument(..., help="Your system YAML file."), json: bool = JSON) -> None:
    """Check a system file (its chip may be a preset name or a chip file).

    Example: fabless systems validate examples/scenarios/hardware/my-chip-system.yaml
    """
    system = load_system(path)
    if json:
        print_json({"name": system.name, "valid": True})
        return
    console.print(f"[green]ok[/green] {path}: {system.display_name}, {system.chips} x {system.chip.name}")
