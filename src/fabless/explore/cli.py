"""`fabless explore SPACE.yaml`: search a design space; `fabless explore --show RESULTS`: reopen one."""

from __future__ import annotations

import json as _json
import sys
from pathlib import Path

import numpy as np
import typer

from fabless import bounds
from fabless.bounds import whole_number
from fabless.errors import FablessError
from fabless.report import output_cli
from fabless.report.console import console, print_json, print_table
from fabless.report.format import num, pct

explore_app = typer.Typer(help="Design-space exploration: which chip to build for a workload.")



_SHORT = {"matrix_units": "units", "mu_rows": "rows", "mu_cols": "cols", "macs_per_unit": "macs", "cores": "cores",
          "clock_mhz": "MHz", "sram_per_core_mib": "MiB/core", "sram_shared_mib": "MiB shared", "hbm_generation": "",
          "hbm_stacks": "stacks", "hbm_stack_gb": "GB/stack", "links": "links", "link_gb_s": "GB/s/link",
          "process_node": "", "dtypes": "", "dies": "dies"}


def design_summary(row, space) -> str:
    """The varied parameters of one design, compactly: '16 units, 1800 MHz, hbm4, 8 stacks'."""
    parts = []
    for name in space.params:
        v = row[name]
        if isinstance(v, str):
            parts.append(v)
        else:
            v = float(v)
            parts.append(f"{num(round(v)) if v >= 10 or v == int(v) else num(v, 3)} {_SHORT[name]}")
    return ", ".join(parts)


def _front_rows(front, space, top: int):
    objs = [m for m, _ in space.objective_list]
    extra = [c for c in ("unit_cost_usd", "tdp_w") if c not in objs]
    cols = ["id", *objs, *extra, "design"]
    rows = []
    for _, r in front.head(top).iterrows():
        rows.append([int(r["id"]), *[float(r[c]) for c in objs + extra], design_summary(r, space)])
    return cols, rows


#: Feasible designs a report draws at most (an even sample of them beyond this).
MAX_POINTS = 3000


def _points(df, space) -> list[dict]:
    """The feasible designs (an even sample of MAX_POINTS where there are more): id, the
    objectives, unit cost, TDP and the varied parameters, for the report's scatter."""
    feas = df[df["feasible"]] if not df.empty else df
    if len(feas) > MAX_POINTS:
        feas = feas.iloc[np.linspace(0, len(feas) - 1, MAX_POINTS).astype(int)]
    cols = [c for c in dict.fromkeys(["id", *(m for m, _ in space.objective_list), "unit_cost_usd", "tdp_w", *space.params])
            if c in feas]
    return _json.loads(feas[cols].to_json(orient="records"))


def _chip_yaml(space, front, top: int) -> dict[str, str]:
    """Front design id -> its chip file (what --out/front/ holds), for the report's click."""
    import yaml

    from .evaluate import Evaluator
    from .export import design_chip

    ev = Evaluator(space)
    return {str(int(r["id"])): yaml.safe_dump(design_chip(ev, r.to_dict(), space.name), sort_keys=False, width=120)
            for _, r in front.head(top).iterrows()}


def _report(store, space, out: Path, *, top: int, json: bool, write: bool, plot: bool, html: str | None = None,
            png: str | None = None) -> None:
    from .analysis import plot_front, reference_points, sensitivity
    from .pareto import front as pareto_front

    html_out, png_out = html, png

    df = store.frame()
    fr = pareto_front(df, space.objective_list)
    n, nf = len(df), int(df["feasible"].sum()) if not df.empty else 0
    sens = sensitivity(df, space)
    paths: list[Path] = []
    png = None
    refs: list[dict] = []
    if write:
        from .evaluate import Evaluator
        from .export import write_front

        ev = Evaluator(space)
        paths = write_front(ev, fr.head(top), out / "front", space.name)
        fr.to_csv(out / "front.csv", index=False)
    html = None
    if plot:
        from .analysis import write_html

        refs = reference_points(space)
        png = plot_front(df, fr, refs, space, out / "front.png")
        html = write_html(fr.head(top), refs, sens, space, png, out / "front.html")
    if (html_out or png_out) and not refs:
        refs = reference_points(space)
    payload = {"designs": n, "feasible": nf, "objectives": [{"metric": m, "sense": s} for m, s in space.objective_list],
               "front": _json.loads(fr.head(top).to_json(orient="records")), "sensitivity": sens,
               "references": [{k: (v if not isinstance(v, float) or np.isfinite(v) else None) for k, v in r.items()}
                              for r in refs],
               "files": [str(p) for p in paths] + [str(f) for f in (png, html) if f],
               "space": space.name, "parameters": list(space.params)}
    if html_out or png_out:
        # what only the report draws: the feasible designs around the front, the front's chip files
        payload.update(points=_points(df, space), front_chip_yaml=_chip_yaml(space, fr, top))
    output_cli.emit("explore", payload, html_out, png_out, inputs={"space": space.name, "results": str(out), "top": top})
    if json:
        print_json(payload)
        return
    reasons = df.loc[~df["feasible"], "reason"].value_counts().head(3) if n else []
    why = "; ".join(f"{k} ({v:,})" for k, v in reasons.items()) if n - nf else "none"
    cols, rows = _front_rows(fr, space, top)
    print_table(cols, rows, title=f"{space.name}: Pareto front, {len(fr)} of {nf:,} feasible designs ({n:,} evaluated)",
                caption=f"best first by {space.objective_list[0][0]}; infeasible: {why}")
    if refs:
        objs = [m for m, _ in space.objective_list]
        print_table(["reference", *objs, "price basis", "infeasible because"],
                    [[r["name"], *[float(r[m]) if r["feasible"] else None for m in objs], r["price_basis"], r["reason"] or "-"]
                     for r in refs],
                    title="Shipped chips on the same workload (priced as bought, not as made)")
    if sens:
        objs = [m for m, _ in space.objective_list]
        print_table(["parameter", *objs], [[r["parameter"], *[pct(r[m]) for m in objs]] for r in sens],
                    title="Sensitivity: share of each objective's variance (log scale) explained by the parameter alone")
    if paths:
        console.print(f"front designs: {out / 'front'} ({len([p for p in paths if not p.name.endswith('.system.yaml')])} chip files)")
    if png:
        console.print(f"plot: {png}" + (f", {html}" if html else ""))


@explore_app.command("explore")
def explore(
    space_file: str = typer.Argument(None, help="The design-space YAML (see docs/explore.md)."),
    out: str = typer.Option(None, "--out", help="Results folder (default: <space name>-results). An existing one is resumed."),
    show: str = typer.Option(None, "--show", help="Reopen a finished (or interrupted) search's results folder."),
    sampler: str = typer.Option(None, "--sampler", help="grid, random, sobol or nsga2 (overrides search.sampler)."),
    samples: int = typer.Option(None, "--samples", help="Designs to evaluate (overrides search.samples)."),
    seed: int = typer.Option(None, "--seed", help="Seed (overrides search.seed)."),
    backend: str = typer.Option("local", "--backend", help="local, or ray (with --address of a running cluster)."),
    address: str = typer.Option(None, "--address", help="Ray cluster address, e.g. ray://head:10001 (default: start a local Ray)."),
    top: int = typer.Option(20, "--top", help="Front designs to print and write as chip YAML."),
    no_plot: bool = typer.Option(False, "--no-plot", help="Write no front.png and front.html in the results folder."),
    plot: str = output_cli.PLOT,
    html: str = output_cli.HTML,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show designs/s and the best so far."),
    json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Search a design space and print its Pareto front, best first.

    Writes each front design as a chip YAML (RESULTS/front/*.yaml, with a system file for
    `fabless estimate --system`), front.csv, front.png and front.html. Killed and started again, it
    resumes where it stopped.

    Example: fabless explore examples/openai-xpu/space.yaml --out xpu-results

    Example: fabless explore --show xpu-results
    """
    from .run import run_search
    from .space import load_space, space_from_dict
    from .store import Store

    whole_number(top, "--top", lo=0, hi=10_000, unit="designs")
    output_cli.check(html, plot)
    if samples is not None:
        whole_number(samples, "--samples", hi=bounds.MAX_DESIGNS, unit="designs")
    if seed is not None:
        whole_number(seed, "--seed", lo=0, hi=2**32 - 1)

    if show:
        store = Store(show, read_only=True)
        m = store.meta()
        if "space" not in m:
            raise FablessError(f"{show}: the store has no recorded space")
        space = space_from_dict(_json.loads(m["space"]), f"{show} (recorded space)")
        _report(store, space, Path(show), top=top, json=json, write=False, plot=not no_plot and not json, html=html, png=plot)
        return
    if not space_file:
        raise FablessError("give a design-space YAML (fabless explore SPACE.yaml) or --show RESULTS")
    space = load_space(space_file)
    upd = {k: v for k, v in (("sampler", sampler), ("samples", samples), ("seed", seed)) if v is not None}
    if upd:
        raw = space.model_dump(mode="json")
        raw["search"] = {**raw["search"], **upd}
        space = space_from_dict(raw, space_file)
    outp = Path(out or f"{space.name}-results")
    try:  # the results folder, made before any work (a name with a dot is still a folder)
        outp.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FablessError(f"--out {outp}: cannot make the results folder ({exc.strerror})") from None
    try:
        store = run_search(space, outp, backend=backend, address=address, progress=progress and not json)
    except KeyboardInterrupt as exc:
        # Every finished batch is already in the store (committed batch by batch): say what was
        # kept and how to go on, then leave with the interrupt's status (130).
        n = getattr(exc, "designs_kept", 0)
        print(f"error: interrupted; {n:,} designs are kept in {outp}: run the same command to resume, "
              f"or fabless explore --show {outp}", file=sys.stderr)
        raise typer.Exit(130) from None
    try:
        _report(store, space, outp, top=top, json=json, write=True, plot=not no_plot, html=html, png=plot)
    finally:
        store.close()


__all__ = ["explore_app"]
