"""`fabless validate`: the models against published measurements, with their error."""

from __future__ import annotations

import typer

from fabless.report import output_cli
from fabless.report.console import console, print_json, print_table, progress
from fabless.report.format import pct
from fabless.validate.core import category_bands, evaluate, family_group, summarise, write_csv

validate_app = typer.Typer(help="Compare the models with published measurements and print their error.")


@validate_app.command("validate")
def validate(
    category: list[str] = typer.Option(None, "--category", help="kernel, comm, train, infer, serve or cpu (repeatable; default: all)."),
    csv: str = typer.Option(None, "--csv", help="Also write the per-row table (measured, predicted, error, fit/held-out) to this CSV file."),
    json: bool = typer.Option(False, "--json", help="Print machine-readable JSON (summary and rows) instead of tables."),
    rows: bool = typer.Option(False, "--rows", help="Also print the per-row table."),
    by: str = typer.Option("family", "--by", help="Group the summary by vendor family (nvidia, amd, google-tpu, aws, ..., cpu) or by chip."),
    html: str = output_cli.HTML,
    plot: str = output_cli.PLOT,
) -> None:
    """Median and p90 absolute error per category and vendor family (or chip, --by chip), on
    held-out rows (the model's accuracy) and separately on the rows its parameters were fitted on.

    Example: fabless validate --category kernel --by chip --csv kernel-errors.csv
    """
    output_cli.check(html, plot)
    with progress("validating", enabled=not json) as bar:
        outcomes = evaluate(list(category) if category else None, on_row=lambda done, total: bar.update(done, total))
    summary = summarise(outcomes, by=by)
    if csv:
        write_csv(outcomes, csv)
    payload = {"summary": summary, "rows": [{**o.as_dict(), "family": family_group(o.chip)} for o in outcomes],
               "bands": category_bands(sorted({o.category for o in outcomes}))}
    output_cli.emit("validate", payload, html, plot, inputs={"category": ",".join(category) if category else "all", "by": by})
    if json:
        print_json(payload)
        return
    print_table(["category", by, "set", "n", "median |err|", "p90 |err|", "max |err|"],
                [[s["category"], s["chip"], s["set"], s["n"], *(None if s[k] is None else pct(s[k] / 100) for k in
                  ("median_abs_err_pct", "p90_abs_err_pct", "max_abs_err_pct"))] for s in summary],
                title="Model error against published measurements (held_out = not used for fitting)")
    if rows:
        print_table(["id", "chip", "set", "measured", "predicted", "error"],
                    [[o.id, o.chip, o.set, o.measured, o.predicted, None if o.error is None else pct(o.error, signed=True)]
                     for o in outcomes if o.skipped is None],
                    title="Rows")
    skipped = [o for o in outcomes if o.skipped]
    if skipped:
        console.print(f"{len(skipped)} row(s) skipped:")
        for o in skipped:
            console.print(f"  {o.id}: {o.skipped}")
