"""Helpers for the explore tests: the `explore` command run in-process (the main CLI
mounts it; here it is mounted on its own app, with the same error handling)."""

from __future__ import annotations

import sys

import pytest
import typer
import yaml

from fabless.errors import FablessError

from ..conftest import CliResult


def run_explore(*args: str) -> int:
    from fabless.explore.cli import explore_app

    app = typer.Typer()
    app.add_typer(explore_app)
    try:
        app(args=list(args), standalone_mode=False)
    except FablessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


@pytest.fixture
def xcli(capsys):
    def run(*args: str) -> CliResult:
        code = run_explore(*args)
        c = capsys.readouterr()
        return CliResult(code, c.out, c.err)

    return run


#: A small serving space on the TPU v6e: llama-3.1-8b on one chip.
SMALL = {
    "name": "small",
    "base": {"chip": "tpu-v6e", "system": "tpu-v6e-256"},
    "parameters": {"hbm_stacks": [1, 2, 3, 4, 5, 6]},
    "workload": [{"name": "serve", "model": "llama-3.1-8b", "precision": "bf16", "parallel": {"tp": 1},
                  "inference": {"batch": 1, "input_tokens": 512, "output_tokens": 128}}],
    "objectives": [{"minimize": "unit_cost_usd"}],
    "search": {"sampler": "grid", "batch_size": 2},
}


def write_space(tmp_path, raw: dict, name: str = "space.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    return p
