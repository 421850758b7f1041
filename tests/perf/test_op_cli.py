"""`fabless op gemm|attention|memcpy` (op_app), run in-process through a local Typer app."""

from __future__ import annotations

import json
import sys

import pytest
import typer

from fabless.errors import FablessError
from fabless.perf.cli import op_app


def run(*args, capsys):
    app = typer.Typer()
    app.add_typer(op_app, name="op")
    try:
        app(args=["op", *args], standalone_mode=False)
        code = 0
    except FablessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    out = capsys.readouterr()
    return code, out.out, out.err


def test_gemm_json(capsys):
    code, out, err = run("gemm", "--chip", "h100-sxm", "-m", "8192", "-n", "8192", "-k", "8192", "--dtype", "bf16", "--json", capsys=capsys)
    assert code == 0, err
    d = json.loads(out)
    assert d["bound"] == "compute"
    assert d["time_s"] > d["roofline_time_s"]  # never beats the roofline
    # 2 x 8192^3 FLOP / time = tflops
    assert abs(d["tflops"] - 2 * 8192**3 / d["time_s"] / 1e12) < 1e-6 * d["tflops"]
    assert 0 < d["utilisation"] < 1


def test_gemm_explain_and_roofline(capsys):
    code, out, _ = run("gemm", "--chip", "h100-sxm", "-m", "4096", "-n", "4096", "-k", "4096", "--explain", "--json", capsys=capsys)
    d = json.loads(out)
    assert "tile" in d["tiling"] and d["parameters"]["mma_efficiency"]["confidence"]
    code, out, _ = run("gemm", "--chip", "h100-sxm", "-m", "4096", "-n", "4096", "-k", "4096", "--model", "roofline", "--json", capsys=capsys)
    r = json.loads(out)
    assert r["time_s"] == r["roofline_time_s"]
    code, out, _ = run("gemm", "--chip", "h100-sxm", "-m", "4096", "-n", "4096", "-k", "4096", "--explain", capsys=capsys)
    assert code == 0 and "tile: " in out and "mma_efficiency" in out


def test_attention_and_memcpy(capsys):
    code, out, _ = run("attention", "--chip", "h100-sxm", "--batch", "8", "--heads", "16", "--seq", "2048",
                       "--head-dim", "128", "--causal", "--json", capsys=capsys)
    d = json.loads(out)
    assert code == 0 and d["bound"] in ("compute", "memory") and d["tflops"] > 0
    code, out, _ = run("attention", "--chip", "h100-sxm", "--batch", "8", "--heads", "32", "--kv-heads", "8",
                       "--seq", "8192", "--phase", "decode", "--json", capsys=capsys)
    d = json.loads(out)
    assert d["bound"] == "memory" and "gbps" in d
    code, out, _ = run("memcpy", "--chip", "h100-sxm", "--bytes", "1GiB", "--json", capsys=capsys)
    d = json.loads(out)
    assert d["bound"] == "memory" and d["gbps"] < 3350 and d["bytes"] == 2**30


def test_several_chips_in_one_table(capsys):
    code, out, _ = run("gemm", "--chip", "h100-sxm", "--chip", "tpu-v5p", "-m", "1024", "-n", "1024", "-k", "1024", capsys=capsys)
    assert code == 0 and "h100-sxm" in out and "tpu-v5p" in out


def test_user_errors_are_one_line(capsys):
    for args, frag in ((("gemm", "--chip", "h100-sxm", "-m", "8", "-n", "8", "-k", "8", "--dtype", "fp4"), "fp4"),
                       (("gemm", "--chip", "h100-sxn", "-m", "8", "-n", "8", "-k", "8"), "did you mean"),
                       (("memcpy", "--chip", "h100-sxm", "--bytes", "1 parsec"), "--bytes"),
                       (("gemm", "--chip", "h100-sxm", "-m", "8", "-n", "8", "-k", "8", "--model", "magic"), "--model"),
                       (("attention", "--chip", "h100-sxm", "--heads", "6", "--kv-heads", "4", "--seq", "8"), "kv_heads")):
        code, out, err = run(*args, capsys=capsys)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and frag in err, (args, err)


def test_gemm_explain_shows_the_exposed_part_of_a_k_step(capsys):
    # 8192 x 8192 x 256 on H100: 4 K steps of 64, math and memory close. By hand, with the JSON's terms:
    # time = launch + max(compute, memory) + exposed, and exposed = gemm_exposed_steps x min(compute, memory) / 4
    # (one wave of whole-K tiles or more: each tile's loop is the whole K, 4 steps)
    code, out, _ = run("gemm", "--chip", "h100-sxm", "-m", "8192", "-n", "8192", "-k", "256", "--explain", "--json",
                       capsys=capsys)
    d = json.loads(out)
    q = d["parameters"]["gemm_exposed_steps"]["value"]
    exposed = d["tiling"]["exposed_s"]
    assert q > 0 and exposed == pytest.approx(q * min(d["compute_s"], d["memory_s"]) / 4, rel=1e-9)
    assert d["time_s"] == pytest.approx(d["overhead_s"] + max(d["compute_s"], d["memory_s"]) + exposed,
                                                      rel=1e-12)
    code, out, _ = run("gemm", "--chip", "h100-sxm", "-m", "8192", "-n", "8192", "-k", "256", "--explain", capsys=capsys)
    assert code == 0 and "exposed part of a K step" in out and "exposed_s:" not in out
