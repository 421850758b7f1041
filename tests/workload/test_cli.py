"""`fabless models ...` and `fabless import ...` (mounted here on a copy of the root app)."""

from __future__ import annotations

import pytest
import typer

import fabless.cli as root
from fabless.workload.cli import import_app, models_app

from ..conftest import assert_one_line_error


@pytest.fixture
def wcli(cli, monkeypatch):
    app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
    app.add_typer(models_app, name="models")
    app.add_typer(import_app)
    monkeypatch.setattr(root, "app", app)
    return cli


def test_models_list(wcli):
    r = wcli("models", "list", "--json")
    assert r.code == 0
    rows = {row["name"]: row for row in r.json()}
    assert len(rows) >= 25
    assert rows["mixtral-8x7b"]["experts"] == "2/8"
    assert rows["llama-2-70b"]["params_b"] == pytest.approx(68.977)
    assert wcli("models", "list").code == 0


def test_models_show_has_source(wcli):
    r = wcli("models", "show", "deepseek-v3", "--json")
    data = r.json()
    assert data["params_total"] == 671_026_419_200
    assert data["kv_cache_bytes_per_token_bf16"] == 61 * 576 * 2
    assert "arXiv:2412.19437" in data["source"]["source"]
    r = wcli("models", "show", "llama-3.1-405b")
    assert r.code == 0 and "405" in r.out and "source:" in r.out


def test_models_graph(wcli):
    r = wcli("models", "graph", "llama-3.1-8b", "--phase", "train", "--seq", "2048", "--recompute", "full", "--json", "--ops")
    data = r.json()
    assert set(data["by_pass"]) == {"fwd", "bwd", "recompute", "opt"}
    assert data["summary"]["ops_stored"] == len(data["ops"])


def test_models_errors(wcli):
    assert_one_line_error(wcli("models", "show", "lama-2-7b"), "unknown model 'lama-2-7b'", "did you mean")
    assert_one_line_error(wcli("models", "graph", "llama-2-7b", "--phase", "serve"), "unknown phase")
    assert_one_line_error(wcli("models", "graph", "llama-2-7b", "--kv-cache", "fp7"), "unknown dtype 'fp7'")


def test_import_errors_without_or_with_torch(wcli, tmp_path):
    assert_one_line_error(wcli("import", "nofactory"), "FILE.py:FACTORY")
    assert_one_line_error(wcli("import", str(tmp_path / "x.py") + ":f"), "no such file")


def test_import_a_model_file(wcli, tmp_path):
    pytest.importorskip("torch")
    f = tmp_path / "m.py"
    f.write_text(
        "import torch\n"
        "def build():\n"
        "    m = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.GELU(), torch.nn.Linear(256, 64))\n"
        "    return m, (torch.randn(32, 64),)\n"
        "def bad():\n"
        "    return 3\n"
    )
    r = wcli("import", f"{f}:build", "--json")
    assert r.code == 0, r.err
    data = r.json()
    assert data["summary"]["params"] == 64 * 256 + 256 + 256 * 64 + 64
    assert data["by_kind"]["matmul"]["flops"] == 2 * 32 * 64 * 256 * 2
    assert_one_line_error(wcli("import", f"{f}:bad"), "must return (module, example_inputs)")
    assert_one_line_error(wcli("import", f"{f}:buld"), "no function 'buld'", "did you mean build")
