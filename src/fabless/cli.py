"""The `fabless` command.

Sub-commands live beside the concept they belong to (``hardware/cli.py``,
``workload/cli.py``, ...); this module only assembles them and turns a
:class:`~fabless.errors.FablessError` into one line on stderr and exit status 2.
"""

from __future__ import annotations

import sys

import typer

from fabless import __version__
from fabless.errors import FablessError
from fabless.economics.cli import cost_app
from fabless.estimate.cli import estimate_app
from fabless.explore.cli import explore_app
from fabless.hardware.cli import chips_app, systems_app
from fabless.perf.cli import op_app
from fabless.perf.collectives_cli import collectives_app
from fabless.serve.cli import serve_app
from fabless.validate.calibrate_cli import calibrate_app
from fabless.validate.cli import validate_app
from fabless.workload.cli import import_app, models_app

app = typer.Typer(
    name="fabless",
    help=(
        "Buy GPUs, rent TPUs, or build your own accelerator? fabless estimates how fast each option "
        "trains and serves real models, what it costs, and what a custom chip should look like.\n\n"
        "Start with: fabless chips compare h100-sxm tpu-v5p trainium2"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(chips_app, name="chips")
app.add_typer(systems_app, name="systems")
app.add_typer(models_app, name="models")
app.add_typer(import_app)  # `fabless import FILE.py:FACTORY`
op_app.add_typer(collectives_app)  # allreduce, allgather, ... beside gemm, attention, memcpy
app.add_typer(op_app, name="op")
app.add_typer(estimate_app)  # `fabless estimate`
app.add_typer(serve_app)  # `fabless serve`
app.add_typer(cost_app)  # `fabless cost`, `tco`, `breakeven`
app.add_typer(explore_app)  # `fabless explore`
app.add_typer(validate_app)  # `fabless validate`
app.add_typer(calibrate_app)  # `fabless calibrate`


def _version(value: bool) -> None:
    if value:
        print(f"fabless {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit.")) -> None:
    pass


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors print one line and return 2."""
    try:
        app(args=argv, standalone_mode=False)
    except FablessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        # Usage errors (click's, or the copy Typer vendors when click is not installed) know how to
        # show themselves in one block; recognised by that shape, since which class it is depends
        # on the Typer version installed.
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            return 0 if type(exc).__name__ == "NoArgsIsHelpError" else 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
