"""The `fabless` command.

Sub-commands live beside the concept they belong to (``hardware/cli.py``,
``workload/cli.py``, ...); this module only assembles them and turns a
:class:`~fabless.errors.FablessError` into one line on stderr and exit status 2.

Start-up is kept short by importing a sub-command's module only when that command runs
(``fabless --help`` lists every command from the one-line summaries below without
importing any of them); the library modules themselves import at their top.
"""

from __future__ import annotations

import importlib
import sys

import typer
from typer.core import TyperCommand, TyperGroup

from fabless import __version__
from fabless.errors import FablessError

# name -> (module, Typer attribute, whether the Typer is a group under `name`, one-line help).
# A Typer that is not a group contributes its command `name` directly (`fabless estimate`).
_COMMANDS: dict[str, tuple[str, str, bool, str]] = {
    "chips": ("fabless.hardware.cli", "chips_app", True,
              "The chip library: list, show (with sources), compare, and check your own chip file."),
    "systems": ("fabless.hardware.cli", "systems_app", True,
                "The system library: chips joined by a scale-up domain and a scale-out network."),
    "models": ("fabless.workload.cli", "models_app", True,
               "The model catalog: configs with sources, parameter counts, KV-cache size, FLOPs per token."),
    "import": ("fabless.workload.cli", "import_app", False,
               "Trace a PyTorch model (runs your file: trust it) on meta tensors and print its graph."),
    "op": ("fabless.perf.cli", "op_app", True,
           "One operator or collective on a chip or system: time, achieved rate, what bounds it."),
    "estimate": ("fabless.estimate.cli", "estimate_app", False,
                 "A training step or an inference request of a model on a system, and where the time goes."),
    "serve": ("fabless.serve.cli", "serve_app", False,
              "Simulate one serving replica under a request load: latency percentiles, throughput, goodput."),
    "fleet": ("fabless.serve.cli", "serve_app", False,
              "For each chip: the replica layout and chip count that serve --demand within --slo, and $/month."),
    "cost": ("fabless.economics.cli", "cost_app", False,
             "Area, yield, unit cost, power, NRE and cost per chip-hour, each line explained."),
    "tco": ("fabless.economics.cli", "cost_app", False,
            "$/Mtoken (inference) or $/run (training), tokens/J, bought and rented, per chip."),
    "breakeven": ("fabless.economics.cli", "cost_app", False,
                  "Build versus buy at equal delivered throughput: the fleet that repays the NRE, and a tornado."),
    "explore": ("fabless.explore.cli", "explore_app", False,
                "Search a design space and print its Pareto front, best first."),
    "validate": ("fabless.validate.cli", "validate_app", False,
                 "The models against published measurements: median and p90 error per category and vendor."),
    "calibrate": ("fabless.validate.calibrate_cli", "calibrate_app", False,
                  "Fit the model's parameters to your own measurements and write a chip or system file."),
    "ui": ("fabless.ui.cli", "ui_app", False,
           "A local web page: change model, chip, precision or plan and watch the estimate, $/Mtoken and a chip comparison."),
}


def load_command(name: str) -> typer.core.click.Command:  # type: ignore[name-defined]
    """The real command `name` (a group or a single command), importing its module now."""
    module, attr, is_group, _ = _COMMANDS[name]
    group = typer.main.get_group(getattr(importlib.import_module(module), attr))
    if is_group:
        group.name = name
        return group
    return group.commands[name]


class _LazyGroup(TyperGroup):
    """The root group: lists every command from `_COMMANDS` and loads one when it is invoked."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        for name, (_, _, _, short) in _COMMANDS.items():
            # A placeholder for listing (name and one-line help); never invoked.
            self.commands[name] = TyperCommand(name, help=short, short_help=short)

    def resolve_command(self, ctx, args):
        name, cmd, rest = super().resolve_command(ctx, args)
        if name in _COMMANDS:
            cmd = load_command(name)
        return name, cmd, rest


app = typer.Typer(
    name="fabless",
    cls=_LazyGroup,
    help=(
        "Buy GPUs, rent TPUs, or build your own accelerator? fabless estimates how fast each option "
        "trains and serves real models, what it costs, and what a custom chip should look like.\n\n"
        "Start with: fabless chips compare h100-sxm tpu-v5p trainium2"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"fabless {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit.")) -> None:
    pass


def _usage_line(exc: Exception) -> str:
    """A usage error (bad flag value, unknown or missing flag) as one line: what is wrong, the
    flag, and where the command's flags are listed."""
    msg = " ".join(str(exc.format_message() if hasattr(exc, "format_message") else exc).split())
    # Typer reports an unparsable number in pydantic's words; say what the flag accepts instead.
    msg = msg.replace("Input should be a valid integer, unable to parse string as an integer", "expected a whole number")
    msg = msg.replace("Input should be a valid number, unable to parse string as a number", "expected a number")
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None)
    return f"{msg.rstrip('.')} (see: {path} --help)" if path else msg


#: The arguments of the command running now (a report lists them among its inputs).
current_argv: list[str] = []


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors print one line and return 2."""
    current_argv[:] = list(sys.argv[1:] if argv is None else argv)
    try:
        # without standalone mode a command's typer.Exit(code) comes back as the return value
        rc = app(args=argv, standalone_mode=False)
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
            if type(exc).__name__ == "NoArgsIsHelpError":
                exc.show()
                return 0
            print(f"error: {_usage_line(exc)}", file=sys.stderr)
            return 2
        raise
    return rc if isinstance(rc, int) and not isinstance(rc, bool) else 0


if __name__ == "__main__":
    sys.exit(main())
