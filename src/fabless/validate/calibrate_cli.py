"""`fabless calibrate`: fit a chip's or system's model parameters to your own measurements."""

from __future__ import annotations

from pathlib import Path

import typer

from fabless.report.console import console, print_json, print_table
from fabless.report.format import pct
from fabless.validate.measured import FORMATS
from fabless.validate.measured.calibrate import calibrate_files, write

calibrate_app = typer.Typer()


@calibrate_app.command("calibrate")
def calibrate(
    files: list[str] = typer.Argument(..., help="Measurement files: nccl-tests output, a GEMM sweep CSV (m,n,k,dtype,time_us), a training log (Megatron, NeMo, or step,time_s CSV), vLLM benchmark_serving results."),
    chip: str = typer.Option(None, "--chip", help="The chip they ran on: a preset (h100-sxm) or a chip YAML file."),
    system: str = typer.Option(None, "--system", help="For collectives: the system they ran on (default: the preset built from the chip)."),
    out: str = typer.Option(None, "--out", help="Write the calibrated chip file (or system file, for collectives) here; without it nothing is written."),
    fmt: str = typer.Option(None, "--format", help=f"The files' format: {', '.join(FORMATS)} (default: told from the content)."),
    collective: str = typer.Option(None, "--collective", help="nccl-tests output that does not name its test: all_reduce, all_gather, reduce_scatter, alltoall, sendrecv."),
    ranks: int = typer.Option(None, "--ranks", help="nccl-tests output without its '#  Rank N ...' lines: how many ranks ran."),
    scenario: str = typer.Option(None, "--scenario", help="For a training log or serving results: the estimate scenario they ran (model, system, precision, parallel, batch/tokens)."),
    json: bool = typer.Option(False, "--json", help="Print machine-readable JSON (parameters, rows, summary)."),
) -> None:
    """Fit the model's parameters to your own measurements and write a chip or system file
    that every command accepts, with the error on your rows before and after.

    GEMM rows fit the chip's mma_efficiency, hbm_efficiency, launch_overhead_s,
    mma_8bit_ratio and gemm_exposed_steps (short-K GEMMs); nccl-tests rows fit the collective parameters (launch latency, bandwidth
    efficiencies, per-step costs); a training log's step time or serving results' median
    TTFT/TPOT fit the chip's framework_kernel_efficiency on the --scenario they ran. Only what
    the rows can tell apart is fitted.

    Example: fabless calibrate examples/measurements/xla-sm90-bf16-gemm.csv --chip h100-sxm --out my-h100.yaml

    Example: fabless calibrate examples/measurements/a3mega-2x8-h100-all_reduce.txt --system dgx-h100 --out my-dgx.yaml

    A training log is fitted on the scenario it ran: fabless calibrate megatron.log --scenario
    my-run.yaml --chip h100-sxm --out my-h100.yaml
    """
    cal = calibrate_files(list(files), chip=chip, system=system, fmt=fmt, collective=collective, ranks=ranks,
                          scenario=scenario)
    written = str(write(cal, out)) if out else None
    summary = cal.summary()
    name = cal.document.get("name")
    if json:
        print_json({"target": cal.target, "name": name, "out": written, "summary": summary,
                    "parameters": cal.parameters(), "rows": cal.table()})
        return
    print_table(["where", "what", "measured (us)", "before (us)", "after (us)", "error before", "error after"],
                [[Path(r["where"]).name, r["what"], r["measured_s"] * 1e6, r["before_s"] * 1e6, r["after_s"] * 1e6,
                  pct(r["error_before"], signed=True), pct(r["error_after"], signed=True)] for r in cal.table()],
                title=f"Your measurements against the model, before and after calibrating {name}")
    params = cal.parameters()
    print_table(["parameter", "before", "after", "fitted"],
                [[p["parameter"], p["before"], p["after"],
                  ("no: the rows do not pin it down" if not p["fitted"] else
                   f"yes, at its bound {p['at_bound']:g}" if p["at_bound"] is not None else "yes")]
                 for p in params], title="Parameters")
    for p in (p for p in params if p["at_bound"] is not None):
        console.print(f"[yellow]warning[/yellow]: {p['parameter']} stopped at its bound {p['at_bound']:g}: the rows want it "
                      f"further; check that --chip/--system is what they ran on")
    for group in dict.fromkeys(tuple(sorted([p["parameter"], *p["trades_off_with"]])) for p in params if p["trades_off_with"]):
        console.print(f"[yellow]warning[/yellow]: {', '.join(group)} trade off on these rows: they pin a combination, not each "
                      f"value; add rows where they act apart (other sizes or group sizes, NVLS off, another protocol)")
    console.print(f"median |error| over {summary['rows']} rows: {summary['median_abs_error_before'] * 100:.1f}% before, "
                  f"{summary['median_abs_error_after'] * 100:.1f}% after")
    if written:
        console.print(f"wrote {written} ({cal.target} file '{name}'): use it wherever a {cal.target} preset goes, "
                      f"e.g. --{cal.target} {written}")
    else:
        console.print("nothing written (give --out FILE.yaml to write the calibrated file)")
