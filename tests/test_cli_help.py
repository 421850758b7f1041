"""Every sub-command teaches: --help works and shows an example."""

from __future__ import annotations

import pytest

COMMANDS = [
    "chips list", "chips show", "chips compare", "chips validate",
    "systems list", "systems show", "systems validate",
    "models list", "models show", "import",
    "op gemm", "op attention", "op memcpy", "op allreduce", "op allgather", "op reducescatter", "op alltoall", "op p2p",
    "estimate", "cost", "tco", "breakeven", "validate", "calibrate", "serve", "explore",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_an_example(cli, command):
    res = cli(*command.split(), "--help")
    assert res.code == 0, res.err
    assert "Example" in res.out


def test_top_level_help_lists_the_commands(cli):
    res = cli("--help")
    for name in ("chips", "systems", "models", "op", "estimate", "cost", "validate"):
        assert name in res.out
